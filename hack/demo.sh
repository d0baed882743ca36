#!/usr/bin/env bash
# The multi-arch demo, end to end, on a fresh Debian 12 machine (as root):
# install the prerequisites, build manyarch, make the base images from
# Debian's packages (no registry needed), then walk through the workflow.
#
# The demo uses a store of its own: MANYARCH_ROOT (default /tmp/manyarch-demo).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export MANYARCH_ROOT=${MANYARCH_ROOT:-/tmp/manyarch-demo}
M=$PWD/bin/manyarch

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "prerequisites (hack/deps.sh)"
bash hack/deps.sh
step "build manyarch"
go build -o bin/manyarch ./cmd/manyarch
show "$M" version

step "base images from Debian's busybox-static and a cross-compiled Go program"
bash hack/fixtures.sh
show "$M" images

step "inspect the multi-platform image"
show "$M" inspect fixtures/busybox:1.35

step "copy it to an OCI archive and read it back with skopeo"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
show "$M" copy fixtures/busybox:1.35 "oci-archive:$out/busybox.tar"
show skopeo inspect --raw "oci-archive:$out/busybox.tar" | head -c 300; echo ...

if "$M" run --help >/dev/null 2>&1; then
  step "run every platform (emulated where needed, nothing registered on the host)"
  for p in linux/amd64 linux/386 linux/arm64 linux/arm/v7 linux/arm/v5 linux/ppc64le linux/s390x linux/mips64le; do
    printf '%-16s ' "$p"; "$M" run --rm --platform "$p" fixtures/busybox:1.35 uname -m
  done
  for p in linux/riscv64 linux/loong64 linux/arm/v6; do
    printf '%-16s ' "$p"; "$M" run --rm --platform "$p" fixtures/hello:1.0
  done
fi

if "$M" verify --help >/dev/null 2>&1; then
  step "verify: every binary of every platform matches its platform"
  show "$M" verify fixtures/busybox:1.35 fixtures/hello:1.0
fi
# ---- build (manyarch build; maintained with internal/build) ----
if "$M" build --help >/dev/null 2>&1; then
  step "build examples/hello for six platforms: cross-compiled natively, no emulation"
  # No registry here: a Go toolchain image from the host's Go install stands
  # in for golang:1.26-alpine, and the busybox fixture for alpine.
  bash hack/go-image.sh manyarch-go:local
  show "$M" build --platform linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/s390x,linux/386 \
    --build-arg GO_IMAGE=manyarch-go:local --build-arg BASE=fixtures/busybox:1.35 \
    -t hello:1.0 examples/hello
  show "$M" build --platform linux/riscv64 \
    --build-arg GO_IMAGE=manyarch-go:local --build-arg BASE=scratch \
    -t hello:1.0-riscv64 examples/hello
  step "run every platform of the image just built"
  for p in linux/amd64 linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x linux/386; do
    printf '%-16s ' "$p"; "$M" run --rm --platform "$p" hello:1.0
  done
  printf '%-16s ' linux/riscv64; "$M" run --rm --platform linux/riscv64 hello:1.0-riscv64
fi
# ---- end build ----
step "done"
