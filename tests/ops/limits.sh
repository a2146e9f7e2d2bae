#!/usr/bin/env bash
# The abuse limits: HTTP_CONNECTION_LIMIT serves no connection beyond it,
# HTTP_CONNECTION_TIMEOUT_SECONDS closes idle and stalled connections (a slow
# client cannot pin a thread), and oversized headers are refused; memoryd
# serves normally afterwards. One HTTP thread, so the limit is not divided
# among a pool. Usage: tests/ops/limits.sh   (MEMORYD_BIN, REDIS_URL from scripts/test)
set -euo pipefail
bin="${MEMORYD_BIN:?}"
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

work="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-limits.XXXXXX")"
pid=""
cleanup() {
    local rc=$?
    if [[ -n "$pid" ]] && pid_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
fail() {
    echo "limits.sh: FAIL: $*" >&2
    tail -n 20 "$work/log" >&2 || true
    exit 1
}

port="$(free_port)"
PORT="$port" BIND_ADDRESS=127.0.0.1 HTTP_THREADS=1 HTTP_CONNECTION_LIMIT=4 \
    HTTP_CONNECTION_TIMEOUT_SECONDS=2 "$bin" 2>"$work/log" &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    curl -sf "$url/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
code() { curl -s -o /dev/null -m "${T:-3}" -w '%{http_code}' "$@" || true; }
[[ "$(code "$url/healthz")" == 200 ]] || fail "not serving"

# 1. four idle connections take the whole limit; a fifth is not served
#    (libmicrohttpd leaves it unaccepted until a slot frees)
exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port" \
    5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port"
sleep 0.4
c="$(T=0.8 code "$url/healthz")"
[[ "$c" != 200 ]] || fail "a fifth connection was served beyond HTTP_CONNECTION_LIMIT=4"

# 2. idle ones are closed after the timeout, and the server serves again
served=0
for _ in $(seq 1 60); do
    if [[ "$(code "$url/healthz")" == 200 ]]; then
        served=1
        break
    fi
    sleep 0.1
done
((served)) || fail "idle connections were not closed after HTTP_CONNECTION_TIMEOUT_SECONDS=2"
exec 3>&- 4>&- 5>&- 6>&-

# 3. a client that stalls in the middle of its headers is cut off
exec 7<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&7
start=$SECONDS
timeout 10 cat <&7 >/dev/null || true
took=$((SECONDS - start))
exec 7>&-
((took < 10)) || fail "a stalled request held its connection for 10 s"

# 4. headers beyond what one connection may hold are refused, not buffered
big="$(head -c 100000 /dev/zero | tr '\0' a)"
c="$(code -H "X-Big: $big" "$url/healthz")"
[[ "$c" == 431 || "$c" == 413 || "$c" == 000 ]] || fail "a 100 KB header was answered $c"
[[ "$(code "$url/healthz")" == 200 ]] || fail "not serving after the oversized header"

kill -TERM "$pid"
st=0
wait "$pid" || st=$?
pid=""
((st == 0)) || fail "memoryd exited $st on SIGTERM"
grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$work/log" &&
    fail "sanitizer error in memoryd's log"
echo "limits: fifth connection not served, idle closed, stalled cut after ${took}s, big header $c"
echo "4 passed, 0 failed"
