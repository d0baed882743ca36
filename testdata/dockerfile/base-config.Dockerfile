# The base image's config seeds the stage: ENV (PATH added when missing),
# WORKDIR (cleaned) and USER; relative paths resolve against it. A stage FROM
# another stage keeps that stage's platform even with --platform, and FROM
# scratch is always built for the target.
# plan: platforms=linux/arm64 build=linux/amd64
FROM nopath AS base
RUN env
WORKDIR app
COPY conf.d/ conf/
USER root
RUN --mount=type=bind,target=src make

FROM --platform=linux/amd64 base AS derived
RUN echo "$LANG"

FROM --platform=$BUILDPLATFORM scratch AS empty
WORKDIR /

FROM busybox
COPY --from=derived /home/nobody/app /app
COPY --from=empty / /empty
