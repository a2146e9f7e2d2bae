#!/bin/sh
# Usage: run-with-redis-url.sh VAR CMD [ARGS...]
# Runs CMD with REDIS_URL set to the value of the environment variable VAR
# (e.g. REDIS_TLS_URL, REDIS_AUTH_URL, exported by scripts/test). Fails,
# rather than skipping, when VAR is unset or empty.
set -eu
if [ "$#" -lt 2 ]; then
    echo "usage: $0 VAR CMD [ARGS...]" >&2
    exit 2
fi
var="$1"
shift
case "$var" in
    *[!A-Za-z0-9_]* | "") echo "run-with-redis-url: bad variable name '$var'" >&2; exit 2 ;;
esac
eval "url=\${$var:-}"
if [ -z "$url" ]; then
    echo "run-with-redis-url: $var is not set; run the tests through scripts/test" >&2
    exit 1
fi
REDIS_URL="$url"
export REDIS_URL
exec "$@"
