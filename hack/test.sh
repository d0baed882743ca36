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
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then echo "gofmt would change: $unformatted" >&2; exit 1; fi
go vet ./...
echo "== build"
go build -o bin/manyarch ./cmd/manyarch
echo "== go test"
# One package at a time keeps the emulated tests from fighting over 2 cores.
go test -count=1 -p 2 -timeout 25m "$@" ./...
