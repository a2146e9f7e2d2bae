#!/usr/bin/env bash
# bench/put_instructions.sh: redis-server's instructions per checkpoint put
# (callgrind), for memoryd's put (its blob SETs, registry SADD and EXPIRE,
# and checkpoint_put.lua, in one round trip) and bench/put_simple.lua (or the
# scripts given), each on a throwaway redis-server under valgrind. Counts
# what runs inside the commands a put sends (--toggle-collect=processCommand:
# each top-level command, with what a script calls), without reading and
# parsing the requests or writing replies: Redis's time per put, as INFO
# commandstats' usec_per_call times one command, without the timer's noise.
# A benchmark, not a test. See bench/README.md.
#   bench/put_instructions.sh [SCRIPT...]
#   service/redis/lua/checkpoint_put.lua runs as memoryd sends it
#   (redis_driver --mode script); any other script gets put_simple.lua's
#   KEYS and ARGV (--mode simple).
#   PUT_OPS=800 PUT_THREADS=4: puts per run, and the threads they spread over
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
OPS=${PUT_OPS:-800}
THREADS=${PUT_THREADS:-4}
BLOB_RAW=2475 # bench/run.sh's: 3300 base64 characters
REDIS_PID='' WORK=''

# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

cleanup() {
	local rc=$?
	stop_pid "$REDIS_PID"
	[[ -n $WORK ]] && rm -rf -- "$WORK"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind)"
command -v callgrind_control >/dev/null || die "needs callgrind_control (valgrind)"
mkdir -p -- "$BUILD"
cc -std=c11 -O2 -Wall -Wextra -pthread -o "$BUILD/redis_driver" "$ROOT/bench/redis_driver.c" \
	-lhiredis || die "redis_driver build failed"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-putins.XXXXXX")
(($# > 0)) || set -- "$ROOT/service/redis/lua/checkpoint_put.lua" "$ROOT/bench/put_simple.lua"

# count SCRIPT: one line, "<script> <puts> <instructions per put>"
count() {
	local script=$1 port out calls ir mode=simple
	[[ $(basename -- "$script") == checkpoint_put.lua ]] && mode=script
	port=$(free_port)
	out="$WORK/cg.$port"
	valgrind --tool=callgrind --toggle-collect=processCommand --callgrind-out-file="$out" \
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--dir "$WORK" >"$WORK/valgrind.log" 2>&1 &
	REDIS_PID=$!
	for _ in $(seq 1 300); do
		redis-cli -p "$port" ping >/dev/null 2>&1 && break
		sleep 0.1
	done
	# the script loaded and a first put per thread (new threads), then zeroed
	"$BUILD/redis_driver" --port "$port" --conns 1 --seconds 600 --ops "$THREADS" \
		--thread-spread "$THREADS" --prefix warm --mode "$mode" --script "$script" \
		--blob-size "$BLOB_RAW" >/dev/null
	redis-cli -p "$port" config resetstat >/dev/null
	callgrind_control -z "$REDIS_PID" >/dev/null 2>&1
	"$BUILD/redis_driver" --port "$port" --conns 1 --seconds 600 --ops "$OPS" \
		--thread-spread "$THREADS" --prefix warm --mode "$mode" --script "$script" \
		--blob-size "$BLOB_RAW" >/dev/null
	callgrind_control -d "$REDIS_PID" >/dev/null 2>&1
	calls=$(redis-cli -p "$port" info commandstats | tr -d '\r' |
		sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p')
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
	wait "$REDIS_PID" 2>/dev/null || true
	REDIS_PID=''
	ir=$(awk '/^(summary|totals):/ { print $2; exit }' "$out".*)
	awk -v s="${script#"$ROOT"/}" -v c="$calls" -v i="$ir" \
		'BEGIN { printf "%-40s %6d puts %10.1fk instructions per put\n", s, c, i / c / 1000 }'
}

for s in "$@"; do
	count "$s"
done
