# A static binary on scratch for riscv64, with a stage used by index.
# plan: platforms=linux/riscv64,linux/arm/v6 build=linux/arm64
FROM --platform=$BUILDPLATFORM busybox
RUN echo native on $BUILDARCH > /note
FROM scratch
COPY --from=0 /note /note
CMD ["/hello"]
