# Heredocs in RUN and COPY.
# plan: platforms=linux/amd64
FROM busybox
ARG NAME=world
ENV GREETING=hello
RUN <<EOF
echo "$GREETING $NAME"
mkdir -p /out
EOF
RUN <<'EOF'
#!/bin/sh
echo "not expanded by the frontend: $NAME"
EOF
RUN <<-EOT cat > /out/tabs
	tab-indented lines lose their tabs
	EOT
RUN cat <<A > /out/a && cat <<"B" > /out/b
first $NAME
A
second $NAME
B
COPY <<EOF /out/expanded.txt
$GREETING, ${NAME}!
EOF
COPY <<"EOF" <<EOT2 /out/
literal $GREETING
EOF
two $NAME
EOT2
