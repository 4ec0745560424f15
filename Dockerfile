# lb and backend in one small image (README: "Container image").
#
#   docker build -t lb --build-arg VERSION=$(git describe --always --dirty) \
#       --build-arg COMMIT=$(git rev-parse HEAD) .      # or: make image
#   docker run --rm -p 8080:8080 -v $PWD/config.yaml:/etc/lb/config.yaml:ro lb
#   docker run --rm --entrypoint /backend lb -addr :8080   # the backend
#
# RUN --mount needs BuildKit, Docker's builder since 23.0.
#
# No HEALTHCHECK: the runtime image has no shell and no curl. Probe the
# admin listener's GET /api/status from outside (Kubernetes httpGet probes,
# see deploy/kubernetes/), or run `lb -check` for the configuration alone.

# Build stage: static binaries, no cgo, no local paths in them.
FROM golang:1.26 AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# The version and commit stamped into both programs (as `make build` does).
ARG VERSION=dev
ARG COMMIT=unknown
ENV CGO_ENABLED=0
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/lb ./lb && \
    go build -trimpath -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/backend ./backend

# Runtime stage: CA certificates, /etc/passwd with nonroot (65532), tzdata;
# no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/lb /out/backend /
# The annotated default configuration; mount your own over it.
COPY config.yaml /etc/lb/config.yaml
USER nonroot:nonroot
# 8080: the default listener; 9090: the admin API when configured.
EXPOSE 8080 9090
ENTRYPOINT ["/lb", "-config", "/etc/lb/config.yaml"]
