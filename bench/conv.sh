#!/usr/bin/env bash
# bench/conv.sh: /conversations append (one 500-byte message) and read (the
# last 20 messages), beside the same Redis work sent straight to Redis
# (memoryd's commands captured with MONITOR and replayed by redis_driver), at
# conversations of 10 and of 10,000 messages (CONV_MAX_MESSAGES set to that
# size, so every append also trims one: the steady state of a full
# conversation). A benchmark, not a test: exits 0 when the run completed.
# Environment: BENCH_CONNS (32), BENCH_SECONDS (10), WRK_THREADS (1),
# HTTP_THREADS (8), NCONV (16), CONV_SIZES ("10 10000"), BENCH_BUILD_DIR.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
CONNS=${BENCH_CONNS:-32}
DURATION=${BENCH_SECONDS:-10}
WRK_THREADS=${WRK_THREADS:-1} # see bench/README.md: a second one only competes for the cores
HTTP_THREADS=${HTTP_THREADS:-8}
NCONV=${NCONV:-16}
SIZES=${CONV_SIZES:-10 10000}
TENANT=bench
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
RESULTS=$BUILD/bench-conv-results.jsonl
REDIS_PID='' MEMORYD_PID='' MONITOR_PID='' WORK=''

log() { printf 'bench-conv: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
cleanup() {
	local rc=$?
	stop_pid "$MONITOR_PID"; stop_pid "$MEMORYD_PID"; stop_pid "$REDIS_PID"
	[[ -n $WORK && -d $WORK && $rc == 0 ]] && rm -rf -- "$WORK"
	[[ $rc != 0 && -n $WORK ]] && log "logs kept in $WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_memoryd() { # MAX_MESSAGES
	stop_pid "$MEMORYD_PID"
	HTTP_PORT=$(free_port)
	env -u DATABASE_URL REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" PORT=$HTTP_PORT \
		HTTP_THREADS=$HTTP_THREADS LOG_LEVEL=warn CONV_MAX_MESSAGES="$1" \
		CONV_MAX_BATCH=10000 MAX_BODY_BYTES=67108864 \
		"$MEMORYD_BIN" 2>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
}

# fill CONV N: one append of N 500-byte messages.
fill() {
	local conv=$1 n=$2
	awk -v n="$n" 'BEGIN { c = sprintf("%500s", ""); gsub(/ /, "y", c);
		printf "{\"messages\":["; for (i = 1; i <= n; i++) printf "%s{\"role\":\"user\",\"content\":\"%s\"}", (i > 1 ? "," : ""), c; print "]}" }' >"$WORK/fill.json"
	curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "X-Tenant-Id: $TENANT" \
		--data-binary @"$WORK/fill.json" "http://127.0.0.1:$HTTP_PORT/conversations/$conv/messages" ||
		die "filling $conv failed"
}

run_wrk() { # NAME OP
	log "phase $1: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s"
	BENCH_DIR=$BENCH BENCH_NAME=$1 BENCH_OP=$2 NCONV=$NCONV TENANT=$TENANT wrk -t"$WRK_THREADS" -c"$CONNS" \
		-d"${DURATION}s" --latency -s "$BENCH/conv.lua" "http://127.0.0.1:$HTTP_PORT" \
		>"$WORK/$1.txt" || die "wrk failed"
	grep '^{' "$WORK/$1.txt" | tail -1 | tee -a "$RESULTS"
}

run_driver() { # NAME REPLAY
	log "phase $1: redis_driver replay ($(cut -d' ' -f4 "$2" | tr '\n' ' '))"
	"$BUILD/redis_driver" --port "$REDIS_PORT" --conns "$CONNS" --seconds "$DURATION" \
		--name "$1" --mode replay --replay "$2" | tee -a "$RESULTS"
}

main() {
	mkdir -p "$BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/conv-build.log" 2>&1 &&
		cmake --build "$BUILD" -j "$(nproc)" --target memoryd >>"$BUILD/conv-build.log" 2>&1 ||
		die "build failed (see $BUILD/conv-build.log)"
	cc -std=c11 -O2 -pthread -o "$BUILD/redis_driver" "$BENCH/redis_driver.c" -lhiredis
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-conv.XXXXXX")
	: >"$RESULTS"
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK" --logfile "$WORK/redis.log" &
	REDIS_PID=$!
	wait_until redis-server "$REDIS_PID" rcli ping
	local size i
	for size in $SIZES; do
		rcli flushall >/dev/null
		start_memoryd "$size"
		for ((i = 0; i < NCONV; i++)); do fill "bench-c$i" "$size"; done
		capture "$WORK/append.replay" bench-c0 curl -fsS -o /dev/null -H 'Content-Type: application/json' \
			-H "X-Tenant-Id: $TENANT" --data "{\"messages\":[{\"role\":\"user\",\"content\":\"$(printf '%500s' | tr ' ' z)\"}]}" \
			"http://127.0.0.1:$HTTP_PORT/conversations/bench-c0/messages"
		capture "$WORK/read.replay" bench-c0 curl -fsS -o /dev/null -H "X-Tenant-Id: $TENANT" \
			"http://127.0.0.1:$HTTP_PORT/conversations/bench-c0/messages?limit=20"
		run_wrk "memoryd_append_$size" append
		log "held in redis: $(rcli zcard "conv:msgs:{bench:bench-c1}") messages of bench-c1"
		run_driver "redis_append_$size" "$WORK/append.replay"
		run_wrk "memoryd_read_$size" read
		run_driver "redis_read_$size" "$WORK/read.replay"
	done
	printf '\n%-22s %10s %9s %9s %7s\n' phase 'ops/s' 'p50 ms' 'p99 ms' errors
	jq -r '[.name, (.rps // .ops_per_s), .p50_ms, .p99_ms,
		((.errors // 0) + (.socket_errors // 0) + (.non_2xx_3xx // 0))] | @tsv' "$RESULTS" |
		while IFS=$'\t' read -r n ops p50 p99 err; do
			printf '%-22s %10.0f %9.3f %9.3f %7d\n' "$n" "$ops" "$p50" "$p99" "$err"
		done
	for size in $SIZES; do
		for op in append read; do
			jq -rs --arg m "memoryd_${op}_$size" --arg r "redis_${op}_$size" '
				(map(select(.name == $m))[0].rps) as $a | (map(select(.name == $r))[0].ops_per_s) as $b |
				"\($m) / \($r): \(($a / $b * 100 | round) / 100)"' "$RESULTS"
		done
	done
}

main "$@"
