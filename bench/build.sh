#!/usr/bin/env bash
# manyarch build against BuildKit, same machine, same run, 3 platforms
# (linux/amd64, linux/arm64, linux/arm/v7) from the busybox fixture:
#   emulated   one shell-heavy RUN (a loop and a few hundred process starts)
#   copy       COPY of one prebuilt static binary per TARGETARCH
#   manyfiles  COPY of a context of 20,000 small files (200 directories)
# each cold (no cache: --no-cache for both), fully cached (the same build
# again) and, for copy and manyfiles, changed (one context file edited since
# the last build, so only the COPY and what follows re-run). Best of RUNS
# (default 3). BuildKit runs RUN steps of foreign
# platforms only through the host's binfmt_misc handlers: without them its
# emulated figures are "n/a" (manyarch registers private handlers per
# sandbox and needs none).
#
# Usage: bench/build.sh            (root; ../shared/peers/install.sh for BuildKit)
#   RUNS=3 PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7
#   BKQEMU=1   give BuildKit the stock qemu-*-static as its emulator (no host handlers needed)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${RUNS:-3}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64,linux/arm/v7}
PEERS=${PEERS:-/work/shared/peers}
work=$(mktemp -d /var/tmp/manyarch-build-bench.XXXXXX)
export MANYARCH_ROOT=$work/store
M=$work/manyarch
bkpid=
cleanup() {
  if [ -n "$bkpid" ]; then WORK=$work/bk bash "$PEERS/buildkitd-stop.sh" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$M" ./cmd/manyarch
# The base image: the fixture, from the default store when it has it.
if MANYARCH_ROOT=${FIXTURE_ROOT:-/var/lib/manyarch} "$M" inspect fixtures/busybox:1.35 >/dev/null 2>&1; then
  MANYARCH_ROOT=${FIXTURE_ROOT:-/var/lib/manyarch} "$M" copy fixtures/busybox:1.35 "oci:$work/base:latest" >/dev/null
  "$M" copy "oci:$work/base:latest" fixtures/busybox:1.35 >/dev/null
else
  MANYARCH="$M" bash hack/fixtures.sh >/dev/null
  "$M" copy fixtures/busybox:1.35 "oci:$work/base:latest" >/dev/null
fi
basedigest=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$work/base/index.json")

# Workloads.
mkdir -p "$work/emulated" "$work/copy/bin"
cat > "$work/emulated/Dockerfile" <<'EOF'
ARG BASE=fixtures/busybox:1.35
FROM ${BASE}
RUN i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; \
    for n in $(seq 150); do echo $n | md5sum > /dev/null; done; echo $i > /count
EOF
cat > "$work/copy/Dockerfile" <<'EOF'
ARG BASE=fixtures/busybox:1.35
FROM ${BASE}
ARG TARGETARCH
COPY bin/hello-${TARGETARCH} /usr/local/bin/hello
ENTRYPOINT ["/usr/local/bin/hello"]
EOF
mkdir -p "$work/manyfiles/files"
cat > "$work/manyfiles/Dockerfile" <<'EOF'
ARG BASE=fixtures/busybox:1.35
FROM ${BASE}
COPY files/ /data/
EOF
for d in $(seq 200); do
  mkdir -p "$work/manyfiles/files/d$d"
  for f in $(seq 100); do echo "file $d/$f" > "$work/manyfiles/files/d$d/f$f"; done
done
for a in amd64 arm64 arm; do
  CGO_ENABLED=0 GOOS=linux GOARCH=$a GOARM=7 go build -trimpath -o "$work/copy/bin/hello-$a" ./examples/hello
done

now() { date +%s.%N; }
best() { printf '%s\n' "$@" | sort -g | head -1; }
timeit() { # timeit CMD... → seconds, or "fail"
  local t0 t1
  t0=$(now)
  if "$@" > "$work/last.log" 2>&1; then t1=$(now); echo "$t1 - $t0" | bc; else echo fail; fi
}

WORK_QEMU=$work/qemu
# BKQEMU=1: without host binfmt_misc handlers BuildKit can still emulate
# through buildkit-qemu-ARCH binaries on its PATH; the stock qemu-*-static
# serve, but only for programs that do not exec other foreign programs
# (busybox runs its applets in-process, so most shell steps work).
if [ -n "${BKQEMU:-}" ]; then
  mkdir -p "$WORK_QEMU"
  for q in aarch64 arm ppc64le s390x riscv64 i386; do
    if [ -x /usr/bin/qemu-$q-static ]; then ln -sf /usr/bin/qemu-$q-static "$WORK_QEMU/buildkit-qemu-$q"; fi
  done
  export PATH=$WORK_QEMU:$PATH
fi
bk=0
if command -v buildctl >/dev/null && [ -f "$PEERS/buildkitd-start.sh" ]; then
  if bkpid=$(WORK=$work/bk bash "$PEERS/buildkitd-start.sh" 2>/dev/null); then bk=1; fi
  export BUILDKIT_HOST=unix://$work/bk/buildkitd.sock
fi
bkbuild() { # bkbuild DIR [--no-cache]
  buildctl build --frontend dockerfile.v0 --local "context=$1" --local "dockerfile=$1" \
    --oci-layout "fixturebase=$work/base" --opt "context:fixturebase=oci-layout://fixturebase@$basedigest" \
    --opt build-arg:BASE=fixturebase --opt "platform=$PLATFORMS" ${2:+--no-cache} \
    --output "type=oci,dest=$work/bk-out.tar"
}
mabuild() { # mabuild DIR [--no-cache]
  "$M" build -q --platform "$PLATFORMS" ${2:+--no-cache} -t "bench:$(basename "$1")" "$1"
}

printf '%-10s %-7s %10s %10s %8s\n' workload cache manyarch buildkit ratio
# changed: edit one context file of workload $1 (a new byte each time).
edits=0
edit() {
  edits=$((edits + 1))
  case $1 in
    copy) printf '%s' "$edits" >> "$work/copy/bin/hello-arm64" ;;
    manyfiles) echo "edit $edits" >> "$work/manyfiles/files/d7/f7" ;;
  esac
}
for w in emulated copy manyfiles; do
  modes="cold cached changed"
  [ $w = emulated ] && modes="cold cached"
  for mode in $modes; do
    ms=(); bs=()
    for i in $(seq "$runs"); do
      flag=; if [ $mode = cold ]; then flag=--no-cache; fi
      if [ $mode != cold ]; then mabuild "$work/$w" >/dev/null 2>&1 || true; fi   # warm the cache
      [ $mode = changed ] && edit $w
      ms+=("$(timeit mabuild "$work/$w" $flag)")
      if [ $bk = 1 ]; then
        if [ $mode != cold ]; then bkbuild "$work/$w" >/dev/null 2>&1 || true; fi
        [ $mode = changed ] && edit $w
        bs+=("$(timeit bkbuild "$work/$w" $flag)")
      fi
    done
    m=$(best "${ms[@]}"); m=$(printf '%.2f' "$m" 2>/dev/null || echo "$m")
    b=n/a; ratio=n/a
    if [ $bk = 1 ]; then
      b=$(best "${bs[@]}")
      case "$b" in fail) b="n/a(fails)";; *) ratio=$(echo "scale=2; $m / $b" | bc); b=$(printf '%.2f' "$b");; esac
    fi
    printf '%-10s %-7s %10s %10s %8s\n' "$w" "$mode" "$m" "$b" "$ratio"
  done
done
echo "ratio = manyarch / BuildKit (below 1: manyarch faster); best of $runs; platforms $PLATFORMS" >&2
