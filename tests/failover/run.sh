#!/usr/bin/env bash
# Usage: tests/failover/run.sh TEST_BIN
# Two memoryd replicas sharing what a deployment shares: a database created
# for this run on the PostgreSQL of DATABASE_URL (so the routing state they
# persist reaches no other test) and a Redis of their own (so a test may
# kill it). Exports, for TEST_BIN:
#   MEMORYD_URL / MEMORYD_LOG       replica A      MEMORYD_URL_B / MEMORYD_LOG_B  replica B
#   DATABASE_URL  REDIS_URL  FO_REDIS_PID  ADMIN_TOKEN
#   FO_WITH_MEMORYD  tests/with-memoryd.sh, to start a third replica
# Everything else in the environment (FAILOVER_AUTO, CONV_DUAL_WRITE, ...)
# reaches both replicas. Both are stopped, the Redis and the database
# removed, whatever happens; see tests/with-memoryd.sh for the checks made
# on each replica's exit.
set -euo pipefail

bin="${1:?usage: $0 TEST_BIN}"
: "${DATABASE_URL:?DATABASE_URL is not set; run the tests through scripts/test}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

db="memoryd_fo_$$_$RANDOM"
base="${DATABASE_URL%%\?*}"
query=""
[[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
admin_url="${base%/*}/postgres$query"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-failover.XXXXXX")"

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    local rc=$?
    stop_all
    psql "$admin_url" -XAtq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT

psql "$admin_url" -XAtq -c "CREATE DATABASE $db" >/dev/null
export DATABASE_URL="${base%/*}/$db$query"
start_redis "$tmp/redis" "$(free_port)"
export REDIS_URL="$STARTED_REDIS_URL" FO_REDIS_PID="$STARTED_REDIS_PID"
export ADMIN_TOKEN="${ADMIN_TOKEN:-failover-admin-token}"
export FO_WITH_MEMORYD="$ROOT/tests/with-memoryd.sh"

# B outside, A inside: with-memoryd.sh exports MEMORYD_URL for what it runs.
"$ROOT/tests/with-memoryd.sh" bash -c \
    'export MEMORYD_URL_B="$MEMORYD_URL" MEMORYD_LOG_B="$MEMORYD_LOG"; exec "$0" "$@"' \
    "$ROOT/tests/with-memoryd.sh" "$bin"
