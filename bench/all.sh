#!/usr/bin/env bash
# Issue #20's whole table in one command: every speed comparison against its
# peer (BuildKit v0.34.2, crane, runc, bare QEMU) measured side by side in the
# same run, interleaved, each row's median and minimum, the ratio and the
# target beside it, and whether the target is met.
#
#   bash bench/all.sh            (root; Debian 12 with hack/deps.sh's packages)
#
# It runs bench/build.sh, bench/registry.sh, bench/run.sh and bench/test.sh
# with BENCH_JSON set (each appends one JSON object per row; the contract is
# in bench/README.md), prints one table and writes bench/results.json: the
# rows plus the machine (nproc, kernel, CPU model), the date and the commit.
# Each script's own table and log go to bench/results.log.
#
# Environment:
#   RUNS=3          runs per tool and row, interleaved (each script's default
#                   is 5; 3 keeps the whole table near 15 minutes on 2 cores)
#   SCRIPTS="build registry run test"   which scripts to run
#   SCALE=1         also run bench/scale.sh (default off: it took 23 minutes
#                   on this shared 2-core machine with RUNS=1, more with 3):
#                   its rows (each with an "axis") join the table and it
#                   writes bench/scale.json for bench/plot
#   INSTALL=1       install BuildKit v0.34.2 (hack/install-buildkit.sh, built
#                   from the go.mod module) and crane v0.22.1 (go install)
#                   when missing; INSTALL=0 reports their rows as missing
#                   instead. Nothing else is installed: hack/deps.sh installs
#                   the Debian packages (QEMU, docker-registry, skopeo, runc).
# A script that fails, or is missing a tool, leaves its rows "missing" in the
# table (its log says why) and all.sh exits 1; a row over its target makes
# the exit status 3, so CI can tell "slower" from "broken".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:/usr/local/bin:/usr/sbin:/sbin
RUNS=${RUNS:-3}
SCRIPTS=${SCRIPTS:-build registry run test}
INSTALL=${INSTALL:-1}
if [ "${SCALE:-0}" = 1 ]; then SCRIPTS="$SCRIPTS scale"; fi
log() { printf 'all: %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || { log "run as root: the build, run and test benches start containers and buildkitd"; exit 1; }
for c in python3 bc; do
  command -v "$c" >/dev/null || { log "needs $c (apt-get install $c)"; exit 1; }
done

if [ "$INSTALL" = 1 ]; then
  if ! command -v buildkitd >/dev/null || ! command -v buildctl >/dev/null; then
    log "installing BuildKit v0.34.2 (hack/install-buildkit.sh)"
    bash hack/install-buildkit.sh >&2
  fi
  if ! command -v crane >/dev/null; then
    log "installing crane v0.22.1 into /usr/local/bin"
    GOBIN=/usr/local/bin go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
  fi
fi

out=bench/results.json
logf=bench/results.log
rows=$(mktemp /tmp/manyarch-bench-rows.XXXXXX)
trap 'rm -f "$rows"' EXIT
: > "$logf"
failed=
for s in $SCRIPTS; do
  f=bench/$s.sh
  if [ ! -f "$f" ]; then log "no $f"; failed="$failed $s"; continue; fi
  log "running $f (RUNS=$RUNS; its output in $logf)"
  t0=$(date +%s)
  if ! { echo "== $f"; RUNS=$RUNS BENCH_JSON=$rows bash "$f"; } >>"$logf" 2>&1; then
    log "$f failed; the end of its output:"; tail -n 8 "$logf" >&2
    failed="$failed $s"
  fi
  log "$f took $(( $(date +%s) - t0 ))s"
done

PYTHONPATH=bench python3 - "$rows" "$out" "$failed" <<'EOF'
import json, sys
import benchmeta
rows_path, out_path, failed = sys.argv[1], sys.argv[2], sys.argv[3].split()
# Issue #20's rows, each found among the scripts' rows by the words of its name.
want = [
    ("emulated RUN build, cold", ("emulated", "build", "cold")),
    ("emulated RUN build, cached", ("emulated", "build", "cached")),
    ("COPY of prebuilt binaries, cold", ("copy", "cold")),
    ("COPY of prebuilt binaries, cached", ("copy", "cached")),
    ("pull of a multi-platform image", ("pull",)),
    ("push of the same", ("push",)),
    ("run start-up, native", ("run", "native")),
    ("run emulated, over bare QEMU", ("run", "emulat")),
    ("test overhead per command test", ("test", "overhead")),
]
rows = []
for line in open(rows_path):
    line = line.strip()
    if line:
        try:
            rows.append(json.loads(line))
        except ValueError:
            print("all: a row that is not JSON: %r" % line, file=sys.stderr)
res = benchmeta.meta()
def met(r):
    if r.get("target_abs_s") is not None:
        return r.get("ours_median_s") is not None and r["ours_median_s"] < r["target_abs_s"]
    if r.get("ratio") is None or r.get("target") is None:
        return None
    return r["ratio"] <= r["target"]
def f(v, d=3):
    return "-" if v is None else ("%.*f" % (d, v))
# The row column is as wide as the longest row's name.
FMT = "%%-%ds %%-17s %%17s %%17s %%7s %%7s %%7s %%4s" % max([len("row")] + [len(r["row"]) for r in rows])
print(FMT % ("row", "peer", "ours med/min s", "peer med/min s", "ratio", "r(min)", "target", "met"))
over = False
for r in rows:
    m = met(r)
    over = over or m is False
    if r.get("target_abs_s") is not None:
        unit = r.get("unit", "s")
        k = 1000 if unit == "ms" else 1
        ours = "%s/%s %s" % (f(r.get("ours_median_s") and r["ours_median_s"] * k, 1), f(r.get("ours_min_s") and r["ours_min_s"] * k, 1), unit)
        print(FMT % (r["row"], r.get("peer", "-")[:17], ours, "-", "-", "-",
              "<%s%s" % (f(r["target_abs_s"] * k, 0), unit), {True: "yes", False: "NO", None: "?"}[m]))
        continue
    print(FMT % (r["row"], r.get("peer", "-")[:17],
          "%s/%s" % (f(r.get("ours_median_s")), f(r.get("ours_min_s"))),
          "%s/%s" % (f(r.get("peer_median_s")), f(r.get("peer_min_s"))),
          f(r.get("ratio")), f(r.get("ratio_min")), f(r.get("target"), 2), {True: "yes", False: "NO", None: "?"}[m]))
for r in rows:
    if r.get("ours_peak_rss_kib") and r.get("peer_peak_rss_kib"):
        print("peak RSS, %s: manyarch %d KiB, %s %d KiB" % (r["row"], r["ours_peak_rss_kib"], r.get("peer", "peer"), r["peer_peak_rss_kib"]))
# The scale rows (bench/scale.sh) do not stand in for the issue's rows.
missing = [name for name, words in want
           if not any(all(w in r["row"].lower() for w in words) for r in rows if "axis" not in r)]
for name in missing:
    print("%s: missing (see bench/results.log)" % name)
print("machine: " + benchmeta.describe(res["machine"]))
print("ratio = manyarch median / peer median, r(min) = minimum / minimum: below 1, manyarch is faster")
res.update({"rows": rows, "missing": missing, "failed_scripts": failed})
benchmeta.write_json(out_path, res)
print("written: %s" % out_path)
sys.exit(1 if missing or failed else (3 if over else 0))
EOF
