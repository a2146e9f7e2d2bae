#!/usr/bin/env bash
# Rolling restarts drop nothing (issue 19). Usage: tests/ops/drain.sh
# (MEMORYD_BIN, REDIS_URL from scripts/test)
#
# 1. Keep-alive load: 8 connections put checkpoints in a loop
#    (keepalive_client.py), with idle keep-alive connections open on PORT
#    and METRICS_PORT beside them, and memoryd gets SIGTERM. Every request
#    gets a whole answer (no reset, no read error), the connections end with
#    Connection: close or closed idle, the clients are refused afterwards,
#    /readyz answered 503 on the closing answers, memoryd exits 0 within 2 s
#    (SHUTDOWN_GRACE_SECONDS=10: the idle connections did not hold it), and
#    every acknowledged put is in Redis.
# 2. A request that is really stuck (an upload at 20 KB/s): while it holds
#    memoryd past SIGTERM, METRICS_PORT answers /readyz 503 with
#    Connection: close, PORT refuses new connections, and memoryd exits 0 at
#    SHUTDOWN_GRACE_SECONDS, saying so.
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init drain
T="drain-$$"
ms() { local t="${EPOCHREALTIME//[.,]/}"; echo "$((10#$t / 1000))"; }

# waits for memoryd to exit (at most 15 s); prints the milliseconds since $1
wait_exit() {
    local i
    for ((i = 0; i < 1500; i++)); do
        pid_alive "$MT_PID" || break
        sleep 0.01
    done
    echo "$(($(ms) - $1))"
}

# finish: memoryd's exit status must be 0 and its log clean
reap() {
    local st=0
    wait "$MT_PID" || st=$?
    MT_PID=""
    ((st == 0)) || mt_fail "memoryd exited $st on SIGTERM"
    if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$MT_WORK/log"; then
        mt_fail "sanitizer error in memoryd's log"
    fi
}

# ---- 1. keep-alive load
mport="$(free_port)"
mt_start_memoryd /readyz HTTP_THREADS=2 SHUTDOWN_GRACE_SECONDS=10 METRICS_PORT="$mport"
port="${MT_URL##*:}"
# idle keep-alive connections: one answered request each, then nothing
exec 3<>"/dev/tcp/127.0.0.1/$port" 4<>"/dev/tcp/127.0.0.1/$mport"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&3
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&4
read -r -t 5 line3 <&3 && read -r -t 5 line4 <&4 || mt_fail "no answer on the idle connections"
[[ "$line3 $line4" == *" 200 "*" 200 "* ]] || mt_fail "idle connections answered $line3 / $line4"

python3 "$ROOT/tests/ops/keepalive_client.py" "$MT_URL" "$T" 8 "$MT_WORK/acks" "$MT_WORK/summary" \
    2>"$MT_WORK/client.err" &
client=$!
acked() { [[ -f "$MT_WORK/acks" ]] && (($(wc -l <"$MT_WORK/acks") >= 400)); }
mt_until 300 acked || mt_fail "the clients were not acknowledged 400 puts in 30 s"
kill -TERM "$MT_PID"
t0="$(ms)"
took="$(wait_exit "$t0")"
reap
crc=0
wait "$client" || crc=$?
[[ -f "$MT_WORK/summary" ]] || mt_fail "the client left no summary: $(cat "$MT_WORK/client.err")"
summary="$(cat "$MT_WORK/summary")"
echo "load: $summary"
echo "memoryd exited $took ms after SIGTERM"
((crc == 0)) || mt_fail "a client saw an error: $(jq -c .errors <<<"$summary")"
((took < 2000)) || mt_fail "memoryd took $took ms to exit after SIGTERM (SHUTDOWN_GRACE_SECONDS=10)"
[[ "$(jq -r .refused <<<"$summary")" == 8 ]] || mt_fail "not every client ended refused: $summary"
(($(jq -r .closed_by_answer <<<"$summary") >= 1)) || mt_fail "no answer said Connection: close"
[[ "$(jq -r '.readyz_closing | keys | join(",")' <<<"$summary")" =~ ^(503)?$ ]] ||
    mt_fail "/readyz answered other than 503 while closing: $summary"
[[ "$(jq -r '.answers == .requests' <<<"$summary")" == true ]] || mt_fail "requests without answers"
grep -q 'grace period over' "$MT_WORK/log" && mt_fail "memoryd waited out the grace period"
# the idle connections were closed (memoryd is gone, so they would be anyway:
# what matters is that they did not hold it, above)
timeout 2 cat <&3 >/dev/null || mt_fail "the idle connection on PORT was not closed"
timeout 2 cat <&4 >/dev/null || mt_fail "the idle connection on METRICS_PORT was not closed"
exec 3<&- 4<&-
nacks="$(wc -l <"$MT_WORK/acks")"
missing="$(sed "s/.*/EXISTS langgraph:checkpoint:{$T:&}::1/" "$MT_WORK/acks" |
    redis-cli -u "$REDIS_URL" | grep -cvx 1 || true)"
((missing == 0)) || mt_fail "$missing of $nacks acknowledged puts are not in Redis"
redis-cli -u "$REDIS_URL" --scan --pattern "langgraph:*{$T:*" | xargs -r redis-cli -u "$REDIS_URL" UNLINK >/dev/null

# ---- 2. a stuck request: the grace period, and the probes meanwhile
mport="$(free_port)"
mt_start_memoryd /readyz SHUTDOWN_GRACE_SECONDS=2 METRICS_PORT="$mport" HTTP_CONNECTION_TIMEOUT_SECONDS=60
head -c 300000 /dev/zero | tr '\0' a | sed 's/.*/{"thread_id":"slow","pad":"&"}/' >"$MT_WORK/slow.json"
curl -s -o /dev/null -w '%{http_code}' --limit-rate 20K -X POST -H 'Content-Type: application/json' \
    -H "X-Tenant-Id: $T" --data-binary "@$MT_WORK/slow.json" "$MT_URL/checkpoints" >"$MT_WORK/slow.code" &
slow=$!
uploading() { ss -Htn state established "( dport = :${MT_URL##*:} )" | grep -q .; }
mt_until 50 uploading || mt_fail "the slow upload did not start"
kill -TERM "$MT_PID"
t0="$(ms)"
draining() { grep -q '"msg":"shutting down"' "$MT_WORK/log"; }
mt_until 50 draining || mt_fail "memoryd did not log its shutdown"
head="$(curl -s -D - -o /dev/null "http://127.0.0.1:$mport/readyz")"
[[ "$head" == "HTTP/1.1 503 "* ]] || mt_fail "METRICS_PORT /readyz while draining: $head"
grep -qi '^Connection: close' <<<"$head" || mt_fail "METRICS_PORT answered without Connection: close: $head"
c="$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$MT_URL/healthz" || true)"
[[ "$c" == 000 ]] || mt_fail "PORT took a new connection while draining ($c)"
took="$(wait_exit "$t0")"
reap
wait "$slow" || true
echo "stuck upload: memoryd exited $took ms after SIGTERM (grace 2 s), the upload got $(cat "$MT_WORK/slow.code")"
((took >= 1900 && took < 4000)) || mt_fail "with a stuck request memoryd exited after $took ms, not at the 2 s grace"
grep -q '"msg":"shutdown grace period over with connections open"' "$MT_WORK/log" ||
    mt_fail "the grace period's end was not logged"
echo "2 passed, 0 failed"
