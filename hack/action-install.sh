#!/usr/bin/env bash
# The install step of action.yml (the GitHub Action), also runnable by hand:
# download a manyarch release binary for this machine, check it against the
# release's SHA256SUMS, install it, and optionally QEMU and host handlers.
#
# Environment (the action's inputs):
#   MANYARCH_VERSION   a release tag (v1.2.3) or "latest" (default)
#   MANYARCH_QEMU      true: install QEMU user-mode emulators (default true)
#   MANYARCH_BINFMT    true: also register host binfmt_misc handlers (default false;
#                      manyarch itself needs none: it uses private ones)
#   MANYARCH_RELEASE_URL  where releases are (default
#                      https://github.com/manyarch/manyarch/releases); a file:// URL
#                      or a directory holding VERSION/ works too (tests use dist/)
#   MANYARCH_INSTALL_DIR  where the binary goes (default $RUNNER_TOOL_CACHE/manyarch/VERSION,
#                      else ~/.local/bin)
# Outputs (to $GITHUB_OUTPUT when set, else stdout): path=..., version=...
set -euo pipefail
log() { printf 'manyarch-setup: %s\n' "$*" >&2; }
die() { printf 'manyarch-setup: %s\n' "$*" >&2; exit 1; }

version=${MANYARCH_VERSION:-latest}
base=${MANYARCH_RELEASE_URL:-https://github.com/manyarch/manyarch/releases}
case $version in
  latest|v[0-9]*) ;;
  *) die "version '$version': want a release tag such as v1.2.3, or latest" ;;
esac

os=$(uname -s | tr '[:upper:]' '[:lower:]')
[ "$os" = linux ] || die "this action installs the Linux binary; the runner is $os (manyarch's read-only commands build for macOS and Windows: use the release's manyarch-$os-* file)"
case $(uname -m) in
  x86_64|amd64) arch=amd64 ;;
  aarch64|arm64) arch=arm64 ;;
  armv7l|armv7*) arch=arm-v7 ;;
  ppc64le) arch=ppc64le ;;
  s390x) arch=s390x ;;
  riscv64) arch=riscv64 ;;
  *) die "no manyarch release for this machine ($(uname -m)): build from source with go build ./cmd/manyarch" ;;
esac
file=manyarch-linux-$arch

# fetch URL DEST: an https:// or file:// URL, or a local path, bounded in time.
fetch() {
  case $1 in
    http://*|https://*) curl -fsSL --proto '=https,http' --retry 3 --max-time 300 -o "$2" "$1" ;;
    file://*) cp "${1#file://}" "$2" ;;
    *) cp "$1" "$2" ;;
  esac
}
if [ "$version" = latest ]; then
  case $base in
    http*) url=$base/latest/download ;;
    *) die "version latest needs an https release URL; name a version for $base" ;;
  esac
else
  case $base in
    http*) url=$base/download/$version ;;
    *) url=$base/$version ;;
  esac
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
log "downloading $file and SHA256SUMS ($version) from $url"
fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS" || die "cannot download $url/SHA256SUMS: is $version a manyarch release?"
fetch "$url/$file" "$tmp/$file" || die "cannot download $url/$file: is $version a manyarch release with a $arch binary?"
want=$(awk -v f="$file" '$2 == f || $2 == "*" f { print $1 }' "$tmp/SHA256SUMS")
[ -n "$want" ] || die "SHA256SUMS of $version lists no $file"
got=$(sha256sum "$tmp/$file" | cut -d' ' -f1)
[ "$got" = "$want" ] || die "$file of $version: SHA-256 $got, but SHA256SUMS says $want: the download is corrupt or tampered with; not installing it"
chmod 0755 "$tmp/$file"
reported=$("$tmp/$file" version) || die "$file of $version does not run on this machine"
# "manyarch v1.2.3 linux/amd64 go1.26.0" -> v1.2.3
installed_version=$(printf '%s\n' "$reported" | awk '{ print $2 }')
if [ "$version" != latest ] && [ "$installed_version" != "$version" ]; then
  die "$file says it is $installed_version, not $version"
fi

dir=${MANYARCH_INSTALL_DIR:-}
if [ -z "$dir" ]; then
  if [ -n "${RUNNER_TOOL_CACHE:-}" ]; then dir=$RUNNER_TOOL_CACHE/manyarch/$installed_version; else dir=$HOME/.local/bin; fi
fi
mkdir -p "$dir"
mv "$tmp/$file" "$dir/manyarch.tmp"
mv "$dir/manyarch.tmp" "$dir/manyarch"
[ -n "${GITHUB_PATH:-}" ] && echo "$dir" >> "$GITHUB_PATH"
log "installed $reported as $dir/manyarch"

if [ "${MANYARCH_QEMU:-true}" = true ]; then
  if ls /usr/bin/qemu-aarch64-static /usr/bin/qemu-aarch64 >/dev/null 2>&1; then
    log "QEMU user-mode emulators already installed"
  elif command -v apt-get >/dev/null; then
    log "installing QEMU user-mode emulators (qemu-user-static)"
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends qemu-user-static >/dev/null
  else
    die "no apt-get to install QEMU with: install qemu-user-static, or set qemu: false"
  fi
fi
if [ "${MANYARCH_BINFMT:-false}" = true ]; then
  sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo "$dir/manyarch" binfmt install all
fi

out=${GITHUB_OUTPUT:-/dev/stdout}
{ echo "path=$dir/manyarch"; echo "version=$installed_version"; } >> "$out"
