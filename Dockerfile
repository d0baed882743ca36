# manyarch's own multi-arch image: the release binaries, one per platform,
# FROM scratch. hack/release.sh builds it with manyarch, from the release
# directory as the build context:
#
#   manyarch build --platform linux/amd64,linux/arm64,... --build-arg VERSION=v1.2.3 \
#     -f Dockerfile -t manyarch:v1.2.3 dist/v1.2.3
#
# then verifies it and structure-tests it on every platform
# (hack/release-tests.yaml).
FROM scratch
ARG TARGETOS TARGETARCH TARGETVARIANT VERSION=devel
COPY --chmod=0755 manyarch-${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}} /usr/local/bin/manyarch
LABEL org.opencontainers.image.title="manyarch" \
      org.opencontainers.image.description="Multi-architecture container images without a daemon" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="https://github.com/manyarch/manyarch"
ENTRYPOINT ["/usr/local/bin/manyarch"]
CMD ["--help"]
