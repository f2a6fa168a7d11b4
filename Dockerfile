# Herald: a static binary in a minimal image, running as a non-root user,
# keeping its log and generated key in the /data volume.
#
#   docker build --build-arg VERSION=v1.0.0 --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(date -u +%FT%TZ) -t herald .
#   docker run -p 8080:8080 -v herald-data:/data herald
#
# cmd/herald/packaging_test.go builds the binary with this file's own go build
# line and checks what it stamps.

FROM golang:1.26-alpine AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
ARG COMMIT=unknown
ARG DATE=unknown
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" -o /out/herald ./cmd/herald
RUN mkdir -p /out/data

# distroless/static: CA certificates and time zones, no shell; "nonroot" is
# uid 65532. The health check runs herald itself.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/herald /usr/local/bin/herald
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
	CMD ["/usr/local/bin/herald", "healthcheck", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/herald"]
CMD ["serve", "--addr", ":8080", "--data-dir", "/data"]
