# The examples/hello cross-compiling Dockerfile: the build stage runs natively
# on the build platform and cross-compiles for each target.
# plan: platforms=linux/amd64,linux/arm64,linux/arm/v7,linux/ppc64le,linux/s390x,linux/386 build=linux/amd64
# plan: arg=GO_IMAGE=golang:1.26 arg=BASE=busybox
ARG GO_IMAGE=golang:1.26-alpine
ARG BASE=alpine

FROM --platform=$BUILDPLATFORM ${GO_IMAGE} AS build
WORKDIR /src
COPY go.mod main.go ./
ARG TARGETOS TARGETARCH TARGETVARIANT
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH GOARM=${TARGETVARIANT#v} \
    go build -trimpath -o /out/hello .

FROM ${BASE}
COPY --from=build /out/hello /usr/local/bin/hello
ENTRYPOINT ["/usr/local/bin/hello"]
