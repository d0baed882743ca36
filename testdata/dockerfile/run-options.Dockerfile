# RUN forms and flags.
# plan: platforms=linux/riscv64 build=linux/amd64
FROM alpine AS deps
RUN mkdir -p /deps && echo dep > /deps/dep.txt

FROM busybox
WORKDIR /work
ARG CACHE_ID=gocache
RUN ["/bin/echo", "exec form, no shell, no expansion: $CACHE_ID"]
RUN --network=none echo offline
RUN --network=host echo host network
RUN --mount=type=cache,target=/root/.cache,id=$CACHE_ID,sharing=locked,uid=1000,gid=1000,mode=0700 \
    --mount=type=cache,target=relative/cache \
    ls /root/.cache
RUN --mount=type=bind,from=deps,source=/deps,target=/mnt/deps \
    --mount=type=bind,target=/ctx \
    --mount=type=bind,from=alpine,target=/alpine,rw \
    cat /mnt/deps/dep.txt
RUN --mount=type=tmpfs,target=/scratch,size=64m \
    --mount=type=secret,id=token,required \
    --mount=type=secret,id=aws,env=AWS_KEY \
    --mount=type=ssh \
    --security=insecure \
    true
