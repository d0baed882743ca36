# --target picks a middle stage; later stages and stages it does not use are pruned.
# plan: platforms=linux/amd64 target=test
FROM busybox AS base
RUN echo base

FROM base AS test
RUN echo test

FROM busybox AS docs
RUN echo docs

FROM base AS release
COPY --from=docs / /docs
