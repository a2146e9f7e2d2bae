#!/usr/bin/env bash
# bench/cluster.sh: put (POST /checkpoints, bench/put.lua's ~10 KB body) and
# append (POST /conversations/{id}/messages, bench/conv.lua's one 500-byte
# message) through memoryd on a Redis Cluster (scripts/lib.sh
# start_redis_cluster: 3 primaries with a replica each, on this machine)
# beside memoryd on a single Redis, in one run: both memoryds run all along,
# the phases alternate (single, cluster; the next round cluster, single), and
# every Redis is flushed before each phase. Prints the cluster / single ratios
# (goal: at least 0.8) and, for each cluster phase, every primary's commands
# from INFO commandstats (reset before the phase): how evenly the Redis work
# spreads. A benchmark, not a test: exits 0 when the run completed.
# Environment: BENCH_CONNS (32), BENCH_SECONDS (10), ROUNDS (2), WRK_THREADS
# (1), HTTP_THREADS (24), SPREAD (96: LangGraph threads per wrk thread, and
# conversations), CUSTOMERS (0: appends name no customer_id; N: each
# conversation's appends name one of N customers, bench/conv.lua),
# BENCH_BUILD_DIR (build-bench), MEMORYD_BIN (the build's memoryd: another build
# to measure), BENCH_KEEP (1 keeps logs).
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
CONNS=${BENCH_CONNS:-32}
DURATION=${BENCH_SECONDS:-10}
ROUNDS=${ROUNDS:-2}
WRK_THREADS=${WRK_THREADS:-1} # see bench/README.md: a second one only competes for the cores
# Both memoryds get the same HTTP_THREADS. A worker thread holds one Redis
# round trip at a time: at 8, one Redis has 8 in flight and each of the three
# primaries under 3 (README, Redis Cluster: about 8 a primary).
HTTP_THREADS=${HTTP_THREADS:-24}
SPREAD=${SPREAD:-96}
CUSTOMERS=${CUSTOMERS:-0}
TENANT=bench
BLOB_B64=3300
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
RESULTS=$BUILD/bench-cluster-results.jsonl
PID_single='' PID_cluster='' WORK=''

log() { printf 'bench-cluster: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
cleanup() {
	local rc=$?
	stop_pid "$PID_single"; stop_pid "$PID_cluster"
	stop_all # scripts/lib.sh: the single Redis and the cluster
	remove_work "$rc" "logs"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start_memoryd NAME [-u VAR] VAR=VALUE...: memoryd with those settings (env's
# arguments: -u VAR leaves out what the environment has); its port in
# PORT_<NAME>, its PID in PID_<NAME>.
start_memoryd() {
	local name=$1 port
	shift
	port=$(free_port)
	env -u DATABASE_URL "$@" PORT="$port" BIND_ADDRESS=127.0.0.1 HTTP_THREADS="$HTTP_THREADS" \
		LOG_LEVEL=warn "$MEMORYD_BIN" 2>"$WORK/memoryd-$name.log" </dev/null &
	printf -v "PORT_$name" '%s' "$port"
	printf -v "PID_$name" '%s' "$!"
	wait_until "memoryd ($name)" "$!" curl -fsS "http://127.0.0.1:$port/readyz"
}

primaries() {
	local p
	for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
		[[ "$(redis-cli -p "$p" ROLE | head -1)" == master ]] && echo "$p"
	done
}

replicas() {
	local p
	for p in "${STARTED_REDIS_CLUSTER_PORTS[@]}"; do
		[[ "$(redis-cli -p "$p" ROLE | head -1)" == slave ]] && echo "$p"
	done
}
synced() { [[ "$(redis-cli -p "$1" ROLE | sed -n 4p)" == connected ]]; }

# ports WHICH: the single Redis, or every primary; replica_ports WHICH: their
# replicas.
ports() { if [[ $1 == single ]]; then echo "$SINGLE_REDIS_PORT"; else primaries; fi; }
replica_ports() { if [[ $1 == single ]]; then echo "$SINGLE_REPLICA_PORT"; else replicas; fi; }

# cpu PORT: the CPU seconds the server has used (user and system).
cpu() {
	redis-cli -p "$1" INFO cpu | tr -d '\r' |
		awk -F: '/^used_cpu_(user|sys):/ { t += $2 } END { printf "%.3f", t }'
}

# flush WHICH: FLUSHALL (replicas follow) and CONFIG RESETSTAT on the single
# Redis or every primary; their CPU seconds so far in CPU0_<port>.
flush() {
	local p
	for p in $(ports "$1"); do
		redis-cli -p "$p" FLUSHALL >/dev/null
		redis-cli -p "$p" CONFIG RESETSTAT >/dev/null
		printf -v "CPU0_$p" '%s' "$(cpu "$p")"
	done
	for p in $(replica_ports "$1"); do printf -v "CPU0_$p" '%s' "$(cpu "$p")"; done
}

# memoryd_cpu WHICH: the CPU seconds that memoryd has used.
memoryd_cpu() {
	local pid=PID_$1
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/${!pid}/stat"
}

# replicas_cpu WHICH: the CPU seconds the replicas used since flush.
replicas_cpu() {
	local p cpu0 t=0
	for p in $(replica_ports "$1"); do
		cpu0=CPU0_$p
		t=$(awk -v t="$t" -v a="$(cpu "$p")" -v b="${!cpu0}" 'BEGIN { printf "%.2f", t + a - b }')
	done
	echo "$t"
}

# commands PORT: since flush, the calls INFO commandstats counts (commands
# run inside scripts included; not INFO, CONFIG or CLUSTER, which are this
# script's and the slot map's), EVALSHA's calls, and the CPU seconds used:
# one JSON object.
commands() {
	local cpu0=CPU0_$1
	redis-cli -p "$1" INFO commandstats | tr -d '\r' |
		awk -F'[:=,]' -v port="$1" -v cpu="$(cpu "$1")" -v cpu0="${!cpu0}" '
		/^cmdstat_/ { c = substr($1, 9); if (c ~ /^(info|config|cluster)/) next;
			calls += $3; if (c == "evalsha") ev = $3 }
		END { printf "{\"port\":%s,\"calls\":%d,\"evalsha\":%d,\"cpu_s\":%.2f}",
			port, calls, ev, cpu - cpu0 }'
}

# phase OP WHICH ROUND: one wrk phase (put or append) against memoryd on
# WHICH (single or cluster); appends its JSON line, the per-primary commands
# with it.
phase() {
	local op=$1 which=$2 round=$3 name port script p stats="" m0
	name="${which}_${op}_r$round"
	port=PORT_$which
	script=$BENCH/put.lua
	[[ $op == append ]] && script=$BENCH/conv.lua
	flush "$which"
	m0=$(memoryd_cpu "$which")
	log "phase $name: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s"
	BENCH_DIR=$BENCH BENCH_NAME=$name BENCH_OP=append NCONV=$SPREAD THREAD_SPREAD=$SPREAD CUSTOMERS=$CUSTOMERS \
		BLOB_B64=$BLOB_B64 TENANT=$TENANT wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" \
		--latency -s "$script" "http://127.0.0.1:${!port}" >"$WORK/$name.txt" ||
		die "wrk failed: $(cat "$WORK/$name.txt")"
	for p in $(ports "$which"); do stats+="${stats:+,}$(commands "$p")"; done
	grep '^{' "$WORK/$name.txt" | tail -1 |
		jq -c --arg op "$op" --arg which "$which" --argjson nodes "[$stats]" \
			--argjson rcpu "$(replicas_cpu "$which")" \
			--argjson mcpu "$(awk -v a="$(memoryd_cpu "$which")" -v b="$m0" 'BEGIN { print a - b }')" \
			'. + {op: $op, which: $which, nodes: $nodes, replicas_cpu_s: $rcpu,
				memoryd_us_per_req: ($mcpu / .requests * 1e6 | round),
				redis_us_per_req: ((($nodes | map(.cpu_s) | add) + $rcpu) / .requests * 1e6 | round)}' |
			tee -a "$RESULTS"
}

main() {
	local round op order which
	command -v wrk >/dev/null || die "wrk is not installed"
	mkdir -p "$BUILD"
	log "building memoryd (Release) in $BUILD"
	if ! cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD/cluster-build.log" 2>&1 ||
		! cmake --build "$BUILD" -j "$(nproc)" --target memoryd >>"$BUILD/cluster-build.log" 2>&1; then
		die "build failed (see $BUILD/cluster-build.log)"
	fi
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-cluster.XXXXXX")
	: >"$RESULTS"
	SINGLE_REDIS_PORT=$(free_port)
	redis-server --port "$SINGLE_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK" --logfile "$WORK/redis.log" &
	_MEMORYD_STARTED+=("redis $! $WORK")
	wait_until redis-server "$!" redis-cli -p "$SINGLE_REDIS_PORT" ping
	# its replica, as each primary of the cluster has one
	SINGLE_REPLICA_PORT=$(free_port)
	mkdir -p "$WORK/replica"
	redis-server --port "$SINGLE_REPLICA_PORT" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK/replica" --logfile "$WORK/replica.log" --replicaof 127.0.0.1 "$SINGLE_REDIS_PORT" &
	_MEMORYD_STARTED+=("redis $! $WORK/replica")
	wait_until "the single Redis's replica" "$!" synced "$SINGLE_REPLICA_PORT"
	start_redis_cluster "$WORK/cluster" 2>>"$WORK/cluster.log" || die "the cluster did not start"
	start_memoryd single -u REDIS_CLUSTER_NODES REDIS_URL="redis://127.0.0.1:$SINGLE_REDIS_PORT/0"
	start_memoryd cluster REDIS_URL="redis://${REDIS_CLUSTER_NODES%%,*}/0" \
		REDIS_CLUSTER_NODES="$REDIS_CLUSTER_NODES"
	for ((round = 1; round <= ROUNDS; round++)); do
		order="single cluster"
		((round % 2)) || order="cluster single"
		for op in put append; do
			for which in $order; do phase "$op" "$which" "$round"; done
		done
	done
	printf '\n%-18s %6s %6s %7s %4s %6s %6s %6s   %s\n' phase 'req/s' 'p50' 'p99 ms' err \
		'repl s' 'md us' 'rd us' 'per primary: port: EVALSHA, commands (in scripts too), CPU s'
	jq -r '[.name, .rps, .p50_ms, .p99_ms, (.socket_errors + .non_2xx_3xx), .replicas_cpu_s,
		.memoryd_us_per_req, .redis_us_per_req,
		(.nodes | map("\(.port): \(.evalsha), \(.calls), \(.cpu_s)") | join("; "))] | @tsv' \
		"$RESULTS" | while IFS=$'\t' read -r n rps p50 p99 err rcpu md rd nodes; do
		printf '%-18s %6.0f %6.2f %7.2f %4d %6.2f %6d %6d   %s\n' "$n" "$rps" "$p50" "$p99" "$err" \
			"$rcpu" "$md" "$rd" "$nodes"
	done
	echo
	for op in put append; do
		jq -rs --arg op "$op" '
			def r2: . * 100 | round / 100;
			def mean: add / length;
			def skew(f): [.[] | select(.which == "cluster") | .nodes | map(f) | max / mean | r2];
			map(select(.op == $op)) as $r
			| ($r | map(select(.which == "cluster").rps) | mean) as $c
			| ($r | map(select(.which == "single").rps) | mean) as $s
			| "\($op): cluster / single \($c / $s | r2) (\($c | round) against \($s | round) req/s, mean of \($r | length / 2) rounds); the busiest primary over the primaries'"'"' mean: EVALSHA \($r | skew(.evalsha)), commands \($r | skew(.calls)), CPU \($r | skew(.cpu_s))"' \
			"$RESULTS"
	done
	if jq -e 'select(.socket_errors + .non_2xx_3xx > 0)' "$RESULTS" >/dev/null; then
		die "requests failed: the figures are not comparable"
	fi
}

main "$@"
