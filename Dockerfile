# syntax=docker/dockerfile:1
# vigil in a container: `docker compose up` (docker-compose.yml) builds this image and runs a
# three-process cluster from it. Build alone with `docker build -t vigil .`.

# Build stage: the full Rust toolchain image has the C compiler, make and zlib headers that the
# bundled librdkafka build needs. 1.89 is the newest rust-version among the locked dependencies
# (uuid 1.29, through sonic-rs); tests/compose_file.rs keeps the two in step.
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the crate registry and build outputs between image builds; the binary is
# copied out of the cached target directory because a cache mount is not part of the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && install -D target/release/vigil /out/vigil

# Runtime stage: glibc, zlib and CA certificates (for TLS-enabled brokers) are all vigil needs.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /vigil --shell /usr/sbin/nologin vigil \
    && mkdir -p /var/lib/vigil \
    && chown vigil:vigil /var/lib/vigil
COPY --from=build /out/vigil /usr/local/bin/vigil
WORKDIR /vigil
# Commands use paths relative to the working directory, as in a checkout.
COPY config/ config/
COPY topologies/ topologies/
USER vigil
# 9464: Prometheus metrics; 2101: timely cluster traffic (config/hosts.example).
EXPOSE 9464 2101
VOLUME ["/var/lib/vigil"]
ENTRYPOINT ["vigil"]
CMD ["--help"]
