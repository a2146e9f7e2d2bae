#!/usr/bin/env bash
# Redis goes away and comes back under a running memoryd (its own Redis, so
# the test may kill it): requests get 503 meanwhile, the connection state
# goes reconnecting -> error (MEMORY_MAX_RECONNECT_ATTEMPTS=2) as
# /health/memory reports it, and once Redis is back memoryd reconnects by
# itself (the error state retries every 5 s): /readyz 200, connected,
# redis_reconnects_total counts it, and reads and writes work again.
# Usage: tests/ops/reconnect.sh   (MEMORYD_BIN from scripts/test)
set -euo pipefail
bin="${MEMORYD_BIN:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'

work="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-reconnect.XXXXXX")"
pid=""
cleanup() {
    local rc=$?
    if [[ -n "$pid" ]] && pid_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    stop_all
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
fail() {
    echo "reconnect.sh: FAIL: $*" >&2
    tail -n 30 "$work/log" >&2 || true
    exit 1
}

rport="$(free_port)"
start_redis "$work/redis" "$rport"
redis_pid="$STARTED_REDIS_PID"
port="$(free_port)"
env -u DATABASE_URL PORT="$port" BIND_ADDRESS=127.0.0.1 HTTP_THREADS=1 \
    REDIS_URL="redis://127.0.0.1:$rport/0" REDIS_CONNECT_TIMEOUT_MS=200 \
    MEMORY_MAX_RECONNECT_ATTEMPTS=2 "$bin" 2>"$work/log" &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -sf "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done

body='{"thread_id":"t","checkpoint_id":"%s","checkpoint":{"id":"%s","channel_versions":{}}}'
put() { # ID -> HTTP status
    # shellcheck disable=SC2059
    curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        -H 'X-Tenant-Id: reconnect' --data "$(printf "$body" "$1" "$1")" "$url/checkpoints"
}
state() { curl -s "$url/health/memory" | jq -r '.connectionState + " " + (.reconnectAttempts|tostring)'; }
reconnects() { curl -s "$url/metrics" | awk '$1 == "redis_reconnects_total" {print $2}'; }

[[ "$(put 1)" == 201 ]] || fail "put before the outage"
[[ "$(state)" == "connected 0" ]] || fail "state before the outage: $(state)"
before="$(reconnects)"

kill -KILL "$redis_pid"
wait "$redis_pid" 2>/dev/null || true
[[ "$(put 2)" == 503 ]] || fail "a put with Redis gone is not 503"
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
((seen_reconnecting)) || fail "never reported reconnecting"
((seen_error)) || fail "never reported error after 2 attempts (last: $s)"
[[ "${s#error }" -ge 2 ]] || fail "reconnectAttempts ${s#error }, want >= 2"
code="$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")"
[[ "$code" == 503 ]] || fail "/readyz $code while Redis is down"

start_redis "$work/redis" "$rport" # the same port, empty
ready=0
for _ in $(seq 1 150); do # the error state retries every 5 s
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" == 200 ]]; then
        ready=1
        break
    fi
    sleep 0.1
done
((ready)) || fail "memoryd did not reconnect within 15 s of Redis coming back"
[[ "$(state)" == "connected 0" ]] || fail "state after the outage: $(state)"
after="$(reconnects)"
((after > before)) || fail "redis_reconnects_total $before -> $after"
[[ "$(put 3)" == 201 ]] || fail "put after the outage"
got="$(curl -s -H 'X-Tenant-Id: reconnect' "$url/checkpoints/t" | jq -r .config.checkpoint_id)"
[[ "$got" == 3 ]] || fail "latest after the outage is $got, want 3"

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
pid=""
((st == 0)) || fail "memoryd exited $st on SIGTERM"
grep -Eq "$SANITIZER_RE" "$work/log" && fail "sanitizer error in memoryd's log"
echo "reconnect: 503 while down, reconnecting -> error, back to connected; reconnects $before -> $after"
echo "1 passed, 0 failed"
