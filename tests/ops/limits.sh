#!/usr/bin/env bash
# The abuse limits: HTTP_CONNECTION_LIMIT serves no connection beyond it,
# HTTP_CONNECTION_TIMEOUT_SECONDS closes idle and stalled connections (a slow
# client cannot pin a thread), and oversized headers are refused; memoryd
# serves normally afterwards. Two HTTP threads and an odd limit: the limit
# holds for the whole server, not a share of it per thread. Usage: tests/ops/limits.sh   (MEMORYD_BIN, REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init limits

mt_start_memoryd /healthz HTTP_THREADS=2 HTTP_CONNECTION_LIMIT=5 HTTP_CONNECTION_TIMEOUT_SECONDS=2
port="${MT_URL##*:}"
code() { curl -s -o /dev/null -m "${T:-3}" -w '%{http_code}' "$@" || true; }
[[ "$(code "$MT_URL/healthz")" == 200 ]] || mt_fail "not serving"

# 1. with four idle connections open a fifth is served (the limit is not
#    split between the threads); with five, a sixth is not (it waits
#    unaccepted until a slot frees)
exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$port" \
    5<>"/dev/tcp/127.0.0.1/$port" 6<>"/dev/tcp/127.0.0.1/$port"
sleep 0.4
c="$(T=0.8 code "$MT_URL/healthz")"
[[ "$c" == 200 ]] || mt_fail "a fifth connection was not served under HTTP_CONNECTION_LIMIT=5 ($c)"
exec 8<>"/dev/tcp/127.0.0.1/$port"
sleep 0.4
c="$(T=0.8 code "$MT_URL/healthz")"
[[ "$c" != 200 ]] || mt_fail "a sixth connection was served beyond HTTP_CONNECTION_LIMIT=5"

# 2. idle ones are closed after the timeout, and the server serves again
served() { [[ "$(code "$MT_URL/healthz")" == 200 ]]; }
mt_until 60 served || mt_fail "idle connections were not closed after HTTP_CONNECTION_TIMEOUT_SECONDS=2"
exec 3>&- 4>&- 5>&- 6>&- 8>&-

# 3. a client that stalls in the middle of its headers is cut off
exec 7<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&7
start=$SECONDS
timeout 10 cat <&7 >/dev/null || true
took=$((SECONDS - start))
exec 7>&-
((took < 10)) || mt_fail "a stalled request held its connection for 10 s"

# 4. headers beyond what one connection may hold (16 KiB with the request
#    line) are refused, not buffered; 8 KB of them are served
mid="$(head -c 8000 /dev/zero | tr '\0' a)"
c="$(code -H "X-Mid: $mid" "$MT_URL/healthz")"
[[ "$c" == 200 ]] || mt_fail "an 8 KB header was answered $c"
big="$(head -c 100000 /dev/zero | tr '\0' a)"
c="$(code -H "X-Big: $big" "$MT_URL/healthz")"
[[ "$c" == 431 || "$c" == 413 || "$c" == 000 ]] || mt_fail "a 100 KB header was answered $c"
[[ "$(code "$MT_URL/healthz")" == 200 ]] || mt_fail "not serving after the oversized header"

mt_stop_memoryd
echo "limits: sixth connection not served, idle closed, stalled cut after ${took}s, big header $c"
echo "4 passed, 0 failed"
