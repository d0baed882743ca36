#!/usr/bin/env bash
# SBOM time per platform for the Go toolchain image (hack/go-image.sh:
# /usr/local/go and busybox, ~140 MB uncompressed, 10 Go binaries):
# `manyarch sbom --format spdx-json` against syft's CLI on the same OCI
# layout, RUNS times each (default 5), median and minimum wall time, with
# the load average beside them.
#   bench/sbom.sh            (SYFT=path/to/syft; without it syft is left out)
# syft is not installed by the project (it is what manyarch chose not to
# link): `GOBIN=/tmp/syft go install github.com/anchore/syft/cmd/syft@v1.57.2`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${RUNS:-5}
work=$(mktemp -d /var/tmp/manyarch-sbom-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export MANYARCH_ROOT=$work/store SYFT_CHECK_FOR_APP_UPDATE=false
CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch
MANYARCH=$work/manyarch hack/go-image.sh manyarch-go:bench >/dev/null
"$work/manyarch" copy manyarch-go:bench "oci:$work/layout:go" >/dev/null

stats() { # name, then seconds per run
  local name=$1; shift
  printf '%s\n' "$@" | sort -n | awk -v n="$name" '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%-28s runs=%d median=%.2fs min=%.2fs\n", n, NR, m, a[1]}'
}
timeit() { local s e; s=$EPOCHREALTIME; "$@" >/dev/null 2>&1; e=$EPOCHREALTIME; echo "$e - $s" | bc; }

echo "load: $(cat /proc/loadavg)"
ls -l "$work/manyarch" | awk '{printf "manyarch binary: %d bytes\n", $5}'
t=(); for _ in $(seq "$runs"); do t+=("$(timeit "$work/manyarch" sbom --format spdx-json "oci:$work/layout:go")"); done
stats "manyarch sbom (own)" "${t[@]}"
"$work/manyarch" sbom "oci:$work/layout:go" | awk 'NR>1 {n++} END {print "manyarch packages: " n}'
if [ -n "${SYFT:-}" ]; then
  ls -l "$SYFT" | awk '{printf "syft binary: %d bytes\n", $5}'
  t=(); for _ in $(seq "$runs"); do t+=("$(timeit "$SYFT" scan -q "oci-dir:$work/layout" -o spdx-json)"); done
  stats "syft scan oci-dir" "${t[@]}"
  "$SYFT" scan -q "oci-dir:$work/layout" -o table 2>/dev/null | awk 'NR>1 {n++} END {print "syft packages: " n}'
fi
echo "load: $(cat /proc/loadavg)"
