# syntax=docker/dockerfile:1
#
# The idrelay image: one static-ish Rust binary on distroless, running as the non-root user
# 65532 (`nonroot`). The same image serves `idrelay operator` (the Helm chart and manifests/)
# and `idrelay serve --config DIR`.
#
#   docker build -t ghcr.io/idrelay/idrelay:0.1.0 .
#
# Builder and runtime share one Debian release (bookworm = debian12), so the binary links
# against the glibc the runtime image has.

ARG RUST_VERSION=1.95

FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# Only what the build reads (see .dockerignore). The cargo registry and target directory are
# cache mounts, so a rebuild after a source change recompiles only idrelay.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
# Smaller binary: drop the line tables Cargo.toml keeps for local builds (symbols stay, so
# backtraces still name functions).
ENV CARGO_PROFILE_RELEASE_STRIP=debuginfo
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin idrelay \
    && install -D -m 0755 target/release/idrelay /out/idrelay

FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="idrelay" \
      org.opencontainers.image.description="SAP Cloud Identity Services real-time provisioning as a Kubernetes operator, with an embedded identity directory" \
      org.opencontainers.image.source="https://github.com/idrelay/idrelay" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=builder /out/idrelay /usr/local/bin/idrelay
USER 65532:65532
# 8443: tenant APIs; 9443: admin (/metrics, /healthz, /readyz, /status).
EXPOSE 8443 9443
ENTRYPOINT ["/usr/local/bin/idrelay"]
CMD ["operator"]
