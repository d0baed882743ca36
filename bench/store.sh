#!/usr/bin/env bash
# Compares internal/store with skopeo on one ~1 GiB OCI layout on the same disk.
#   bench/store.sh [WORKDIR]      (default: a new directory under /var/tmp)
# (a) storebench copy: copy into a fresh store (hash, write, fsync), then read
#     every blob back verified; (b) skopeo copy oci:SRC:bench oci:DST:bench
#     (skopeo does not fsync: it is also timed followed by `sync`).
# Each is run RUNS times (default 3); the best time is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
work=${1:-$(mktemp -d /var/tmp/manyarch-store-bench.XXXXXX)}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
command -v skopeo >/dev/null || { echo "needs skopeo (apt-get install skopeo)" >&2; exit 1; }

go build -o "$work/storebench" ./bench/storebench
CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch
"$work/storebench" gen "$work/src" >/dev/null
bytes=$(du -sb "$work/src/blobs" | cut -f1)
cat "$work"/src/blobs/sha256/* >/dev/null   # same warm page cache for both

best() { printf '%s\n' "$@" | sort -g | head -1; }
ws=(); rs=(); ss=(); sss=(); cs=()
for i in $(seq "$runs"); do
  rm -rf "$work/dst" "$work/sk"; sync
  out=$("$work/storebench" copy "$work/src" "$work/dst")
  ws+=("$(sed -n 's/^write_seconds=//p' <<<"$out")")
  rs+=("$(sed -n 's/^read_seconds=//p' <<<"$out")")
  sync
  rm -rf "$work/cli"; t0=$EPOCHREALTIME
  MANYARCH_ROOT=$work/cli "$work/manyarch" copy -q "oci:$work/src:bench" bench:1
  t1=$EPOCHREALTIME; cs+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/cli"; sync
  t0=$EPOCHREALTIME
  skopeo --insecure-policy copy -q "oci:$work/src:bench" "oci:$work/sk:bench"
  t1=$EPOCHREALTIME; sync; t2=$EPOCHREALTIME
  ss+=("$(echo "$t1 - $t0" | bc)"); sss+=("$(echo "$t2 - $t0" | bc)")
done
c=$(best "${cs[@]}"); w=$(best "${ws[@]}"); r=$(best "${rs[@]}"); s=$(best "${ss[@]}"); s2=$(best "${sss[@]}")
mb() { echo "scale=0; $bytes / $1 / 1000000" | bc; }
printf 'layout: %d bytes, best of %d runs, %s\n' "$bytes" "$runs" "$work"
printf 'manyarch store write (fsync):  %6.2fs  %5s MB/s\n' "$w" "$(mb "$w")"
printf 'manyarch store read verified:  %6.2fs  %5s MB/s\n' "$r" "$(mb "$r")"
printf 'manyarch copy oci:… NAME:      %6.2fs  %5s MB/s\n' "$c" "$(mb "$c")"
printf 'skopeo copy:                   %6.2fs  %5s MB/s\n' "$s" "$(mb "$s")"
printf 'skopeo copy + sync:            %6.2fs  %5s MB/s\n' "$s2" "$(mb "$s2")"
printf 'ratio skopeo/store (write):    %6.2f   (>1: store faster)\n' "$(echo "scale=3; $s / $w" | bc)"
printf 'ratio skopeo+sync/store:       %6.2f\n' "$(echo "scale=3; $s2 / $w" | bc)"
printf 'ratio skopeo/manyarch copy:    %6.2f\n' "$(echo "scale=3; $s / $c" | bc)"
