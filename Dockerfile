# memoryd container image.
#   docker build -t memoryd .
#   docker run --rm -p 8080:8080 -e REDIS_URL=redis://host:6379/0 memoryd
#
# Two stages: memoryd is built on debian:bookworm with the -dev packages, and runs on
# debian:bookworm-slim with only the shared libraries it links. tests/deploy/check.sh
# keeps this file honest offline: `runtime-libs` maps every library of the built binary
# to its Debian package and expects it on the runtime stage's apt-get install line;
# `docker-build` runs the build stage's COPY and cmake steps on this tree and checks its
# -dev packages; `healthcheck` runs the HEALTHCHECK command against a real memoryd.

FROM debian:bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config \
        libmicrohttpd-dev libhiredis-dev libpq-dev libjansson-dev libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the memoryd target needs (tests are off), so that a change elsewhere in the
# tree does not invalidate the build layer.
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY cmd/ cmd/
COPY common/ common/
COPY service/ service/
COPY api/ api/
# the PostgreSQL migrations, compiled into the binary
COPY schemas/sql/ schemas/sql/
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DMEMORYD_TESTS=OFF \
    && cmake --build build --parallel "$(nproc)"

FROM debian:bookworm-slim AS runtime
# Runtime libraries only. libpq5 is for DATABASE_URL (the PostgreSQL store); the Kerberos,
# LDAP and SASL libraries after it are libpq5's own, named so that runtime-libs sees them.
# ca-certificates verifies rediss:// servers when REDIS_TLS_CA_FILE is unset.
# UID/GID 10001 are fixed so that Kubernetes' runAsNonRoot can check them.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libmicrohttpd12 libhiredis0.14 libpq5 libjansson4 libssl3 ca-certificates \
        libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 \
        libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 memoryd \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin memoryd
COPY --from=build /src/build/memoryd /usr/local/bin/memoryd

# memoryd listens on 127.0.0.1 by default; in a container it must listen on every address.
ENV BIND_ADDRESS=0.0.0.0
USER 10001:10001
EXPOSE 8080
# curl is not in bookworm-slim: bash's /dev/tcp sends the request and reads the status line,
# so the image needs no extra package for its health check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && read -r _ code _ <&3 && [ \"$code\" = 200 ]"]
ENTRYPOINT ["memoryd"]
