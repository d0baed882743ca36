#!/usr/bin/env bash
# Build a manyarch release, reproducibly, and ship it as manyarch ships any
# image: static binaries for every release platform, SHA256SUMS, an SPDX SBOM,
# then (IMAGE=1, the default) manyarch's own multi-arch image built, verified
# and structure-tested on every platform by the manyarch just built.
#
#   hack/release.sh                 # version from the git tag at HEAD
#   VERSION=v1.2.3 hack/release.sh  # or named
#   IMAGE=0 hack/release.sh         # binaries, sums and SBOM only
#   PLATFORMS="linux/amd64 linux/arm64" hack/release.sh   # a subset
#
# Output: dist/VERSION/{manyarch-OS-ARCH[-VARIANT][.exe], SHA256SUMS,
# manyarch.spdx.json, manyarch-image.oci.tar}; the image is also tagged
# manyarch:VERSION in the store $MANYARCH_ROOT selects.
#
# Reproducible: -trimpath, no build ID, no VCS stamping, CGO off, and
# SOURCE_DATE_EPOCH from the release commit, so two runs of the same commit
# give the same bytes (hack/release-test.sh checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
log() { printf 'release: %s\n' "$*" >&2; }

ALL_PLATFORMS="linux/amd64 linux/arm64 linux/arm/v7 linux/ppc64le linux/s390x linux/riscv64 darwin/amd64 darwin/arm64 windows/amd64"
PLATFORMS=${PLATFORMS:-$ALL_PLATFORMS}
if [ -z "${VERSION:-}" ]; then
  VERSION=$(git describe --tags --exact-match --match 'v[0-9]*' "${RELEASE_COMMIT:-HEAD}" 2>/dev/null || echo "v0.0.0-$(git rev-parse --short=12 "${RELEASE_COMMIT:-HEAD}")")
fi
case $VERSION in
  v[0-9]*) ;;
  *) echo "release: VERSION=$VERSION: want a semver tag such as v1.2.3" >&2; exit 2 ;;
esac
# RELEASE_COMMIT (default HEAD) is what is built; hack/release-test.sh pins
# it so that both of its runs build the same commit.
COMMIT=$(git rev-parse --verify "${RELEASE_COMMIT:-HEAD}^{commit}")
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct "$COMMIT")}
DIST=dist/$VERSION
mkdir -p dist
TMP=$(mktemp -d "$PWD/dist/.release-$VERSION.XXXXXX")
# The release is built from the commit, not from the working tree: a file
# being edited or left out of a commit must not reach a release.
SRC=$(mktemp -d /tmp/manyarch-release-src.XXXXXX)
trap 'rm -rf "$TMP" "$SRC"' EXIT
git archive "$COMMIT" | tar -x -C "$SRC"
[ -n "${RELEASE_COMMIT:-}" ] || [ -z "$(git status --porcelain --untracked-files=no)" ] || log "the working tree has uncommitted changes: they are not in the release (commit $COMMIT is)"
log "releasing $VERSION from commit $COMMIT (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"

binaries=()
for p in $PLATFORMS; do
  IFS=/ read -r os arch variant <<<"$p"
  name=manyarch-$os-$arch${variant:+-$variant}
  [ "$os" = windows ] && name=$name.exe
  goarm=
  case $arch/$variant in
    arm/v5) goarm=5 ;; arm/v6) goarm=6 ;; arm/v7) goarm=7 ;; arm/*) echo "release: $p: unknown arm variant" >&2; exit 2 ;;
  esac
  log "building $name ($p)"
  (cd "$SRC" && CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOARM=$goarm GOFLAGS= \
    go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X github.com/manyarch/manyarch/internal/cli.version=$VERSION" \
      -o "$TMP/$name" ./cmd/manyarch)
  binaries+=("$name")
done
log "SBOM (SPDX 2.3) and SHA256SUMS"
(cd "$SRC" && go run ./hack/release-sbom -version "$VERSION" -o "$TMP/manyarch.spdx.json" "${binaries[@]/#/$TMP/}")
(cd "$TMP" && sha256sum "${binaries[@]}" manyarch.spdx.json | LC_ALL=C sort -k2 > SHA256SUMS)
chmod 0755 "$TMP"
rm -rf "$DIST"
mv "$TMP" "$DIST"
log "wrote $DIST"

[ "${IMAGE:-1}" = 1 ] || exit 0

# The self-image: manyarch builds, verifies and tests its own image with the
# binary just built for this host.
image_platforms=()
for p in $PLATFORMS; do [ "${p%%/*}" = linux ] && image_platforms+=("$p"); done
if [ ${#image_platforms[@]} = 0 ]; then log "no linux platform: no image"; exit 0; fi
host=manyarch-linux-$(go env GOARCH)
[ -x "$DIST/$host" ] || { echo "release: the image needs $host in PLATFORMS (the manyarch that builds it)" >&2; exit 2; }
M=$DIST/$host
plats=$(IFS=,; echo "${image_platforms[*]}")
log "building the manyarch image for $plats"
"$M" build --platform "$plats" --build-arg "VERSION=$VERSION" -f "$SRC/Dockerfile" \
  -t "manyarch:$VERSION" -o "type=oci,dest=$DIST/manyarch-image.oci.tar" "$DIST"
log "verifying it"
"$M" verify "manyarch:$VERSION"
log "structure-testing it on every platform"
tests=$SRC/release-tests.yaml
sed "s/@VERSION@/$VERSION/g" "$SRC/hack/release-tests.yaml" >"$tests"
"$M" test "manyarch:$VERSION" -c "$tests"
(cd "$DIST" && sha256sum manyarch-image.oci.tar >> SHA256SUMS)
log "done: $DIST and manyarch:$VERSION"
