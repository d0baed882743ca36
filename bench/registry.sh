#!/usr/bin/env bash
# Push and pull of a ~500 MiB multi-platform image to a local registry (Debian's
# docker-registry, the CNCF distribution registry), manyarch against crane and
# skopeo copy --all, cold (the destination has nothing) and warm (it has every
# blob already).
#
#   bench/registry.sh [WORKDIR]      (default: a new directory under /var/tmp)
#
# Environment: SIZE_MIB (default 512, split over 4 platforms x 4 layers of
# incompressible data), RUNS (default 5, interleaving the tools; the best time
# of each is reported), JOBS
# (default 4: manyarch -j and crane's default).
# Needs docker-registry, skopeo, crane (GOBIN=/usr/local/bin go install
# github.com/google/go-containerregistry/cmd/crane@v0.22.1), curl, python3, bc.
#
# The source of every push is the same OCI layout (oci:DIR:bench); every pull
# goes to local disk: manyarch into its store (fsync'd), crane and skopeo into
# OCI layouts (not fsync'd: each pull is also timed followed by `sync`).
set -euo pipefail
cd "$(dirname "$0")/.."
size_mib=${SIZE_MIB:-512}
runs=${RUNS:-5}
jobs=${JOBS:-4}
platforms=(linux/amd64 linux/arm64 linux/arm/v7 linux/ppc64le)
layers=4
work=${1:-$(mktemp -d /var/tmp/manyarch-registry-bench.XXXXXX)}
mkdir -p "$work"

for c in docker-registry skopeo crane curl python3 bc; do
  command -v "$c" >/dev/null || { echo "registry.sh: needs $c (see the header of $0)" >&2; exit 1; }
done

regpid=
cleanup() {
  [ -n "$regpid" ] && kill "$regpid" 2>/dev/null && wait "$regpid" 2>/dev/null
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

now() { date +%s.%N; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
export DOCKER_CONFIG=$work/docker   # no credentials: nothing leaks in from the host
mkdir -p "$DOCKER_CONFIG"
sk=(skopeo --insecure-policy)

echo "building manyarch" >&2
go build -o "$work/manyarch" ./cmd/manyarch
m=("$work/manyarch" --root "$work/mroot")

# --- the image: 4 platforms x 4 layers of random data, via crane, into a layout.
start_registry
echo "generating a ${size_mib} MiB image with ${#platforms[@]} platforms x $layers layers" >&2
layer_kib=$(( size_mib * 1024 / ${#platforms[@]} / layers ))
refs=()
for p in "${platforms[@]}"; do
  files=()
  for i in $(seq $layers); do
    d=$work/gen/${p//\//-}-$i
    mkdir -p "$d"
    head -c "${layer_kib}K" /dev/urandom >"$d/data-$i"
    tar -C "$d" -cf "$d.tar" "data-$i"
    files+=(-f "$d.tar")
  done
  r=$reg/gen/${p//\//-}:1
  crane append --oci-empty-base "${files[@]}" -t "$r" >/dev/null 2>&1
  crane mutate --set-platform "$p" "$r" -t "$r" >/dev/null 2>&1
  refs+=(-m "$r")
done
crane index append "${refs[@]}" -t "$reg/gen/multi:1" >/dev/null 2>&1
"${sk[@]}" copy -q --all --src-tls-verify=false "docker://$reg/gen/multi:1" "oci:$work/layout:bench"
want=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[\"manifests\"][0][\"digest\"])" "$work/layout/index.json")
src=$(crane digest "$reg/gen/multi:1")
[ "$want" = "$src" ] || echo "note: skopeo rewrote the index into the layout ($src -> $want)" >&2
bytes=$(du -sb "$work/layout/blobs" | cut -f1)
rm -rf "$work/gen"
cat "$work"/layout/blobs/sha256/* >/dev/null   # same warm page cache for every tool
echo "image $want, $bytes bytes" >&2

check() { # REF: the pushed digest must be the source's
  local got; got=$(crane digest "$1")
  [ "$got" = "$want" ] || { echo "registry.sh: $1 is $got, want $want" >&2; exit 1; }
}

push_cmd() { # TOOL REF
  case $1 in
  manyarch) "${m[@]}" push -q -j "$jobs" "oci:$work/layout:bench" "$2" ;;
  crane)    crane push "$work/layout" "$2" >/dev/null 2>&1 ;;
  skopeo)   "${sk[@]}" copy -q --all --dest-tls-verify=false "oci:$work/layout:bench" "docker://$2" ;;
  esac
}
pull_cmd() { # TOOL REF DEST
  case $1 in
  manyarch) "$work/manyarch" --root "$3" pull -q -j "$jobs" "$2" ;;
  crane)    crane pull --format oci "$2" "$3" ;;
  skopeo)   "${sk[@]}" copy -q --all --src-tls-verify=false "docker://$2" "oci:$3:bench" ;;
  esac
}

tools=(manyarch crane skopeo)
declare -A push_cold push_warm pull_cold pull_coldsync pull_warm
# Runs interleave the tools, so a burst of load on the machine hits all three.
for i in $(seq "$runs"); do
  for tool in "${tools[@]}"; do
    echo "run $i: push $tool" >&2
    fresh_registry
    t0=$(now); push_cmd "$tool" "$reg/bench/$tool:1"; t1=$(now)
    check "$reg/bench/$tool:1"
    push_cmd "$tool" "$reg/bench/$tool:1"; t2=$(now)
    push_cold[$tool]+=" $(echo "$t1 - $t0" | bc)"; push_warm[$tool]+=" $(echo "$t2 - $t1" | bc)"
  done
  fresh_registry
  push_cmd manyarch "$reg/bench/src:1"
  check "$reg/bench/src:1"
  for tool in "${tools[@]}"; do
    echo "run $i: pull $tool" >&2
    dest=$work/pull-$tool
    rm -rf "$dest"; sync
    t0=$(now); pull_cmd "$tool" "$reg/bench/src:1" "$dest"; t1=$(now); sync; t2=$(now)
    pull_cmd "$tool" "$reg/bench/src:1" "$dest"; t3=$(now)
    pull_cold[$tool]+=" $(echo "$t1 - $t0" | bc)"; pull_coldsync[$tool]+=" $(echo "$t2 - $t0" | bc)"
    pull_warm[$tool]+=" $(echo "$t3 - $t2" | bc)"
    if [ "$tool" = manyarch ]; then
      "$work/manyarch" --root "$dest" images --format json | grep -q "$want" ||
        { echo "registry.sh: manyarch pulled something other than $want" >&2; exit 1; }
    fi
  done
done
declare -A T
for tool in "${tools[@]}"; do
  # shellcheck disable=SC2086 # the lists are space-separated numbers
  T[push-cold-$tool]=$(best ${push_cold[$tool]}); T[push-warm-$tool]=$(best ${push_warm[$tool]})
  # shellcheck disable=SC2086
  T[pull-cold-$tool]=$(best ${pull_cold[$tool]}); T[pull-coldsync-$tool]=$(best ${pull_coldsync[$tool]})
  # shellcheck disable=SC2086
  T[pull-warm-$tool]=$(best ${pull_warm[$tool]})
done

printf '\n%s: %d bytes, %d platforms x %d layers, -j %d, best of %d runs (seconds)\n' "$want" "$bytes" "${#platforms[@]}" "$layers" "$jobs" "$runs"
printf '%-24s %9s %9s %9s   %s\n' "" manyarch crane skopeo "ratio: other/manyarch (>1: manyarch faster)"
for k in push-cold push-warm pull-cold pull-coldsync pull-warm; do
  a=${T[$k-manyarch]}; c=${T[$k-crane]}; s=${T[$k-skopeo]}
  label=$k; [ "$k" = pull-coldsync ] && label="pull-cold + sync"
  printf '%-24s %9.2f %9.2f %9.2f   crane %.2f  skopeo %.2f\n' "$label" "$a" "$c" "$s" \
    "$(echo "scale=3; $c / $a" | bc)" "$(echo "scale=3; $s / $a" | bc)"
done
