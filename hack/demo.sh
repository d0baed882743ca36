#!/usr/bin/env bash
# The multi-arch demo, end to end, on a fresh Debian 12 machine (as root):
# install the prerequisites, build manyarch, make the base images from
# Debian's packages (no registry or Docker Hub needed), then the whole
# workflow: see what the host can run, build for seven platforms, run each,
# verify every binary statically, run structure tests on every platform, and
# publish the multi-platform image to a registry (a local one, started here).
#
# The demo uses a store of its own: MANYARCH_ROOT (default /tmp/manyarch-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export MANYARCH_ROOT=${MANYARCH_ROOT:-/tmp/manyarch-demo}
M=$PWD/bin/manyarch
PLATFORMS=linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/s390x,linux/386

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ manyarch %s\n' "${*:2}"; "$@"; }

step "prerequisites (hack/deps.sh) and manyarch itself"
bash hack/deps.sh
CGO_ENABLED=0 go build -o bin/manyarch ./cmd/manyarch
"$M" version

step "base images from Debian's busybox-static and a Go toolchain image from the host's Go"
bash hack/fixtures.sh
# No registry here: these stand in for golang:1.26-alpine and alpine.
bash hack/go-image.sh manyarch-go:local
show "$M" images

step "how does this host run each platform: natively, or under which QEMU? (nothing is registered on the host)"
show "$M" binfmt status

step "build examples/hello for seven platforms: cross-compiled natively, no emulation"
show "$M" build --platform "$PLATFORMS" \
  --build-arg GO_IMAGE=manyarch-go:local --build-arg BASE=fixtures/busybox:1.35 \
  -t hello:1.0 examples/hello
show "$M" build --platform linux/riscv64 \
  --build-arg GO_IMAGE=manyarch-go:local --build-arg BASE=scratch \
  -t hello:1.0-riscv64 examples/hello

step "run every platform, emulated where needed, with no daemon"
for p in ${PLATFORMS//,/ }; do
  printf '%-16s ' "$p"; "$M" run --rm --platform "$p" hello:1.0
done
printf '%-16s ' linux/riscv64; "$M" run --rm --platform linux/riscv64 hello:1.0-riscv64
# linux/386 ran natively above where the kernel runs 32-bit x86, else under
# QEMU; --emulation private forces QEMU, so both paths greet on any host.
printf '%-16s ' "linux/386 qemu"; "$M" run --rm --emulation private --platform linux/386 hello:1.0
printf '%-16s ' "uname -m"; "$M" run --rm --platform linux/s390x --entrypoint uname hello:1.0 -m

step "verify: every binary of every platform matches its platform, statically"
show "$M" verify hello:1.0 hello:1.0-riscv64 fixtures/busybox:1.35

step "test: container-structure-test files on every platform"
show "$M" test hello:1.0 -c examples/hello/tests.yaml

step "service tests: start examples/service on three platforms, check its API, compare, load it"
show "$M" build --platform linux/amd64,linux/arm64,linux/s390x \
  --build-arg GO_IMAGE=manyarch-go:local --build-arg BASE=fixtures/busybox:1.35 \
  -t service:1.0 examples/service
# One platform at a time: started in a private network with its port on
# 127.0.0.1, probed until ready, checked, compared, loaded (300 requests).
show "$M" test service:1.0 -c examples/service/tests.yaml

step "publish: push the index to a registry and inspect it there"
work=$(mktemp -d)
registry=
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT
for _ in 1 2 3 4 5; do          # a random free port on loopback
  port=$((20000 + RANDOM % 20000))
  cat > "$work/config.yml" <<YML
version: 0.1
storage: {filesystem: {rootdirectory: $work/data}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port}
log: {level: error}
YML
  docker-registry serve "$work/config.yml" >"$work/registry.log" 2>&1 &
  registry=$!
  for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break 2; sleep 0.1; done
  kill $registry 2>/dev/null || true
done
show "$M" push -q hello:1.0 "127.0.0.1:$port/demo/hello:1.0"
show "$M" inspect "docker://127.0.0.1:$port/demo/hello:1.0"

step "done: hello:1.0 is built, run, verified, tested and published for 7 platforms"
