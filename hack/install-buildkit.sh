#!/usr/bin/env bash
# Install BuildKit's buildkitd and buildctl, pinned to the version of the
# github.com/moby/buildkit module in go.mod (v0.34.2), built from that module
# (fetched through the Go module proxy) into $PREFIX (default /usr/local/bin).
# Not `go install ...@v0.34.2`: Go refuses it, as buildkit's go.mod has
# exclude directives; building inside a copy of the module source applies them. Nothing is
# done when both are there at that version. buildkitd's OCI worker also needs
# runc (Debian's runc package); internal/buildkit's tests and
# bench/buildkit-nodes.sh start their own daemons.
#   hack/install-buildkit.sh            PREFIX=/usr/local/bin
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
VERSION=v0.34.2
PREFIX=${PREFIX:-/usr/local/bin}
want=$(go list -m -f '{{.Version}}' github.com/moby/buildkit)
if [ "$want" != "$VERSION" ]; then
  echo "go.mod has github.com/moby/buildkit $want, this script pins $VERSION: update VERSION here too" >&2
  exit 1
fi
have() { [ -x "$PREFIX/$1" ] && "$PREFIX/$1" --version 2>/dev/null | grep -q " $VERSION\( \|$\)"; }
if have buildkitd && have buildctl; then
  echo "buildkitd and buildctl $VERSION already in $PREFIX"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go mod download github.com/moby/buildkit
src=$(go list -m -f '{{.Dir}}' github.com/moby/buildkit)
cp -r "$src/." "$tmp/src/" 2>/dev/null || { mkdir -p "$tmp/src" && cp -r "$src/." "$tmp/src/"; }
chmod -R u+w "$tmp/src"
# Static (CGO off, pure-Go user and DNS lookups), versioned as releases are.
ldflags="-s -w -X github.com/moby/buildkit/version.Version=$VERSION -X github.com/moby/buildkit/version.Revision=module-$VERSION"
for cmd in buildkitd buildctl; do
  (cd "$tmp/src" && CGO_ENABLED=0 go build -trimpath -tags 'osusergo netgo' -ldflags "$ldflags" -o "$tmp/$cmd" "./cmd/$cmd")
done
install -m 0755 "$tmp/buildkitd" "$tmp/buildctl" "$PREFIX/"
"$PREFIX/buildkitd" --version
"$PREFIX/buildctl" --version
command -v runc >/dev/null || echo "note: buildkitd's OCI worker needs runc: apt-get install runc" >&2
