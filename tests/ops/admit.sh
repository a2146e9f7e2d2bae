#!/usr/bin/env bash
# Issue 15 item 4: a request is judged on its headers, before any of its
# body is read. Each request below declares an 8,000,000-byte body and sends
# none of it; memoryd must answer within 2 s (before the fix it waited for
# the body): 401 without or with an unknown token, 403 for another tenant
# and for the admin routes, 404 for an unknown route, 405, 415, and 413
# beyond MAX_BODY_BYTES. Requests without a body are judged at their end, so
# a 404 keeps the connection alive. Usage: tests/ops/admit.sh (MEMORYD_BIN,
# REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init admit
tok=tok-acme-0123456789abcdef adm=adm-0123456789abcdef
mt_start_memoryd /healthz API_TOKENS="$tok:acme" ADMIN_TOKEN="$adm" MAX_BODY_BYTES=9000000
port="${MT_URL##*:}"
passed=0

# early WANT METHOD PATH [HEADER...]: the status line within 2 s (CL: the
# Content-Length declared, 8000000 by default)
early() {
    local want="$1" method="$2" path="$3" line=""
    shift 3
    exec 5<>"/dev/tcp/127.0.0.1/$port"
    printf '%s\r\n' "$method $path HTTP/1.1" "Host: x" "Content-Length: ${CL:-8000000}" "$@" "" >&5
    read -r -t 2 line <&5 || line="(no answer within 2 s)"
    exec 5<&-
    [[ "$line" == "HTTP/1.1 $want "* ]] ||
        mt_fail "$method $path ${*:-} with ${CL:-8000000} bytes declared, none sent: want $want, got $line"
    passed=$((passed + 1))
}
json='Content-Type: application/json'
early 401 POST /checkpoints "$json" "X-Tenant-Id: acme"
early 401 POST /checkpoints "$json" "X-Tenant-Id: acme" "Authorization: Bearer not-a-token-at-all"
early 403 POST /checkpoints "$json" "X-Tenant-Id: other" "Authorization: Bearer $tok"
early 404 POST /no/such/route "$json" "X-Tenant-Id: acme" "Authorization: Bearer $tok"
early 405 PUT /checkpoints "$json" "X-Tenant-Id: acme" "Authorization: Bearer $tok"
early 415 POST /checkpoints "Content-Type: text/plain" "X-Tenant-Id: acme" "Authorization: Bearer $tok"
early 401 POST /admin/failover "$json"
early 403 POST /admin/failover "$json" "Authorization: Bearer $tok"
CL=9000001 early 413 POST /checkpoints "$json" "X-Tenant-Id: acme" "Authorization: Bearer $tok"

# without a body: two 404s on one connection (it stays open)
n="$(curl -s -o /dev/null -o /dev/null -w '%{http_code}:%{num_connects} ' "$MT_URL/nope" "$MT_URL/nope")"
[[ "$n" == "404:1 404:0 " ]] || mt_fail "two bodiless 404s on one connection: $n, want 404:1 404:0"
passed=$((passed + 1))

# and an admitted one is served whole
code="$(curl -s -o /dev/null -w '%{http_code}' -X POST "$MT_URL/checkpoints" -H "$json" \
    -H 'X-Tenant-Id: acme' -H "Authorization: Bearer $tok" \
    -d '{"thread_id":"admit","checkpoint_id":"1","checkpoint":{"id":"1"}}')"
[[ "$code" == 201 ]] || mt_fail "an admitted put was answered $code"
passed=$((passed + 1))
redis-cli -u "$REDIS_URL" --scan --pattern 'langgraph:*{acme:admit}*' | xargs -r redis-cli -u "$REDIS_URL" UNLINK >/dev/null
mt_stop_memoryd
echo "$passed passed, 0 failed"
