#!/usr/bin/env bash
# Per-test overhead of `manyarch test` against `manyarch run` of the same
# command (and `podman run` when podman works here).
#   bench/test.sh            (needs root, qemu-user-static and the fixtures:
#                             MANYARCH_ROOT=... hack/fixtures.sh)
# For each of PLATFORMS (default linux/amd64 linux/arm64 linux/arm/v7):
#   test:    `manyarch test -j 1` of N (default 50) command tests
#            `/bin/echo test-I` on fixtures/busybox:1.35: wall time / N,
#            RUNS (default 5) times, interleaved across the platforms;
#   run:     N x `manyarch run --platform P fixtures/busybox:1.35 /bin/echo test-I`:
#            wall time / N (once);
#   command: one container running `/bin/echo` 10N times in a loop: time / 10N,
#            the cost of the command itself (under QEMU for foreign platforms).
# overhead = per test - command; its median and minimum over the runs are
# printed and, when BENCH_JSON names a file, appended to it as one JSON row
# per platform (bench/all.sh's contract; issue #20's target: under 10 ms).
# CPU_SPLIT=1 (with perf) adds the CPU per test of the manyarch process,
# the container inits and the commands. Also the whole matrix at the
# default -j.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
N=${N:-50}
RUNS=${RUNS:-5}
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64 linux/arm/v7"}
IMAGE=${IMAGE:-fixtures/busybox:1.35}
work=$(mktemp -d /var/tmp/manyarch-test-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
MANYARCH=${MANYARCH:-$work/manyarch}
[ -x "$MANYARCH" ] || CGO_ENABLED=0 go build -o "$MANYARCH" ./cmd/manyarch
"$MANYARCH" inspect "$IMAGE" >/dev/null 2>&1 || { echo "no $IMAGE in the store: run hack/fixtures.sh (MANYARCH_ROOT=${MANYARCH_ROOT:-default})" >&2; exit 1; }

{
  echo "schemaVersion: 2.0.0"
  echo "commandTests:"
  for i in $(seq "$N"); do
    printf -- "- name: echo %d\n  command: /bin/echo\n  args: [test-%d]\n  expectedOutput: ['^test-%d\\\\n\$']\n" "$i" "$i" "$i"
  done
} > "$work/bench.yaml"

ms() { awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN { printf "%.2f", (b - a) * 1000 / n }'; }

# Warm up: unpack the layers and cache the emulation probes.
for p in $PLATFORMS; do "$MANYARCH" run --platform "$p" "$IMAGE" true >/dev/null; done

# The cost of the command itself, and of N `manyarch run`s, per platform.
declare -A CMD_MS RUN_MS
for p in $PLATFORMS; do
  # /proc/uptime has centiseconds: loop 10N times for resolution.
  "$MANYARCH" run --platform "$p" "$IMAGE" sh -c "read a _ < /proc/uptime; i=0; while [ \$i -lt $((N * 10)) ]; do /bin/echo x >/dev/null; i=\$((i+1)); done; read b _ < /proc/uptime; echo \$a \$b" > "$work/cmd"
  CMD_MS[$p]=$(awk -v n="$((N * 10))" '{ printf "%.2f", ($2 - $1) * 1000 / n }' "$work/cmd")
  t1=$EPOCHREALTIME
  for i in $(seq "$N"); do "$MANYARCH" run --platform "$p" "$IMAGE" /bin/echo "test-$i" >/dev/null; done
  t2=$EPOCHREALTIME
  RUN_MS[$p]=$(ms "$t1" "$t2" "$N")
done

# RUNS rounds of one `manyarch test -j 1` per platform: per test ms per line.
for ((r = 0; r < RUNS; r++)); do
  for p in $PLATFORMS; do
    t0=$EPOCHREALTIME
    "$MANYARCH" test -q -j 1 --platform "$p" "$IMAGE" -c "$work/bench.yaml" -o json > "$work/out.json" \
      || { echo "manyarch test failed on $p:" >&2; head -c 2000 "$work/out.json" >&2; exit 1; }
    t1=$EPOCHREALTIME
    echo "$(ms "$t0" "$t1" "$N")" >> "$work/test-${p//\//_}"
  done
done

# median FILE, minimum FILE (one number a line).
median() { sort -n "$1" | awk '{v[NR]=$1} END{printf "%.2f", (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
minimum() { sort -n "$1" | head -n1; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }

printf '%-14s %5s %11s %8s %8s %8s %13s %10s %10s\n' PLATFORM runs "test/ms" min "run/ms" "cmd/ms" "overhead/ms" min "run-cmd/ms"
for p in $PLATFORMS; do
  f=$work/test-${p//\//_}
  tmed=$(median "$f"); tmin=$(minimum "$f"); c=${CMD_MS[$p]}
  omed=$(sub "$tmed" "$c"); omin=$(sub "$tmin" "$c")
  printf '%-14s %5d %11s %8s %8s %8s %13s %10s %10s\n' "$p" "$RUNS" "$tmed" "$tmin" "${RUN_MS[$p]}" "$c" "$omed" "$omin" "$(sub "${RUN_MS[$p]}" "$c")"
  if [ -n "${BENCH_JSON:-}" ]; then
    name="test overhead per command test"
    [ "$p" = "linux/amd64" ] || name="$name ($p, emulated)"
    awk -v row="$name" -v runs="$RUNS" -v med="$omed" -v mn="$omin" 'BEGIN {
      printf "{\"row\":\"%s\",\"unit\":\"ms\",\"runs\":%d,\"ours_median_s\":%.5f,\"ours_min_s\":%.5f,\"target_abs_s\":0.010}\n", row, runs, med/1000, mn/1000 }' >> "$BENCH_JSON"
  fi
done

# CPU per test by process (CPU_SPLIT=1, needs perf): one `manyarch test -j 1`
# per platform under `perf record`; its samples are split into the manyarch
# process, the container inits (the re-exec of manyarch, comm "exe") and the
# commands (and their emulator), in ms of CPU per test.
if [ "${CPU_SPLIT:-0}" = 1 ]; then
  echo
  if ! command -v perf >/dev/null; then
    echo "CPU split: perf is not installed"
  else
    printf '%-14s %10s %10s %10s %10s\n' PLATFORM "cpu/ms" "manyarch" "init" "command"
    for p in $PLATFORMS; do
      perf record -q -F 999 -o "$work/perf.data" -- sh -c 'echo $$ > "$0"; exec "$@"' "$work/pid" \
        "$MANYARCH" test -q -j 1 --platform "$p" "$IMAGE" -c "$work/bench.yaml" -o json > /dev/null 2>"$work/perf.err" \
        || { cat "$work/perf.err" >&2; exit 1; }
      perf script -i "$work/perf.data" -F comm,pid 2>/dev/null | awk -v parent="$(cat "$work/pid")" -v n="$N" -v p="$p" '
        { pid = $NF; k[pid]++; all++; if ($1 == "exe") init[pid] = 1 }
        END { for (pid in k) { if (pid == parent) m += k[pid]; else if (init[pid]) i += k[pid]; else c += k[pid] }
              f = 1000 / 999 / n; printf "%-14s %10.1f %10.1f %10.1f %10.1f\n", p, all * f, m * f, i * f, c * f }'
    done
    echo "(the manyarch column includes its own start-up, shared by the N tests)"
  fi
fi

plats=$(echo $PLATFORMS | tr ' ' ',')
t0=$EPOCHREALTIME
"$MANYARCH" test -q --platform "$plats" "$IMAGE" -c "$work/bench.yaml" > "$work/matrix.txt" || { cat "$work/matrix.txt" >&2; exit 1; }
t1=$EPOCHREALTIME
echo
echo "matrix: $N tests x $(echo $PLATFORMS | wc -w) platforms at the default -j ($(nproc) CPUs): $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s"
sed -n '/^PLATFORM/,/^$/p' "$work/matrix.txt"

# podman, native platform only (it needs the image loaded into its storage).
echo
if ! command -v podman >/dev/null; then
  echo "podman: not installed; no podman comparison"
else
  "$MANYARCH" copy --platform linux/amd64 "$IMAGE" "oci-archive:$work/podman.tar" >/dev/null
  ref=$(podman load -q -i "$work/podman.tar" 2>&1 | sed -n 's/^Loaded image: //p' | tail -1)
  if [ -z "$ref" ]; then
    echo "podman: cannot load the image; no podman comparison"
  elif ! err=$(podman run --rm --network none "$ref" /bin/echo x 2>&1 >/dev/null); then
    echo "podman: does not run containers here: $(tail -1 <<<"$err")"
  else
    t0=$EPOCHREALTIME
    for i in $(seq "$N"); do podman run --rm --network none "$ref" /bin/echo "test-$i" >/dev/null; done
    t1=$EPOCHREALTIME
    echo "podman run (linux/amd64): $(ms "$t0" "$t1" "$N") ms per container"
  fi
  [ -n "$ref" ] && podman rmi -f "$ref" >/dev/null 2>&1 || true
fi
