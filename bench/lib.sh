# bench/lib.sh: what bench/run.sh and bench/pg.sh share: logging, ports,
# waiting, the ~10 KB checkpoint body, wrk phases with memoryd's peak RSS.
# Sourced; the caller sets WORK, HTTP_PORT, TENANT, BLOB1..3, RESULTS,
# MEMORYD_PID and the wrk settings (CONNS, DURATION, WRK_THREADS, ...);
# rcli and capture use REDIS_PORT, REDIS_PID and MONITOR_PID.
# shellcheck shell=bash

# A script may define its own log and die before sourcing this file.
declare -F log >/dev/null || log() { printf 'bench: %s\n' "$*" >&2; }
declare -F die >/dev/null || die() { log "error: $*"; exit 1; }

stop_pid() {
	local pid=$1
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# Ports, and the throwaway servers of bench/pg.sh and bench/archive.sh:
# scripts/lib.sh (free_port stays below the ephemeral range and proves a
# port by binding it; a port that only refused a connection could be an
# outgoing connection's, and the server then failed to bind it).
# shellcheck source=scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../scripts/lib.sh"

# wait_until WHAT PID CMD...: polls CMD every 0.1 s for up to 10 s while PID lives.
wait_until() {
	local what=$1 pid=$2 _
	shift 2
	for _ in $(seq 1 100); do
		"$@" >/dev/null 2>&1 && return 0
		kill -0 "$pid" 2>/dev/null || die "$what exited while starting"
		sleep 0.1
	done
	die "$what not ready after 10 s"
}

# checkpoint_body THREAD CID PARENT_JSON: a ~10 KB put body like put.lua's.
checkpoint_body() {
	local t=$1 c=$2 p=$3
	printf '{"thread_id":"%s","checkpoint_ns":"","checkpoint_id":"%s","parent_checkpoint_id":%s,' "$t" "$c" "$p"
	printf '"checkpoint":{"v":4,"id":"%s","ts":"2024-07-31T20:14:19.804150+00:00",' "$c"
	printf '"channel_versions":{"messages":"%s.1","scratch":"%s.2","summary":"%s.3"},' "$c" "$c" "$c"
	printf '"versions_seen":{"__input__":{},"agent":{"messages":"%s.1"}},"pending_sends":[]},' "$c"
	printf '"metadata":{"source":"loop","step":1,"writes":null,"parents":{}},"blobs":['
	printf '{"channel":"messages","version":"%s.1","type":"json","data":"%s"},' "$c" "$BLOB1"
	printf '{"channel":"scratch","version":"%s.2","type":"msgpack","data":"%s"},' "$c" "$BLOB2"
	printf '{"channel":"summary","version":"%s.3","type":"json","data":"%s"}]}' "$c" "$BLOB3"
}

post_checkpoint() {
	checkpoint_body "$@" >"$WORK/body.json"
	curl -fsS -o /dev/null -H 'Content-Type: application/json' -H "X-Tenant-Id: $TENANT" \
		--data-binary @"$WORK/body.json" "http://127.0.0.1:$HTTP_PORT/checkpoints" ||
		die "seeding put to thread $1 failed (see $WORK/memoryd.log)"
}

# start_sampler NAME: records memoryd's largest VmRSS (KiB) while it runs.
start_sampler() {
	local f="$WORK/rss.$1" pid=$MEMORYD_PID
	echo 0 >"$f"
	(
		max=0
		while [[ -r /proc/$pid/status ]]; do
			r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
			if ((${r:-0} > max)); then max=$r && echo "$max" >"$f"; fi
			sleep 0.2
		done
	) &
	SAMPLER_PID=$!
}

stop_sampler() {
	stop_pid "$SAMPLER_PID"
	SAMPLER_PID=''
}

# run_wrk NAME SCRIPT: one wrk phase against memoryd; appends its JSON line.
run_wrk() {
	local name=$1 script=$2 line rss
	log "phase $name: wrk -t$WRK_THREADS -c$CONNS -d${DURATION}s"
	start_sampler "$name"
	BENCH_DIR=$BENCH BENCH_NAME=$name BLOB_B64=$BLOB_B64 THREAD_SPREAD=$THREAD_SPREAD GET_THREADS=$GET_THREADS \
		TENANT=$TENANT wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency \
		-s "$script" "http://127.0.0.1:$HTTP_PORT" >"$WORK/$name.wrk.txt" ||
		die "wrk failed: $(cat "$WORK/$name.wrk.txt")"
	stop_sampler
	rss=$(cat "$WORK/rss.$name")
	line=$(grep '^{' "$WORK/$name.wrk.txt" | tail -1)
	[[ -n $line ]] || die "no result from wrk: $(cat "$WORK/$name.wrk.txt")"
	jq -c --argjson rss "$rss" '. + {rss_max_kib: $rss}' <<<"$line" | tee -a "$RESULTS"
}

# field NAME KEY: a number from this run's result line called NAME ("" if none).
field() { jq -r --arg n "$1" "select(.name == \$n) | .$2 // empty" "$RESULTS" | tail -1; }


# build_memoryd: memoryd in Release into $BUILD (MEMORYD_BIN must end up there).
build_memoryd() {
	local blog="$BUILD/bench-build.log"
	mkdir -p -- "$BUILD"
	log "building memoryd (Release) in $BUILD"
	cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$blog" 2>&1 ||
		{ cat "$blog" >&2; die "cmake configure failed"; }
	cmake --build "$BUILD" -j "$(nproc)" >>"$blog" 2>&1 ||
		{ tail -40 "$blog" >&2; die "cmake build failed"; }
	[[ -x $MEMORYD_BIN ]] || die "$MEMORYD_BIN not built"
}

# remove_work RC WHAT: removes $WORK, or keeps it (and says so) when the run
# failed or BENCH_KEEP=1.
remove_work() {
	[[ -n $WORK && -d $WORK ]] || return 0
	if [[ ${BENCH_KEEP:-0} == 1 || $1 != 0 ]]; then
		log "$2 kept in $WORK"
	else
		rm -rf -- "$WORK"
	fi
}

rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

no_monitor_client() { ! rcli client list | grep -q 'flags=O'; }

# capture OUT MARK CMD...: runs CMD with redis-cli MONITOR attached and
# writes to OUT the commands memoryd sent for it: those of the Redis
# connection whose first command mentions MARK, less those run inside
# scripts and connection set-up (SCRIPT, AUTH, SELECT, HELLO, CLIENT, PING).
capture() {
	local out=$1 mark=$2 sentinel="bench-capture-end-$RANDOM" client
	shift 2
	# redis-cli itself, not the rcli function: $! must be its PID.
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" monitor >"$WORK/monitor.raw" &
	MONITOR_PID=$!
	wait_until "redis-cli monitor" "$MONITOR_PID" grep -q '^OK' "$WORK/monitor.raw"
	"$@"
	rcli echo "$sentinel" >/dev/null
	wait_until "redis-cli monitor" "$MONITOR_PID" grep -q "$sentinel" "$WORK/monitor.raw"
	stop_pid "$MONITOR_PID"
	MONITOR_PID=''
	# A MONITOR left attached would slow every later phase.
	wait_until "the MONITOR client to leave" "$REDIS_PID" no_monitor_client
	: >"$out"
	client=$(grep -a -F "$mark" "$WORK/monitor.raw" | grep -a -v ' lua\]' | head -1 |
		sed -n 's/^[0-9.]* \[[0-9]* \([^]]*\)\] .*/\1/p')
	[[ -n $client ]] || return 0
	grep -a -F "$client] " "$WORK/monitor.raw" |
		grep -a -i -v -E '\] "(script|auth|select|hello|client|ping)"' >"$out" || true
}
