#!/usr/bin/env bash
# Install what manyarch's build, demo and tests need on Debian 12 (as root),
# idempotently: Debian packages (QEMU user-mode emulators, skopeo, the CNCF
# distribution registry, htpasswd, jq), the foreign architectures whose
# busybox-static packages make the test base images, and the Go modules.
#
# It never registers binfmt_misc handlers on the host: manyarch's private
# emulation needs none (run `manyarch binfmt install` if you want them).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PATH=$PATH:/usr/local/go/bin

# Debian architectures of the fixture image (see hack/fixtures.sh).
FOREIGN_ARCHES="arm64 armhf armel i386 ppc64el s390x mips64el"
PKGS="qemu-user-static skopeo docker-registry apache2-utils jq ca-certificates curl"

log() { printf 'deps: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  log "not root: skipping package installation (tests that need them will skip)"
else
  need_update=
  for a in $FOREIGN_ARCHES; do
    if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
      dpkg --add-architecture "$a"; need_update=1
    fi
  done
  missing=
  for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
  done
  # apt's lists for a foreign architecture exist once it has been updated.
  if [ -n "$missing" ] || [ -n "$need_update" ] || ! ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq || log "apt-get update reported errors; continuing with the lists it has"
  fi
  if [ -n "$missing" ]; then
    log "installing$missing"
    # The emulators come without binfmt-support, so the host's binfmt_misc
    # registrations stay as they are.
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi

if ! command -v go >/dev/null; then
  log "Go is not installed (expected at /usr/local/go)"; exit 1
fi
cd "$(dirname "$0")/.."
go mod download
