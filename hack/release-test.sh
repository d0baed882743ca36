#!/usr/bin/env bash
# Check the release (hack/release.sh) as the release workflow relies on it:
#   1. reproducible: two runs of the same commit, each with a fresh store,
#      give byte-identical binaries, SBOM, image archive and SHA256SUMS;
#   2. the GitHub Action's install step (hack/action-install.sh) installs
#      that release, and refuses a binary whose checksum does not match.
# PLATFORMS (default "linux/amd64 linux/arm64" in the test suite; the release
# workflow checks them all) and IMAGE=0|1 (default 1) as for hack/release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
hostarch=$(go env GOARCH)
export PLATFORMS=${PLATFORMS:-linux/$hostarch linux/arm64}
export VERSION=${VERSION:-v0.0.0-reprotest}
# Both runs build one commit, even if HEAD moves meanwhile.
export RELEASE_COMMIT=$(git rev-parse HEAD)
work=$(mktemp -d /tmp/manyarch-release-test.XXXXXX)
trap 'rm -rf "$work" "dist/$VERSION"' EXIT
log() { printf 'release-test: %s\n' "$*" >&2; }

for run in 1 2; do
  log "release run $run ($PLATFORMS)"
  MANYARCH_ROOT=$work/store$run hack/release.sh >"$work/run$run.log" 2>&1 || { cat "$work/run$run.log" >&2; exit 1; }
  mv "dist/$VERSION" "$work/dist$run"
done
if ! diff -r "$work/dist1" "$work/dist2" >&2; then
  log "FAIL: two releases of the same commit differ (above)"; exit 1
fi
log "reproducible: $(ls "$work/dist1" | wc -l) files identical: $(ls "$work/dist1" | tr '\n' ' ')"
(cd "$work/dist1" && sha256sum -c --quiet SHA256SUMS) || { log "FAIL: SHA256SUMS does not match the files"; exit 1; }

# The action's install step, from the release directory.
mkdir -p "$work/releases"
cp -r "$work/dist1" "$work/releases/$VERSION"
out=$(MANYARCH_RELEASE_URL=$work/releases MANYARCH_VERSION=$VERSION MANYARCH_QEMU=false \
  MANYARCH_INSTALL_DIR=$work/bin GITHUB_OUTPUT= GITHUB_PATH= bash hack/action-install.sh 2>"$work/install.log") || {
  cat "$work/install.log" >&2; log "FAIL: the action's install step failed"; exit 1; }
grep -qx "version=$VERSION" <<<"$out" && grep -qx "path=$work/bin/manyarch" <<<"$out" || {
  log "FAIL: install outputs: $out"; exit 1; }
"$work/bin/manyarch" version | grep -q "^manyarch $VERSION linux/$hostarch" || { log "FAIL: installed binary: $("$work/bin/manyarch" version)"; exit 1; }
log "the action installed $("$work/bin/manyarch" version)"
# A tampered binary is refused, and nothing is installed.
printf 'x' | dd of="$work/releases/$VERSION/manyarch-linux-$hostarch" bs=1 seek=1000 conv=notrunc status=none
if MANYARCH_RELEASE_URL=$work/releases MANYARCH_VERSION=$VERSION MANYARCH_QEMU=false \
  MANYARCH_INSTALL_DIR=$work/bin2 GITHUB_OUTPUT= GITHUB_PATH= bash hack/action-install.sh >/dev/null 2>"$work/tamper.log"; then
  log "FAIL: the install step took a tampered binary"; exit 1
fi
grep -q "tampered" "$work/tamper.log" && [ ! -e "$work/bin2/manyarch" ] || { cat "$work/tamper.log" >&2; log "FAIL: tampered binary: wrong message or installed"; exit 1; }
log "a tampered binary is refused: $(cat "$work/tamper.log" | tail -1)"
log "ok"
