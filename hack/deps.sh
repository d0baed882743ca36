#!/usr/bin/env bash
# Install what manyarch's build, demo and tests need on Debian 12 (as root),
# idempotently: Debian packages (QEMU user-mode emulators, skopeo, the CNCF
# distribution registry, htpasswd, jq; iproute2, iptables and util-linux for
# private networks and fault injection, kmod for modprobe; chromium, in which
# the HTML report's test renders the page), the foreign architectures whose
# busybox-static packages make the test base images, and the Go modules.
# Where the kernel has the netem qdisc as a module (sch_netem), it is loaded
# for the latency fault tests; a kernel without it (built without
# CONFIG_NET_SCH_NETEM, or with no modules) is reported and left as it is.
#
# QEMU is a chosen dependency: QEMU 10 (package qemu-user, 1:10.0.x) from
# Debian's bookworm-backports suite, added here on the mirror the system
# already uses. Debian 12's own QEMU 7.2 (qemu-user-static) has a qemu-i386
# that crashes every Go program (SIGSEGV in the runtime), so an i386 build or
# test on a host whose kernel refuses 32-bit x86 would fail. The backports
# qemu-user ships static-pie /usr/bin/qemu-* that run inside containers; it
# replaces qemu-user-static (both own the same binfmt names), which is
# removed so that no host tool picks the old emulator.
#
# It never registers binfmt_misc handlers on the host: manyarch's private
# emulation needs none (run `manyarch binfmt install` if you want them).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
export PATH=$PATH:/usr/local/go/bin

# Debian architectures of the fixture image (see hack/fixtures.sh).
FOREIGN_ARCHES="arm64 armhf armel i386 ppc64el s390x mips64el"
PKGS="skopeo docker-registry apache2-utils jq ca-certificates curl file iproute2 util-linux iptables kmod chromium"
# The emulator: qemu-user from bookworm-backports, at least this version.
QEMU_SUITE=bookworm-backports
QEMU_MIN=1:10.0
BACKPORTS_LIST=/etc/apt/sources.list.d/manyarch-bookworm-backports.sources

log() { printf 'deps: %s\n' "$*" >&2; }

# debian_mirror prints the URI the system's apt sources use for the bookworm
# suite (deb822 .sources or one-line .list), or Debian's default.
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk 'BEGIN{RS=""; FS="\n"}
      /(^|\n)Suites:[^\n]*[[:space:]]bookworm([[:space:]]|$|\n)/ && !/debian-security/ {
        for (i = 1; i <= NF; i++) if ($i ~ /^URIs:/) { sub(/^URIs:[[:space:]]*/, "", $i); split($i, u, /[[:space:]]+/); print u[1]; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while (i <= NF && $i !~ /\]$/) i++; if ($2 ~ /^\[/) i++;
      if ($(i+1) == "bookworm" && $i !~ /security/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  echo http://deb.debian.org/debian
}

# qemu_ok: qemu-user is installed at QEMU_MIN or later.
qemu_ok() {
  local v
  v=$(dpkg-query -W -f='${Status} ${Version}' qemu-user 2>/dev/null) || return 1
  case $v in "install ok installed "*) ;; *) return 1 ;; esac
  dpkg --compare-versions "${v##* }" ge "$QEMU_MIN"
}

# load_netem loads sch_netem when the kernel lacks the qdisc but has it as
# a module; it never fails the script. The probe adds the qdisc in a
# throwaway network namespace, so the host's interfaces are untouched.
load_netem() {
  netem_here() { unshare --net tc qdisc add dev lo root netem delay 1ms >/dev/null 2>&1; }
  if netem_here; then
    return 0
  fi
  if command -v modprobe >/dev/null && modprobe -q sch_netem 2>/dev/null && netem_here; then
    log "loaded the sch_netem module (latency faults)"
    return 0
  fi
  log "this kernel ($(uname -r)) has no netem qdisc, built in or as a module: latency fault tests fail (or skip, with ifUnsupported: skip); loss and partition faults use iptables"
}

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
  if [ ! -f "$BACKPORTS_LIST" ]; then
    mirror=$(debian_mirror)
    log "adding $QEMU_SUITE (for QEMU 10) on $mirror"
    cat > "$BACKPORTS_LIST.tmp" <<SRC
# Added by manyarch's hack/deps.sh: QEMU 10 (qemu-user) for user-mode emulation.
Types: deb
URIs: $mirror
Suites: $QEMU_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    mv "$BACKPORTS_LIST.tmp" "$BACKPORTS_LIST"
    need_update=1
  fi
  # apt's lists for a foreign architecture exist once it has been updated.
  if [ -n "$missing" ] || [ -n "$need_update" ] || ! qemu_ok || ! ls /var/lib/apt/lists/*_binary-arm64_Packages* >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update -qq || log "apt-get update reported errors; continuing with the lists it has"
  fi
  if [ -n "$missing" ]; then
    log "installing$missing"
    # The emulators come without binfmt-support, so the host's binfmt_misc
    # registrations stay as they are.
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  if ! qemu_ok; then
    log "installing qemu-user from $QEMU_SUITE (QEMU 10), removing QEMU 7.2's qemu-user-static"
    # No recommends: qemu-user-binfmt would register handlers on the host.
    apt-get install -y -qq --no-install-recommends -t "$QEMU_SUITE" qemu-user qemu-user-static- >/dev/null
    qemu_ok || { log "qemu-user $QEMU_MIN or later did not install (apt-cache policy qemu-user)"; exit 1; }
  fi
  # Debian 12's names for the emulators (qemu-TARGET-static), which scripts
  # and older tools look for: Debian's own compat package (qemu-user-static
  # 10) would bring qemu-user-binfmt, whose binfmt.d files systemd
  # registers on the host, so link the names here instead.
  for q in /usr/bin/qemu-*; do
    case $q in *-static|*/qemu-img|*/qemu-io|*/qemu-nbd|*/qemu-system-*) continue ;; esac
    [ -x "$q" ] && [ ! -L "$q" ] || continue
    [ -e "$q-static" ] || [ -e "/usr/local/bin/${q##*/}-static" ] || ln -s "$q" "/usr/local/bin/${q##*/}-static"
  done
  if file -L /usr/bin/qemu-aarch64 2>/dev/null | grep -q 'dynamically linked'; then
    log "/usr/bin/qemu-aarch64 is dynamically linked: containers cannot run it (want qemu-user from $QEMU_SUITE)"; exit 1
  fi
  load_netem
fi

if ! command -v go >/dev/null; then
  log "Go is not installed (expected at /usr/local/go)"; exit 1
fi
cd "$(dirname "$0")/.."
go mod download
