#!/usr/bin/env bash
# Redis goes away and comes back under a running memoryd (its own Redis, so
# the test may kill it): requests get 503 meanwhile, the connection state
# goes reconnecting -> error (MEMORY_MAX_RECONNECT_ATTEMPTS=4) as
# /health/memory reports it, and once Redis is back memoryd reconnects by
# itself (the error state retries every 5 s): /readyz 200, connected,
# redis_reconnects_total counts it, and reads and writes work again.
# Usage: tests/ops/reconnect.sh   (MEMORYD_BIN from scripts/test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init reconnect

rport="$(free_port)"
start_redis "$MT_WORK/redis" "$rport"
redis_pid="$STARTED_REDIS_PID"
mt_start_memoryd /healthz HTTP_THREADS=1 REDIS_URL="redis://127.0.0.1:$rport/0" \
    REDIS_CONNECT_TIMEOUT_MS=200 MEMORY_MAX_RECONNECT_ATTEMPTS=4

body='{"thread_id":"t","checkpoint_id":"%s","checkpoint":{"id":"%s","channel_versions":{}}}'
put() { # ID -> HTTP status
    # shellcheck disable=SC2059
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H 'X-Tenant-Id: reconnect' --data "$(printf "$body" "$1" "$1")" "$MT_URL/checkpoints"
}
state() { curl -s "$MT_URL/health/memory" | jq -r '.connectionState + " " + (.reconnectAttempts|tostring)'; }
reconnects() { curl -s "$MT_URL/metrics" | awk '$1 == "redis_reconnects_total" {print $2}'; }

[[ "$(put 1)" == 201 ]] || mt_fail "put before the outage"
[[ "$(state)" == "connected 0" ]] || mt_fail "state before the outage: $(state)"
before="$(reconnects)"

kill -KILL "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
[[ "$(put 2)" == 503 ]] || mt_fail "a put with Redis gone is not 503"
seen_reconnecting=0 seen_error=0
for _ in $(seq 1 50); do
    s="$(state)"
    [[ "$s" == reconnecting* ]] && seen_reconnecting=1
    if [[ "$s" == error* ]]; then
        seen_error=1
        break
    fi
    sleep 0.1
done
((seen_reconnecting)) || mt_fail "never reported reconnecting"
((seen_error)) || mt_fail "never reported error after 4 attempts (last: $s)"
[[ "${s#error }" -ge 2 ]] || mt_fail "reconnectAttempts ${s#error }, want >= 2"
code="$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/readyz")"
[[ "$code" == 503 ]] || mt_fail "/readyz $code while Redis is down"

start_redis "$MT_WORK/redis" "$rport" # the same port, empty
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/readyz")" == 200 ]]; }
# the error state retries every 5 s
mt_until 150 ready || mt_fail "memoryd did not reconnect within 15 s of Redis coming back"
[[ "$(state)" == "connected 0" ]] || mt_fail "state after the outage: $(state)"
after="$(reconnects)"
((after > before)) || mt_fail "redis_reconnects_total $before -> $after"
[[ "$(put 3)" == 201 ]] || mt_fail "put after the outage"
got="$(curl -s -H 'X-Tenant-Id: reconnect' "$MT_URL/checkpoints/t" | jq -r .config.checkpoint_id)"
[[ "$got" == 3 ]] || mt_fail "latest after the outage is $got, want 3"

mt_stop_memoryd
echo "reconnect: 503 while down, reconnecting -> error, back to connected; reconnects $before -> $after"
echo "1 passed, 0 failed"
