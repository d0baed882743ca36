#!/usr/bin/env bash
# manyarch build against BuildKit and buildah: same machine, same run, same
# Dockerfiles and base images, 3 platforms (linux/amd64, linux/arm64,
# linux/arm/v7) from the busybox fixture:
#   emulated   one shell-heavy RUN (a loop and a few hundred process starts)
#   copy       COPY of one prebuilt static binary per TARGETARCH
#   manyfiles  COPY of a context of 20,000 small files (200 directories)
#   gocross    examples/hello: a Go stage on $BUILDPLATFORM cross-compiles for
#              each target (RUN --mount=type=cache for the Go build cache),
#              then COPY --from into the busybox base; the Go toolchain image
#              is hack/go-image.sh's. buildah 1.28 fails it: in a
#              multi-platform build it looks for the target platform's image
#              in FROM --platform=$BUILDPLATFORM ("image not known")
#   biglayer   COPY of a 100 MB file (the start of a tar of the host's
#              /usr/lib/x86_64-linux-gnu) and a RUN that copies it: large
#              layers, where compressing and storing them is the work
# each cold (--no-cache for every tool; for gocross, whose Go build cache
# is a cache mount that --no-cache keeps, each tool's cache is pruned first:
# manyarch prune, buildctl prune --all), fully cached (the same build again)
# and, but for emulated, changed
# (one context file edited since the last build, so only the steps from the
# COPY that reads it on run again). Best of RUNS (default 3). The ratios are
# manyarch's time over the other tool's: below 1, manyarch is faster.
#
# Emulation: BuildKit and buildah run foreign RUN steps only through the
# host's binfmt_misc handlers. With EMULATION=host (the default as root) the
# bench registers manyarch's handlers for the foreign platforms it needs
# (manyarch binfmt install) when none are there and removes them at the end,
# so all three tools emulate the same way; one more row times manyarch's
# own private handlers (--emulation private), which need no host change.
# EMULATION=bkqemu changes nothing on the host: BuildKit gets the stock
# qemu-*-static as buildkit-qemu-* on its PATH, buildah's emulated rows fail.
#
# Outputs: manyarch tags the index in its store (-t); BuildKit exports an
# image into its own store (type=image, no push); buildah adds the platforms
# to a manifest list in its storage (--manifest). Nothing is pushed.
#
# Usage: bench/build.sh   (root; ../shared/peers/install.sh installs BuildKit and buildah)
#   RUNS=3 PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 WORKLOADS="emulated copy manyfiles gocross biglayer"
#   FIXTURE_ROOT=/var/lib/manyarch   a store holding fixtures/busybox:1.35 (and manyarch-go:local);
#                                    what it lacks is made (hack/fixtures.sh, hack/go-image.sh)
#   TOOLS="manyarch buildkit buildah"
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${RUNS:-3}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64,linux/arm/v7}
WORKLOADS=${WORKLOADS:-emulated copy manyfiles gocross biglayer}
TOOLS=${TOOLS:-manyarch buildkit buildah}
PEERS=${PEERS:-/work/shared/peers}
FIXTURE_ROOT=${FIXTURE_ROOT:-/var/lib/manyarch}
EMULATION=${EMULATION:-host}
# Lower case: buildah takes oci:PATH only when PATH could be an image name.
work=/var/tmp/manyarch-build-bench-$$
rm -rf "$work"; mkdir -p "$work"
export MANYARCH_ROOT=$work/store
M=$work/manyarch
BH=(buildah --root "$work/buildah" --runroot "$work/buildah-run")
bkpid=
installed=
log() { printf 'bench: %s\n' "$*" >&2; }
cleanup() {
  if [ -n "$bkpid" ]; then WORK=$work/bk bash "$PEERS/buildkitd-stop.sh" >/dev/null 2>&1 || true; fi
  if [ -n "$installed" ]; then "$M" binfmt uninstall $installed >/dev/null 2>&1 || log "could not remove the handlers for $installed"; fi
  if [ -d "$work/buildah" ]; then "${BH[@]}" rm -a >/dev/null 2>&1 || true; "${BH[@]}" rmi -af >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
has() { case " $TOOLS " in *" $1 "*) return 0;; esac; return 1; }

go build -o "$M" ./cmd/manyarch

# Base images: the fixture and the Go image, from FIXTURE_ROOT when it has
# them, made otherwise; each also as an OCI layout for BuildKit and buildah.
fx() { MANYARCH_ROOT=$FIXTURE_ROOT "$M" "$@"; }
if ! fx inspect fixtures/busybox:1.35 >/dev/null 2>&1; then
  log "making fixtures/busybox:1.35 in $FIXTURE_ROOT (hack/fixtures.sh)"
  MANYARCH_ROOT=$FIXTURE_ROOT MANYARCH="$M" bash hack/fixtures.sh >/dev/null
fi
case " $WORKLOADS " in *" gocross "*)
  if ! fx inspect manyarch-go:local >/dev/null 2>&1; then
    log "making manyarch-go:local in $FIXTURE_ROOT (hack/go-image.sh)"
    MANYARCH_ROOT=$FIXTURE_ROOT MANYARCH="$M" bash hack/go-image.sh manyarch-go:local >/dev/null
  fi
  fx copy -q manyarch-go:local "oci:$work/go:latest"
  "$M" copy -q "oci:$work/go:latest" manyarch-go:local
esac
fx copy -q fixtures/busybox:1.35 "oci:$work/base:latest"
"$M" copy -q "oci:$work/base:latest" fixtures/busybox:1.35
topdigest() { python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json"; }

# Workloads.
mkdir -p "$work/emulated" "$work/copy/bin" "$work/manyfiles/files" "$work/gocross"
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
cp examples/hello/Dockerfile examples/hello/main.go "$work/gocross/"
mkdir -p "$work/biglayer"
cat > "$work/biglayer/Dockerfile" <<'EOF'
ARG BASE=fixtures/busybox:1.35
FROM ${BASE}
COPY big.tar /big.tar
RUN cp /big.tar /copy && echo "$(uname -m)" >> /copy
EOF
case " $WORKLOADS " in *" biglayer "*)
  (tar cf - -C /usr/lib/x86_64-linux-gnu . 2>/dev/null || true) | head -c 100M > "$work/biglayer/big.tar"
esac

# Emulation for the peers.
foreign=
for p in ${PLATFORMS//,/ }; do
  case $p in linux/amd64|linux/386) ;; *) foreign="$foreign ${p#linux/}";; esac
done
case $EMULATION in
host)
  if [ "$(id -u)" = 0 ] && [ -n "$foreign" ]; then
    # Only the platforms with no handler yet, so the bench removes only its own.
    for p in $foreign; do
      if "$M" binfmt status --format json 2>/dev/null | python3 -c 'import json,sys
sys.exit(0 if any(s["platform"] == "linux/"+sys.argv[1] and s.get("handler") for s in json.load(sys.stdin)) else 1)' "$p"; then continue; fi
      installed="$installed $p"
    done
    if [ -n "$installed" ]; then
      log "registering host binfmt_misc handlers for$installed (removed at the end)"
      "$M" binfmt install $installed >/dev/null
    fi
  fi ;;
bkqemu)
  mkdir -p "$work/qemu"
  for q in aarch64 arm ppc64le s390x riscv64 i386; do
    if [ -x /usr/bin/qemu-$q-static ]; then ln -sf /usr/bin/qemu-$q-static "$work/qemu/buildkit-qemu-$q"; fi
  done
  export PATH=$work/qemu:$PATH ;;
*) log "EMULATION=$EMULATION: want host or bkqemu"; exit 2 ;;
esac

if has buildkit; then
  if command -v buildctl >/dev/null && [ -f "$PEERS/buildkitd-start.sh" ] && bkpid=$(WORK=$work/bk bash "$PEERS/buildkitd-start.sh" 2>/dev/null); then
    export BUILDKIT_HOST=unix://$work/bk/buildkitd.sock
  else
    log "no BuildKit (run $PEERS/install.sh): its column is n/a"; TOOLS=${TOOLS/buildkit/}
  fi
fi
if has buildah && ! command -v buildah >/dev/null; then
  log "no buildah (run $PEERS/install.sh): its column is n/a"; TOOLS=${TOOLS/buildah/}
fi

basedigest=$(topdigest "$work/base")
godigest=; [ -d "$work/go" ] && godigest=$(topdigest "$work/go")
bk() { # bk DIR [--no-cache]
  local goargs=()
  if [ "$(basename "$1")" = gocross ]; then
    goargs=(--oci-layout "goimage=$work/go" --opt "context:goimage=oci-layout://goimage@$godigest" --opt build-arg:GO_IMAGE=goimage)
  fi
  buildctl build --frontend dockerfile.v0 --local "context=$1" --local "dockerfile=$1" \
    --oci-layout "fixturebase=$work/base" --opt "context:fixturebase=oci-layout://fixturebase@$basedigest" \
    --opt build-arg:BASE=fixturebase "${goargs[@]}" --opt "platform=$PLATFORMS" ${2:+--no-cache} \
    --output "type=image,name=bench/$(basename "$1"):latest"
}
ma() { # ma DIR [--no-cache] [manyarch flags]
  local d=$1 nc=${2:-}; shift 2
  "$M" build -q --platform "$PLATFORMS" --build-arg BASE=fixtures/busybox:1.35 --build-arg GO_IMAGE=manyarch-go:local \
    ${nc:+--no-cache} "$@" -t "bench:$(basename "$d")" "$d"
}
bh() { # bh DIR [--no-cache]
  "${BH[@]}" manifest rm "bench-$(basename "$1")" >/dev/null 2>&1 || true
  "${BH[@]}" build --layers --network host --jobs 3 --platform "$PLATFORMS" ${2:+--no-cache} \
    --build-arg "BASE=oci:$work/base:latest" --build-arg "GO_IMAGE=oci:$work/go:latest" \
    --manifest "bench-$(basename "$1")" "$1"
}

now() { date +%s.%N; }
best() { printf '%s\n' "$@" | grep -v fail | sort -g | head -1; }
timeit() { # timeit CMD... → seconds, or "fail" (the log is in $work/last-*.log)
  local t0 t1
  t0=$(now)
  if "$@" > "$work/last-$1.log" 2>&1; then t1=$(now); echo "$t1 - $t0" | bc; return; fi
  echo fail
  { echo "bench: $1 $2 failed; the end of its output:"; tail -n 5 "$work/last-$1.log"; } >&2
}
# edit WORKLOAD: change one context file (a new byte each time).
edits=0
edit() {
  edits=$((edits + 1))
  case $1 in
    copy) printf '%s' "$edits" >> "$work/copy/bin/hello-arm64" ;;
    manyfiles) echo "edit $edits" >> "$work/manyfiles/files/d7/f7" ;;
    gocross) echo "// edit $edits" >> "$work/gocross/main.go" ;;
    biglayer) printf '%s' "$edits" >> "$work/biglayer/big.tar" ;;
  esac
}
# settle: let the writeback and background work of the previous build (any
# tool's) end before a timed run, so no tool pays for another's.
settle() { sync; sleep 0.5; }
# prune TOOLFN: empty the tool's build cache, cache mounts included (for a
# cold build of a workload with RUN --mount=type=cache, which --no-cache
# keeps in every tool).
prune() {
  case $1 in
    ma) "$M" prune >/dev/null ;;
    bk) buildctl prune --all >/dev/null ;;
  esac
}
# measure TOOLFN WORKLOAD MODE [flags]: best of $runs, or "fail".
measure() {
  local fn=$1 w=$2 mode=$3; shift 3
  local ts=() flag=
  [ "$mode" = cold ] && flag=--no-cache
  for _ in $(seq "$runs"); do
    if [ "$mode" != cold ]; then "$fn" "$work/$w" "" "$@" >/dev/null 2>&1 || true; fi   # warm the cache
    if [ "$mode" = cold ] && [ "$w" = gocross ]; then prune "$fn"; fi
    [ "$mode" = changed ] && edit "$w"
    settle
    ts+=("$(timeit "$fn" "$work/$w" "$flag" "$@")")
  done
  local b; b=$(best "${ts[@]}")
  if [ -z "$b" ]; then echo fail; else printf '%.2f' "$b"; fi
}
ratio() { case "$1$2" in *fail*|*n/a*) echo n/a;; *) printf '%.3f' "$(echo "scale=4; $1 / $2" | bc)";; esac; }

printf '%-10s %-8s %9s %9s %9s %8s %8s\n' workload cache manyarch buildkit buildah ma/bk ma/bh
row() { # row LABEL MODE manyarch buildkit buildah
  local r1 r2
  r1=$(ratio "$3" "$4"); r2=$(ratio "$3" "$5")
  printf '%-10s %-8s %9s %9s %9s %8s %8s\n' "$1" "$2" "$3" "$4" "$5" "$r1" "$r2"
}
for w in $WORKLOADS; do
  modes="cold cached changed"
  [ "$w" = emulated ] && modes="cold cached"
  for mode in $modes; do
    m=$(measure ma "$w" "$mode")
    b=n/a; h=n/a
    if has buildkit; then b=$(measure bk "$w" "$mode"); fi
    if has buildah; then h=$(measure bh "$w" "$mode"); fi
    row "$w" "$mode" "$m" "$b" "$h"
  done
  if [ "$w" = emulated ] && [ -n "$foreign" ]; then
    row "$w" "private" "$(measure ma "$w" cold --emulation private)" n/a n/a
  fi
done
log "ratio = manyarch / other (below 1: manyarch faster); best of $runs; platforms $PLATFORMS; emulation $EMULATION"
log "the private row: manyarch cold with its own private binfmt_misc handlers (no host change)"
