# syntax=docker/dockerfile:1
# Build with the same command CI uses (`cargo build --locked`), run as an unprivileged user.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin firesight

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/firesight --create-home firesight
COPY --from=build /src/target/release/firesight /usr/local/bin/firesight
USER firesight
WORKDIR /var/lib/firesight
# Listening beyond loopback requires API keys (FIRESIGHT_API_KEYS); auth cannot be disabled here.
ENV FIRESIGHT_LISTEN=0.0.0.0:8080 \
    FIRESIGHT_DATA_DIR=/var/lib/firesight
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/health/live || exit 1
ENTRYPOINT ["firesight"]
CMD ["serve"]
