#!/usr/bin/env bash
# Install the cosign CLI that issue #21's signing interop tests run against,
# pinned: github.com/sigstore/cosign/v3 v3.1.3, built from source through
# the Go module proxy (no prebuilt download). Skipped when that version is
# already on PATH or in $COSIGN_BIN_DIR. About 10 minutes from a cold
# module cache on 2 cores.
#   hack/install-cosign.sh          (COSIGN_BIN_DIR, default /usr/local/bin)
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin
version=v3.1.3
dir=${COSIGN_BIN_DIR:-/usr/local/bin}
have() {
  local c=$1
  [ -x "$c" ] && "$c" version 2>/dev/null | grep -q "GitVersion:[[:space:]]*$version\b"
}
for c in "$dir/cosign" "$(command -v cosign || true)"; do
  if [ -n "$c" ] && have "$c"; then
    echo "install-cosign: $c is cosign $version" >&2
    exit 0
  fi
done
# A go install of a main package records its module version, not the
# release's ldflags: check the build info instead of `cosign version` too.
if [ -x "$dir/cosign" ] && go version -m "$dir/cosign" 2>/dev/null | grep -q "^[[:space:]]*mod[[:space:]]*github.com/sigstore/cosign/v3[[:space:]]*$version\b"; then
  echo "install-cosign: $dir/cosign is cosign $version" >&2
  exit 0
fi
echo "install-cosign: building github.com/sigstore/cosign/v3/cmd/cosign@$version into $dir" >&2
mkdir -p "$dir"
GOBIN=$dir CGO_ENABLED=0 go install "github.com/sigstore/cosign/v3/cmd/cosign@$version"
go version -m "$dir/cosign" | grep -q "github.com/sigstore/cosign/v3[[:space:]]*$version" || {
  echo "install-cosign: $dir/cosign is not $version" >&2
  exit 1
}
