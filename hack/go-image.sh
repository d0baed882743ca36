#!/usr/bin/env bash
# Make a Go toolchain image from the host's Go install, for building
# examples/hello where no registry (and so no golang image) is reachable:
#
#   manyarch-go:local   linux/amd64 (the host's platform): /usr/local/go
#                       (compiler, tools, standard library sources) and a
#                       static busybox for /bin/sh, PATH set for go.
#
# Usage: hack/go-image.sh [NAME]   (uses bin/manyarch, or $MANYARCH; the store
# is the one $MANYARCH_ROOT selects). GOROOT defaults to `go env GOROOT`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
MANYARCH=${MANYARCH:-$PWD/bin/manyarch}
NAME=${1:-manyarch-go:local}
GOROOT=${GOROOT:-$(go env GOROOT)}
CACHE=${MANYARCH_TEST_CACHE:-/var/cache/manyarch-test}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1672531200}

if "$MANYARCH" images --format '{{.Name}}:{{.Tag}}' 2>/dev/null | grep -qx "$NAME"; then
  echo "go-image: $NAME exists" >&2
  exit 0
fi
busybox=$(command -v busybox || true)
if [ -z "$busybox" ] || ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
  deb=$(ls "$CACHE"/debs/busybox-static_*_amd64.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    mkdir -p "$CACHE/debs"
    (cd "$CACHE/debs" && apt-get download -qq busybox-static:amd64)
    deb=$(ls "$CACHE"/debs/busybox-static_*_amd64.deb | head -n1)
  fi
  tmpdeb=$(mktemp -d)
  dpkg-deb -x "$deb" "$tmpdeb"
  busybox=$tmpdeb/bin/busybox
fi

root=$(mktemp -d)
trap 'rm -rf "$root" ${tmpdeb:+"$tmpdeb"}' EXIT
mkdir -p "$root"/{bin,etc,tmp,root,usr/local/go/pkg}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh ls cat cp mv rm mkdir echo env uname tar gzip grep sed; do
  ln -s busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
# What `go build` needs: the go command, the compiler and linker, the
# runtime headers and the standard library's sources (not its tests).
cp -a "$GOROOT"/{bin,go.env,VERSION} "$root/usr/local/go/"
mkdir -p "$root/usr/local/go/pkg/tool"
cp -a "$GOROOT/pkg/tool/linux_amd64" "$root/usr/local/go/pkg/tool/"
cp -a "$GOROOT/pkg/include" "$root/usr/local/go/pkg/"
tar -C "$GOROOT" --exclude=testdata --exclude='*_test.go' --exclude=src/cmd -cf - src | tar -C "$root/usr/local/go" -xf -
echo "go-image: importing $NAME ($(du -sh "$root" | cut -f1))" >&2
"$MANYARCH" import -t "$NAME" --platform "linux/amd64=$root/" \
  --change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV GOTOOLCHAIN=local' \
  --change 'WORKDIR /' --change 'CMD ["go", "version"]'
