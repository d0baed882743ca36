#!/usr/bin/env bash
# Run manyarch's whole test suite as CI does: install the prerequisites,
# vet, build, then `go test ./...`. Tests that need root, QEMU, binfmt_misc
# or a registry skip with a reason when those are missing; run as root on
# Debian 12, nothing skips.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
bash hack/deps.sh
# chromium and an npm JUnit reader, for the report tests of `manyarch test`.
bash hack/test-support.sh
echo "== gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go' ':!:testdata/**' ':!:**/testdata/**' 2>/dev/null || find . -name '*.go' -not -path '*/testdata/*'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
echo "== cross-OS and 32-bit vet (read-only commands must build on macOS and Windows; all of it on 32-bit Linux: arm/v7, 386)"
for target in darwin/arm64 darwin/amd64 windows/amd64 linux/arm linux/386; do
	os=${target%/*} arch=${target#*/}
	echo "-- $os/$arch"
	GOOS=$os GOARCH=$arch go vet ./...
done
echo "== build"
CGO_ENABLED=0 go build -o bin/manyarch ./cmd/manyarch
echo "== GitHub Action and workflows (actionlint)"
bash hack/actionlint.sh
# Three packages change the host's binfmt_misc registrations (install,
# uninstall, disable; always restored). They run one at a time after the rest,
# so no other test's emulated process loses the host handler it started with.
host_pkgs="./internal/emulation ./internal/cli ./cmd/manyarch"
other_pkgs=$(go list ./... | grep -v -e '/internal/emulation$' -e '/internal/cli$' -e '/cmd/manyarch$')
echo "== go test (packages that leave the host's binfmt_misc alone, 2 at a time)"
go test -count=1 -p 2 -timeout 25m "$@" $other_pkgs
echo "== go test (packages that change the host's binfmt_misc, one at a time)"
go test -count=1 -p 1 -timeout 25m "$@" $host_pkgs
echo "== release: reproducible, and installable by the GitHub Action"
bash hack/release-test.sh
# Every parser of untrusted bytes gets a short coverage-guided run on top of
# its seed corpus (which `go test` above already ran): a count of inputs, not
# a time, so a loaded machine still tries as many. FUZZTIME=0 skips this.
fuzztime=${FUZZTIME:-500x}
if [ "$fuzztime" != 0 ]; then
  echo "== go test -fuzz (untrusted-input parsers, $fuzztime each)"
  while read -r pkg target; do
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 50x "$pkg" >/tmp/manyarch-fuzz.log 2>&1 || {
      cat /tmp/manyarch-fuzz.log >&2; echo "fuzz $pkg $target failed (see testdata/fuzz/$target under $pkg)" >&2; exit 1; }
    echo "ok  $pkg $target"
  done <<'LIST'
./internal/snapshot FuzzExtract
./internal/snapshot FuzzNormalize
./internal/dockerfile FuzzParse
./internal/imagetest FuzzParse
./internal/imagetest FuzzFlatFS
./internal/imagediff FuzzReadLayer
./internal/verify FuzzELFHeader
./internal/sandbox/sandboxinit FuzzResolveUser
./internal/sandbox/sandboxinit FuzzReadConfig
./internal/ref FuzzParse
./internal/remote FuzzRegistryManifest
./internal/store FuzzIndexJSON
./internal/store FuzzStoreManifest
./internal/platform FuzzParseARMAttributes
./internal/scan FuzzParseRecord
./internal/rpmdb FuzzRPMDB
LIST
fi
