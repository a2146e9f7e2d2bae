# bench/lib.sh: shell helpers bench/run.sh and bench/conv.sh share (sourced).
# They use the caller's globals: WORK, REDIS_PORT, REDIS_PID, MONITOR_PID, and
# its log and die functions.

stop_pid() {
	local pid=$1
	[[ -n $pid ]] || return 0
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# A TCP port on 127.0.0.1 that nothing answers on (a race remains; the
# servers fail loudly if they lose it).
free_port() {
	local p _
	for _ in $(seq 1 200); do
		p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

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
