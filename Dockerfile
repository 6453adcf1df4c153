# The ratify image: a static /ratify, CA certificates and the nonroot user
# (65532), nothing else. `make image` builds the same image without Docker
# (cmd/imagebuild); keep the two alike.
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t ratify:dev .

# The Go of go.mod's go directive (a test checks they match).
ARG GO_VERSION=1.26.8

# The build stage runs on the builder's platform and cross-compiles, so a
# multi-platform build needs no emulation.
FROM --platform=$BUILDPLATFORM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# ratify version reads the version from the build info: .git is in the
# context (see .dockerignore) and -buildvcs=auto stamps it. cgo is off so
# the binary needs no libc.
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -buildvcs=auto -trimpath -ldflags="-s -w" -o /out/ratify ./cmd/ratify
RUN mkdir -p /out/rootfs/etc/ssl/certs /out/rootfs/home/nonroot /out/rootfs/tmp \
 && cp /etc/ssl/certs/ca-certificates.crt /out/rootfs/etc/ssl/certs/ca-certificates.crt \
 && printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' > /out/rootfs/etc/passwd \
 && printf 'root:x:0:\nnonroot:x:65532:\n' > /out/rootfs/etc/group \
 && chmod 0644 /out/rootfs/etc/passwd /out/rootfs/etc/group /out/rootfs/etc/ssl/certs/ca-certificates.crt \
 && chown 65532:65532 /out/rootfs/home/nonroot \
 && chmod 0700 /out/rootfs/home/nonroot \
 && chmod 1777 /out/rootfs/tmp \
 && chmod 0755 /out/ratify

FROM scratch
# COPY --from keeps the owners and modes the build stage set (root, but
# nonroot's home), and copies the contents of rootfs/, not rootfs itself.
COPY --from=build /out/rootfs/ /
COPY --from=build /out/ratify /ratify
USER 65532:65532
WORKDIR /
ENTRYPOINT ["/ratify"]
CMD ["serve"]
