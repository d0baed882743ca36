FROM busybox
COPY --from=later /x /x
FROM busybox AS later
FROM busybox
COPY --from=0 /x /x
