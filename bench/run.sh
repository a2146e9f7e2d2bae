#!/usr/bin/env bash
# bench/run.sh: memoryd's put and get-latest throughput and latency, against
# the same Redis work issued straight at Redis, in one run on one machine.
# A benchmark, not a test: it exits 0 when the run completed, whatever the
# numbers (BENCH_ENFORCE=1 makes a missed target exit 1). See bench/README.md.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
CONNS=${BENCH_CONNS:-32}
DURATION=${BENCH_SECONDS:-10}
WRK_THREADS=${WRK_THREADS:-1} # see bench/README.md: a second one only competes for the cores
HTTP_THREADS=${HTTP_THREADS:-8}
MEMORYD_LOG_LEVEL=${MEMORYD_LOG_LEVEL:-info}
THREAD_SPREAD=${THREAD_SPREAD:-16}   # threads each wrk thread writes to
GET_THREADS=${GET_THREADS:-8}        # threads the get phase reads round-robin
TENANT=bench
BLOB_B64=3300                        # base64 characters per channel blob
BLOB_RAW=$((BLOB_B64 * 3 / 4))
REDIS_ONLY=${BENCH_REDIS_ONLY:-0}    # 1: skip memoryd (build and phases)
ENFORCE=${BENCH_ENFORCE:-0}
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
PUT_SCRIPT=${REDIS_PUT_SCRIPT:-$ROOT/service/redis/lua/checkpoint_put.lua}
RESULTS=${BENCH_RESULTS:-$BUILD/bench-results.jsonl}
# Markers put in the captured put; redis_driver replaces them per operation.
MARK_CID=1efcafe0-0000-4000-8000-000000000000
MARK_PARENT=1efcafe0-0000-4000-7000-000000000000
MARK_THREAD=bench-capture-000000000000

REDIS_PID='' MEMORYD_PID='' MONITOR_PID='' SAMPLER_PID='' WORK='' PUT_CPU_US=''

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

cleanup() {
	local rc=$?
	stop_pid "$SAMPLER_PID"
	stop_pid "$MONITOR_PID"
	stop_pid "$MEMORYD_PID"
	stop_pid "$REDIS_PID"
	remove_work "$rc" "logs and captures"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ensure_tools() {
	local missing=() tool pkg
	for tool in wrk:wrk redis-server:redis-server redis-cli:redis-tools curl:curl \
		jq:jq cc:gcc cmake:cmake; do
		command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
	done
	[[ -f /usr/include/hiredis/hiredis.h ]] || missing+=(libhiredis-dev)
	((${#missing[@]} == 0)) && return 0
	if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
		die "missing: ${missing[*]} (install these Debian packages)"
	fi
	log "installing ${missing[*]}"
	for pkg in "${missing[@]}"; do
		apt-get install -y "$pkg" >/dev/null 2>&1 && continue
		apt-get update >/dev/null || die "apt-get update failed"
		apt-get install -y "$pkg" >/dev/null || die "apt-get install $pkg failed"
	done
}

build() {
	mkdir -p -- "$BUILD"
	[[ $REDIS_ONLY == 1 ]] || build_memoryd
	cc -std=c11 -O2 -Wall -Wextra -pthread -o "$BUILD/redis_driver" \
		"$BENCH/redis_driver.c" -lhiredis || die "redis_driver build failed"
}

# run_driver NAME ARGS...: one redis_driver phase; appends its JSON line.
run_driver() {
	local name=$1
	shift
	log "phase $name: redis_driver $*"
	"$BUILD/redis_driver" --port "$REDIS_PORT" --conns "$CONNS" --seconds "$DURATION" \
		--name "$name" "$@" | tee -a "$RESULTS"
}

start_redis() {
	REDIS_PORT=$(free_port)
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize no --dir "$WORK" --logfile "$WORK/redis.log" &
	REDIS_PID=$!
	wait_until redis-server "$REDIS_PID" rcli ping
}

start_memoryd() {
	HTTP_PORT=$(free_port)
	REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" PORT=$HTTP_PORT BIND_ADDRESS=127.0.0.1 \
		HTTP_THREADS=$HTTP_THREADS LOG_LEVEL=$MEMORYD_LOG_LEVEL \
		"$MEMORYD_BIN" 2>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
}

# evalsha_us: Redis's own time per EVALSHA since the last CONFIG RESETSTAT
# (INFO commandstats usec_per_call): what one put's script costs Redis.
evalsha_us() {
	rcli info commandstats | tr -d '\r' |
		sed -n 's/^cmdstat_evalsha:.*usec_per_call=\([0-9.]*\).*/\1/p'
}

# EVALSHA calls since the last CONFIG RESETSTAT: one per put.
evalsha_calls() {
	rcli info commandstats | tr -d '\r' | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p'
}

# Redis's CPU seconds so far (INFO cpu, user + system).
redis_cpu_s() {
	rcli info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%.6f", s }'
}

# put_phase NAME ARGS...: run_driver, then set PUT_CPU_US to Redis's CPU per
# put over the phase. memoryd's put is several commands (the blobs' SETs
# ahead of its script), and INFO commandstats counts a script's commands
# twice (in EVALSHA's time and their own), so a put's Redis time is read
# from Redis's CPU; both phases pay the same per round trip.
put_phase() {
	local c0 c1
	rcli config resetstat >/dev/null
	c0=$(redis_cpu_s)
	run_driver "$@"
	c1=$(redis_cpu_s)
	PUT_CPU_US=$(awk -v a="$c0" -v b="$c1" -v n="$(evalsha_calls)" \
		'BEGIN { if (n > 0) printf "%.1f", (b - a) * 1e6 / n }')
}

summary() {
	local put_kind=$1 mput rput mget rget p99 hwm
	mput=$(field memoryd_put rps) rput=$(field "$put_kind" ops_per_s)
	mget=$(field memoryd_get rps) rget=$(field redis_get ops_per_s)
	p99=$(field memoryd_put p99_ms) hwm=$(field memoryd_rss hwm_kib)
	printf '\n%-24s %10s %9s %9s %8s\n' phase 'ops/s' 'p50 ms' 'p99 ms' errors
	jq -r '[.name, (.rps // .ops_per_s), .p50_ms, .p99_ms,
		((.errors // 0) + (.socket_errors // 0) + (.non_2xx_3xx // 0))]
		| select(.[1] != null) | @tsv' "$RESULTS" |
		while IFS=$'\t' read -r n ops p50 p99x err; do
			printf '%-24s %10.0f %9.3f %9.3f %8d\n' "$n" "$ops" "$p50" "$p99x" "$err"
		done
	[[ $REDIS_ONLY == 1 ]] && return 0
	printf '\n%-34s %9s %9s  %s\n' target value goal result
	MISSED=0
	check() { # label value op goal
		local ok
		ok=$(awk -v v="$2" -v g="$4" -v op="$3" 'BEGIN {
			if (v == "") { print "n/a"; exit }
			r = (op == ">=") ? (v >= g) : (v < g); print r ? "PASS" : "MISS" }')
		[[ $ok == MISS ]] && MISSED=1
		printf '%-34s %9s %9s  %s\n' "$1" "${2:-n/a}" "$3 $4" "$ok"
	}
	check "put ratio (memoryd / $put_kind)" \
		"$(awk -v a="$mput" -v b="$rput" 'BEGIN { if (b > 0) printf "%.2f", a / b }')" '>=' 0.6
	check "put p99 at $CONNS conns (ms)" "$p99" '<' 3
	local mus sus
	mus=$(field redis_time_per_put memoryd_put_us) sus=$(field redis_time_per_put simple_put_us)
	check "Redis CPU us/put (memoryd / simple)" \
		"$(awk -v a="$mus" -v b="$sus" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b }')" '<' 1.3
	check "get ratio (memoryd / redis GET)" \
		"$(awk -v a="$mget" -v b="$rget" 'BEGIN { if (b > 0) printf "%.2f", a / b }')" '>=' 0.5
	check "memoryd peak RSS, VmHWM (MiB)" \
		"$(awk -v k="$hwm" 'BEGIN { if (k > 0) printf "%.1f", k / 1024 }')" '<' 32
	echo
}

main() {
	local put_kind=redis_put_script invalid=0 i
	ensure_tools
	build
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench.XXXXXX")
	mkdir -p -- "$(dirname -- "$RESULTS")"
	: >"$RESULTS"
	log "results: $RESULTS (JSON lines); $CONNS connections, ${DURATION}s a phase, $(nproc) cores"
	BLOB1=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	BLOB2=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	BLOB3=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	start_redis

	local put_args=(--mode script --script "$PUT_SCRIPT" --blob-size "$BLOB_RAW")
	if [[ $REDIS_ONLY != 1 ]]; then
		start_memoryd
		log "memoryd pid $MEMORYD_PID on :$HTTP_PORT, redis pid $REDIS_PID on :$REDIS_PORT"
		# Warm up (each HTTP thread's Redis connection), then capture one put.
		for ((i = 0; i < 2 * HTTP_THREADS; i++)); do
			post_checkpoint bench-warmup "1ef-warmup-$i" null
		done
		# The captured thread's index entry is fresh: the captured put is the
		# common one, without the tenant's thread index (see redis_checkpoint_put).
		post_checkpoint "$MARK_THREAD" 1ef-warmup-mark null
		capture "$WORK/put.replay" "$MARK_CID" \
			post_checkpoint "$MARK_THREAD" "$MARK_CID" "\"$MARK_PARENT\""
		if grep -q "$MARK_CID" "$WORK/put.replay"; then
			put_kind=redis_put_replay
			put_args=(--mode replay --replay "$WORK/put.replay" --sub-cid "$MARK_CID"
				--sub-parent "$MARK_PARENT" --sub-thread "$MARK_THREAD")
			log "captured memoryd's put: $(wc -l <"$WORK/put.replay") command(s):" \
				"$(cut -d' ' -f4 "$WORK/put.replay" | tr '\n' ' ')"
		else
			log "warning: no put command captured; the Redis baseline is redis_driver --mode script"
		fi
		rcli flushall >/dev/null

		run_wrk memoryd_put "$BENCH/put.lua"
		local zc
		zc=$(rcli --scan --pattern '*:checkpoints:{bench:bench-w0-1}:*' | head -1)
		if [[ -n $zc ]]; then
			log "stored: $(rcli zcard "$zc") checkpoints in $zc"
		else
			log "warning: no checkpoint zset found for thread bench-w0-1 (key layout changed?)"
		fi
	fi
	rcli flushall >/dev/null
	local memoryd_us memoryd_script_us
	put_phase "$put_kind" "${put_args[@]}"
	memoryd_us=$PUT_CPU_US memoryd_script_us=$(evalsha_us)
	rcli flushall >/dev/null
	# The yardstick for Redis time per put: bench/put_simple.lua, same payload.
	put_phase redis_put_simple --mode simple --script "$BENCH/put_simple.lua" --blob-size "$BLOB_RAW"
	jq -nc --arg m "$memoryd_us" --arg s "$PUT_CPU_US" --arg ms "$memoryd_script_us" \
		--arg ss "$(evalsha_us)" \
		'{name: "redis_time_per_put", memoryd_put_us: ($m | tonumber? // null),
		  simple_put_us: ($s | tonumber? // null),
		  memoryd_script_us: ($ms | tonumber? // null), simple_script_us: ($ss | tonumber? // null)}' |
		tee -a "$RESULTS"
	rcli flushall >/dev/null

	if [[ $REDIS_ONLY != 1 ]]; then
		for ((i = 0; i < GET_THREADS; i++)); do
			post_checkpoint "bench-get-$i" "1ef0000000000000000$i" null
		done
		curl -fsS -H "X-Tenant-Id: $TENANT" "http://127.0.0.1:$HTTP_PORT/checkpoints/bench-get-0" \
			>"$WORK/get.json" || die "GET of a seeded checkpoint failed"
		jq -e --arg b1 "$BLOB1" --arg b3 "$BLOB3" '.channel_values.messages.data == $b1 and
			.channel_values.summary.data == $b3' "$WORK/get.json" >/dev/null ||
			log "warning: the get answer does not carry the stored blobs: $(head -c 300 "$WORK/get.json")"
		log "get answer: $(wc -c <"$WORK/get.json") bytes"
		capture "$WORK/get.replay" "{$TENANT:bench-get-0}" \
			curl -fsS -o /dev/null -H "X-Tenant-Id: $TENANT" \
			"http://127.0.0.1:$HTTP_PORT/checkpoints/bench-get-0"
		run_wrk memoryd_get "$BENCH/get.lua"
	fi
	run_driver redis_get --mode get --value-size 10240
	if [[ $REDIS_ONLY != 1 && -s $WORK/get.replay ]]; then
		# For information: memoryd's get commands, pipelined on one connection.
		run_driver redis_get_replay --mode replay --replay "$WORK/get.replay"
	fi
	if [[ $REDIS_ONLY != 1 ]]; then
		jq -nc --argjson hwm "$(awk '/^VmHWM:/ { print $2 }' "/proc/$MEMORYD_PID/status")" \
			--argjson rss "$(awk '/^VmRSS:/ { print $2 }' "/proc/$MEMORYD_PID/status")" \
			'{name: "memoryd_rss", hwm_kib: $hwm, rss_kib: $rss}' | tee -a "$RESULTS"
		kill -0 "$MEMORYD_PID" 2>/dev/null || die "memoryd died during the run"
	fi
	if jq -e 'select(((.errors // 0) + (.socket_errors // 0) + (.non_2xx_3xx // 0)) > 0)' \
		"$RESULTS" >/dev/null; then
		invalid=1
	fi
	summary "$put_kind"
	((invalid)) && die "some requests failed: the figures above are not comparable"
	[[ $ENFORCE == 1 && ${MISSED:-0} == 1 ]] && die "a target was missed"
	return 0
}

main "$@"
