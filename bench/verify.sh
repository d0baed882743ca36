#!/usr/bin/env bash
# Throughput of `manyarch verify` against plain decompression of the same
# layers, the physical bound of a static scan.
#   bench/verify.sh [WORKDIR]      (default: a new directory under /var/tmp)
# Builds a 3-platform image (linux/amd64, linux/arm64, linux/arm/v7), each
# platform ~SIZE_MB MiB (default 330) of mixed files: real ELF executables
# (Go programs cross-compiled for the platform), text from /usr/share, many
# small files, incompressible and zero data; imports it into a fresh store
# (gzip layers), then times, best of RUNS (default 3), on a warm page cache:
#   (a) gzip -dc of every layer blob > /dev/null, one after the other;
#   (b) manyarch verify --format json -j 1 and -j $(nproc).
# Prints MB/s of uncompressed layer data and the ratio verify/gzip.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
size_mb=${SIZE_MB:-330}
work=${1:-$(mktemp -d /var/tmp/manyarch-verify-bench.XXXXXX)}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch

# Go programs for each platform: real, unstripped ELF executables.
mkdir -p "$work/hello"
cat > "$work/hello/main.go" <<'GO'
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	fmt.Println(os.Args, http.StatusOK)
}
GO
printf 'module hello\n\ngo 1.22\n' > "$work/hello/go.mod"
(cd "$work/hello" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS=-buildvcs=false go build -o "$work/hello-amd64" .)
(cd "$work/hello" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 GOFLAGS=-buildvcs=false go build -o "$work/hello-arm64" .)
(cd "$work/hello" && CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 GOFLAGS=-buildvcs=false go build -o "$work/hello-arm" .)

# Text: regular files of /usr/share (documentation, locales, scripts), up to
# ~30% of a platform.
find /usr/share -type f -size -2M -printf '%s\t%p\n' 2>/dev/null \
  | awk -F'\t' -v max=$((size_mb * 1024 * 1024 * 3 / 10)) '{ if (n + $1 > max) exit; n += $1; print $2 }' > "$work/text.list" || true

gen_rootfs() { # DIR GOBIN
  local dir=$1 bin=$2 budget=$((size_mb * 1024 * 1024))
  mkdir -p "$dir/usr/local/bin" "$dir/data/small" "$dir/data/blob"
  # ~40%: ELF executables
  local elf=$((budget * 4 / 10)) sz i=0
  sz=$(stat -c %s "$bin")
  while [ $((i * sz)) -lt "$elf" ]; do cp "$bin" "$dir/usr/local/bin/app$i"; i=$((i + 1)); done
  # ~30%: text from /usr/share
  mkdir -p "$dir/text"
  tar -cf - -T "$work/text.list" 2>/dev/null | tar -xf - -C "$dir/text"
  # ~10%: 20,000 small files
  head -c $((budget / 10)) /dev/urandom | base64 -w 100 | split -a 5 -d -C $((budget / 10 / 20000 + 1)) - "$dir/data/small/f"
  # ~10% incompressible, ~10% zeros
  head -c $((budget / 10)) /dev/urandom > "$dir/data/blob/random.bin"
  head -c $((budget / 10)) /dev/zero > "$dir/data/blob/zeros.img"
}
gen_rootfs "$work/rootfs-amd64" "$work/hello-amd64"
gen_rootfs "$work/rootfs-arm64" "$work/hello-arm64"
gen_rootfs "$work/rootfs-arm" "$work/hello-arm"

store="$work/store"
SOURCE_DATE_EPOCH=0 "$work/manyarch" --root "$store" import -t bench:1 \
  --platform linux/amd64="$work/rootfs-amd64" --platform linux/arm64="$work/rootfs-arm64" \
  --platform linux/arm/v7="$work/rootfs-arm" --change 'ENTRYPOINT ["/usr/local/bin/app0"]' >/dev/null
rm -rf "$work"/rootfs-*

layers=()
for b in "$store"/blobs/sha256/*; do
  [ "$(od -An -tx1 -N2 "$b" | tr -d ' ')" = 1f8b ] && layers+=("$b")
done
compressed=$(cat "${layers[@]}" | wc -c)
bytes=$(for b in "${layers[@]}"; do gzip -dc < "$b"; done | wc -c)
cat "${layers[@]}" > /dev/null   # same warm page cache for both

best() { printf '%s\n' "$@" | sort -g | head -1; }
gz=(); v1=(); vn=()
jobs=$(nproc)
for i in $(seq "$runs"); do
  t0=$EPOCHREALTIME; for b in "${layers[@]}"; do gzip -dc < "$b"; done > /dev/null; t1=$EPOCHREALTIME
  gz+=("$(echo "$t1 - $t0" | bc)")
  t0=$EPOCHREALTIME; "$work/manyarch" --root "$store" verify -j 1 --format json bench:1 > "$work/report.json" || true; t1=$EPOCHREALTIME
  v1+=("$(echo "$t1 - $t0" | bc)")
  t0=$EPOCHREALTIME; "$work/manyarch" --root "$store" verify -j "$jobs" --format json bench:1 > "$work/report.json" || true; t1=$EPOCHREALTIME
  vn+=("$(echo "$t1 - $t0" | bc)")
done
read -r vbytes elfs files findings < <(python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))[0]
print(sum(p["bytes"] for p in r["platforms"]), sum(p["elfFiles"] for p in r["platforms"]), sum(p["files"] for p in r["platforms"]), r["errors"]+r["warnings"])' "$work/report.json")
g=$(best "${gz[@]}"); a=$(best "${v1[@]}"); b=$(best "${vn[@]}")
mb() { echo "scale=0; $bytes / $1 / 1000000" | bc; }
printf 'image: 3 platforms, %d layers, %d bytes compressed, %d uncompressed (verify read %d); %d files, %d ELF; %d findings\n' \
  "${#layers[@]}" "$compressed" "$bytes" "$vbytes" "$files" "$elfs" "$findings"
printf 'best of %d runs, %s cores, warm page cache\n' "$runs" "$jobs"
printf 'gzip -dc (serial):             %6.2fs  %5s MB/s\n' "$g" "$(mb "$g")"
printf 'manyarch verify -j 1:          %6.2fs  %5s MB/s  ratio %.2f\n' "$a" "$(mb "$a")" "$(echo "scale=3; $a / $g" | bc)"
printf 'manyarch verify -j %-2s          %6.2fs  %5s MB/s  ratio %.2f\n' "$jobs" "$b" "$(mb "$b")" "$(echo "scale=3; $b / $g" | bc)"
