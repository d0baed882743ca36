# escape=`
# plan: platforms=linux/amd64
FROM busybox
ENV DIR=C:\data
RUN echo one `
    two `
    three
COPY a\b.txt $DIR\
