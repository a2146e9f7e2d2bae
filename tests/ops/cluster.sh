#!/usr/bin/env bash
# A Redis Cluster on loopback (scripts/lib.sh start_redis_cluster: 3 primaries
# with a replica each) and service/redis/cluster.h against it:
#  - independently of cluster.c, redis-cli says 3 primaries own all 16384
#    slots, each primary with one replica, every node cluster_state:ok;
#  - tests/ops/cluster_live.c (the binary given) reads the nodes' CLUSTER
#    SLOTS into the map, checks cluster_key_slot against CLUSTER KEYSLOT for
#    memoryd's key shapes and random keys, routes by the map, and reads real
#    MOVED and ASK answers;
#  - stop_all stops all six servers.
# Usage: tests/ops/cluster.sh <cluster_live binary>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

live="${1:?usage: tests/ops/cluster.sh <cluster_live binary>}"
mt_init cluster
start_redis_cluster "$MT_WORK/cluster"
[[ "$REDIS_CLUSTER_NODES" =~ ^(127\.0\.0\.1:[0-9]+,){5}127\.0\.0\.1:[0-9]+$ ]] ||
    mt_fail "REDIS_CLUSTER_NODES is '$REDIS_CLUSTER_NODES'"
for port in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    ((port < 55535)) || mt_fail "port $port leaves no room for its bus port"
done

# CLUSTER NODES: <id> <addr> <flags> <primary id> ... <link> <slot ranges...>
port="${STARTED_REDIS_CLUSTER_PORTS[0]}"
redis-cli -h 127.0.0.1 -p "$port" CLUSTER NODES | tr -d '\r' >"$MT_WORK/nodes"
primaries="$(awk '$3 ~ /master/' "$MT_WORK/nodes" | wc -l)"
replicas="$(awk '$3 ~ /slave/' "$MT_WORK/nodes" | wc -l)"
((primaries == 3 && replicas == 3)) || mt_fail "$primaries primaries and $replicas replicas"
slots="$(awk '$3 ~ /master/ { for (i = 9; i <= NF; i++) { n = split($i, r, "-");
    s += n == 2 ? r[2] - r[1] + 1 : 1 } } END { print s }' "$MT_WORK/nodes")"
((slots == 16384)) || mt_fail "the primaries own $slots slots, not 16384"
for id in $(awk '$3 ~ /master/ { print $1 }' "$MT_WORK/nodes"); do
    n="$(awk -v id="$id" '$4 == id' "$MT_WORK/nodes" | wc -l)"
    ((n == 1)) || mt_fail "primary $id has $n replicas"
done
for port in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    redis-cli -h 127.0.0.1 -p "$port" CLUSTER INFO | grep -q '^cluster_state:ok' ||
        mt_fail "node $port is not cluster_state:ok"
done
echo "cluster: redis-cli: 3 primaries own all 16384 slots, one replica each, all nodes ok"

"$live" || mt_fail "cluster_live failed"

pids=("${STARTED_REDIS_CLUSTER_PIDS[@]}")
stop_all
for pid in "${pids[@]}"; do
    pid_alive "$pid" && mt_fail "redis-server $pid still runs after stop_all"
done
echo "cluster: ok"
