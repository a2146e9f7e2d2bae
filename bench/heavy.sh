#!/usr/bin/env bash
# Issue 15 item 8: get-latest latency alone and while HEAVY_CONNS connections
# send the most expensive requests back to back; the p99 ratio (target: at
# most 2).
#
# The expensive requests (tests/ops/heavy.py, HEAVY_KIND): "search", a
# /memory/search whose filter matches none of HEAVY_ITEMS items (it reads
# them all), "list", a page of HEAVY_CHECKPOINTS ~10 KB checkpoints (limit 1000,
# RESPONSE_MAX_BYTES 4 MiB), or "mix", both in turn. The gets: wrk (bench/get.lua)
# on GET_CONNS connections over the 8 threads bench-get-N, BENCH_SECONDS a phase.
#
# How: ROUNDS rounds, each one phase of gets alone and one beside the heavy
# connections (heavy.py phases: the heavy clients stay up; they are switched
# on WARMUP_SECONDS before a beside phase and off after it, and an alone
# phase starts once every heavy request sent has been answered). Odd rounds
# run alone first, even ones beside first. On a machine whose other load
# comes and goes, a phase's p99 moves a lot from one phase to the next: the
# alternation puts both kinds of phase in the same minute, and the figures
# are the medians over the rounds of each kind's p50 and p99, and the ratio
# of the p99 medians. Each round is printed too, with memoryd's own view:
# the share of the phase's gets memoryd took over 2.5 ms (its /metrics
# histogram, headers in to response sent), which tells a tail of
# memoryd's (its Redis round trip included) from one of the scheduling of
# the client and the kernel around it.
#
#   bench/heavy.sh                      # builds build-bench/memoryd (Release)
#   MEMORYD_BIN=path bench/heavy.sh     # that binary, no build
#
# Variables: ROUNDS (5), BENCH_SECONDS (4), WARMUP_SECONDS (1), GET_CONNS (8),
# HEAVY_CONNS (8), HEAVY_KIND (mix), HEAVY_ITEMS (20000), HEAVY_CHECKPOINTS
# (400), and memoryd's own (HTTP_THREADS, HEAVY_THREADS, ...) pass through.
# Needs wrk, jq, curl, python3, redis-server. A throwaway Redis and memoryd
# on free ports; everything runs unpinned on the same cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"

SECS="${BENCH_SECONDS:-4}"
ROUNDS="${ROUNDS:-5}"
WARMUP="${WARMUP_SECONDS:-1}"
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
MEMORYD_PID=''
cleanup() {
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

# One phase of gets: heavy.py phases runs it with PHASE set.
cat >"$WORK/gets.sh" <<EOF
#!/usr/bin/env bash
BENCH_DIR='$ROOT/bench' BENCH_NAME="get_\$PHASE" TENANT='$TENANT' GET_THREADS=8 \\
	exec wrk -t1 -c'$GET_CONNS' -d'${SECS}s' -s '$ROOT/bench/get.lua' '$URL'
EOF
chmod +x "$WORK/gets.sh"

log "$ROUNDS rounds: gets ${SECS} s alone, and ${SECS} s beside $HEAVY_CONNS $HEAVY_KIND connections"
python3 "$ROOT/tests/ops/heavy.py" phases "$URL" "$TENANT" "$HEAVY_CONNS" "$HEAVY_KIND" \
	"$ROUNDS" "$WARMUP" -- "$WORK/gets.sh" >"$WORK/phases.json"

jq -c --arg k "$HEAVY_KIND" --argjson c "$HEAVY_CONNS" \
	'{name: "get_\(.phase)", round, heavy_kind: $k, heavy_connections: $c, result, server, heavy}' \
	"$WORK/phases.json"
jq -rs '
  def med: sort | if length % 2 == 1 then .[length / 2 | floor]
    else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def r2: . * 100 | round / 100;
  def pct: . * 1000 | round / 10;
  map(select(.phase == "alone")) as $a | map(select(.phase == "beside")) as $b |
  (group_by(.round)[] | (map(select(.phase == "alone"))[0]) as $x |
    (map(select(.phase == "beside"))[0]) as $y |
    "round \($x.round): alone p50 \($x.result.p50_ms) p99 \($x.result.p99_ms) ms" +
    " (memoryd > 2.5 ms: \($x.server.over_2_5_ms | pct)%);" +
    " beside p50 \($y.result.p50_ms) p99 \($y.result.p99_ms) ms" +
    " (memoryd > 2.5 ms: \($y.server.over_2_5_ms | pct)%; \($y.result.rps | floor) gets/s," +
    " \($y.heavy.requests) heavy); p99 ratio \($y.result.p99_ms / $x.result.p99_ms | r2)"),
  "get-latest alone:        p50 \($a | map(.result.p50_ms) | med) ms  p99 \($a | map(.result.p99_ms) | med) ms  (medians of \($a | length) phases)",
  "get-latest beside heavy: p50 \($b | map(.result.p50_ms) | med) ms  p99 \($b | map(.result.p99_ms) | med) ms  (non-2xx \($b | map(.result.non_2xx_3xx) | add))",
  "heavy requests:          \($b | map(.heavy.requests) | add) done, p50 \($b | map(.heavy.p50_ms) | med) ms (median), statuses \([$b[].heavy.statuses | to_entries[]] | group_by(.key) | map({(.[0].key): (map(.value) | add)}) | add)",
  "p99 ratio: \(($b | map(.result.p99_ms) | med) / ($a | map(.result.p99_ms) | med) | r2) (median beside over median alone; target <= 2)"' \
	"$WORK/phases.json"
