# Every instruction and option the planner expands.
# plan: platforms=linux/amd64,linux/arm64 build=linux/amd64 arg=HTTP_PROXY=http://proxy:3128
FROM alpine AS assets
RUN mkdir -p /srv && echo asset > /srv/asset.txt

FROM busybox
LABEL org.opencontainers.image.title="demo" maintainer.team=containers
MAINTAINER someone@example.com
ENV APP_HOME=/opt/app PORT=8080
ENV LEGACY value with spaces
WORKDIR $APP_HOME
WORKDIR sub/dir
WORKDIR ..
USER 1000:1000
COPY --chown=1000:1000 --chmod=0644 *.txt ./
COPY --chmod=u+x,go-w --link bin/ /usr/local/bin/
COPY --parents --exclude=*.tmp src/./pkg/ /build/
COPY --from=assets /srv/asset.txt /srv/
COPY --from=0 /srv /srv0
COPY --from=alpine /etc/os-release /etc/alpine-release
ADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/file.tar.gz /downloads/
ADD --unpack=false vendor.tar.gz /vendor/
ADD rootfs.tar.xz /
ADD --keep-git-dir=true https://github.com/moby/buildkit.git#v0.34.2 /buildkit
EXPOSE $PORT 9000-9002/udp 53/UDP
VOLUME /data
VOLUME ["/cache", "/logs"]
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s --timeout=3s --start-period=5s --start-interval=1s --retries=3 CMD wget -q -O- http://localhost:$PORT/ || exit 1
SHELL ["/bin/sh", "-eu", "-c"]
RUN echo shell form uses the SHELL
CMD echo "serving on $PORT"
ENTRYPOINT ["/usr/local/bin/app"]
ONBUILD COPY . /app/src
ONBUILD RUN make -C /app/src
