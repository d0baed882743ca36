#!/usr/bin/env bash
# Make the base images of the demo and the tests from Debian's packages, with
# no registry: reproducibly, so every run gives the same digests.
#
#   fixtures/busybox:1.35  Debian's busybox-static for 8 platforms: linux/amd64,
#                          386, arm64, arm/v7 (armhf), arm/v5 (armel), ppc64le,
#                          s390x, mips64le; busybox and its applet links,
#                          /etc/passwd, /etc/group.
#   fixtures/hello:1.0     examples/hello cross-compiled (static, CGO off) for
#                          every platform of the architecture table, riscv64
#                          and loong64 included, each alone in a scratch-style
#                          image with ENTRYPOINT ["/hello"].
#
# Usage: hack/fixtures.sh            (uses bin/manyarch, or $MANYARCH)
# The .debs are cached in $MANYARCH_TEST_CACHE/debs (default
# /var/cache/manyarch-test/debs); the root filesystems are made afresh in a
# temporary directory, so concurrent runs do not collide. The images go to
# the store that $MANYARCH_ROOT selects.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
MANYARCH=${MANYARCH:-$PWD/bin/manyarch}
CACHE=${MANYARCH_TEST_CACHE:-/var/cache/manyarch-test}
# Any fixed time works: file times are clamped to it and it is the created time.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1672531200}

log() { printf 'fixtures: %s\n' "$*" >&2; }

# Debian architecture → OCI platform.
declare -A DEB_PLATFORM=(
  [amd64]=linux/amd64 [i386]=linux/386 [arm64]=linux/arm64 [armhf]=linux/arm/v7
  [armel]=linux/arm/v5 [ppc64el]=linux/ppc64le [s390x]=linux/s390x [mips64el]=linux/mips64le
)
DEB_ORDER="amd64 arm64 armhf armel i386 ppc64el s390x mips64el"

mkdir -p "$CACHE/debs"

fetch_deb() { # arch → path of busybox-static_*_arch.deb
  local arch=$1 deb
  deb=$(ls "$CACHE"/debs/busybox-static_*_"$arch".deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    (
      flock 9
      cd "$CACHE/debs"
      if ! ls busybox-static_*_"$arch".deb >/dev/null 2>&1; then
        log "downloading busybox-static:$arch"
        apt-get download -qq "busybox-static:$arch" >/dev/null \
          || { log "cannot download busybox-static:$arch: run hack/deps.sh (it adds the architecture and updates apt)"; exit 1; }
      fi
    ) 9>"$CACHE/debs/.lock"
    deb=$(ls "$CACHE"/debs/busybox-static_*_"$arch".deb | head -n1)
  fi
  echo "$deb"
}

# The applet list comes from the host's (amd64) busybox: every architecture's
# package is built from the same source and configuration.
amd64_deb=$(fetch_deb amd64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$amd64_deb" "$work/amd64"
"$work/amd64/bin/busybox" --list-full | LC_ALL=C sort > "$work/applets"

make_rootfs() { # arch
  local arch=$1 deb root
  deb=$(fetch_deb "$arch")
  root=$work/rootfs/$arch
  rm -rf "$root" "$work/x-$arch"
  dpkg-deb -x "$deb" "$work/x-$arch"
  mkdir -p "$root"/{bin,etc,root,tmp,proc,sys,dev,usr/bin,usr/sbin,sbin}
  install -m 0755 "$work/x-$arch/bin/busybox" "$root/bin/busybox"
  while read -r applet; do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done < "$work/applets"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\n' > "$root/etc/group"
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
  chmod 0700 "$root/root"
  chmod 1777 "$root/tmp"
}

args=()
for arch in $DEB_ORDER; do
  make_rootfs "$arch"
  args+=(--platform "${DEB_PLATFORM[$arch]}=$work/rootfs/$arch")
done
log "importing fixtures/busybox:1.35 (${#args[@]} args)"
"$MANYARCH" import -t fixtures/busybox:1.35 "${args[@]}" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' -m "Debian busybox-static 1.35"

# GOARCH[/GOARM] → OCI platform, one per row of the architecture table.
HELLO="amd64:linux/amd64 386:linux/386 arm64:linux/arm64 arm/5:linux/arm/v5 arm/6:linux/arm/v6
arm/7:linux/arm/v7 riscv64:linux/riscv64 ppc64le:linux/ppc64le s390x:linux/s390x
mips64le:linux/mips64le loong64:linux/loong64"
args=()
for pair in $HELLO; do
  goarch=${pair%%:*} plat=${pair#*:}
  dir=$work/hello/${plat#linux/}
  rm -rf "$dir"; mkdir -p "$dir"
  GOOS=linux GOARCH=${goarch%%/*} GOARM=$([ "${goarch#*/}" != "$goarch" ] && echo "${goarch#*/}" || true) \
    CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags='-s -w -buildid=' -o "$dir/hello" ./examples/hello
  args+=(--platform "$plat=$dir")
done
log "importing fixtures/hello:1.0"
"$MANYARCH" import -t fixtures/hello:1.0 "${args[@]}" --change 'ENTRYPOINT ["/hello"]' -m "examples/hello"
