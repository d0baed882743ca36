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
# COPY that reads it on run again). RUNS runs (default 5), interleaved (one
# run of each tool in turn, so load on the shared machine hits all alike);
# each cell is median/minimum in seconds. The ratios are manyarch's median
# over the other tool's: below 1, manyarch is faster.
#
# Issue #20's rows (emulated and copy, cold and cached, against BuildKit):
# when BENCH_JSON names a file, one JSON object per row is appended to it
# (bench/all.sh reads them; see bench/README.md). Peak RSS of a cached
# 3-platform build: manyarch's is GNU time's %M of the manyarch process (its
# largest process); BuildKit's is buildkitd's VmHWM over the build (the peak
# reset through /proc/PID/clear_refs just before) plus buildctl's %M. The
# daemon's RSS outside the build counts for BuildKit as it is resident anyway.
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
# Usage: bench/build.sh   (root; hack/install-buildkit.sh installs BuildKit
#   v0.34.2, the bench starts its own buildkitd; buildah from Debian is optional)
#   RUNS=5 PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7 WORKLOADS="emulated copy manyfiles gocross biglayer"
#   FIXTURE_ROOT=/var/lib/manyarch   a store holding fixtures/busybox:1.35 (and manyarch-go:local);
#                                    what it lacks is made (hack/fixtures.sh, hack/go-image.sh)
#   TOOLS="manyarch buildkit buildah"
#   MANYFILES=20000   files in the manyfiles context (100 per directory)
#   EMULATED_N=150    process starts (md5sum) in the emulated RUN
#   MODES="cold cached changed"   the cache modes to time (emulated has no changed)
#   ROWS=issue        BENCH_JSON gets issue #20's four rows; ROWS=all gets one
#                     row per workload and cache mode instead (no target, no
#                     RSS, no private row; with workload, mode, platforms and
#                     files fields), for bench/scale.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
runs=${RUNS:-5}
PLATFORMS=${PLATFORMS:-linux/amd64,linux/arm64,linux/arm/v7}
WORKLOADS=${WORKLOADS:-emulated copy manyfiles gocross biglayer}
TOOLS=${TOOLS:-manyarch buildkit buildah}
FIXTURE_ROOT=${FIXTURE_ROOT:-/var/lib/manyarch}
EMULATION=${EMULATION:-host}
MANYFILES=${MANYFILES:-20000}
EMULATED_N=${EMULATED_N:-150}
ROWS=${ROWS:-issue}
MODES=${MODES:-cold cached changed}
case $ROWS in issue|all) ;; *) echo "bench: ROWS=$ROWS: want issue or all" >&2; exit 2 ;; esac
case $MANYFILES$EMULATED_N in *[!0-9]*) echo "bench: MANYFILES and EMULATED_N must be whole numbers" >&2; exit 2 ;; esac
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
  if [ -n "$bkpid" ]; then
    kill "$bkpid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$bkpid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$bkpid" 2>/dev/null || true
    wait "$bkpid" 2>/dev/null || true
    umount -R "$work/bk/root" 2>/dev/null || true
  fi
  if [ -n "$installed" ]; then "$M" binfmt uninstall $installed >/dev/null 2>&1 || log "could not remove the handlers for $installed"; fi
  if [ -d "$work/buildah" ]; then "${BH[@]}" rm -a >/dev/null 2>&1 || true; "${BH[@]}" rmi -af >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
has() { case " $TOOLS " in *" $1 "*) return 0;; esac; return 1; }

CGO_ENABLED=0 go build -o "$M" ./cmd/manyarch

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
    for n in $(seq EMULATED_N); do echo $n | md5sum > /dev/null; done; echo $i > /count
EOF
sed -i "s/EMULATED_N/$EMULATED_N/" "$work/emulated/Dockerfile"
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
case " $WORKLOADS " in *" manyfiles "*)
  # MANYFILES small files, 100 per directory (d1/f1 ... dN/f100).
  python3 - "$work/manyfiles/files" "$MANYFILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, "d%d" % (i // 100 + 1))
    if i % 100 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%d" % (i % 100 + 1)), "w") as f:
        f.write("file %d\n" % i)
PY
esac
# One hello binary per TARGETARCH of PLATFORMS (arm/v5 and arm/v7 share one).
for a in $(printf '%s\n' ${PLATFORMS//,/ } | cut -d/ -f2 | sort -u); do
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
  # BuildKit's name (its qemuArchMap, else the OCI architecture) = QEMU's.
  for q in aarch64=aarch64 arm=arm ppc64le=ppc64le s390x=s390x riscv64=riscv64 i386=i386 mips64le=mips64el; do
    if s=$(command -v "qemu-${q#*=}-static"); then ln -sf "$s" "$work/qemu/buildkit-qemu-${q%=*}"; fi
  done
  export PATH=$work/qemu:$PATH ;;
*) log "EMULATION=$EMULATION: want host or bkqemu"; exit 2 ;;
esac

# start_buildkitd: a rootful buildkitd (OCI worker on runc, host network,
# no GC) of the bench's own under $work/bk; sets bkpid and BUILDKIT_HOST.
start_buildkitd() {
  mkdir -p "$work/bk"
  cat > "$work/bk/buildkitd.toml" <<TOML
root = "$work/bk/root"
[grpc]
  address = ["unix://$work/bk/buildkitd.sock"]
[dns]
  nameservers = ["127.0.0.1"]
[worker.oci]
  enabled = true
  binary = "$(command -v runc)"
  snapshotter = "overlayfs"
  networkMode = "host"
  gc = false
[worker.containerd]
  enabled = false
TOML
  buildkitd --config "$work/bk/buildkitd.toml" >"$work/bk/buildkitd.log" 2>&1 &
  bkpid=$!
  export BUILDKIT_HOST=unix://$work/bk/buildkitd.sock
  for _ in $(seq 100); do
    buildctl debug workers >/dev/null 2>&1 && return 0
    kill -0 "$bkpid" 2>/dev/null || break
    sleep 0.2
  done
  log "buildkitd did not start: $(tail -3 "$work/bk/buildkitd.log")"
  return 1
}
if has buildkit; then
  if ! command -v buildkitd >/dev/null || ! command -v buildctl >/dev/null || ! command -v runc >/dev/null; then
    log "no BuildKit (hack/install-buildkit.sh installs it; runc from Debian): its column is n/a"; TOOLS=${TOOLS/buildkit/}
  elif ! start_buildkitd; then
    TOOLS=${TOOLS/buildkit/}
  fi
fi
if has buildah && ! command -v buildah >/dev/null; then
  log "no buildah (apt-get install buildah): its column is n/a"; TOOLS=${TOOLS/buildah/}
fi

basedigest=$(topdigest "$work/base")
godigest=; [ -d "$work/go" ] && godigest=$(topdigest "$work/go")
wrap=()   # a command the tools' runs go through (GNU time for the RSS)
bk() { # bk DIR [--no-cache]
  local goargs=()
  if [ "$(basename "$1")" = gocross ]; then
    goargs=(--oci-layout "goimage=$work/go" --opt "context:goimage=oci-layout://goimage@$godigest" --opt build-arg:GO_IMAGE=goimage)
  fi
  ${wrap[@]+"${wrap[@]}"} buildctl build --frontend dockerfile.v0 --local "context=$1" --local "dockerfile=$1" \
    --oci-layout "fixturebase=$work/base" --opt "context:fixturebase=oci-layout://fixturebase@$basedigest" \
    --opt build-arg:BASE=fixturebase "${goargs[@]}" --opt "platform=$PLATFORMS" ${2:+--no-cache} \
    --output "type=image,name=bench/$(basename "$1"):latest"
}
ma() { # ma DIR [--no-cache] [manyarch flags]
  local d=$1 nc=${2:-}; shift 2
  ${wrap[@]+"${wrap[@]}"} "$M" build -q --platform "$PLATFORMS" --build-arg BASE=fixtures/busybox:1.35 --build-arg GO_IMAGE=manyarch-go:local \
    ${nc:+--no-cache} "$@" -t "bench:$(basename "$d")" "$d"
}
bh() { # bh DIR [--no-cache]
  "${BH[@]}" manifest rm "bench-$(basename "$1")" >/dev/null 2>&1 || true
  "${BH[@]}" build --layers --network host --jobs 3 --platform "$PLATFORMS" ${2:+--no-cache} \
    --build-arg "BASE=oci:$work/base:latest" --build-arg "GO_IMAGE=oci:$work/go:latest" \
    --manifest "bench-$(basename "$1")" "$1"
}

# Timestamps are bash's $EPOCHREALTIME, not $(date +%s.%N): a date process
# in the window (its exit before the tool, its start after) added ~9 ms to
# every run of every tool on this machine, a fixed cost that pushed the
# ratio of a short run toward 1 (a cached build: 45-48 ms timed with date,
# 36-40 ms with $EPOCHREALTIME).
timeit() { # timeit CMD... → seconds, or "fail" (the log is in $work/last-*.log)
  local t0 t1
  t0=$EPOCHREALTIME
  if "$@" > "$work/last-$1.log" 2>&1; then t1=$EPOCHREALTIME; echo "$t1 - $t0" | bc; return; fi
  echo fail
  { echo "bench: $1 $2 failed; the end of its output:"; tail -n 5 "$work/last-$1.log"; } >&2
}
# edit WORKLOAD: change one context file (a new byte each time).
edits=0
edit() {
  edits=$((edits + 1))
  case $1 in
    copy) f=$work/copy/bin/hello-arm64; [ -f "$f" ] || f=$(ls "$work"/copy/bin/hello-* | head -n1)
          printf '%s' "$edits" >> "$f" ;;
    manyfiles) echo "edit $edits" >> "$work/manyfiles/files/d1/f1" ;;
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
# once TOOLFN WORKLOAD MODE [flags]: one timed run, its cache made ready
# first for MODE (cached: built just before; changed: that and one edit; cold:
# --no-cache and, for gocross, the cache mounts pruned).
once() {
  local fn=$1 w=$2 mode=$3; shift 3
  local flag=
  [ "$mode" = cold ] && flag=--no-cache
  if [ "$mode" != cold ]; then "$fn" "$work/$w" "" "$@" >/dev/null 2>&1 || true; fi   # warm the cache
  if [ "$mode" = cold ] && [ "$w" = gocross ]; then prune "$fn"; fi
  [ "$mode" = changed ] && edit "$w"
  settle
  timeit "$fn" "$work/$w" "$flag" "$@"
}
# stats T... → "median min" of the numbers among T (fails left out), or "fail fail".
stats() {
  local ok; ok=$(printf '%s\n' "$@" | grep -v fail | sort -g || true)
  if [ -z "$ok" ]; then echo "fail fail"; return; fi
  local n; n=$(printf '%s\n' "$ok" | wc -l)
  printf '%s\n' "$ok" | awk -v n="$n" '{a[NR]=$1} END {m = (n%2) ? a[(n+1)/2] : (a[n/2]+a[n/2+1])/2; printf "%.3f %.3f\n", m, a[1]}'
}
ratio() { case "$1$2" in *fail*|*n/a*) echo n/a;; *) printf '%.3f' "$(echo "scale=4; $1 / $2" | bc)";; esac; }
# rss TOOLFN WORKLOAD → peak RSS in KiB of one cached build (see the header).
rss() {
  local fn=$1 w=$2 out=$work/rss.txt
  "$fn" "$work/$w" "" >/dev/null 2>&1 || true
  settle
  wrap=(/usr/bin/time -o "$out" -f %M)
  case $fn in
  ma) "$fn" "$work/$w" "" >/dev/null 2>&1 && tail -1 "$out" ;;
  bk) echo 5 > "/proc/$bkpid/clear_refs"
      if "$fn" "$work/$w" "" >/dev/null 2>&1; then
        echo $(( $(tail -1 "$out") + $(awk '/^VmHWM/ {print $2}' "/proc/$bkpid/status") ))
      fi ;;
  esac
  wrap=()
}
# jsonrow ROW TARGET MA_MED MA_MIN BK_MED BK_MIN [MA_RSS BK_RSS]: append issue
# #20's row to $BENCH_JSON (the contract in bench/README.md).
# With ROWS_EXTRA set (a JSON object), its fields are added to the row.
jsonrow() {
  [ -n "${BENCH_JSON:-}" ] || return 0
  python3 - "$BENCH_JSON" "$runs" "$@" <<'EOF'
import json, os, sys
path, runs, row, target, mm, mn, pm, pn = sys.argv[1:9]
rss = sys.argv[9:11]
def num(v):
    try: return float(v)
    except ValueError: return None
o = {"row": row, "peer": "buildkit v0.34.2", "runs": int(runs),
     "ours_median_s": num(mm), "ours_min_s": num(mn),
     "peer_median_s": num(pm), "peer_min_s": num(pn)}
o["ratio"] = round(o["ours_median_s"] / o["peer_median_s"], 3) if o["ours_median_s"] and o["peer_median_s"] else None
o["ratio_min"] = round(o["ours_min_s"] / o["peer_min_s"], 3) if o["ours_min_s"] and o["peer_min_s"] else None
o["target"] = float(target) if target else None
o.update(json.loads(os.environ.get("ROWS_EXTRA") or "{}"))
if len(rss) == 2 and rss[0] and rss[1]:
    o["ours_peak_rss_kib"], o["peer_peak_rss_kib"] = int(rss[0]), int(rss[1])
with open(path, "a") as f:
    f.write(json.dumps(o) + "\n")
EOF
}
# issue #20's name and target of a row, or nothing.
issuerow() {
  case $1/$2 in
    emulated/cold) echo "0.95 emulated RUN build, cold" ;;
    emulated/cached) echo "0.20 emulated RUN build, cached" ;;
    copy/cold) echo "0.30 COPY of prebuilt binaries, cold" ;;
    copy/cached) echo "0.10 COPY of prebuilt binaries, cached" ;;
  esac
}

printf '%-10s %-8s %15s %15s %15s %7s %7s\n' workload cache "manyarch" "buildkit" "buildah" ma/bk ma/bh
for w in $WORKLOADS; do
  modes=$MODES
  [ "$w" = emulated ] && modes=${modes//changed/}
  for mode in $modes; do
    tm=(); tb=(); th=()
    for _ in $(seq "$runs"); do
      tm+=("$(once ma "$w" "$mode")")
      if has buildkit; then tb+=("$(once bk "$w" "$mode")"); fi
      if has buildah; then th+=("$(once bh "$w" "$mode")"); fi
    done
    read -r mmed mmin < <(stats "${tm[@]}")
    bmed=n/a bmin=n/a hmed=n/a hmin=n/a
    if has buildkit; then read -r bmed bmin < <(stats "${tb[@]}"); fi
    if has buildah; then read -r hmed hmin < <(stats "${th[@]}"); fi
    printf '%-10s %-8s %15s %15s %15s %7s %7s\n' "$w" "$mode" "$mmed/$mmin" "$bmed/$bmin" "$hmed/$hmin" \
      "$(ratio "$mmed" "$bmed")" "$(ratio "$mmed" "$hmed")"
    if [ "$ROWS" = all ]; then
      np=$(printf '%s\n' ${PLATFORMS//,/ } | wc -l)
      extra="{\"workload\": \"$w\", \"mode\": \"$mode\", \"platforms\": $np"
      [ "$w" = manyfiles ] && extra="$extra, \"files\": $MANYFILES"
      ROWS_EXTRA="$extra}" jsonrow "build $w $mode, $np platforms" "" "$mmed" "$mmin" "$bmed" "$bmin"
      continue
    fi
    ir=$(issuerow "$w" "$mode")
    if [ -n "$ir" ] && has buildkit; then
      mr=; br=
      if [ "$mode" = cached ] && [ -x /usr/bin/time ]; then
        mr=$(rss ma "$w" || true); br=$(rss bk "$w" || true)
        log "$w cached: peak RSS manyarch ${mr:-?} KiB, buildkitd+buildctl ${br:-?} KiB"
      fi
      jsonrow "${ir#* }" "${ir%% *}" "$mmed" "$mmin" "$bmed" "$bmin" "$mr" "$br"
    fi
  done
  # The private row is a cold build: timed only when MODES has cold.
  if [ "$w" = emulated ] && [ -n "$foreign" ] && [ "$ROWS" = issue ] && [[ " $MODES " == *" cold "* ]]; then
    tp=(); for _ in $(seq "$runs"); do tp+=("$(once ma "$w" cold --emulation private)"); done
    read -r pmed pmin < <(stats "${tp[@]}")
    printf '%-10s %-8s %15s %15s %15s %7s %7s\n' "$w" private "$pmed/$pmin" n/a n/a n/a n/a
  fi
done
log "cells: median/minimum seconds of $runs interleaved runs; ratio = manyarch median / other median (below 1: manyarch faster); platforms $PLATFORMS; emulation $EMULATION"
[ "$ROWS" = all ] || log "the private row: manyarch cold with its own private binfmt_misc handlers (no host change)"
