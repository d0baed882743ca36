#!/usr/bin/env bash
# Regenerate the expected dumps of the Dockerfile corpus (issue #26) with
# BuildKit v0.34.2, then diff manyarch against them.
#
#   testdata/dockerfile-corpus/NAME/{case.yaml, context/, expected/PLATFORM.dump}
#
# For each case, internal/imagedump/cmd/corpusdump prepares the context, builds
# it with buildctl (no cache) for the case's platforms from fixtures/busybox:1.35
# (given to BuildKit as a named context from an OCI layout) and writes
# BuildKit's dumps to expected/. Then `go test ./internal/engine -run
# TestDockerfileCorpus` builds every case with manyarch and compares; the
# summary counts identical cases, known differences (case.yaml differences:,
# listed in docs/dockerfile-compatibility.md) and open ones.
#
# Needs root, buildkitd and buildctl v0.34 on PATH (GOFLAGS=-mod=mod go install
# github.com/moby/buildkit/cmd/{buildkitd,buildctl}@v0.34.2) and static QEMU
# (qemu-user-static, or QEMU 10's qemu-* static-pie binaries). BuildKit emulates
# foreign RUN steps only through the host's binfmt_misc handlers (its
# buildkit-qemu-* fallback cannot run a foreign program that execs another, as
# every shell pipeline does): the script registers manyarch's handlers for
# arm64, arm, ppc64le and s390x that the host lacks for the BuildKit run, and removes those it added when the run
# ends (also on failure or interrupt). manyarch's own builds need no host
# handler: they emulate through a private binfmt_misc instance.
#
# Usage: hack/corpus-regen.sh [CASE...]     (default: every case)
#   BUILDKIT_HOST=unix:///...  use a running buildkitd (it must see the handlers)
#   KEEP=1                     keep the work directory (contexts, BuildKit logs and results)
#   NOTEST=1                   regenerate only
#   MANYARCH=PATH              the manyarch binary for fixtures and binfmt (default: built from the checkout)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
PEERS=${PEERS:-/work/shared/peers}

[ "$(id -u)" = 0 ] || { echo "corpus-regen: needs root (buildkitd, binfmt_misc)" >&2; exit 2; }
for c in buildctl buildkitd; do
  command -v $c >/dev/null || { echo "corpus-regen: no $c: GOFLAGS=-mod=mod go install github.com/moby/buildkit/cmd/$c@v0.34.2" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/corpus-regen.XXXXXX)
if [ -n "${MANYARCH:-}" ]; then cp "$MANYARCH" "$WORK/manyarch"; else CGO_ENABLED=0 go build -o "$WORK/manyarch" ./cmd/manyarch; fi
go build -o "$WORK/corpusdump" ./internal/imagedump/cmd/corpusdump

added=()
started=
cleanup() {
  if [ -n "$started" ]; then WORK=$WORK/bk bash "$PEERS/buildkitd-stop.sh" >/dev/null 2>&1 || true; fi
  if [ ${#added[@]} -gt 0 ]; then "$WORK/manyarch" binfmt uninstall "${added[@]}" >/dev/null || echo "corpus-regen: could not remove the handlers for ${added[*]}: manyarch binfmt uninstall ${added[*]}" >&2; fi
  if [ -n "${KEEP:-}" ]; then echo "corpus-regen: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The base image, from the same reproducible fixtures the tests use.
MANYARCH="$WORK/manyarch" MANYARCH_ROOT="$WORK/store" bash hack/fixtures.sh >/dev/null
MANYARCH_ROOT="$WORK/store" "$WORK/manyarch" copy -q fixtures/busybox:1.35 "oci:$WORK/base:latest" >/dev/null

# Host handlers for BuildKit, only those missing (another tool's are used as they are).
status=$("$WORK/manyarch" binfmt status --format json)
for p in linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x; do
  if ! python3 -c 'import json,sys; s=[x for x in json.loads(sys.argv[1]) if x.get("platform")==sys.argv[2]]; sys.exit(0 if s and s[0].get("state") in ("native","emulated") else 1)' "$status" "$p"; then
    "$WORK/manyarch" binfmt install "$p" >/dev/null
    added+=("$p")
  fi
done

if [ -z "${BUILDKIT_HOST:-}" ]; then
  # A fresh daemon root: nothing cached from another run or another QEMU.
  started=$(WORK=$WORK/bk bash "$PEERS/buildkitd-start.sh")
  export BUILDKIT_HOST=unix://$WORK/bk/buildkitd.sock
fi
"$WORK/corpusdump" buildkit -base "$WORK/base" -work "$WORK/cases" "$@"

[ -z "${NOTEST:-}" ] || exit 0
# The handlers go before manyarch builds: its builds use none of the host's.
if [ ${#added[@]} -gt 0 ]; then "$WORK/manyarch" binfmt uninstall "${added[@]}" >/dev/null; added=(); fi
run=.
if [ $# -gt 0 ]; then run=$(IFS='|'; echo "^($*)\$"); fi
set +e
go test ./internal/engine -run "TestDockerfileCorpus/$run" -count=1 -v > "$WORK/test.log" 2>&1
rc=$?
set -e
grep -E '^\s+corpus_test.go:[0-9]+: case .*(manyarch|BuildKit|no longer|no BuildKit)' -A2 "$WORK/test.log" || true
grep -E 'corpus: [0-9]+ cases' "$WORK/test.log" | sed -E 's/^ *corpus_test.go:[0-9]+: /corpus-regen: /'
[ "$rc" = 0 ] || { tail -5 "$WORK/test.log"; exit 1; }
