#!/usr/bin/env bash
# Runs container-structure-test (CST) and `manyarch test` side by side on
# CST's own v2 test files (testdata/imagetest/cst) against the same image
# content, the amd64 busybox fixture, and prints one line per test:
#   FILE<TAB>TEST<TAB>CST<TAB>MANYARCH<TAB>same|DIFFERS
# The result measured on this repository is in docs/cst-compatibility.md
# ("Measured side by side with CST").
#
# Needs a running docker daemon (docker CLI on PATH), CST (CST=path, or
# container-structure-test on PATH) and jq. Skips, exit 0, with a message when
# docker or CST is missing. Uses MANYARCH (default: builds ./cmd/manyarch)
# and MANYARCH_ROOT (default: a temporary store, fixtures made by
# hack/fixtures.sh). Leaves images cstbb:1, cstbb:arm64 and cstbbmeta:1
# in docker.
#
# arm64's file runs on the arm64 busybox: CST's command tests there need the
# host's binfmt_misc to run arm64 (docker has no emulator of its own); manyarch
# brings its own QEMU. Leaves cstbb:arm64 too.
#
# CST's metadata file runs against busybox with the ENV and LABEL of CST's
# tests/Dockerfile.metadata, as TestCSTOwnFiles does (metadataIndex).
# FOO and BAR are set as CST's tests/structure_test_tests.sh sets them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

skip() { echo "cst-diff: skipped: $*" >&2; exit 0; }
command -v docker >/dev/null || skip "no docker CLI"
docker info >/dev/null 2>&1 || skip "no docker daemon answering (start dockerd)"
CST=${CST:-$(command -v container-structure-test || true)}
[ -n "$CST" ] && [ -x "$CST" ] || skip "no container-structure-test (set CST=path)"
command -v jq >/dev/null || skip "no jq"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "${MANYARCH:-}" ]; then
	CGO_ENABLED=0 go build -o "$work/manyarch" ./cmd/manyarch
	MANYARCH=$work/manyarch
fi
export MANYARCH_ROOT=${MANYARCH_ROOT:-$work/store}
if ! "$MANYARCH" inspect fixtures/busybox:1.35 >/dev/null 2>&1; then
	MANYARCH="$MANYARCH" bash hack/fixtures.sh >"$work/fixtures.log" 2>&1 || { cat "$work/fixtures.log" >&2; exit 1; }
fi

# The same bytes in docker and in manyarch's store.
"$MANYARCH" copy --platform linux/amd64 fixtures/busybox:1.35 "docker-archive:$work/bb.tar:cstbb:1" >/dev/null
docker load -q -i "$work/bb.tar" >/dev/null
"$MANYARCH" copy --platform linux/arm64 fixtures/busybox:1.35 "docker-archive:$work/bbarm.tar:cstbb:arm64" >/dev/null
docker load -q -i "$work/bbarm.tar" >/dev/null
mkdir "$work/meta"
cat >"$work/meta/Dockerfile" <<'EOF'
FROM cstbb:1
ENV SOME_KEY=SOME_VAL EMPTY_VAR= FOO_BAR=FOO\\:BAR=BAZ REGEX_VAR=test-2.1.8
LABEL localnet.localdomain.commit_hash=0123456789abcdef0123456789abcdef01234567 localnet.my-domain.my-label="my test label" label-with-empty-val=""
EOF
DOCKER_BUILDKIT=0 docker build -q -t cstbbmeta:1 "$work/meta" >/dev/null
docker save -o "$work/meta.tar" cstbbmeta:1
"$MANYARCH" copy "docker-archive:$work/meta.tar" local/cstbbmeta:1 >/dev/null

export FOO='keepitsecret!' BAR='keepitsafe!'
cd testdata/imagetest/cst # envFile: tests/envfile is relative to it
agree=0 differ=0
for f in amd64/*.yaml readme_examples.yaml arm64/*.yaml; do
	dimg=cstbb:1 mimg=fixtures/busybox:1.35 plat=linux/amd64
	case $f in *metadata*) dimg=cstbbmeta:1 mimg=local/cstbbmeta:1 ;; arm64/*) dimg=cstbb:arm64 plat=linux/arm64 ;; esac
	out=$work/$(echo "$f" | tr / _)
	"$CST" test --image "$dimg" --platform "$plat" --config "$f" --output json >"$out.cst" 2>"$out.cst.err" || true
	"$MANYARCH" test -q --platform "$plat" "$mimg" -c "$f" -o json >"$out.ma" 2>"$out.ma.err" || true
	# name -> pass/fail; a file one side refuses gives one row "(file)".
	verdicts() { # json errfile
		if jq -e '.Results' "$1" >/dev/null 2>&1; then
			jq -r '.Results[] | [.Name, (if .Pass then "pass" else "fail" end)] | @tsv' "$1"
		else
			printf '(file)\trefused: %s\n' "$(tail -c 160 "$2" | tr '\n\t' '  ')"
		fi
	}
	verdicts "$out.cst" "$out.cst.err" >"$out.c"
	verdicts "$out.ma" "$out.ma.err" >"$out.m"
	while IFS= read -r name; do
		c=$(awk -F'\t' -v n="$name" '$1==n{print $2; exit}' "$out.c")
		m=$(awk -F'\t' -v n="$name" '$1==n{print $2; exit}' "$out.m")
		if [ "${c:-absent}" = "${m:-absent}" ]; then s=same agree=$((agree + 1)); else s=DIFFERS differ=$((differ + 1)); fi
		printf '%s\t%s\t%s\t%s\t%s\n' "$f" "$name" "${c:-absent}" "${m:-absent}" "$s"
	done < <(cut -f1 "$out.c" "$out.m" | awk '!seen[$0]++')
done
echo "agree: $agree, differ: $differ"
