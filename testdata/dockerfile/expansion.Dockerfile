# Variable expansion in every instruction that expands, with BuildKit's
# modifiers, quotes and escapes; instructions that do not expand keep $.
# plan: platforms=linux/arm/v7 build=linux/amd64 arg=USERNAME=app
ARG IMAGE=busybox
FROM --platform=$TARGETPLATFORM $IMAGE AS base
ARG USERNAME=nobody UID=1000 FILE=archive.tar.gz SIG=SIGQUIT
ARG TARGETPLATFORM TARGETVARIANT
ENV NAME_ONLY=${FILE%%.*} EXT=${FILE#*.} SWAPPED=${FILE/tar/zip} \
    QUOTED="$USERNAME is ${UID}" SINGLE='$USERNAME' ESCAPED=\$USERNAME \
    DEFAULTED=${MISSING:-none} ALT=${UID:+has-uid} VARIANT=${TARGETVARIANT:-none}
LABEL owner=$USERNAME "platform name"="$TARGETPLATFORM"
WORKDIR /home/${USERNAME}
USER ${USERNAME}:${UID}
COPY --chown=${UID}:${UID} --chmod=0${UID%000}755 $FILE ${NAME_ONLY}/
VOLUME /data/$USERNAME
STOPSIGNAL $SIG
EXPOSE ${UID}
RUN echo "$USERNAME" '$USERNAME' \$USERNAME
CMD ["echo", "$USERNAME"]
HEALTHCHECK CMD test -f /home/$USERNAME/ok
ONBUILD RUN echo $USERNAME

FROM base
HEALTHCHECK NONE
SHELL ["/bin/ash", "-c"]
ENTRYPOINT exec /app "$@"
CMD first
CMD second
