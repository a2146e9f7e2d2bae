#!/usr/bin/env bash
# Issue 15 item 8: expensive requests do not stall the others. 8 connections
# send /memory/search requests that read every one of 5,000 items and pages
# of 200 ~10 KB checkpoints back to back; get-latest on another connection
# must keep being answered promptly: every get 200, the median under 100 ms
# and the 90th percentile under half the median heavy request. (Before, a
# worker thread ran a heavy request to its end before the next request of
# any connection it held: gets waited for them.) Then: with HEAVY_THREADS=1
# (16 may wait) 24 connections of heavy requests get some 503 with
# Retry-After (heavy.py checks it), the rest 200; and SIGTERM while heavy
# requests run and wait exits 0, with or without a grace period (those begun
# finish, those still waiting after it get 503, no connection is left
# suspended). Timings are generous: ASan, and a machine running other tests;
# speed is bench/heavy.sh's.
# Usage: tests/ops/heavy.sh (MEMORYD_BIN, REDIS_URL from scripts/test)
set -euo pipefail
: "${REDIS_URL:?}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init heavy
H="$ROOT/tests/ops/heavy.py"
prefix=opsheavy
mt_start_memoryd /healthz KEY_PREFIX="$prefix"
python3 "$H" seed "$MT_URL" heavy 5000 200 || mt_fail "seeding failed"

python3 "$H" load "$MT_URL" heavy 8 8 mix >"$MT_WORK/load.json" &
load=$!
sleep 2
python3 "$H" gets "$MT_URL" heavy 4 >"$MT_WORK/gets.json" || mt_fail "the gets failed"
wait "$load" || mt_fail "the heavy load failed"
gets="$(cat "$MT_WORK/gets.json")" heavy="$(cat "$MT_WORK/load.json")"
echo "gets beside heavy requests: $gets"
echo "heavy requests: $heavy"
jq -e --argjson h "$heavy" '
  (.statuses | keys) == ["200"] and .requests >= 10 and .p50_ms < 100 and
  ($h.statuses | keys) == ["200"] and $h.requests >= 8 and .p90_ms < $h.p50_ms / 2' \
    <<<"$gets" >/dev/null || mt_fail "gets stalled beside heavy requests: gets $gets, heavy $heavy"
# SIGTERM while heavy requests run and wait, within the grace period
python3 "$H" load "$MT_URL" heavy 8 5 mix >/dev/null &
load=$!
sleep 1
mt_stop_memoryd
wait "$load" || true

# the heavy queue is bounded: 503 with Retry-After beyond it
mt_start_memoryd /healthz KEY_PREFIX="$prefix" HEAVY_THREADS=1 SHUTDOWN_GRACE_SECONDS=0
python3 "$H" load "$MT_URL" heavy 24 4 search >"$MT_WORK/load.json" &
load=$!
sleep 1
wait "$load" || mt_fail "the heavy load failed"
heavy="$(cat "$MT_WORK/load.json")"
echo "24 connections, HEAVY_THREADS=1: $heavy"
jq -e '.statuses["503"] > 0 and .statuses["200"] > 0 and (.statuses | keys) == ["200", "503"]' \
    <<<"$heavy" >/dev/null || mt_fail "want 200s and 503s from a full heavy queue: $heavy"

# SIGTERM with no grace while one heavy request runs and others wait:
# those answered 503 unbegun, memoryd exits 0
python3 "$H" load "$MT_URL" heavy 8 5 search >/dev/null &
load=$!
sleep 1
mt_stop_memoryd
wait "$load" || true

redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" | xargs -r -n 500 redis-cli -u "$REDIS_URL" UNLINK >/dev/null
echo "heavy: ok"
