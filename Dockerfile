# The gateway with its database bridges, on a slim Debian with Oracle Instant Client Basic Light.
#
#   docker build -t wamp-gateway \
#     --build-arg INSTANTCLIENT_URL=<URL of instantclient-basiclite-linux.x64-*.zip> .
#   docker run -p 8080:8080 -v "$PWD/config:/config:ro" -e ORACLE_PASSWORD=... wamp-gateway
#
# The Instant Client zip comes from Oracle's download pages (its licence allows redistribution
# in images); pass its URL as INSTANTCLIENT_URL. The rust-oracle driver loads libclntsh at run
# time, so the build stage needs no Oracle files at all.

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

# --- build ---------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS build
# make: jemalloc (the gateway's allocator) is built from source by tikv-jemalloc-sys.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
 && install -m 0755 target/release/gateway /usr/local/bin/gateway

# --- run -----------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim
ARG INSTANTCLIENT_URL
RUN test -n "$INSTANTCLIENT_URL" || { echo "build with --build-arg INSTANTCLIENT_URL=<basiclite zip URL>" >&2; exit 1; } \
 && apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl unzip libaio1 \
 && curl -fsSL "$INSTANTCLIENT_URL" -o /tmp/instantclient.zip \
 && mkdir -p /opt/oracle \
 && unzip -q /tmp/instantclient.zip -d /opt/oracle \
 && mv /opt/oracle/instantclient_* /opt/oracle/instantclient \
 && echo /opt/oracle/instantclient > /etc/ld.so.conf.d/oracle-instantclient.conf \
 && ldconfig \
 && rm /tmp/instantclient.zip \
 && apt-get purge -y unzip \
 && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin gateway

COPY --from=build /usr/local/bin/gateway /usr/local/bin/gateway

# tnsnames.ora / sqlnet.ora / wallets, if any, go to /config/network (TNS_ADMIN).
ENV TNS_ADMIN=/config/network
USER gateway
VOLUME ["/config"]
EXPOSE 8080
# The health endpoint is served on the websocket listener (config must listen on 0.0.0.0:8080).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
CMD ["gateway", "--config", "/config/gateway.toml"]
