#!/usr/bin/env bash
# Start-up of `manyarch run` against its peers, on the same root filesystem
# (issue #20's run rows):
#
#   native:   manyarch run --platform linux/amd64 fixtures/busybox:1.35 true (warm)
#             vs runc run of a bundle of the same rootfs (`runc spec`'s
#             config, args [true], no terminal)            target <= 0.5x
#   emulated: manyarch run --platform linux/arm64 IMAGE sh -c LOOP (a CPU-bound
#             shell loop) vs qemu-aarch64-static ROOTFS/bin/busybox sh -c LOOP
#                                                           target < 1.10x
#   and, for the record, the emulated `true` (start-up only) against bare QEMU.
#
# manyarch runs with its defaults: Docker's capabilities and seccomp profile,
# masked and read-only /proc and /sys paths, no inherited descriptors, a pids
# limit. `runc spec`'s config has no seccomp filter, which makes runc's side
# cheaper, not dearer.
#
# Runs are interleaved (ours, peer, ours, peer, ...) so the machine's load
# falls on both alike; each row prints the median and minimum wall times,
# their ratios and the peak RSS (GNU time) of each side. When BENCH_JSON
# names a file, one JSON object per row is appended to it (bench/all.sh's
# contract).
#
# Usage: sudo bench/run.sh   (RUNS=5, LOOP_RUNS=RUNS, MANYARCH=bin/manyarch
# built when unset, NICE=0: NICE=-15 favours the measured commands on a busy
# machine). The image comes from the store $MANYARCH_ROOT selects; when it
# lacks fixtures/busybox:1.35, a temporary store gets it from the test
# fixtures' archive ($MANYARCH_TEST_CACHE/fixtures/busybox.tar) or from
# hack/fixtures.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin
RUNS=${RUNS:-5}
LOOP_RUNS=${LOOP_RUNS:-$RUNS}
NICE=${NICE:-0}
CACHE=${MANYARCH_TEST_CACHE:-/var/cache/manyarch-test}
IMAGE=fixtures/busybox:1.35
LOOP='i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done'

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (runc and the pids cgroup need it)"
command -v runc >/dev/null || die "needs runc: apt-get install runc"
command -v qemu-aarch64-static >/dev/null || die "needs qemu-aarch64-static: apt-get install qemu-user-static"
[ -x /usr/bin/time ] || die "needs GNU time for peak RSS: apt-get install time"

if [ -z "${MANYARCH:-}" ]; then
  MANYARCH=$PWD/bin/manyarch
  log "building $MANYARCH"
  CGO_ENABLED=0 go build -o "$MANYARCH" ./cmd/manyarch
fi

tmp=$(mktemp -d /var/tmp/manyarch-bench-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

if ! "$MANYARCH" inspect "$IMAGE" >/dev/null 2>&1; then
  export MANYARCH_ROOT=$tmp/store
  if [ -f "$CACHE/fixtures/busybox.tar" ]; then
    log "copying $IMAGE from $CACHE/fixtures/busybox.tar into a temporary store"
    "$MANYARCH" copy "oci-archive:$CACHE/fixtures/busybox.tar" "$IMAGE" >/dev/null
  else
    log "no $IMAGE: running hack/fixtures.sh into a temporary store"
    MANYARCH=$MANYARCH hack/fixtures.sh
  fi
fi

# The same root filesystems, for runc and bare QEMU.
mkdir -p "$tmp/bundle/rootfs" "$tmp/arm64"
"$MANYARCH" export --platform linux/amd64 "$IMAGE" -o - | tar -C "$tmp/bundle/rootfs" -x
"$MANYARCH" export --platform linux/arm64 "$IMAGE" -o - | tar -C "$tmp/arm64" -x
(cd "$tmp/bundle" && runc spec)
sed -i 's/"terminal": true/"terminal": false/; s/"sh"$/"true"/' "$tmp/bundle/config.json"
grep -q '"true"' "$tmp/bundle/config.json" || die "could not set the runc bundle's args to [true]"

# Warm: layers unpacked, emulation planned and probed.
"$MANYARCH" run --platform linux/amd64 "$IMAGE" true
"$MANYARCH" run --platform linux/arm64 "$IMAGE" true
runc run -b "$tmp/bundle" "manyarch-bench-$$-warm"

# one FILE CMD...: runs CMD once (output discarded), appends "seconds kib"
# to FILE; fails the script when CMD fails.
one() {
  local file=$1 t0 t1
  shift
  t0=$EPOCHREALTIME
  nice -n "$NICE" /usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>"$tmp/err" \
    || { cat "$tmp/err" >&2; die "failed: $*"; }
  t1=$EPOCHREALTIME
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.6f", b-a}') $(tail -n1 "$tmp/rss")" >> "$file"
}

# stats FILE: "median min max_rss" of the runs in FILE.
stats() {
  sort -n "$1" | awk '{t[NR]=$1; if ($2>m) m=$2} END{
    med = (NR%2) ? t[(NR+1)/2] : (t[NR/2]+t[NR/2+1])/2
    printf "%.6f %.6f %d\n", med, t[1], m}'
}

# row NAME PEER TARGET RUNS 'OURS' 'PEERCMD': interleaved runs, one table
# line, one JSON line (none when TARGET is -).
row() {
  local name=$1 peer=$2 target=$3 runs=$4 ours=$5 theirs=$6 i
  : > "$tmp/a"; : > "$tmp/b"
  for ((i = 0; i < runs; i++)); do
    eval "one \"$tmp/a\" $ours"
    eval "one \"$tmp/b\" $theirs"
  done
  read -r am an ar < <(stats "$tmp/a")
  read -r bm bn br < <(stats "$tmp/b")
  local ratio ratio_min met
  ratio=$(awk -v a="$am" -v b="$bm" 'BEGIN{printf "%.3f", a/b}')
  ratio_min=$(awk -v a="$an" -v b="$bn" 'BEGIN{printf "%.3f", a/b}')
  met=-
  [ "$target" = - ] || met=$(awk -v r="$ratio" -v t="$target" 'BEGIN{print (r <= t) ? "yes" : "no"}')
  printf '%-32s %-6s %4d  %9.1f %9.1f  %9.1f %9.1f  %6s %6s  %5s %4s  %7d %7d\n' \
    "$name" "$peer" "$runs" "$(awk -v x="$am" 'BEGIN{print x*1000}')" "$(awk -v x="$an" 'BEGIN{print x*1000}')" \
    "$(awk -v x="$bm" 'BEGIN{print x*1000}')" "$(awk -v x="$bn" 'BEGIN{print x*1000}')" \
    "$ratio" "$ratio_min" "$target" "$met" "$ar" "$br"
  if [ -n "${BENCH_JSON:-}" ] && [ "$target" != - ]; then
    printf '{"row":"%s","peer":"%s","runs":%d,"ours_median_s":%s,"ours_min_s":%s,"peer_median_s":%s,"peer_min_s":%s,"ratio":%s,"ratio_min":%s,"target":%s,"ours_peak_rss_kib":%d,"peer_peak_rss_kib":%d}\n' \
      "$name" "$peer" "$runs" "$am" "$an" "$bm" "$bn" "$ratio" "$ratio_min" "$target" "$ar" "$br" >> "$BENCH_JSON"
  fi
}

log "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs; runs interleaved"
printf '%-32s %-6s %4s  %9s %9s  %9s %9s  %6s %6s  %5s %4s  %7s %7s\n' \
  row peer runs "ours ms" "min" "peer ms" "min" ratio "r_min" target met "rss KiB" "peer"
row "run native true (warm)" runc 0.5 "$RUNS" \
  "$MANYARCH run --platform linux/amd64 $IMAGE true" \
  "runc run -b $tmp/bundle manyarch-bench-$$-\$i"
row "run emulated arm64 loop" qemu 1.10 "$LOOP_RUNS" \
  "$MANYARCH run --platform linux/arm64 $IMAGE sh -c '$LOOP'" \
  "qemu-aarch64-static $tmp/arm64/bin/busybox sh -c '$LOOP'"
# Start-up under emulation, for the record: bare QEMU sets up no container
# at all, so the issue sets no target and no JSON row is written.
row "run emulated arm64 true" qemu - "$RUNS" \
  "$MANYARCH run --platform linux/arm64 $IMAGE true" \
  "qemu-aarch64-static $tmp/arm64/bin/busybox true"
log "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
