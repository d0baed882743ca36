# A builder stage without --platform runs its RUN steps under emulation for
# foreign targets although the result only copies from it: the plan hints at
# cross-compiling. (386 runs natively on amd64, so it gets no hint.)
# plan: platforms=linux/amd64,linux/386,linux/arm64,linux/riscv64 build=linux/amd64
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN go build -o /out/app .

FROM busybox
COPY --from=build /out/app /app
RUN /app --selftest
