# syntax=docker/dockerfile:1
# cdnpurge: a static binary on a distroless, non-root base.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t cdnpurge .

ARG GO_VERSION=1.26
FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/root/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
# timetzdata embeds the zone database, so schedule time zones work on any
# base image.
RUN --mount=type=cache,target=/root/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -tags timetzdata \
      -ldflags "-s -w -X main.version=${VERSION}" -o /out/cdnpurge ./cmd/cdnpurge

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/cdnpurge /usr/local/bin/cdnpurge
# Webhooks, /healthz and /readyz. /metrics is on admin.listen
# (127.0.0.1:9090 unless configured), deliberately not exposed.
EXPOSE 8080
# The embedded NATS keeps its store here when no NATS URL is configured.
WORKDIR /var/lib/cdnpurge
USER 65532:65532
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/cdnpurge", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/cdnpurge"]
CMD ["serve"]
