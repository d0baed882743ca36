#!/usr/bin/env bash
# Scaling out (issue #19): the same RUN-heavy build of two platforms
# (linux/amd64, linux/arm64) on
#   native   manyarch's own engine (this machine, every CPU)
#   one      one BuildKit node held to one CPU (taskset -c 0) building both
#   two      two BuildKit nodes, each held to one CPU (cpu 0 and cpu 1),
#            one platform each: two machines in miniature
# The RUN work runs in a FROM --platform=$BUILDPLATFORM stage, natively on
# each node (this machine has no other CPU to stand in for an arm64 host),
# then is copied into each platform's image: the cross-compiling shape of
# examples/hello. Every build is --no-cache.
#   bench/buildkit-nodes.sh          RUNS=3 LOOPS=300000
# Prints each run, the median and min per setup, the ratios two/one and
# one/native, and the load average, with a warning when it exceeded the
# CPUs (other work then shares the pinned nodes' CPUs: the ratios do not
# count). Where the time goes: docs/scaling-out.md; `manyarch -vv build
# --builder two ...` logs each node's phases and BuildKit steps.
# Needs root, buildkitd v0.34.2 (hack/install-buildkit.sh), runc, taskset and
# the test fixtures (/var/cache/manyarch-test/fixtures/busybox.tar, made by
# the Go tests' testutil.RequireFixtures).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${RUNS:-3}
loops=${LOOPS:-300000}
fixture=${FIXTURE:-/var/cache/manyarch-test/fixtures/busybox.tar}
for c in buildkitd runc taskset; do
  command -v "$c" >/dev/null || { echo "needs $c (hack/install-buildkit.sh, apt-get install runc util-linux)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (rootful buildkitd)" >&2; exit 1; }
[ -f "$fixture" ] || { echo "needs $fixture: run go test ./internal/buildkit once as root" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs" >&2; exit 1; }

work=$(mktemp -d /tmp/bkbench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.2; done; done
  grep -o " $work[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch
M=$work/manyarch
export MANYARCH_ROOT=$work/store XDG_CONFIG_HOME=$work/config MANYARCH_BUILDER=

start_node() { # NAME CPU PLATFORMS...
  local name=$1 cpu=$2; shift 2
  local ps=""; for p in "$@"; do ps="$ps\"$p\", "; done
  mkdir -p "$work/$name"
  cat > "$work/$name/bk.toml" <<TOML
root = "$work/$name/root"
[grpc]
  address = ["unix://$work/$name/sock"]
[dns]
  nameservers = ["127.0.0.1"]
[worker.oci]
  enabled = true
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = false
  platforms = [${ps%, }]
[worker.containerd]
  enabled = false
TOML
  taskset -c "$cpu" buildkitd --config "$work/$name/bk.toml" >"$work/$name/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do buildctl --addr "unix://$work/$name/sock" debug workers >/dev/null 2>&1 && return; sleep 0.2; done
  echo "buildkitd $name did not start: $(tail -5 "$work/$name/log")" >&2; exit 1
}
start_node one 0 linux/amd64 linux/arm64
start_node a 0 linux/amd64
start_node b 1 linux/amd64 linux/arm64
$M builder create one --node linux/amd64,linux/arm64="unix://$work/one/sock" >/dev/null
$M builder create two --node linux/amd64="unix://$work/a/sock" --node linux/arm64="unix://$work/b/sock" >/dev/null
$M copy -q "oci-archive:$fixture" fixtures/busybox:1.35 >/dev/null

mkdir -p "$work/ctx"
cat > "$work/ctx/Dockerfile" <<DF
FROM --platform=\$BUILDPLATFORM fixtures/busybox:1.35 AS work
ARG TARGETPLATFORM
RUN i=0; while [ \$i -lt $loops ]; do i=\$((i+1)); done; echo "\$i \$TARGETPLATFORM" > /count
FROM fixtures/busybox:1.35
COPY --from=work /count /count
DF

time_build() { # BUILDER -> seconds
  local s e
  s=$EPOCHREALTIME
  $M build --builder "$1" --no-cache -q --platform linux/amd64,linux/arm64 -t bench:"$1" "$work/ctx" >/dev/null
  e=$EPOCHREALTIME
  echo "$e - $s" | bc -l
}
# Warm up (bases into each node, page cache).
for b in local one two; do time_build "$b" >/dev/null; done

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A t
for i in $(seq "$runs"); do
  for b in local one two; do
    x=$(time_build "$b")
    t[$b]="${t[$b]:-} $x"
    printf 'run %d %-6s %6.2f s\n' "$i" "$b" "$x"
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
stat() { tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f %.2f", m, a[1]}'; }
read -r nm nmin <<<"$(stat "${t[local]}")"
read -r om omin <<<"$(stat "${t[one]}")"
read -r tm tmin <<<"$(stat "${t[two]}")"
printf 'native (local)       median %6.2f s  min %6.2f s  (%d runs)\n' "$nm" "$nmin" "$runs"
printf 'one node, 1 CPU      median %6.2f s  min %6.2f s\n' "$om" "$omin"
printf 'two nodes, 1 CPU each median %6.2f s  min %6.2f s\n' "$tm" "$tmin"
printf 'two/one: median %.2f, min %.2f (aim <= 0.60); one/native: median %.2f\n' \
  "$(echo "$tm / $om" | bc -l)" "$(echo "$tmin / $omin" | bc -l)" "$(echo "$om / $nm" | bc -l)"
echo "load average before: $load_before, after: $load_after"
# Each node is pinned to one CPU: with more runnable work than CPUs, a
# pinned node gets a share of its CPU only, and the ratios say nothing.
if awk -v l="${load_after%% *}" -v n="$(nproc)" 'BEGIN {exit !(l > n)}'; then
  echo "warning: the 1-minute load average (${load_after%% *}) exceeded the $(nproc) CPUs: other work shared the nodes' CPUs; run again on a quiet machine" >&2
fi
