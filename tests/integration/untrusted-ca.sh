#!/usr/bin/env bash
# Usage: tests/integration/untrusted-ca.sh WITH_MEMORYD TEST_UNAVAILABLE
# rediss:// verifies the server certificate: memoryd pointed at the TLS Redis
# (REDIS_TLS_URL, from scripts/test) with a CA that did not sign its
# certificate (a throwaway one made here) must not talk to it. /readyz says
# why (certificate verification), and every request is 503, as when Redis is
# down (test_unavailable).
set -euo pipefail
with_memoryd="${1:?usage: $0 WITH_MEMORYD TEST_UNAVAILABLE}"
test_bin="${2:?usage: $0 WITH_MEMORYD TEST_UNAVAILABLE}"
: "${REDIS_TLS_URL:?REDIS_TLS_URL is not set; run the tests through scripts/test}"
work="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-untrusted.XXXXXX")"
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=memoryd other CA" \
    -keyout "$work/ca.key" -out "$work/ca.crt" >/dev/null 2>&1
export REDIS_URL="$REDIS_TLS_URL" REDIS_TLS_CA_FILE="$work/ca.crt" REDIS_CONNECT_TIMEOUT_MS=500
# the reason's detail is shown to the admin token
export ADMIN_TOKEN=untrusted-ca-admin-token
exec "$with_memoryd" sh -c '
    reason="$(curl -s -H "Authorization: Bearer $ADMIN_TOKEN" "$MEMORYD_URL/readyz")"
    echo "untrusted CA: /readyz says $reason"
    echo "$reason" | grep -qi "certificate" || { echo "the reason does not name the certificate" >&2; exit 1; }
    exec "$0"' "$test_bin"
