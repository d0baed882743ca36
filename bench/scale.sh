#!/usr/bin/env bash
# Scale (issue #20): how the cost of each path grows with the work, manyarch
# beside its peer measured in the same run, on three axes:
#
#   platforms  a build for 1, 3 and 7 platforms (linux/amd64, then arm64,
#              arm/v7, then ppc64le, s390x, mips64le, arm/v5: the busybox
#              fixture's) of bench/build.sh's emulated RUN and COPY
#              workloads, cold and cached; against BuildKit v0.34.2
#   context    a COPY of a context of 1,000, 20,000 and 100,000 small files
#              (bench/build.sh's manyfiles) for the issue's 3 platforms, cold,
#              cached and cached after one file changed; against BuildKit
#   image      push and pull of a 50 MiB, 500 MiB and 2 GiB image (4
#              platforms x 4 incompressible layers, bench/registry.sh) to and
#              from a local registry on 127.0.0.1; against crane
#
# It runs bench/build.sh and bench/registry.sh once per size (each starts its
# own buildkitd or registry, on loopback only), so every cell is RUNS
# interleaved runs of each tool, median and minimum, as in bench/all.sh. Rows
# follow bench/all.sh's contract plus "axis", "size", "unit" and "series"
# fields, and are appended to $BENCH_JSON when set (bench/all.sh SCALE=1).
# It writes bench/scale.json (rows, machine, date, commit, runs, how long it
# took); `go run ./bench/plot` draws it as docs/bench-scale.svg.
#
#   bash bench/scale.sh              (root, like bench/build.sh)
#
# Environment:
#   RUNS=3                     runs per tool and cell, interleaved
#   AXES="platforms context image"
#   PLATFORM_COUNTS="1 3 7"    FILE_COUNTS="1000 20000 100000"
#   IMAGE_SIZES="50 500 2048"  (MiB)
#   EMULATED_N=40              process starts in the emulated RUN (build.sh's
#                              default is 150; 40 keeps a cold 7-platform
#                              build near a minute on 2 cores)
#   EMULATION=bkqemu           how BuildKit emulates (bench/build.sh): bkqemu
#                              changes nothing on the host; manyarch uses its
#                              private handlers when the host has none
#   NOTE="..."                 a line for the plot's caption (e.g. that the
#                              machine was shared)
#   OUT=bench/scale.json
# A size whose script fails leaves its rows out; scale.sh then exits 1.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/local/bin:/usr/sbin:/sbin
RUNS=${RUNS:-3}
AXES=${AXES:-platforms context image}
PLATFORM_COUNTS=${PLATFORM_COUNTS:-1 3 7}
FILE_COUNTS=${FILE_COUNTS:-1000 20000 100000}
IMAGE_SIZES=${IMAGE_SIZES:-50 500 2048}
EMULATED_N=${EMULATED_N:-40}
EMULATION=${EMULATION:-bkqemu}
NOTE=${NOTE:-}
OUT=${OUT:-bench/scale.json}
# Not linux/386: BuildKit takes it to run natively on amd64 (containerd's
# platform matcher) and fails with "exec format error" on a kernel without
# 32-bit x86 support, where no host binfmt_misc handler stands in.
all_platforms=(linux/amd64 linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x linux/mips64le linux/arm/v5)
log() { printf 'scale: %s\n' "$*" >&2; }

for n in $PLATFORM_COUNTS $FILE_COUNTS $IMAGE_SIZES $RUNS $EMULATED_N; do
  case $n in ''|*[!0-9]*) log "not a whole number: $n (PLATFORM_COUNTS, FILE_COUNTS, IMAGE_SIZES, RUNS, EMULATED_N)"; exit 2 ;; esac
done
for n in $PLATFORM_COUNTS; do
  if [ "$n" -lt 1 ] || [ "$n" -gt ${#all_platforms[@]} ]; then
    log "PLATFORM_COUNTS: $n is not between 1 and ${#all_platforms[@]}"; exit 2
  fi
done
for a in $AXES; do
  case $a in platforms|context|image) ;; *) log "AXES: unknown axis $a (platforms, context, image)"; exit 2 ;; esac
done
command -v python3 >/dev/null || { log "needs python3"; exit 1; }

rows=$(mktemp /tmp/manyarch-scale-rows.XXXXXX)
step=$(mktemp /tmp/manyarch-scale-step.XXXXXX)
trap 'rm -f "$rows" "$step"' EXIT
failed=
start=$(date +%s)

# cell AXIS SIZE UNIT SCRIPT [VAR=VALUE...]: runs bench/SCRIPT.sh with the
# variables, then moves its rows into $rows with the axis, size and unit.
cell() {
  local axis=$1 size=$2 unit=$3 script=$4; shift 4
  local t0; t0=$(date +%s)
  : > "$step"
  log "$axis $size $unit: bench/$script.sh $*"
  if ! env "$@" RUNS="$RUNS" BENCH_JSON="$step" bash "bench/$script.sh" >&2; then
    log "$axis $size $unit: bench/$script.sh failed; its rows are left out"
    failed="$failed $axis/$size"
  fi
  python3 - "$step" "$rows" "$axis" "$size" "$unit" <<'EOF'
import json, re, sys
step, out, axis, size, unit = sys.argv[1:]
with open(out, "a") as f:
    for line in open(step):
        if not line.strip():
            continue
        r = json.loads(line)
        if "workload" in r:     # bench/build.sh ROWS=all
            series = r["mode"]
            what = {"emulated": "emulated RUN", "copy": "COPY", "manyfiles": "COPY of a context"}.get(r["workload"], r["workload"])
        else:                   # bench/registry.sh: "push 50MiB", "pull 50MiB"
            series = r["row"].split()[0]
            what = "image"
        r.update({"axis": axis, "size": int(size), "unit": unit, "series": series, "what": what,
                  "row": "scale: %s %s, %s %s" % (what, series, size, unit)})
        f.write(json.dumps(r) + "\n")
EOF
  log "$axis $size $unit took $(( $(date +%s) - t0 ))s"
}

build_env=(ROWS=all TOOLS="manyarch buildkit" EMULATION="$EMULATION" EMULATED_N="$EMULATED_N")
for axis in $AXES; do
  case $axis in
  platforms)
    for n in $PLATFORM_COUNTS; do
      plats=$(IFS=,; echo "${all_platforms[*]:0:n}")
      cell platforms "$n" platforms build "${build_env[@]}" PLATFORMS="$plats" WORKLOADS="emulated copy" MODES="cold cached"
    done ;;
  context)
    for n in $FILE_COUNTS; do
      cell context "$n" files build "${build_env[@]}" PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 \
        WORKLOADS=manyfiles MANYFILES="$n" MODES="cold cached changed"
    done ;;
  image)
    for n in $IMAGE_SIZES; do
      cell image "$n" MiB registry SIZES="$n"
    done ;;
  esac
done
total=$(( $(date +%s) - start ))

[ -z "${BENCH_JSON:-}" ] || cat "$rows" >> "$BENCH_JSON"
PYTHONPATH=bench python3 - "$rows" "$OUT" "$RUNS" "$total" "$NOTE" "$failed" <<'EOF'
import json, sys
import benchmeta
rows_path, out, runs, total, note, failed = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_path) if l.strip()]
def f(v):
    return "-" if v is None else "%.3f" % v
print("%-44s %-17s %17s %17s %7s" % ("row", "peer", "ours med/min s", "peer med/min s", "ratio"))
for r in rows:
    print("%-44s %-17s %17s %17s %7s" % (r["row"][:44], (r.get("peer") or "-")[:17],
          "%s/%s" % (f(r.get("ours_median_s")), f(r.get("ours_min_s"))),
          "%s/%s" % (f(r.get("peer_median_s")), f(r.get("peer_min_s"))), f(r.get("ratio"))))
res = benchmeta.meta()
res.update({"runs": int(runs), "total_s": int(total), "note": note, "rows": rows, "failed": failed.split()})
benchmeta.write_json(out, res)
print("machine: " + benchmeta.describe(res["machine"]))
print("runs: %s per tool and cell, interleaved; ratio = manyarch median / peer median (below 1: manyarch faster)" % runs)
print("scale.sh took %d s (%.1f min); written: %s" % (int(total), int(total) / 60, out))
EOF
if [ -n "$failed" ]; then log "failed:$failed"; exit 1; fi
