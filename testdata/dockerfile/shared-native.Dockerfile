# A native stage without TARGET* args is planned once and shared by all three
# targets; one that reads TARGETARCH is planned per target; an unreferenced
# stage is pruned.
# plan: platforms=linux/amd64,linux/arm64,linux/arm/v7 build=linux/amd64
FROM --platform=$BUILDPLATFORM busybox AS assets
WORKDIR /assets
RUN echo "built on $(uname -m)" > note.txt

FROM --platform=$BUILDPLATFORM busybox AS cross
ARG TARGETARCH
RUN echo "$TARGETARCH" > /arch

FROM busybox AS unused
RUN echo never built

FROM busybox
COPY --from=assets /assets/ /usr/share/assets/
COPY --from=cross /arch /etc/arch
RUN uname -m > /etc/machine
