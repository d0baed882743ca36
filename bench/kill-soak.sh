#!/usr/bin/env bash
# Kill soak: nothing a user stored may be lost or corrupted by a kill.
#   bench/kill-soak.sh [WORKDIR]      (default: a new directory under /var/tmp)
# RUNS times (default 40) it starts one writing command, with a second one
# beside it on the same store, and kills the first with SIGKILL after a random
# 0-500 ms: copy into the store, into an existing oci-archive, into an oci
# layout beside another tag; index append; sign (both formats); rmi with gc.
# After each kill it checks what was there before: the store and the layout
# pass `manyarch check`, the archive and the layout's other tag read, the
# names made at the start still resolve to the same digests. At the end it
# says how many kills landed, the leftovers, and exits 1 on any violation.
# Loopback only: no registry, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-40}
work=${1:-$(mktemp -d /var/tmp/manyarch-kill-soak.XXXXXX)}
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch
m() { MANYARCH_ROOT=$work/root SOURCE_DATE_EPOCH=1672531200 COSIGN_PASSWORD=pw "$work/manyarch" "$@"; }
key=internal/sign/testdata/cosign.key

# Two platforms of 12 MiB of incompressible data each: long enough to kill
# in the middle of.
for p in amd64 arm64; do
  mkdir -p "$work/src/$p"
  head -c 12M /dev/urandom >"$work/src/$p/blob"
done
m import -t src:1 --platform linux/amd64="$work/src/amd64" --platform linux/arm64="$work/src/arm64" >/dev/null
m import -t one:1 --platform linux/amd64="$work/src/amd64" >/dev/null
m import -t two:1 --platform linux/arm64="$work/src/arm64" >/dev/null
m copy -q src:1 "oci-archive:$work/out.tar:1"
m copy -q src:1 "oci:$work/layout:keep"
digest() { m inspect --format '{{.digest}}' "$1"; }
declare -A want
for n in src:1 one:1 two:1; do want[$n]=$(digest "$n"); done
want_layout=$(digest "oci:$work/layout:keep")

bad=0 killed=0
fail() { echo "run $1: $2" >&2; bad=$((bad + 1)); }
for i in $(seq "$runs"); do
  side=(m gc)
  case $((RANDOM % 7)) in
  0) victim=(m copy -q src:1 "copy:$i") ;;
  1) victim=(m copy -q src:1 "oci-archive:$work/out.tar:$i") ;;
  2) victim=(m copy -q src:1 "oci:$work/layout:t$i") ;;
  3) m index create -q "idx:$i" one:1 >/dev/null
     victim=(m index append -q "idx:$i" two:1); side=(m index annotate -q "idx:$i" --platform linux/amd64 --annotation n=1) ;;
  4) victim=(m sign --key "$key" src:1); side=(m sign --key "$key" src:1) ;;
  5) victim=(m sign --new-bundle-format=false --key "$key" src:1); side=(m sign --new-bundle-format=false --key "$key" src:1) ;;
  6) m copy -q src:1 "gone:$i"; victim=(m rmi "gone:$i"); side=(m copy -q src:1 "copy:$i") ;;
  esac
  "${victim[@]}" >/dev/null 2>&1 &
  pid=$!
  "${side[@]}" >/dev/null 2>"$work/side.err" &
  spid=$!
  sleep "0.$(printf %03d $((RANDOM % 500)))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null || true
  wait "$spid" || fail "$i" "the command beside the killed one failed: ${side[*]}: $(cat "$work/side.err")"
  m check >"$work/check.txt" 2>&1 || fail "$i" "check of the store: $(head -3 "$work/check.txt")"
  MANYARCH_ROOT=$work/layout "$work/manyarch" check >"$work/check.txt" 2>&1 || fail "$i" "check of the layout: $(head -3 "$work/check.txt")"
  m inspect --format '{{.digest}}' "oci-archive:$work/out.tar" >/dev/null 2>&1 || fail "$i" "the archive does not read"
  [[ $(digest "oci:$work/layout:keep" 2>/dev/null) == "$want_layout" ]] || fail "$i" "the layout's tag keep changed or went"
  for n in "${!want[@]}"; do
    [[ $(digest "$n" 2>/dev/null) == "${want[$n]}" ]] || fail "$i" "$n changed or went"
  done
done
left=$(find "$work" -maxdepth 1 -name '.out.tar.*' | wc -l)
ingest=$(find "$work/root/ingest" -type f 2>/dev/null | wc -l)
echo "kill-soak: $runs runs, $killed killed mid-way, $bad violations; left beside the archive: $left; in the store's ingest/: $ingest (the next gc removes those)"
[[ $bad == 0 ]]
