#!/usr/bin/env bash
# Push and pull of multi-platform images of incompressible layers to and from
# a local registry (Debian's docker-registry, the CNCF distribution registry,
# on 127.0.0.1 only), manyarch against crane, at several sizes (issue #20).
#
#   bench/registry.sh [WORKDIR]      (default: a new directory under /var/tmp)
#
# Environment:
#   SIZES   image sizes, space-separated (default "50 4x48 500 2048"): N is N MiB
#           over 4 platforms x 4 layers; PxM is P platforms of one M MiB layer
#           (4x48 is the issue's image). bench/all.sh may pass a quick set.
#   RUNS    runs per tool and row (default 5), interleaved: manyarch, crane,
#           manyarch, crane..., so a burst of load hits both alike.
#   JOBS    concurrent blob transfers (default 4: manyarch -j, crane's default).
#   BASE    a manyarch binary built from an earlier commit (optional): it runs
#           interleaved with the other two as a third tool, and the table gets
#           its rows too ("before"), so a change is judged in the same minutes.
#   BENCH_JSON  a file to which one JSON object per row is appended (the
#           contract in bench/all.sh: ratio = manyarch median / crane median,
#           below 1 manyarch is faster).
# Needs docker-registry, crane (installed here if missing: GOBIN=/usr/local/bin
# go install github.com/google/go-containerregistry/cmd/crane@v0.22.1), curl,
# python3, and GNU time (/usr/bin/time, apt package time, installed if missing)
# for peak RSS.
#
# push: from one OCI layout (oci:DIR:bench) into an empty registry (restarted
# on empty storage before each run). pull: from the registry into a fresh
# manyarch store, which fsyncs every blob, or a fresh crane OCI layout
# (`crane pull --format oci`, all platforms), which does not; so each pull is
# timed up to the end of a `sync FILE...` of everything it wrote (fsync of each
# file and directory: the same durability for both, and unlike a bare `sync`,
# not the rest of the machine's dirty pages).
# The table also shows the pull without the sync. Ratios are manyarch/crane in
# this script's human table too (below 1: manyarch faster).
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=${SIZES:-50 4x48 500 2048}
runs=${RUNS:-5}
jobs=${JOBS:-4}
all_platforms=(linux/amd64 linux/arm64 linux/arm/v7 linux/ppc64le)
work=${1:-$(mktemp -d /var/tmp/manyarch-registry-bench.XXXXXX)}
mkdir -p "$work"

if [ ! -x /usr/bin/time ]; then
  echo "registry.sh: installing GNU time (apt package time) for peak RSS" >&2
  apt-get install -y -qq time >/dev/null
fi
if ! command -v crane >/dev/null; then
  echo "registry.sh: installing crane v0.22.1 into /usr/local/bin" >&2
  GOBIN=/usr/local/bin go install github.com/google/go-containerregistry/cmd/crane@v0.22.1
fi
for c in docker-registry crane curl python3; do
  command -v "$c" >/dev/null || { echo "registry.sh: needs $c (see the header of $0)" >&2; exit 1; }
done

regpid=
cleanup() {
  if [ -n "$regpid" ]; then kill "$regpid" 2>/dev/null; wait "$regpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat >"$work/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/registry
  delete:
    enabled: true
http:
  addr: $reg
  secret: bench
YAML

start_registry() {
  docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
  regpid=$!
  for _ in $(seq 200); do
    curl -fs "http://$reg/v2/" >/dev/null && return 0
    sleep 0.05
  done
  echo "registry.sh: docker-registry did not start:" >&2; cat "$work/registry.log" >&2; exit 1
}
stop_registry() { kill "$regpid"; wait "$regpid" 2>/dev/null || true; regpid=; }
fresh_registry() { stop_registry; rm -rf "$work/registry"; start_registry; }

export DOCKER_CONFIG=$work/docker   # no credentials: nothing leaks in from the host
mkdir -p "$DOCKER_CONFIG"

echo "building manyarch" >&2
CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch

# elapsed T0 T1: seconds from T0 to T1 ($EPOCHREALTIME). awk, not python3: a
# python3 start took 0.35 s on this machine, and a pull row once measured it
# (the sync-inclusive window held timed's python3 call; since fixed). For the
# same reason the stamps are $EPOCHREALTIME, not $(date +%s.%N): a date
# process in the window cost every run ~9 ms.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }

# timed DEST-FILE CMD...: runs CMD, appends "seconds peak-RSS-KiB" to DEST-FILE
# and sets TIMED_S to the seconds.
timed() {
  local out=$1; shift
  local t0 t1
  t0=$EPOCHREALTIME
  /usr/bin/time -f %M -o "$work/rss" "$@" >"$work/out" 2>&1 || { cat "$work/out" >&2; exit 1; }
  t1=$EPOCHREALTIME
  TIMED_S=$(elapsed "$t0" "$t1")
  echo "$TIMED_S $(cat "$work/rss")" >>"$out"
}
check() { # REF: the registry must hold the source's digest under REF
  local got; got=$(crane digest --insecure "$1")
  [ "$got" = "$want" ] || { echo "registry.sh: $1 is $got, want $want" >&2; exit 1; }
}
# push_cmd TOOL REF, pull_cmd TOOL REF DEST: set cmd to the command line.
tools=(manyarch crane)
if [ -n "${BASE:-}" ]; then
  [ -x "$BASE" ] || { echo "registry.sh: BASE=$BASE is not an executable manyarch binary" >&2; exit 1; }
  tools+=(base)
fi
push_cmd() {
  case $1 in
  manyarch) cmd=("$work/manyarch" --root "$work/mroot" push -q -j "$jobs" "oci:$work/layout:bench" "$2") ;;
  base)     cmd=("$BASE" --root "$work/mroot" push -q -j "$jobs" "oci:$work/layout:bench" "$2") ;;
  crane)    cmd=(crane push --insecure "$work/layout" "$2") ;;
  esac
}
pull_cmd() {
  case $1 in
  manyarch) cmd=("$work/manyarch" --root "$3" pull -q -j "$jobs" "$2") ;;
  base)     cmd=("$BASE" --root "$3" pull -q -j "$jobs" "$2") ;;
  crane)    cmd=(crane pull --insecure --format oci "$2" "$3") ;;
  esac
}

# stats FILE [FIELD]: median and minimum of column FIELD (1: seconds, 2: RSS).
stats() {
  python3 - "$1" "${2:-1}" <<'PY'
import statistics, sys
v = [float(l.split()[int(sys.argv[2]) - 1]) for l in open(sys.argv[1]) if l.strip()]
print(statistics.median(v), min(v), max(v))
PY
}

rows=()
start_registry
for spec in $sizes; do
  if [[ $spec == *x* ]]; then
    np=${spec%x*}; layers=1; layer_kib=$(( ${spec#*x} * 1024 )); label="${spec}MiB"
  else
    np=4; layers=4; layer_kib=$(( spec * 1024 / 16 )); label="${spec}MiB"
  fi
  plats=$(IFS=,; echo "${all_platforms[*]:0:np}")
  rm -rf "$work/layout" "$work/mroot"
  echo "== $label: generating $np platforms x $layers layers of $layer_kib KiB" >&2
  want=$(python3 bench/genimage.py "$work/layout" bench "$plats" "$layers" "$layer_kib")
  bytes=$(du -sb "$work/layout/blobs" | cut -f1)
  cat "$work"/layout/blobs/sha256/* >/dev/null   # same warm page cache for every tool
  r=$work/res-$label
  mkdir -p "$r"
  for i in $(seq "$runs"); do
    for tool in "${tools[@]}"; do
      echo "$label run $i: push $tool" >&2
      fresh_registry
      push_cmd "$tool" "$reg/bench/$tool:1"
      timed "$r/push-$tool" "${cmd[@]}"
      check "$reg/bench/$tool:1"
    done
    fresh_registry
    crane push --insecure "$work/layout" "$reg/bench/src:1" >/dev/null 2>&1
    check "$reg/bench/src:1"
    # One untimed pull first: the first pull a just-started registry serves
    # took ~40 ms longer than the next (crane 242-251 ms, then 195-207), and
    # the first timed tool, always manyarch, paid it alone.
    rm -rf "$work/warm"
    crane pull --insecure --format oci "$reg/bench/src:1" "$work/warm" >/dev/null 2>&1
    rm -rf "$work/warm"
    for tool in "${tools[@]}"; do
      echo "$label run $i: pull $tool" >&2
      dest=$work/pull-$tool
      rm -rf "$dest"; sync
      pull_cmd "$tool" "$reg/bench/src:1" "$dest"
      timed "$r/pullnosync-$tool" "${cmd[@]}"
      t0=$EPOCHREALTIME
      find "$dest" -exec sync {} +   # fsync its files and directories, not the whole machine's
      t1=$EPOCHREALTIME
      # The pull row: the pull's own time plus the sync's, nothing between.
      echo "$(awk -v p="$TIMED_S" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", p + b - a }') $(cat "$work/rss")" >>"$r/pull-$tool"
      if [ "$tool" != crane ]; then
        "$work/manyarch" --root "$dest" images --format json | grep -q "$want" ||
          { echo "registry.sh: manyarch pulled something other than $want" >&2; exit 1; }
      else
        grep -q "$want" "$dest/index.json" ||
          { echo "registry.sh: crane pulled something other than $want" >&2; exit 1; }
      fi
      rm -rf "$dest"
    done
  done
  rows+=("$label:$bytes:$np:$layers")
done

printf '\nmanyarch vs crane, %d runs each interleaved, -j %d; seconds; ratio = manyarch/crane (below 1: manyarch faster)\n' "$runs" "$jobs"
printf '%-24s %10s %10s %10s %10s %7s %9s %7s %11s %11s\n' row "ours med" "ours min" "crane med" "crane min" ratio ratio_min target "ours RSS" "crane RSS"
for row in "${rows[@]}"; do
  IFS=: read -r label bytes np layers <<<"$row"
  r=$work/res-$label
  for op in push pull pullnosync; do
   for ours in "${tools[@]}"; do
    [ "$ours" != crane ] || continue
    read -r om omin _ < <(stats "$r/$op-$ours")
    read -r cm cmin _ < <(stats "$r/$op-crane")
    read -r orss _ _ < <(stats "$r/$op-$ours" 2)
    read -r crss _ _ < <(stats "$r/$op-crane" 2)
    case $op in push) target=0.9 name="push $label" ;; pull) target=0.8 name="pull $label" ;; *) target= name="pull $label, no sync" ;; esac
    json=${BENCH_JSON:-}
    if [ "$ours" = base ]; then name="$name (before)"; json=; fi
    python3 - "$name" "$om" "$omin" "$cm" "$cmin" "$target" "$orss" "$crss" "$runs" "$json" <<'PY'
import json, sys
name, om, omin, cm, cmin, target, orss, crss, runs, out = sys.argv[1:]
om, omin, cm, cmin = float(om), float(omin), float(cm), float(cmin)
ratio, ratio_min = om / cm, omin / cmin
print("%-24s %10.2f %10.2f %10.2f %10.2f %7.2f %9.2f %7s %8d KiB %8d KiB" % (
    name, om, omin, cm, cmin, ratio, ratio_min, ("<= " + target) if target else "-", float(orss), float(crss)))
if out and target:
    with open(out, "a") as f:
        f.write(json.dumps({"row": name, "peer": "crane", "runs": int(runs),
            "ours_median_s": round(om, 4), "ours_min_s": round(omin, 4),
            "peer_median_s": round(cm, 4), "peer_min_s": round(cmin, 4),
            "ratio": round(ratio, 3), "ratio_min": round(ratio_min, 3), "target": float(target),
            "ours_peak_rss_kib": int(float(orss)), "peer_peak_rss_kib": int(float(crss))}) + "\n")
PY
   done
  done
done
