# ONBUILD triggers: from a base image's config and from a base stage.
# plan: platforms=linux/amd64
FROM alpine AS assets
RUN mkdir /srv

FROM onbuild-app AS app
RUN echo app

FROM busybox AS template
ONBUILD ARG FLAVOR=plain
ONBUILD RUN echo "flavor $FLAVOR"
RUN echo template

FROM template AS derived
RUN echo derived

FROM onbuild-from
COPY --from=app /app /app
COPY --from=derived / /derived
