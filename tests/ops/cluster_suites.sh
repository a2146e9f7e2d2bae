#!/usr/bin/env bash
# memoryd on a Redis Cluster (scripts/lib.sh start_redis_cluster: 3 primaries
# with a replica each), REDIS_CLUSTER_NODES naming all six nodes:
#  - the Python client's suite, LangGraph's checkpointer conformance suite
#    included, its store and chat history tests reading what the cluster
#    holds with redis-cli -c;
#  - the JS client's suite, LangGraph JS's checkpoint validation suite (every
#    group) and a StateGraph run included;
#  - then every primary holds memoryd's keys (the hash tags spread threads,
#    conversations and tenants over the slots), and a SCAN through memoryd
#    (POST /admin/ttl-repair walks every primary) finds nothing to repair.
# Usage: tests/ops/cluster_suites.sh <python of the test venv>
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

python="${1:?usage: tests/ops/cluster_suites.sh <python>}"
mt_init cluster_suites
start_redis_cluster "$MT_WORK/cluster"
REDIS_URL="redis://${REDIS_CLUSTER_NODES%%,*}/0"
export REDIS_URL REDIS_CLUSTER_NODES ADMIN_TOKEN=adm-cluster-suites-token

PYTHONPATH="$ROOT/clients/python/src" PYTHONDONTWRITEBYTECODE=1 \
    "$ROOT/tests/with-memoryd.sh" "$python" -m pytest -p no:cacheprovider -q -rfEs \
    --rootdir="$ROOT/clients/python" "$ROOT/clients/python/tests" ||
    mt_fail "the Python suite failed on the cluster"
"$ROOT/tests/with-memoryd.sh" npm --prefix "$ROOT/clients/js" test ||
    mt_fail "the JS suite failed on the cluster"

for port in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    role="$(redis-cli -p "$port" ROLE | head -1)"
    [[ "$role" == master ]] || continue
    n="$(redis-cli -p "$port" DBSIZE)"
    ((n > 100)) || mt_fail "primary $port holds $n keys: the work did not spread"
    echo "cluster_suites: primary $port holds $n keys"
done

mt_start_memoryd /readyz REDIS_URL="$REDIS_URL" REDIS_CLUSTER_NODES="$REDIS_CLUSTER_NODES" \
    ADMIN_TOKEN="$ADMIN_TOKEN"
out="$(curl -sf -X POST "$MT_URL/admin/ttl-repair" -H "Authorization: Bearer $ADMIN_TOKEN")" ||
    mt_fail "ttl-repair failed"
echo "cluster_suites: ttl-repair: $out"
scanned="$(jq -r '.scanned' <<<"$out")"
total=0
for port in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    [[ "$(redis-cli -p "$port" ROLE | head -1)" == master ]] || continue
    total=$((total + $(redis-cli -p "$port" --scan --pattern 'langgraph:*' | wc -l)))
done
((scanned >= total)) || mt_fail "ttl-repair scanned $scanned langgraph:* keys of $total"
[[ "$(jq -r '.fixed' <<<"$out")" == 0 ]] || mt_fail "keys without a TTL: $out"
mt_stop_memoryd
echo "cluster_suites: ok"
