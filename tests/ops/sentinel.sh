#!/usr/bin/env bash
# Redis Sentinel under a running memoryd: a primary, two replicas and three
# sentinels on loopback; memoryd finds the primary through the sentinels
# (REDIS_SENTINELS, REDIS_SENTINEL_MASTER; REDIS_URL's host is a dead port).
# Under two writers: SENTINEL FAILOVER (the replica promoted, the old primary
# demoted to a replica: READONLY to whoever still writes there), then a
# SIGKILL of the new primary (the sentinels promote the other). After each,
# memoryd writes again within 5 s of the sentinels' switch, and every write
# acknowledged after the switch is on the new primary; memoryd never writes
# to a replica.
# With argument "wait": memoryd runs with REDIS_WAIT_REPLICAS=1 and answers
# say how many replicas acknowledged (X-Memory-Replicas); the primary is SIGKILLed under the writers (the
# sentinels promote the replica furthest along), and not one write
# acknowledged over the whole run is missing from the new primary. (A
# SENTINEL FAILOVER can still lose writes under WAIT: the old primary keeps
# taking them, acknowledged by the replica not yet moved, until it is
# demoted; README says so.)
# Usage: tests/ops/sentinel.sh [wait]   (MEMORYD_BIN from scripts/test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mode="${1:-}"
mt_init "sentinel${mode:+-$mode}"
[[ -n "${SENTINEL_DEBUG:-}" ]] && trap 'cat "$MT_WORK"/s*/log >&2; _mt_cleanup' EXIT

ports=()
while ((${#ports[@]} < 6)); do
    p="$(free_port)"
    [[ " ${ports[*]} " == *" $p "* ]] || ports+=("$p")
done
pa="${ports[0]}" pb="${ports[1]}" pc="${ports[5]}"
start_redis "$MT_WORK/a" "$pa"
start_redis "$MT_WORK/b" "$pb"
pb_pid="$STARTED_REDIS_PID"
start_redis "$MT_WORK/c" "$pc"
rc() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
# a full sync at once, not after the 5 s a diskless sync waits for more replicas
for p in "$pa" "$pb" "$pc"; do rc "$p" CONFIG SET repl-diskless-sync-delay 0 >/dev/null; done
rc "$pb" REPLICAOF 127.0.0.1 "$pa" >/dev/null
rc "$pc" REPLICAOF 127.0.0.1 "$pa" >/dev/null
# Conditions for mt_until, which runs its command again each time (a "$(...)"
# in its arguments would be read once).
synced() { [[ "$(rc "$1" ROLE | sed -n 4p)" == connected ]]; }
role_is() { [[ "$(rc "$1" ROLE 2>/dev/null | head -1)" == "$2" ]]; }
count_is() { [[ "$(rc "$1" SENTINEL "$2" mm 2>/dev/null | grep -c '^name$')" == "$3" ]]; }
mt_until 200 synced "$pb" || mt_fail "replica b never synced"
mt_until 200 synced "$pc" || mt_fail "replica c never synced"

sentinels=""
for s in "${ports[@]:2:3}"; do
    mkdir -p "$MT_WORK/s$s"
    cat >"$MT_WORK/s$s/sentinel.conf" <<CONF
port $s
bind 127.0.0.1
daemonize no
dir $MT_WORK/s$s
sentinel monitor mm 127.0.0.1 $pa 2
sentinel down-after-milliseconds mm 1000
sentinel failover-timeout mm 4000
sentinel parallel-syncs mm 1
CONF
    redis-server "$MT_WORK/s$s/sentinel.conf" --sentinel >"$MT_WORK/s$s/log" 2>&1 &
    _MEMORYD_STARTED+=("redis $! $MT_WORK/s$s")
    sentinels+="${sentinels:+,}127.0.0.1:$s"
done
for s in "${ports[@]:2:3}"; do
    mt_until 200 count_is "$s" SENTINELS 2 ||
        mt_fail "sentinel $s never saw the other two"
    mt_until 200 count_is "$s" REPLICAS 2 ||
        mt_fail "sentinel $s never saw the replicas"
done

dead="$(free_port)" # REDIS_URL's host: nothing listens there
mt_start_memoryd /readyz REDIS_URL="redis://127.0.0.1:$dead/0" REDIS_SENTINELS="$sentinels" \
    REDIS_SENTINEL_MASTER=mm KEY_PREFIX=sent HTTP_THREADS=2 REDIS_CONNECT_TIMEOUT_MS=300 \
    REDIS_SOCKET_TIMEOUT_MS=1000 ${mode:+REDIS_WAIT_REPLICAS=1 REDIS_WAIT_TIMEOUT_MS=500}
grep -q '"msg":"redis primary from sentinel".*"port":'"$pa" "$MT_WORK/log" ||
    mt_fail "memoryd did not log the sentinels' primary"

tenant=sentinel
put() { # THREAD ID -> HTTP status
    curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'Content-Type: application/json' \
        -H "X-Tenant-Id: $tenant" --data "{\"thread_id\":\"$1\",\"checkpoint_id\":\"$2\",
        \"checkpoint\":{\"id\":\"$2\",\"channel_versions\":{}}}" "$MT_URL/checkpoints" || echo 000
}
ckey() { printf 'sent:checkpoint:{%s:%s}::%s' "$tenant" "$1" "$2"; }
[[ "$(put first 1ef0)" == 201 ]] || mt_fail "a put through the sentinels' primary"
[[ "$(rc "$pa" EXISTS "$(ckey first 1ef0)")" == 1 ]] || mt_fail "the put is not on the primary"
if [[ $mode == wait ]]; then
    replicas="$(curl -s -D - -o /dev/null -X POST -H 'Content-Type: application/json' \
        -H "X-Tenant-Id: $tenant" --data '{"thread_id":"h","checkpoint_id":"1ef1","checkpoint":{"id":"1ef1","channel_versions":{}}}' \
        "$MT_URL/checkpoints" | tr -d '\r' | sed -n 's/^X-Memory-Replicas: //Ip')"
    [[ "$replicas" =~ ^[12]$ ]] || mt_fail "X-Memory-Replicas is '$replicas', want 1 or 2 (WAIT's count)"
    [[ "$(rc "$pb" EXISTS "$(ckey h 1ef1)")$(rc "$pc" EXISTS "$(ckey h 1ef1)")" == *1* ]] ||
        mt_fail "an acknowledged write is on neither replica"
fi

writer() {
    local w="$1" i=0 code id
    while [[ -d "$MT_WORK" && ! -e "$MT_WORK/stop" ]]; do # ends with the test
        i=$((i + 1))
        id="$(printf '1ef%02d%012d' "$w" "$i")"
        code="$(put "w$w" "$id")"
        [[ "$code" == 201 ]] && echo "$(date +%s%N) w$w $id" >>"$MT_WORK/acked"
        echo "$code" >>"$MT_WORK/codes"
    done
}

# switch_and_check WHAT NEW: once the sentinels name NEW, memoryd writes to
# it within 5 s (a probe write found on NEW), and every write it acknowledges
# from then on is on NEW. Writes the old primary took between the sentinels'
# promotion of NEW and memoryd hearing of it (+switch-master; the old primary
# is not demoted yet) are Sentinel's known window: counted, not failed.
names() { [[ "$(rc "$1" SENTINEL GET-MASTER-ADDR-BY-NAME mm 2>/dev/null | sed -n 2p)" == "$2" ]]; }
switch_and_check() {
    local what="$1" new="$2" t0 ms n=0 s="${ports[2]}" late absent window at thread id
    mt_until 300 names "$s" "$new" || mt_fail "$what: the sentinels never named $new"
    mt_until 300 role_is "$new" master || mt_fail "$what: $new never became a primary"
    t0="$(date +%s%N)"
    while :; do
        n=$((n + 1))
        if [[ "$(put "probe-$what" "1eff$(printf '%08d' "$n")")" == 201 &&
            "$(rc "$new" EXISTS "$(ckey "probe-$what" "1eff$(printf '%08d' "$n")")")" == 1 ]]; then
            break
        fi
        (($(date +%s%N) - t0 < 10000000000)) || mt_fail "$what: nothing written to $new within 10 s"
        sleep 0.05
    done
    ms=$((($(date +%s%N) - t0) / 1000000))
    local since
    since="$(date +%s%N)"
    echo "sentinel: $what: writes on the new primary $ms ms after the switch"
    ((ms <= 5000)) || mt_fail "$what: memoryd took $ms ms (> 5000) to write on the new primary"
    sleep 1 # the writers run on the new primary
    for window in after before; do
        while read -r at thread id; do
            if [[ $window == after ]] && ((at > since)); then echo "EXISTS $(ckey "$thread" "$id")"; fi
            if [[ $window == before ]] && ((at > t0 - 2000000000 && at <= since)); then
                echo "EXISTS $(ckey "$thread" "$id")"
            fi
        done <"$MT_WORK/acked" >"$MT_WORK/exists.$window"
    done
    late="$(wc -l <"$MT_WORK/exists.after")"
    absent="$(rc "$new" <"$MT_WORK/exists.after" | grep -vc '^1$' || true)"
    ((late > 0)) || mt_fail "$what: the writers acknowledged nothing after the switch"
    ((absent == 0)) || mt_fail "$what: $absent of $late writes acknowledged after the switch are not on $new"
    echo "sentinel: $what: $late writes acknowledged after the switch, all on the new primary;" \
        "of the $(wc -l <"$MT_WORK/exists.before") acknowledged in the 2 s before, $(rc "$new" \
        <"$MT_WORK/exists.before" | grep -vc '^1$' || true) are not on it (the old primary's window)"
}

writer 1 &
w1=$!
writer 2 &
w2=$!
mt_until 100 test -s "$MT_WORK/acked" || mt_fail "no write acknowledged before the failover"

if [[ $mode == wait ]]; then
    pa_pid="$(rc "$pa" INFO server | tr -d '\r' | sed -n 's/^process_id://p')"
    # The replicas stopped (SIGSTOP) and their links cut, the primary killed
    # 0.5 s later, the replicas continued: what the primary took in between
    # reached no replica. Without WAIT those writes were acknowledged and are
    # lost; with it they were answered 503.
    pb_now="$(rc "$pb" INFO server | tr -d '\r' | sed -n 's/^process_id://p')"
    pc_now="$(rc "$pc" INFO server | tr -d '\r' | sed -n 's/^process_id://p')"
    kill -STOP "$pb_now" "$pc_now"
    rc "$pa" CLIENT KILL TYPE replica >/dev/null
    sleep 0.5
    kill -KILL "$pa_pid"
    kill -CONT "$pb_now" "$pc_now"
    new=""
    for _ in $(seq 1 300); do
        for p in "$pb" "$pc"; do role_is "$p" master && new="$p"; done
        [[ -n "$new" ]] && break
        sleep 0.1
    done
    [[ -n "$new" ]] || mt_fail "no replica was promoted"
    switch_and_check kill "$new"
    sleep 1
    while read -r _ thread id; do echo "EXISTS $(ckey "$thread" "$id")"; done <"$MT_WORK/acked" >"$MT_WORK/exists.all"
    lost="$(rc "$new" <"$MT_WORK/exists.all" | grep -vc '^1$' || true)"
    ((lost == 0)) || mt_fail "$lost of $(wc -l <"$MT_WORK/exists.all") acknowledged writes are lost"
    echo "sentinel: wait: all $(wc -l <"$MT_WORK/exists.all") acknowledged writes are on the new primary"
else
    # 1. A failover the sentinels run on request: b (c has the lower
    # priority) promoted, a demoted.
    rc "$pc" CONFIG SET replica-priority 200 >/dev/null
    rc "${ports[2]}" SENTINEL FAILOVER mm >/dev/null
    switch_and_check failover "$pb"
    mt_until 300 role_is "$pa" slave || mt_fail "the old primary was not demoted"
    # 2. The new primary dies: the sentinels promote c (a has the lower priority).
    rc "$pa" CONFIG SET replica-priority 200 >/dev/null
    rc "$pc" CONFIG SET replica-priority 100 >/dev/null
    kill -KILL "$pb_pid"
    switch_and_check kill "$pc"
fi

touch "$MT_WORK/stop"
wait "$w1" "$w2"
echo "sentinel: answers over the run: $(sort "$MT_WORK/codes" | uniq -c | tr -s ' \n' ' ')"
# memoryd read the sentinels' messages: it logs each one, whether it moved the
# address or confirmed one its per-second ask or a reconnect found first;
# +switch-master comes once the sentinels reconfigured the replicas, so it
# may still be on its way.
followed() { grep -Eq '"how":"\+(promoted-slave|switch-master)"' "$MT_WORK/log"; }
mt_until 100 followed || mt_fail "memoryd never read the sentinels' messages"
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/readyz")" == 200 ]]; }
mt_until 50 ready || mt_fail "/readyz after the failovers"
mt_stop_memoryd
echo "sentinel: ok"
