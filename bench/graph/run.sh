#!/usr/bin/env bash
# bench/graph/run.sh: a LangGraph JS agent's turns per second with MemorySaver,
# LangGraph's PostgresSaver and MemorydSaver, in one run on one machine
# (graph.mjs says what a turn is). It builds memoryd in Release, starts a
# throwaway Redis, PostgreSQL and memoryd on free loopback ports, installs the
# pinned npm packages of bench/graph (the client from clients/js, copied), and
# prints one JSON line a phase and a summary per thread count.
# A benchmark, not a test: it exits 0 when the run completed, whatever the
# numbers. THREADS, TURNS, ROUNDS, SAVERS and THREAD_COUNTS go to graph.mjs.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
HTTP_THREADS=${HTTP_THREADS:-8}
MEMORYD_LOG_LEVEL=${MEMORYD_LOG_LEVEL:-warn}
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
RESULTS=${BENCH_RESULTS:-$BUILD/bench-graph-results.jsonl}

MEMORYD_PID='' WORK=''

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh" # and scripts/lib.sh: start_postgres, start_redis, stop_all

cleanup() {
	local rc=$?
	stop_pid "$MEMORYD_PID"
	stop_all
	remove_work "$rc" "logs"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# npm packages: reinstalled when the lock or the client's sources change
# (install-links copies clients/js into node_modules).
install_packages() {
	local dir="$BENCH/graph" want have
	want=$(cat "$dir/package.json" "$dir/package-lock.json" "$ROOT"/clients/js/package.json \
		"$ROOT"/clients/js/src/* | sha256sum | cut -d' ' -f1)
	have=$(cat "$dir/node_modules/.memoryd-deps-stamp" 2>/dev/null || true)
	[[ -d $dir/node_modules && $want == "$have" ]] && return 0
	log "installing bench/graph's npm packages"
	(cd "$dir" && npm ci --no-audit --no-fund >/dev/null)
	echo "$want" >"$dir/node_modules/.memoryd-deps-stamp"
}

main() {
	ensure_deps
	build_memoryd
	install_packages
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-graph.XXXXXX")
	chmod 755 "$WORK" # the postgres user must reach $WORK/pg
	mkdir -p -- "$(dirname -- "$RESULTS")"
	: >"$RESULTS"
	start_postgres "$WORK/pg" "$(free_port)"
	DATABASE_URL=$STARTED_DATABASE_URL
	start_redis "$WORK/redis" "$(free_port)"
	REDIS_URL=$STARTED_REDIS_URL
	HTTP_PORT=$(free_port)
	env REDIS_URL="$REDIS_URL" DATABASE_URL="$DATABASE_URL" PORT="$HTTP_PORT" \
		BIND_ADDRESS=127.0.0.1 HTTP_THREADS="$HTTP_THREADS" LOG_LEVEL="$MEMORYD_LOG_LEVEL" \
		"$MEMORYD_BIN" 2>>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
	log "memoryd pid $MEMORYD_PID on :$HTTP_PORT; results: $RESULTS; $(nproc) cores"
	MEMORYD_URL="http://127.0.0.1:$HTTP_PORT" DATABASE_URL="$DATABASE_URL" \
		node "$BENCH/graph/graph.mjs" | tee -a "$RESULTS"
	log "memoryd used $(awk '{ printf "%.1f s", ($14 + $15) / 100 }' "/proc/$MEMORYD_PID/stat") of CPU"
}

main "$@"
