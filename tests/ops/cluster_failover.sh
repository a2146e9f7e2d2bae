#!/usr/bin/env bash
# Redis Cluster failovers under a running memoryd (issue 17): scripts/lib.sh's
# 3 primaries with a replica each (cluster-node-timeout 2000), memoryd given
# all six (REDIS_CLUSTER_NODES), and six writers (cluster_load.py: checkpoint
# puts and conversation appends over 24 threads and 24 conversations, so every
# primary is written; each acknowledged write in a ledger).
#  - Without argument: CLUSTER FAILOVER on one primary's replica (the replica
#    promoted, the primary demoted: MOVED to whoever still writes there).
#    memoryd writes on the new primary within 5 s of the command.
#  - With argument "wait": REDIS_WAIT_REPLICAS=1 (and a second replica for
#    that primary, so the shard still has a replica after the failover). Both
#    replicas stopped (SIGSTOP), their links cut and the primary SIGKILLed
#    0.5 s later, as ops_sentinel_wait does: what it took in between reached no
#    replica and was answered 503. The cluster promotes a replica once the
#    primary has been silent for the node timeout; memoryd writes on it within
#    5 s of the promotion.
#  - With argument "stop": as "wait", but the primary is SIGSTOPped, a host
#    gone silent: its connections are neither refused nor closed, each round
#    trip to it costs REDIS_SOCKET_TIMEOUT_MS. memoryd writes on the promoted
#    replica within 5 s; the old primary is continued afterwards and comes
#    back as a replica.
# Then every write acknowledged over the run is read back through memoryd,
# and the figures printed: the time to write again, the writers' gap on each
# primary, the answers' statuses.
# Usage: tests/ops/cluster_failover.sh [wait|stop]   (MEMORYD_BIN from scripts/test)
# CLUSTER_FAILOVER_KEEP=DIR keeps the work directory (see below);
# CLUSTER_FAILOVER_FULL_COVERAGE=no sets cluster-require-full-coverage no on
# every node (the other primaries keep serving while one is down).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mode="${1:-}"
name="cluster_failover${mode:+_$mode}"
mt_init "$name"
# CLUSTER_FAILOVER_KEEP=DIR: the work directory (memoryd's log, the ledger, the
# nodes' logs) copied there at the end.
[[ -n "${CLUSTER_FAILOVER_KEEP:-}" ]] && trap 'cp -r "$MT_WORK" "$CLUSTER_FAILOVER_KEEP"; _mt_cleanup' EXIT
LOAD="$ROOT/tests/ops/cluster_load.py"
tenant=cf
start_redis_cluster "$MT_WORK/cluster"
coverage="${CLUSTER_FAILOVER_FULL_COVERAGE:-yes}"
for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    redis-cli -p "$p" CONFIG SET cluster-require-full-coverage "$coverage" >/dev/null
done
rc() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }
role_is() { [[ "$(rc "$1" ROLE 2>/dev/null | head -1)" == "$2" ]]; }
now_ns() { date +%s%N; }
say() { echo "$name: $*"; }

# The primary to fail over: the first; its replica.
target="" replicas=()
for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    if [[ -z "$target" ]] && role_is "$p" master; then target="$p"; fi
done
for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    [[ "$(rc "$p" ROLE | sed -n 1p)" == slave && "$(rc "$p" ROLE | sed -n 3p)" == "$target" ]] &&
        replicas+=("$p")
done
((${#replicas[@]} == 1)) || mt_fail "primary $target has ${#replicas[@]} replicas, want 1"
linked() { [[ "$(rc "$1" ROLE | sed -n 4p)" == connected ]]; }
knows() { [[ "$(rc "$1" CLUSTER NODES | grep -vc 'fail\|handshake\|noaddr')" == "$2" ]]; }

event="command"
[[ $mode == wait ]] && event="kill"
[[ $mode == stop ]] && event="stop"
if [[ -n $mode ]]; then
    # A second replica for the target.
    p7="$(free_cluster_port)"
    start_redis_cluster_node "$MT_WORK/cluster" "$p7"
    mt_until 100 rc "$p7" PING >/dev/null 2>&1 || mt_fail "the seventh node never answered"
    rc "$p7" CONFIG SET cluster-require-full-coverage "$coverage" >/dev/null
    redis-cli --cluster add-node "127.0.0.1:$p7" "127.0.0.1:$target" --cluster-slave \
        --cluster-master-id "$(rc "$target" CLUSTER MYID)" >"$MT_WORK/add-node.log" 2>&1 ||
        mt_fail "add-node: $(tail -3 "$MT_WORK/add-node.log")"
    mt_until 300 linked "$p7" || mt_fail "the seventh node never synced with $target"
    for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}" "$p7"; do
        mt_until 300 knows "$p" 7 || mt_fail "node $p does not know the seventh node"
    done
    replicas+=("$p7")
fi

mt_start_memoryd /readyz REDIS_URL="redis://${REDIS_CLUSTER_NODES%%,*}/0" \
    REDIS_CLUSTER_NODES="$REDIS_CLUSTER_NODES" KEY_PREFIX=cf CONV_KEY_PREFIX=cfc \
    CONV_MAX_MESSAGES=1000000 REDIS_CONNECT_TIMEOUT_MS=300 REDIS_SOCKET_TIMEOUT_MS=1000 \
    ${mode:+REDIS_WAIT_REPLICAS=1 REDIS_WAIT_TIMEOUT_MS=500}

put() { # THREAD ID -> HTTP status
    curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'Content-Type: application/json' \
        -H "X-Tenant-Id: $tenant" --data "{\"thread_id\":\"$1\",\"checkpoint_id\":\"$2\",
        \"checkpoint\":{\"id\":\"$2\",\"channel_versions\":{}}}" "$MT_URL/checkpoints" || echo 000
}
ckey() { printf 'cf:checkpoint:{%s:%s}::%s' "$tenant" "$1" "$2"; }
# A thread whose slot the target serves (elsewhere EXISTS answers MOVED).
probe=""
for i in $(seq 0 200); do
    if [[ "$(rc "$target" EXISTS "$(ckey "probe-$i" x)")" == 0 ]]; then
        probe="probe-$i"
        break
    fi
done
[[ -n "$probe" ]] || mt_fail "no probe thread on $target's slots"
[[ "$(put "$probe" 1ef0)" == 201 ]] || mt_fail "a put on the cluster"
[[ "$(rc "$target" EXISTS "$(ckey "$probe" 1ef0)")" == 1 ]] || mt_fail "the put is not on $target"

python3 "$LOAD" write "$MT_URL" "$tenant" 6 "$MT_WORK" &
load=$!
acked() { [[ -s "$MT_WORK/ledger" ]] && (($(wc -l <"$MT_WORK/ledger") >= $1)); }
mt_until 200 acked 300 || mt_fail "the writers acknowledged under 300 writes in 20 s"
for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    role_is "$p" master || continue
    (($(rc "$p" DBSIZE) > 10)) || mt_fail "primary $p holds $(rc "$p" DBSIZE) keys: not every primary is written"
done
say "$(wc -l <"$MT_WORK/ledger") writes acknowledged before the failover, every primary written"

t_cmd="$(now_ns)"
pid="" i=0
for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    [[ "$p" == "$target" ]] && pid="${STARTED_REDIS_CLUSTER_PIDS[i]}"
    i=$((i + 1))
done
if [[ $mode == wait ]]; then
    rpids=()
    for p in "${replicas[@]}"; do rpids+=("$(rc "$p" INFO server | tr -d '\r' | sed -n 's/^process_id://p')"); done
    kill -STOP "${rpids[@]}"
    rc "$target" CLIENT KILL TYPE replica >/dev/null
    sleep 0.5
    kill -KILL "$pid"
    t_cmd="$(now_ns)"
    kill -CONT "${rpids[@]}"
    what="SIGKILL of primary $target"
elif [[ $mode == stop ]]; then
    kill -STOP "$pid"
    t_cmd="$(now_ns)"
    what="SIGSTOP of primary $target"
else
    rc "${replicas[0]}" CLUSTER FAILOVER >/dev/null
    what="CLUSTER FAILOVER of primary $target"
fi
new=""
for _ in $(seq 1 300); do
    for p in "${replicas[@]}"; do role_is "$p" master && new="$p"; done
    [[ -n "$new" ]] && break
    sleep 0.05
done
[[ -n "$new" ]] || mt_fail "$what: no replica was promoted within 15 s"
t_prom="$(now_ns)"
say "$what: replica $new promoted $(((t_prom - t_cmd) / 1000000)) ms after the $event"

# memoryd writes on the new primary: a probe put found there.
n=0
while :; do
    n=$((n + 1))
    id="1eff$(printf '%08d' "$n")"
    if [[ "$(put "$probe" "$id")" == 201 && "$(rc "$new" EXISTS "$(ckey "$probe" "$id")")" == 1 ]]; then
        break
    fi
    (($(now_ns) - t_prom < 15000000000)) || mt_fail "$what: nothing written on $new within 15 s"
    sleep 0.05
done
t_ok="$(now_ns)"
ms=$(((t_ok - t_prom) / 1000000))
say "$what: memoryd writes on $new $ms ms after the promotion ($(((t_ok - t_cmd) / 1000000)) ms after the $event)"
if [[ -n $mode ]]; then
    ((ms <= 5000)) || mt_fail "$what: $ms ms (> 5000) from the promotion to a write on $new"
else
    ((t_ok - t_cmd <= 5000000000)) ||
        mt_fail "$what: $(((t_ok - t_cmd) / 1000000)) ms (> 5000) from the command to a write on $new"
fi

before="$(wc -l <"$MT_WORK/ledger")"
sleep 2 # the writers on the new map
touch "$MT_WORK/stop"
wait "$load"
after="$(wc -l <"$MT_WORK/ledger")"
((after > before)) || mt_fail "the writers acknowledged nothing after the failover"
if [[ $mode == stop ]]; then
    kill -CONT "$pid"
    back() { [[ "$(rc "$target" ROLE | sed -n 1p)" == slave ]]; }
    mt_until 100 back || mt_fail "the old primary $target did not come back as a replica"
    say "the old primary $target is back, a replica"
fi
rc "$new" CLUSTER NODES >"$MT_WORK/nodes"
python3 "$LOAD" shards "$tenant" "$MT_WORK" "$MT_WORK/nodes" "$t_cmd" "$t_prom" |
    sed "s/^/$name: primary /; s/T0/the $event/g"
say "answers over the run (status: count): $(cat "$MT_WORK/codes.json")"
out="$(python3 "$LOAD" check "$MT_URL" "$tenant" "$MT_WORK")" ||
    mt_fail "acknowledged writes missing: $out"
say "read back through memoryd: $out"
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' "$MT_URL/readyz")" == 200 ]]; }
mt_until 50 ready || mt_fail "/readyz after the failover"
mt_stop_memoryd
say ok
