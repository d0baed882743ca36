# Edge cases: BOM, CRLF line endings, same-line references, empty values.
# plan: platforms=linux/amd64,linux/arm64 build=linux/amd64
ARG B=base
FROM busybox AS base
ENV A=1 B=$A
ARG C=3 D=$C
ENV E=$C F=${D}x
WORKDIR ${NOPE:-.}
WORKDIR rel/$C
USER ${C}:${NOPE:-0}
LABEL "quoted key"="a b" plain=c\ d esc="x\"y"
EXPOSE 80/tcp 80 443/tcp
ENTRYPOINT []
CMD []
HEALTHCHECK --interval=0s --retries=0 CMD ["true"]
SHELL ["/bin/ash", "-e", "-c"]
RUN <<EOF
echo $A
EOF
ONBUILD RUN <<EOT
echo onbuild heredoc
EOT

FROM $B AS derived
RUN echo "$D"

FROM --platform=linux/arm64 busybox AS pinned
RUN uname -m

FROM derived
COPY --from=pinned /etc/hostname /h
ENTRYPOINT ["/bin/true"]
