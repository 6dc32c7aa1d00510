#!/usr/bin/env bash
# deps.sh - install the Debian packages and npm modules the project needs,
# only those missing. apt-get needs root: as another user it uses sudo when
# that works without a password (sudo -n), otherwise it prints the one
# command to run as root and fails, before anything else is tried.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)

PACKAGES=(
    build-essential pkg-config make curl ca-certificates git
    postgresql postgresql-contrib redis-server nginx libnginx-mod-nchan
    libfcgi-dev libmicrohttpd-dev libpq-dev libhiredis-dev libcjson-dev libinih-dev
    libcurl4-openssl-dev libssl-dev libcmocka-dev libargon2-dev libwslay-dev
    chromium nodejs npm python3 python3-websockets python3-yaml docker-compose wrk clang-format
    openssl squid prometheus clang libclang-rt-14-dev
)
# CHAT_PG=ha (chatctl, scripts/pg-ha.sh): PostgreSQL under Patroni with etcd.
# `make deps CHAT_PG=ha` or CHAT_PG=ha in the environment asks for them.
[ "${CHAT_PG:-single}" = ha ] && PACKAGES+=(patroni etcd-server python3-etcd)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodejs/npm may come from elsewhere (a newer build on PATH): accept that.
if command -v node >/dev/null && command -v npm >/dev/null; then
    missing=("${missing[@]/nodejs/}")
    missing=("${missing[@]/npm/}")
fi
read -r -a missing <<<"${missing[*]}"

if ((${#missing[@]})); then
    as_root=()
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            as_root=(sudo -n)
        else
            echo "deps: missing Debian packages: ${missing[*]}" >&2
            echo "deps: run this one command as root, then make again:" >&2
            echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
            exit 1
        fi
    fi
    echo "deps: installing ${missing[*]}" >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq || true
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's nginx package starts a system nginx on port 80; we run our own.
# Not stopping it: it is not ours to stop.

for d in tests/e2e tests/openapi; do
    # Again when the lock file changed since (npm keeps its own copy).
    if [ -f "$ROOT/$d/package.json" ] && { [ ! -d "$ROOT/$d/node_modules" ] ||
        [ "$ROOT/$d/package-lock.json" -nt "$ROOT/$d/node_modules/.package-lock.json" ]; }; then
        echo "deps: npm ci in $d" >&2
        (cd "$ROOT/$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
exit 0
