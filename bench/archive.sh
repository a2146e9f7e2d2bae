#!/usr/bin/env bash
# bench/archive.sh: one archival pass (`memoryd archive`) over NCONV
# conversations of NMSG messages each (default 2,000 x 50 = 100,000 messages,
# ~200 bytes of content), beside a plain COPY of the same rows into a table
# like conversation_history (same indexes) in the same run; and the pass's
# peak RSS at SMALL_NCONV conversations and at NCONV, to show it does not grow
# with the number of conversations. A benchmark, not a test: exits 0 when the
# run completed, whatever the numbers (BENCH_ENFORCE=1: exit 1 below 0.5x the
# COPY rate). Environment: NCONV (2000), NMSG (50), SMALL_NCONV (500),
# BENCH_BUILD_DIR (build-bench), BENCH_KEEP=1 keeps the work directory.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
NCONV=${NCONV:-2000}
NMSG=${NMSG:-50}
SMALL_NCONV=${SMALL_NCONV:-500}
ENFORCE=${BENCH_ENFORCE:-0}
TENANT=bench
MEMORYD_BIN=$BUILD/memoryd
MEMORYD_PID='' WORK=''

log() { printf 'bench-archive: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
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

psql_q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# The settings memoryd and `memoryd archive` share (set once the servers
# run): a pass takes what was written a second ago.
ENV=()

# seed N: N conversations of NMSG messages, one append each.
seed() {
	local n=$1 i
	awk -v n="$NMSG" 'BEGIN { c = sprintf("%200s", ""); gsub(/ /, "x", c);
		printf "{\"customer_id\":\"cust\",\"messages\":[";
		for (i = 1; i <= n; i++) printf "%s{\"role\":\"user\",\"content\":\"%d %s\",\"metadata\":{\"i\":%d}}", (i > 1 ? "," : ""), i, c, i;
		print "]}" }' >"$WORK/append.json"
	for ((i = 0; i < n; i++)); do
		curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "X-Tenant-Id: $TENANT" \
			--data-binary @"$WORK/append.json" "http://127.0.0.1:$HTTP_PORT/conversations/c$i/messages" ||
			die "append to c$i failed"
	done
}

# pass NAME: one `memoryd archive`; prints "seconds maxrss_kib" (the pass's
# own duration from the health file; the process's peak RSS).
pass() {
	local rss
	rss=$(python3 -c '
import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stderr=open(sys.argv[1], "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if r.returncode == 0 else -1)
' "$WORK/$1.log" env "${ENV[@]}" ARCHIVER_HEALTH_FILE="$WORK/$1.json" "$MEMORYD_BIN" archive)
	((rss > 0)) || die "memoryd archive failed (see $WORK/$1.log)"
	echo "$(jq -r .duration_seconds "$WORK/$1.json") $rss"
}

main() {
	for tool in jq curl psql redis-cli python3; do
		command -v "$tool" >/dev/null || die "$tool missing"
	done
	mkdir -p "$BUILD"
	log "building memoryd (Release) in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/archive-build.log" 2>&1 &&
		cmake --build "$BUILD" -j 2 --target memoryd >>"$BUILD/archive-build.log" 2>&1 ||
		die "build failed (see $BUILD/archive-build.log)"
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-archive.XXXXXX")
	chmod 755 "$WORK" # the postgres user must reach $WORK/pg
	start_postgres "$WORK/pg" "$(free_port)"
	DATABASE_URL=$STARTED_DATABASE_URL
	start_redis "$WORK/redis" "$(free_port)"
	REDIS_URL=$STARTED_REDIS_URL
	ENV=(REDIS_URL="$REDIS_URL" DATABASE_URL="$DATABASE_URL" CONV_TTL_SECONDS=86400
		CHECKPOINT_TTL_SECONDS=86400 ARCHIVE_AFTER_SECONDS=1 ARCHIVE_INTERVAL_SECONDS=60
		CONV_MAX_MESSAGES=100000 CONV_MAX_BATCH=1000)
	HTTP_PORT=$(free_port)
	env "${ENV[@]}" PORT="$HTTP_PORT" LOG_LEVEL=warn "$MEMORYD_BIN" 2>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"

	local small big
	log "seeding $SMALL_NCONV conversations of $NMSG messages"
	seed "$SMALL_NCONV"
	sleep 1.1 # idle for ARCHIVE_AFTER_SECONDS
	read -r small_s small_rss <<<"$(pass small)"
	[[ "$(psql_q -c 'SELECT count(*) FROM memoryd.conversation_history')" == $((SMALL_NCONV * NMSG)) ]] ||
		die "the small pass did not archive every message"
	psql_q -c 'TRUNCATE memoryd.conversation_history'

	log "seeding $NCONV conversations of $NMSG messages ($((NCONV * NMSG)) messages)"
	seed "$NCONV"
	log "redis holds $(redis-cli -u "$REDIS_URL" dbsize) keys, used_memory $(redis-cli -u "$REDIS_URL" info memory | awk -F: '/^used_memory_human/ { print $2 }' | tr -d '\r')"
	sleep 1.1
	read -r big_s big_rss <<<"$(pass big)"
	local rows
	rows=$(psql_q -c 'SELECT count(*) FROM memoryd.conversation_history')
	((rows == NCONV * NMSG)) || die "the pass archived $rows messages, want $((NCONV * NMSG))"
	[[ "$(redis-cli -u "$REDIS_URL" --scan --pattern 'conv:msgs:*' | wc -l)" == 0 ]] ||
		die "conversations left in Redis after the pass"

	# The same rows by plain COPY into a table like conversation_history.
	psql_q -c "\\copy (SELECT * FROM memoryd.conversation_history) TO '$WORK/rows.copy'"
	psql_q -c 'CREATE TABLE bench_copy (LIKE memoryd.conversation_history INCLUDING ALL)'
	local t0 t1 copy_s
	t0=$(date +%s.%N)
	psql_q -c "\\copy bench_copy FROM '$WORK/rows.copy'"
	t1=$(date +%s.%N)
	copy_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	[[ "$(psql_q -c 'SELECT count(*) FROM bench_copy')" == "$rows" ]] || die "COPY loaded a different count"

	awk -v n="$rows" -v conv="$NCONV" -v ps="$big_s" -v cs="$copy_s" -v sn="$SMALL_NCONV" \
		-v sr="$small_rss" -v br="$big_rss" -v ss="$small_s" 'BEGIN {
		printf "\n%-34s %10s %12s\n", "phase", "seconds", "messages/s"
		printf "%-34s %10.3f %12.0f\n", "memoryd archive (" conv " conv.)", ps, n / ps
		printf "%-34s %10.3f %12.0f\n", "COPY of the same rows", cs, n / cs
		printf "archive / COPY rate: %.2fx (target >= 0.5x)\n", cs / ps
		printf "peak RSS of memoryd archive: %d KiB at %d conversations (%.3f s), %d KiB at %d\n", sr, sn, ss, br, conv
	}'
	if [[ $ENFORCE == 1 ]] && awk -v ps="$big_s" -v cs="$copy_s" 'BEGIN { exit !(cs / ps < 0.5) }'; then
		die "below half the COPY rate"
	fi
}

main "$@"
