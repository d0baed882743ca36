#!/usr/bin/env bash
# Start-up overhead of `manyarch run`, native and emulated.
#
#   native:   manyarch run --platform linux/amd64 fixtures/busybox:1.35 true (warm)
#             vs chroot ROOTFS /bin/true, and vs podman run --rm when podman works
#   emulated: manyarch run --platform linux/arm64 fixtures/busybox:1.35 true
#             vs qemu-aarch64-static ROOTFS/bin/busybox true, and the same for a
#             CPU-bound shell loop (what emulation costs once running)
#
# Prints median and minimum wall times, CPU times and ratios of the medians.
# manyarch's CPU time leaves out its sandbox init when the run ends before the
# init is reaped (Run does not wait for the kernel's namespace teardown). Aims: warm native run under 50 ms; emulated run within
# 10% of bare QEMU.
#
# Usage: sudo bench/run.sh   (RUNS=50, LOOP_RUNS=10, NICE=0, MANYARCH=bin/manyarch by default)
# The image comes from the store $MANYARCH_ROOT selects; when it lacks
# fixtures/busybox:1.35, a temporary store is made from the root filesystems
# hack/fixtures.sh caches in $MANYARCH_TEST_CACHE/rootfs (running it if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
RUNS=${RUNS:-50}
LOOP_RUNS=${LOOP_RUNS:-10}
# NICE=-15 gives the measured commands priority on a busy shared machine.
NICE=${NICE:-0}
CACHE=${MANYARCH_TEST_CACHE:-/var/cache/manyarch-test}
IMAGE=fixtures/busybox:1.35
LOOP='i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (chroot and the fixture cache need it)"
command -v qemu-aarch64-static >/dev/null || die "needs qemu-aarch64-static: apt-get install qemu-user-static"

if [ -z "${MANYARCH:-}" ]; then
  MANYARCH=$PWD/bin/manyarch
  log "building $MANYARCH"
  go build -o "$MANYARCH" ./cmd/manyarch
fi

tmp=$(mktemp -d /var/tmp/manyarch-bench-run.XXXXXX)
cleanup() {
  if [ -n "${podman_image:-}" ]; then podman rmi -f "$podman_image" >/dev/null 2>&1 || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! "$MANYARCH" inspect "$IMAGE" >/dev/null 2>&1; then
  export MANYARCH_ROOT=$tmp/store
  if [ ! -x "$CACHE/rootfs/amd64/bin/busybox" ] || [ ! -x "$CACHE/rootfs/arm64/bin/busybox" ]; then
    log "no fixture root filesystems in $CACHE/rootfs: running hack/fixtures.sh"
    MANYARCH=$MANYARCH hack/fixtures.sh
  else
    log "importing $IMAGE (amd64, arm64) into a temporary store"
    SOURCE_DATE_EPOCH=1672531200 "$MANYARCH" import -t "$IMAGE" --change 'CMD ["/bin/sh"]' \
      --platform "linux/amd64=$CACHE/rootfs/amd64" --platform "linux/arm64=$CACHE/rootfs/arm64" >/dev/null
  fi
fi
ROOT_AMD64=$CACHE/rootfs/amd64
ROOT_ARM64=$CACHE/rootfs/arm64
[ -x "$ROOT_AMD64/bin/busybox" ] && [ -x "$ROOT_ARM64/bin/busybox" ] \
  || die "no root filesystems in $CACHE/rootfs/{amd64,arm64}: run hack/fixtures.sh"

# Warm: layers unpacked, emulation planned and cached.
"$MANYARCH" run --platform linux/amd64 "$IMAGE" true
"$MANYARCH" run --platform linux/arm64 "$IMAGE" true

# Is there a podman that works here?
podman_cmd=""
if command -v podman >/dev/null; then
  podman_image=localhost/manyarch-bench-busybox:1.35
  if out=$(tar -C "$ROOT_AMD64" -c . | podman import - "$podman_image" 2>&1) &&
     out=$(podman run --rm "$podman_image" true 2>&1); then
    podman_cmd="podman run --rm $podman_image true"
  else
    podman_note="podman is installed but does not work here: $(printf '%s' "$out" | tail -n1)"
  fi
else
  podman_note="podman is not installed (apt-get install podman to compare)"
fi

# measure NAME COMMAND [RUNS]: sets MEAN_NAME (the median wall time, or the
# mean without hyperfine) and CPU_NAME (user+sys of the command and the
# children it waited for) in milliseconds.
measure() {
  local name=$1 cmd=$2 runs=${3:-$RUNS} mean cpu min
  if command -v hyperfine >/dev/null; then
    nice -n "$NICE" hyperfine -N --style none --warmup 3 --runs "$runs" --export-csv "$tmp/$name.csv" "$cmd" >/dev/null 2>&1 \
      || nice -n "$NICE" hyperfine --style none --warmup 3 --runs "$runs" --export-csv "$tmp/$name.csv" "$cmd" >/dev/null
    # command,mean,stddev,median,user,system,min,max (seconds); the command
    # may be quoted, so fields are counted from the end. The median is
    # reported: on a shared machine the mean is at the mercy of outliers.
    read -r mean cpu min < <(tail -n1 "$tmp/$name.csv" | awk -F, '{printf "%.2f %.2f %.2f\n", $(NF-4)*1000, ($(NF-3)+$(NF-2))*1000, $(NF-1)*1000}')
  else
    local i start end
    start=$(date +%s%N)
    for ((i = 0; i < runs; i++)); do sh -c "$cmd" >/dev/null; done
    end=$(date +%s%N)
    mean=$(awk -v d=$((end - start)) -v n="$runs" 'BEGIN{printf "%.2f", d/n/1e6}')
    cpu=NA min=NA
  fi
  printf -v "MEAN_$name" '%s' "$mean"
  printf -v "CPU_$name" '%s' "$cpu"
  printf '  %-16s median %9s ms  min %9s ms  cpu %8s ms  %s\n' "$name" "$mean" "$min" "$cpu" "$cmd"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "NA" }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%+.1f%%", (a-b)/b*100; else print "NA" }'; }

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; $RUNS runs each"
echo "native (linux/amd64):"
measure manyarch "$MANYARCH run --platform linux/amd64 $IMAGE true"
measure chroot "chroot $ROOT_AMD64 /bin/true"
if [ -n "$podman_cmd" ]; then measure podman "$podman_cmd"; fi
echo "emulated (linux/arm64, qemu-aarch64-static):"
measure manyarch_arm64 "$MANYARCH run --platform linux/arm64 $IMAGE true"
measure qemu "qemu-aarch64-static $ROOT_ARM64/bin/busybox true"
measure manyarch_loop "$MANYARCH run --platform linux/arm64 $IMAGE sh -c '$LOOP'" "$LOOP_RUNS"
measure qemu_loop "qemu-aarch64-static $ROOT_ARM64/bin/busybox sh -c '$LOOP'" "$LOOP_RUNS"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "ratios (median wall times):"
echo "  manyarch run / chroot:                    $(ratio "$MEAN_manyarch" "$MEAN_chroot")x  (start-up overhead $(awk -v a="$MEAN_manyarch" -v b="$MEAN_chroot" 'BEGIN{printf "%.1f", a-b}') ms; aim: run under 50 ms)"
if [ -n "$podman_cmd" ]; then
  echo "  manyarch run / podman run --rm:           $(ratio "$MEAN_manyarch" "$MEAN_podman")x"
else
  echo "  podman: ${podman_note}"
fi
echo "  manyarch run arm64 / bare qemu (true):    $(ratio "$MEAN_manyarch_arm64" "$MEAN_qemu")x  (emulated run minus native run: $(awk -v a="$MEAN_manyarch_arm64" -v b="$MEAN_manyarch" 'BEGIN{printf "%.1f", a-b}') ms; bare qemu minus chroot: $(awk -v a="$MEAN_qemu" -v b="$MEAN_chroot" 'BEGIN{printf "%.1f", a-b}') ms)"
echo "  manyarch run arm64 / bare qemu (loop):    $(ratio "$MEAN_manyarch_loop" "$MEAN_qemu_loop")x  ($(pct "$MEAN_manyarch_loop" "$MEAN_qemu_loop") over bare QEMU; aim: under +10%)"
