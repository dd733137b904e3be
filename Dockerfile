# Multi-stage build: compile with the full Rust toolchain, ship a small Debian runtime
# image that runs tessera as an unprivileged user.
FROM rust:1-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq-dev libsqlite3-dev cmake clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked && strip target/release/tessera

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpq5 libsqlite3-0 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 tessera \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/tessera --create-home tessera
COPY --from=build /src/target/release/tessera /usr/local/bin/tessera
USER tessera
WORKDIR /var/lib/tessera
# Listening on all interfaces: set TESSERA_ISSUER to the URL clients use (tessera
# refuses to advertise http://0.0.0.0:8080 as its issuer).
ENV TESSERA_BIND=0.0.0.0:8080
# Password hashes take 19 MiB each (argon2id) and an imported Django argon2 hash up to
# 256 MiB: served from their own mappings, that memory goes back to the system after
# each check instead of staying in glibc's heap (measured: 38 instead of 212 MiB after
# ten logins).
ENV GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD curl -fs http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["tessera"]
CMD ["serve"]
