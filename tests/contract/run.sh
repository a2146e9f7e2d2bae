#!/usr/bin/env bash
# Usage: tests/contract/run.sh LOG TEST_CHECKPOINTS TEST_UNAVAILABLE TEST_OPS [TEST_CONVERSATIONS [TEST_MEMORY [TEST_FAILOVER]]]
# Runs the integration test binaries against a throwaway memoryd with
# MEMORYD_RESPONSE_LOG=LOG (every HTTP exchange, one JSON line each), then checks
# every logged response against openapi.yaml and schemas/ (validate.mjs).
#   TEST_CHECKPOINTS  against the Redis in REDIS_URL (from scripts/test)
#   TEST_UNAVAILABLE  against a memoryd whose Redis port is closed, for the 503s
#   TEST_OPS          its CK_RUN_CASE groups, each against a memoryd with the setting it
#                     needs (as tests/ops/CMakeLists.txt runs them): tokens (API_TOKENS),
#                     health, admin_off (no ADMIN_TOKEN), admin (ADMIN_TOKEN)
#   TEST_CONVERSATIONS  its groups api, bad_input and redis, against the REDIS_URL Redis
#   TEST_MEMORY       /memory, against the Redis in REDIS_URL
#   TEST_FAILOVER     its switch group (/admin/failover), on two replicas of its own
#                     (tests/failover/run.sh)
# Exit status: non-zero when a test binary or the validation fails (both always run).
set -euo pipefail

if (($# < 4 || $# > 7)); then
    echo "usage: $0 LOG TEST_CHECKPOINTS TEST_UNAVAILABLE TEST_OPS [TEST_CONVERSATIONS [TEST_MEMORY [TEST_FAILOVER]]]" >&2
    exit 2
fi
log="$1"
test_checkpoints="$2"
test_unavailable="$3"
test_ops="$4"
test_conversations="${5:-}"
test_memory="${6:-}"
test_failover="${7:-}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WITH_MEMORYD="$ROOT/tests/with-memoryd.sh"

if [[ ! -d "$ROOT/schemas/node_modules/ajv" || ! -d "$ROOT/schemas/node_modules/yaml" ]]; then
    echo "contract: schemas/node_modules is incomplete: run npm ci in schemas/ (scripts/test does)" >&2
    exit 2
fi

mkdir -p "$(dirname "$log")"
rm -f "$log"
: >"$log"
export MEMORYD_RESPONSE_LOG="$log"

rc=0
echo "contract: $test_checkpoints (REDIS_URL=${REDIS_URL:-unset})"
if ! "$WITH_MEMORYD" "$test_checkpoints"; then
    echo "contract: test_checkpoints failed; validating what it logged anyway" >&2
    rc=1
fi

echo "contract: $test_unavailable (Redis on a closed port)"
if ! env REDIS_URL=redis://127.0.0.1:1/0 REDIS_CONNECT_TIMEOUT_MS=200 \
    "$WITH_MEMORYD" "$test_unavailable"; then
    echo "contract: test_unavailable failed; validating what it logged anyway" >&2
    rc=1
fi

# test_ops: CK_RUN_CASE=CASE with the server environment that case expects.
run_ops() {
    local case_name="$1"
    shift
    echo "contract: $test_ops CK_RUN_CASE=$case_name $*"
    if ! env -u API_TOKENS -u ADMIN_TOKEN CK_RUN_CASE="$case_name" "$@" "$WITH_MEMORYD" "$test_ops"; then
        echo "contract: test_ops ($case_name) failed; validating what it logged anyway" >&2
        rc=1
    fi
}
run_ops tokens "API_TOKENS=tok-acme-for-tests:acme;tok-ops-for-tests:*"
run_ops health ADMIN_TOKEN=adm-secret-for-tests
run_ops admin_off
run_ops admin ADMIN_TOKEN=adm-secret-for-tests MEMORY_DEFAULT_TTL_SECONDS=7200
run_ops archive ADMIN_TOKEN=adm-secret-for-tests ARCHIVE_AFTER_SECONDS=3600 CONV_KEY_PREFIX=opsarch KEY_PREFIX=opsarchk \
    "ARCHIVER_HEALTH_FILE=${TMPDIR:-/tmp}/contract-archiver-health.json"

# test_conversations: its store-neutral groups and the Redis layout (as
# tests/integration/CMakeLists.txt runs them), against the REDIS_URL Redis.
if [[ -n "$test_conversations" ]]; then
    for case_name in api bad_input redis; do
        echo "contract: $test_conversations CK_RUN_CASE=$case_name"
        if ! CK_RUN_CASE="$case_name" "$WITH_MEMORYD" "$test_conversations"; then
            echo "contract: test_conversations ($case_name) failed; validating what it logged anyway" >&2
            rc=1
        fi
    done
fi

if [[ -n "$test_memory" ]]; then
    echo "contract: $test_memory (REDIS_URL=${REDIS_URL:-unset})"
    if ! "$WITH_MEMORYD" "$test_memory"; then
        echo "contract: test_memory failed; validating what it logged anyway" >&2
        rc=1
    fi
fi

if [[ -n "$test_failover" ]]; then
    echo "contract: $test_failover CK_INCLUDE_TAGS=switch (two replicas)"
    if ! CK_INCLUDE_TAGS=switch "$ROOT/tests/failover/run.sh" "$test_failover"; then
        echo "contract: test_failover failed; validating what it logged anyway" >&2
        rc=1
    fi
fi

echo "contract: validating $(wc -l <"$log") logged exchanges ($log)"
if ! node "$ROOT/tests/contract/validate.mjs" "$log"; then
    rc=1
fi
exit "$rc"
