#!/usr/bin/env bash
# Issue 15 item 8: get-latest latency alone, then while HEAVY_CONNS
# connections send the most expensive requests back to back; prints both
# p50/p99 and the p99 ratio (target: at most 2).
#
# The expensive requests (tests/ops/heavy.py, HEAVY_KIND): "search", a
# /memory/search whose filter matches none of HEAVY_ITEMS items (it reads
# them all), "list", a page of HEAVY_CHECKPOINTS ~10 KB checkpoints (limit 1000,
# RESPONSE_MAX_BYTES 4 MiB), or "mix", both in turn. The gets: wrk (bench/get.lua)
# on GET_CONNS connections over the 8 threads bench-get-N.
#
#   bench/heavy.sh                      # builds build-bench/memoryd (Release)
#   MEMORYD_BIN=path bench/heavy.sh     # that binary, no build
#
# Variables: BENCH_SECONDS (10), GET_CONNS (8), HEAVY_CONNS (8), HEAVY_KIND
# (mix), HEAVY_ITEMS (20000), HEAVY_CHECKPOINTS (400), and memoryd's own
# (HTTP_THREADS, HEAVY_THREADS, ...) pass through. Needs wrk, jq, curl,
# python3, redis-server. A throwaway Redis and memoryd on free ports.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SECS="${BENCH_SECONDS:-10}"
GET_CONNS="${GET_CONNS:-8}"
HEAVY_CONNS="${HEAVY_CONNS:-8}"
HEAVY_KIND="${HEAVY_KIND:-mix}"
ITEMS="${HEAVY_ITEMS:-20000}"
CHECKPOINTS="${HEAVY_CHECKPOINTS:-400}"
TENANT=bench

if [[ -z "${MEMORYD_BIN:-}" ]]; then
	cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build "$ROOT/build-bench" -j2 --target memoryd >/dev/null
	MEMORYD_BIN="$ROOT/build-bench/memoryd"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-heavy.XXXXXX")"
MEMORYD_PID='' LOAD_PID=''
cleanup() {
	stop_pid "$LOAD_PID"
	stop_pid "$MEMORYD_PID"
	stop_all
	rm -rf "$WORK"
}
trap cleanup EXIT

start_redis "$WORK/redis" "$(free_port)" 2>/dev/null
HTTP_PORT="$(free_port)"
URL="http://127.0.0.1:$HTTP_PORT"
env -u DATABASE_URL PORT="$HTTP_PORT" BIND_ADDRESS=127.0.0.1 REDIS_URL="$STARTED_REDIS_URL" \
	LOG_LEVEL="${MEMORYD_LOG_LEVEL:-warn}" "$MEMORYD_BIN" 2>"$WORK/memoryd.log" </dev/null &
MEMORYD_PID=$!
wait_until memoryd "$MEMORYD_PID" curl -sf "$URL/healthz"

log "seeding: $ITEMS memory items, $CHECKPOINTS checkpoints"
python3 "$ROOT/tests/ops/heavy.py" seed "$URL" "$TENANT" "$ITEMS" "$CHECKPOINTS"

gets() {
	BENCH_DIR="$ROOT/bench" BENCH_NAME="$1" TENANT="$TENANT" GET_THREADS=8 \
		wrk -t1 -c"$GET_CONNS" -d"${SECS}s" -s "$ROOT/bench/get.lua" "$URL" | tail -n 1
}

alone="$(gets get_alone)"
python3 "$ROOT/tests/ops/heavy.py" load "$URL" "$TENANT" "$HEAVY_CONNS" "$((SECS + 2))" \
	"$HEAVY_KIND" >"$WORK/load.json" &
LOAD_PID=$!
sleep 1
beside="$(gets get_beside_heavy)"
wait "$LOAD_PID"
LOAD_PID=''
heavy="$(cat "$WORK/load.json")"

echo "$alone"
echo "$beside"
echo "{\"name\":\"heavy_$HEAVY_KIND\",\"connections\":$HEAVY_CONNS,\"result\":$heavy}"
jq -rn --argjson a "$alone" --argjson b "$beside" --argjson h "$heavy" '
  "get-latest alone:        p50 \($a.p50_ms) ms  p99 \($a.p99_ms) ms  (\($a.rps|floor) req/s)",
  "get-latest beside heavy: p50 \($b.p50_ms) ms  p99 \($b.p99_ms) ms  (\($b.rps|floor) req/s, non-2xx \($b.non_2xx_3xx))",
  "heavy requests:          \($h.requests) done, p50 \($h.p50_ms) ms, statuses \($h.statuses)",
  "p99 ratio: \(($b.p99_ms / $a.p99_ms * 100 | round) / 100) (target <= 2)"'
