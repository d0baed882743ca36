# ARG scoping corner cases, as BuildKit resolves them.
# plan: platforms=linux/arm64 build=linux/amd64 arg=FROMCLI=cli arg=OVERRIDDEN=from-cli
ARG VERSION=1.2
ARG FULL=v${VERSION}-final
ARG EMPTY
ARG OVERRIDDEN=default
ARG FROMCLI

FROM busybox AS first
# Not redeclared: global ARGs are not visible inside a stage.
RUN echo "version=[$VERSION]"
# Redeclared with no value: takes the global value.
ARG VERSION
ARG FULL
RUN echo "$VERSION $FULL"
# Default referencing another arg, and the ${VAR:-x} / ${VAR:+x} forms.
ARG COMBINED=${FULL}-${TARGETARCH:-noarch}
ARG TARGETARCH
ARG ALT=${EMPTY:-fallback} PLUS=${VERSION:+set} UNSETPLUS=${NOPE:+set}
ENV FROM_ENV=${COMBINED}
RUN echo "$COMBINED $ALT $PLUS [$UNSETPLUS] $FROM_ENV"
# A --build-arg wins over a default; a CLI value for an ARG without default.
ARG OVERRIDDEN=stage-default FROMCLI
RUN echo "$OVERRIDDEN $FROMCLI"
# ENV after ARG overrides it; ARG after ENV overrides it for RUN but not in the config.
ARG SHADOW=arg
ENV SHADOW=env
ENV LATE=env
ARG LATE=arg
RUN echo "$SHADOW $LATE"

FROM first AS second
# A stage built on a stage keeps its ARGs and ENV.
RUN echo "$VERSION $LATE"
ARG VERSION=2.0
RUN echo "$VERSION"
