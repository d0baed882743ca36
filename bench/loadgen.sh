#!/usr/bin/env bash
# The load generator's own ceiling: internal/loadgen against ab (Debian's
# apache2-utils) on a trivial native Go server on this machine, the same
# number of requests at the same concurrency, keep-alive for both (loadgen
# keeps one connection per worker; ab -k does the same).
#   bench/loadgen.sh                 REQUESTS=20000 CONCURRENCY=4 RUNS=5
# Prints each run, then per tool the median, min and max requests/s, and
# the load average before and after (other work on the machine skews the
# numbers: compare runs only at a similar load).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
n=${REQUESTS:-20000}
c=${CONCURRENCY:-4}
runs=${RUNS:-5}
command -v ab >/dev/null || { echo "needs ab: apt-get install apache2-utils (hack/deps.sh installs it)" >&2; exit 1; }
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/loadgen" ./bench/loadgen

for _ in 1 2 3 4 5; do                 # a free port on loopback
  port=$((20000 + RANDOM % 20000))
  "$work/loadgen" serve "127.0.0.1:$port" 2>"$work/server.log" &
  server=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break 2; sleep 0.1; done
  kill "$server" 2>/dev/null || true; server=
done
[ -n "$server" ] || { echo "the server did not start: $(cat "$work/server.log")" >&2; exit 1; }

# Warm both up once (page cache, the server's goroutines).
"$work/loadgen" load "127.0.0.1:$port" 2000 "$c" >/dev/null
ab -q -k -n 2000 -c "$c" "http://127.0.0.1:$port/" >/dev/null

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
lg=(); abs=()
for i in $(seq "$runs"); do
  out=$("$work/loadgen" load "127.0.0.1:$port" "$n" "$c")
  lg+=("$(sed -n 's/^rps=\([0-9.]*\).*/\1/p' <<<"$out")")
  a=$(ab -q -k -n "$n" -c "$c" "http://127.0.0.1:$port/" | awk '/^Requests per second:/ {print $4}')
  abs+=("$a")
  printf 'run %d: loadgen %s req/s (%s)   ab -k %s req/s\n' "$i" "${lg[-1]}" "${out#rps=* }" "$a"
done

stats() {  # median min max of the arguments
  printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {m = (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2; printf "median %.1f  min %.1f  max %.1f", m, v[1], v[NR]}'
}
echo
echo "$n requests at concurrency $c, $runs runs, $(nproc) CPUs:"
echo "  loadgen  req/s: $(stats "${lg[@]}")"
echo "  ab -k    req/s: $(stats "${abs[@]}")"
echo "  load average (1, 5, 15 min): $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after"
