#!/usr/bin/env bash
# The C integration tests through memoryd on a Redis Cluster (issue 17):
# scripts/lib.sh start_redis_cluster (3 primaries with a replica each),
# memoryd and the tests given REDIS_CLUSTER_NODES and REDIS_URL naming the
# first node. tests/integration/redis_inspect.c follows MOVED and ASK for the
# tests' own Redis commands and scans every primary.
#  - test_memory: every case, and the non-default settings' cases
#    (integration_memory, integration_memory_settings);
#  - test_conversations: api, concurrency, bad_input and redis, with the
#    default and the non-default settings, trim_delete, and trim_archive with
#    DATABASE_URL (integration_conversations*; pg_rows is PostgreSQL as the
#    primary, no Redis in it: not run here);
#  - test_checkpoints: every case, ttl and hygiene with their settings
#    (integration_checkpoints, integration_ttl, integration_key_prefix);
#  - the bytes case of the three (integration_response_bytes);
#  - test_ops: admin (ttl-repair, tenant delete; /admin/backup answers 400 on
#    a cluster) and archive with DATABASE_URL (ops_admin, ops_archive);
#  - then every primary holds keys of the tests.
# Each with the environment its single-Redis CMake entry gives it. Not run:
# the cases counting Redis commands with MONITOR (it_redis_monitor), which
# sees one node's commands, not a cluster's (they return at once on a
# cluster: test_checkpoints' large-thread delete and bounded list read,
# test_memory's work budget, which only integration_memory_settings runs).
# Every run goes on after a failure; the test fails if any did.
# Usage: tests/ops/cluster_integration.sh TEST_MEMORY TEST_CONVERSATIONS TEST_CHECKPOINTS TEST_OPS
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

if (($# != 4)); then
    echo "usage: $0 TEST_MEMORY TEST_CONVERSATIONS TEST_CHECKPOINTS TEST_OPS" >&2
    exit 2
fi
t_memory="$1" t_conv="$2" t_cps="$3" t_ops="$4"
with="$ROOT/tests/with-memoryd.sh"

mt_init cluster_integration
start_redis_cluster "$MT_WORK/cluster"
REDIS_URL="redis://${REDIS_CLUSTER_NODES%%,*}/0"
export REDIS_URL REDIS_CLUSTER_NODES

passed=() failed=()
run() {
    local name="$1"
    shift
    echo "cluster_integration: $name" >&2
    if "$@"; then
        passed+=("$name")
    else
        failed+=("$name")
        echo "cluster_integration: $name FAILED" >&2
    fi
}
# "$with" sh -c "$loop" sh BINARY CASE...: each case in turn, through one memoryd.
# shellcheck disable=SC2016  # expanded by sh -c
loop='bin="$1"; shift; for c; do CK_RUN_CASE=$c "$bin" || exit 1; done'

run memory "$with" "$t_memory"
run memory_settings env MEMORY_ALLOW_PERSISTENT=1 MEMORY_DEFAULT_TTL_SECONDS=3600 \
    ADMIN_TOKEN=mem-admin-for-tests MEMORY_MAX_VALUE_BYTES=4096 KEY_PREFIX=it_mem_prefix \
    MEMORY_WORK_BUDGET=2000 "$with" sh -c "$loop" sh "$t_memory" ttl bad_input malformed glob_ids

run conversations "$with" sh -c "$loop" sh "$t_conv" api concurrency bad_input redis
run conversations_settings env CONV_TTL_SECONDS=4321 CONV_KEY_PREFIX=it_conv \
    CONV_WINDOW_DEFAULT=7 "$with" sh -c "$loop" sh "$t_conv" api redis
run conversations_trim_delete env -u DATABASE_URL CONV_MAX_MESSAGES=50 \
    CK_RUN_CASE=trim_delete "$with" "$t_conv"

run checkpoints "$with" "$t_cps"
run checkpoints_ttl env CHECKPOINT_TTL_SECONDS=4321 CK_RUN_CASE=ttl "$with" "$t_cps"
run checkpoints_key_prefix env KEY_PREFIX=it_custom_prefix CK_RUN_CASE=hygiene "$with" "$t_cps"
# shellcheck disable=SC2016  # expanded by sh -c
run response_bytes env RESPONSE_MAX_BYTES=65536 CK_RUN_CASE=bytes "$with" \
    sh -c '"$0" && "$1" && "$2"' "$t_cps" "$t_conv" "$t_memory"

run ops_admin env ADMIN_TOKEN=adm-secret-for-tests MEMORY_DEFAULT_TTL_SECONDS=7200 \
    CK_RUN_CASE=admin "$with" "$t_ops"

if [[ -n "${DATABASE_URL:-}" ]]; then
    run conversations_trim_archive env CONV_MAX_MESSAGES=50 DATABASE_STATEMENT_TIMEOUT_MS=300 \
        ADMIN_TOKEN=adm-secret-for-tests CK_RUN_CASE=trim_archive "$with" "$t_conv"
    run ops_archive env ARCHIVER_HEALTH_FILE="$MT_WORK/ops-archiver-health.json" \
        ADMIN_TOKEN=adm-secret-for-tests ARCHIVE_AFTER_SECONDS=3600 CONV_KEY_PREFIX=opsarch \
        KEY_PREFIX=opsarchk CK_RUN_CASE=archive "$with" "$t_ops"
else
    echo "cluster_integration: no DATABASE_URL: trim_archive and archive not run" >&2
fi

for port in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
    [[ "$(redis-cli -p "$port" ROLE | head -1)" == master ]] || continue
    n="$(redis-cli -p "$port" DBSIZE)"
    echo "cluster_integration: primary $port holds $n keys" >&2
    ((n > 100)) || failed+=("keys on primary $port ($n)")
done

echo "cluster_integration: passed: ${passed[*]}" >&2
((${#failed[@]} == 0)) || mt_fail "failed: ${failed[*]}"
echo "cluster_integration: ok"
