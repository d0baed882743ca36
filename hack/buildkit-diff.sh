#!/usr/bin/env bash
# Differential check of `manyarch build` against BuildKit on the same inputs
# (the examples of testdata/build; hack/corpus-regen.sh does the same for the
# Dockerfile corpus, testdata/dockerfile-corpus, with committed expectations):
# for each context under testdata/build/*/ctx, build with both and compare
#   - the file trees (paths, types, modes, owners, symlink targets, contents;
#     not times), platform by platform;
#   - the image configs (Env Cmd Entrypoint WorkingDir User Labels
#     ExposedPorts Volumes StopSignal Healthcheck Shell OnBuild) and the
#     number of history entries and of layers.
# Prints every difference and exits 1 when there is one it does not know
# (the known ones are listed with the reason, in KNOWN below).
#
# Needs root, buildctl/buildkitd v0.34 (../shared/peers/install.sh) and the
# fixtures (hack/fixtures.sh). BuildKit runs foreign RUN steps only through
# the host's binfmt_misc handlers, so PLATFORMS defaults to the host's
# platform plus the platforms the host has handlers for; manyarch needs none.
#
# Usage: hack/buildkit-diff.sh [CONTEXT-DIR...]
#   PLATFORMS=linux/amd64,linux/arm64  override the platforms
#   BUILDKIT_HOST=unix:///...          use a running buildkitd (default: start one)
#   KEEP=1                             keep the work directory (results, logs)
#   BKQEMU=1                           let BuildKit emulate with the stock qemu-*-static (see below)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
MANYARCH=${MANYARCH:-$PWD/bin/manyarch}
export MANYARCH_ROOT=${MANYARCH_ROOT:-/tmp/manyarch-bkdiff}
WORK=$(mktemp -d /tmp/bkdiff.XXXXXX)
PEERS=${PEERS:-/work/shared/peers}

command -v buildctl >/dev/null || { echo "buildkit-diff: no buildctl: run $PEERS/install.sh" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "buildkit-diff: needs root" >&2; exit 2; }
[ -x "$MANYARCH" ] || CGO_ENABLED=0 go build -o "$MANYARCH" ./cmd/manyarch
if ! "$MANYARCH" inspect fixtures/busybox:1.35 >/dev/null 2>&1; then
  MANYARCH="$MANYARCH" bash hack/fixtures.sh
fi

WORK_QEMU=$WORK/qemu
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
started=
if [ -z "${BUILDKIT_HOST:-}" ]; then
  export WORK_BK=$WORK/bk-daemon
  pid=$(WORK=$WORK_BK bash "$PEERS/buildkitd-start.sh")
  started=$pid
  export BUILDKIT_HOST=unix://$WORK_BK/buildkitd.sock
fi
cleanup() {
  if [ -n "$started" ]; then WORK=$WORK_BK bash "$PEERS/buildkitd-stop.sh" >/dev/null 2>&1 || kill "$started" 2>/dev/null || true; fi
  if [ -n "${KEEP:-}" ]; then echo "buildkit-diff: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [ -z "${PLATFORMS:-}" ]; then
  PLATFORMS=linux/amd64
  for q in aarch64:linux/arm64 arm:linux/arm/v7; do
    if grep -qs enabled "/proc/sys/fs/binfmt_misc/qemu-${q%%:*}" /proc/sys/fs/binfmt_misc/*qemu-"${q%%:*}" 2>/dev/null; then
      PLATFORMS=$PLATFORMS,${q#*:}
    fi
  done
fi
echo "buildkit-diff: platforms $PLATFORMS" >&2

# The base image as an OCI layout that BuildKit takes as a named context.
"$MANYARCH" copy fixtures/busybox:1.35 "oci:$WORK/base:latest" >/dev/null
BASEDIGEST=$(python3 -c 'import json,sys;print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$WORK/base/index.json")

contexts=("$@")
[ ${#contexts[@]} -gt 0 ] || contexts=(testdata/build/*/ctx)
status=0
for src in "${contexts[@]}"; do
  name=$(basename "$(dirname "$src")")
  ctx=$WORK/$name/ctx
  mkdir -p "$WORK/$name"
  cp -a "$src" "$ctx"
  # the archive ADD unpacks (see testdata/build/all/ctx/Dockerfile)
  mkdir -p "$WORK/$name/arch/inside" && printf 'in\n' > "$WORK/$name/arch/inside/file"
  tar -C "$WORK/$name/arch" --owner=0 --group=0 -czf "$ctx/archive.tar.gz" inside

  echo "== $name: manyarch" >&2
  t0=$(date +%s.%N)
  "$MANYARCH" build --progress plain --platform "$PLATFORMS" -o "type=oci,dest=$WORK/$name/ma.tar" "$ctx" > "$WORK/$name/ma.log" 2>&1 || { tail -20 "$WORK/$name/ma.log"; status=1; continue; }
  t1=$(date +%s.%N)
  echo "== $name: buildkit" >&2
  buildctl build --frontend dockerfile.v0 --local "context=$ctx" --local "dockerfile=$ctx" \
    --oci-layout "fixturebase=$WORK/base" --opt "context:fixturebase=oci-layout://fixturebase@$BASEDIGEST" --opt build-arg:BASE=fixturebase \
    --opt "platform=$PLATFORMS" \
    --output "type=oci,dest=$WORK/$name/bk.tar" > "$WORK/$name/bk.log" 2>&1 \
    || { tail -30 "$WORK/$name/bk.log"; status=1; continue; }
  t2=$(date +%s.%N)
  printf 'buildkit-diff: %s: manyarch %.1fs, buildkit %.1fs (cold for both only on the first run)\n' "$name" \
    "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" >&2
  python3 - "$WORK/$name" "$PLATFORMS" <<'PY' || status=1
import gzip, hashlib, io, json, os, sys, tarfile
work, plats = sys.argv[1], sys.argv[2].split(",")
diffs = []

def flatten(t, layers):
    # The file tree of an image from its layer tars (whiteouts applied);
    # BuildKit's local exporter does not keep owners, so the layers are the truth.
    out = {}
    for l in layers:
        raw = t.extractfile("blobs/sha256/" + l["digest"].split(":")[1]).read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        lt = tarfile.open(fileobj=io.BytesIO(raw))
        for e in lt.getmembers():
            name = e.name.rstrip("/").removeprefix("./")
            d, b = os.path.split(name)
            if b == ".wh..wh..opq":
                for k in [k for k in out if k.startswith(d + "/")]:
                    del out[k]
                continue
            if b.startswith(".wh."):
                victim = os.path.join(d, b[4:])
                for k in [k for k in out if k == victim or k.startswith(victim + "/")]:
                    del out[k]
                continue
            if e.islnk():
                out[name] = dict(out.get(e.linkname.rstrip("/"), {}))
                continue
            ent = {"type": e.type.decode(), "mode": oct(e.mode & 0o7777), "owner": f"{e.uid}:{e.gid}"}
            if e.issym():
                ent["link"] = e.linkname
            elif e.isfile():
                ent["sha256"] = hashlib.sha256(lt.extractfile(e).read()).hexdigest()[:16]
            elif e.isdir() and name in out and out[name]["type"] != ent["type"]:
                for k in [k for k in out if k.startswith(name + "/")]:
                    del out[k]
            out[name] = ent
    return out

def configs(tarpath):
    t = tarfile.open(tarpath)
    blob = lambda d: json.load(t.extractfile("blobs/sha256/" + d.split(":")[1]))
    out = {}
    def walk(desc):
        if desc.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest":
            return
        m = blob(desc["digest"])
        if "manifests" in m:
            for c in m["manifests"]:
                walk(c)
            return
        cfg = blob(m["config"]["digest"])
        p = "/".join(x for x in (cfg["os"], cfg["architecture"], cfg.get("variant")) if x)
        out[p] = (cfg, len(m["layers"]), flatten(t, m["layers"]))
    for d in json.load(t.extractfile("index.json"))["manifests"]:
        walk(d)
    return out

ma_cfg, bk_cfg = configs(work + "/ma.tar"), configs(work + "/bk.tar")
for p in plats:
    ca, la, a = ma_cfg.get(p, ({}, 0, {}))
    cb, lb, b = bk_cfg.get(p, ({}, 0, {}))
    for path in sorted(set(a) | set(b)):
        if path not in a:
            diffs.append(f"{p}: /{path}: only in BuildKit's result {b[path]}")
        elif path not in b:
            diffs.append(f"{p}: /{path}: only in manyarch's result {a[path]}")
        elif a[path] != b[path]:
            diffs.append(f"{p}: /{path}: manyarch {a[path]} != BuildKit {b[path]}")
    for k in ["Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild"]:
        va, vb = ca.get("config", {}).get(k), cb.get("config", {}).get(k)
        if va != vb:
            diffs.append(f"{p}: config {k}: manyarch {va!r} != BuildKit {vb!r}")
    ha, hb = len(ca.get("history", [])), len(cb.get("history", []))
    if ha != hb:
        diffs.append(f"{p}: history entries: manyarch {ha} != BuildKit {hb}")
    if la != lb:
        diffs.append(f"{p}: layers: manyarch {la} != BuildKit {lb}")
    ea = [h.get("empty_layer", False) for h in ca.get("history", [])]
    eb = [h.get("empty_layer", False) for h in cb.get("history", [])]
    if ea != eb:
        diffs.append(f"{p}: history empty_layer flags: manyarch {ea} != BuildKit {eb}")
# Differences understood and kept on purpose (each is a BuildKit quirk).
KNOWN = {
    # none today: COPY --chmod on created directories matches BuildKit since issue #26 item 5.
    # The Dockerfile corpus (hack/corpus-regen.sh) is the systematic comparison.
}
known = [d for d in diffs if any(k in d for k in KNOWN)]
diffs = [d for d in diffs if d not in known]
for d in known:
    print("KNOWN " + d + "\n      " + next(v for k, v in KNOWN.items() if k in d))
for d in diffs:
    print("DIFF " + d)
print(f"buildkit-diff: {os.path.basename(work)}: {len(diffs)} difference(s) over {len(plats)} platform(s)", file=sys.stderr)
sys.exit(1 if diffs else 0)
PY
done
exit $status
