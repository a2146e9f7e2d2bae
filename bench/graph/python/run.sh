#!/usr/bin/env bash
# bench/graph/python/run.sh: the three-node LangGraph graph (plan, act, reply)
# in Python with InMemorySaver, LangGraph's AsyncPostgresSaver and memoryd's
# AsyncMemorydSaver, in one run, alternating (bench.py beside this file).
# Starts a throwaway Redis and PostgreSQL and a Release memoryd (Redis
# primary, DATABASE_URL set as in production; PostgresSaver uses the same
# PostgreSQL). A benchmark, not a test: exits 0 when the run completed,
# whatever the numbers (BENCH_ENFORCE=1 makes a missed target exit 1).
# Environment: BENCH_GRAPH_MODE (async; sync, both), BENCH_GRAPH_THREADS (16), BENCH_GRAPH_TURNS (25),
# BENCH_GRAPH_ROUNDS (3), HTTP_THREADS (8), BENCH_BUILD_DIR (build-bench),
# MEMORYD_BIN, BENCH_KEEP, BENCH_ENFORCE. See bench/README.md.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../../.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
HTTP_THREADS=${HTTP_THREADS:-8}
MEMORYD_PID='' WORK=''

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh" # and scripts/lib.sh: start_postgres, start_redis, ensure_venv, stop_all

cleanup() {
	local rc=$?
	stop_pid "$MEMORYD_PID"
	stop_all
	remove_work "$rc" "logs"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

main() {
	build_memoryd
	ensure_venv "$BUILD/venv-python" "$ROOT/clients/python/requirements.txt" \
		"$ROOT/clients/python/requirements-test.txt"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-graph-py.XXXXXX")
	chmod 755 "$WORK" # the postgres user must reach $WORK/pg
	start_postgres "$WORK/pg" "$(free_port)"
	start_redis "$WORK/redis" "$(free_port)"
	HTTP_PORT=$(free_port)
	env REDIS_URL="$STARTED_REDIS_URL" DATABASE_URL="$STARTED_DATABASE_URL" PORT="$HTTP_PORT" \
		BIND_ADDRESS=127.0.0.1 HTTP_THREADS="$HTTP_THREADS" LOG_LEVEL=warn \
		"$MEMORYD_BIN" 2>>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
	log "memoryd pid $MEMORYD_PID on :$HTTP_PORT (Redis primary), $(nproc) cores"
	MEMORYD_URL="http://127.0.0.1:$HTTP_PORT" DATABASE_URL="$STARTED_DATABASE_URL" \
		PYTHONPATH="$ROOT/clients/python/src" PYTHONDONTWRITEBYTECODE=1 \
		"$BUILD/venv-python/bin/python" "$BENCH/graph/python/bench.py"
}

main "$@"
