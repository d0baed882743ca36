# plan: target=tests
FROM busybox AS build
FROM build AS test
