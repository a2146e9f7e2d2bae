#!/usr/bin/env bash
# METRICS_PORT: a second listener with the probes and /metrics only, while
# PORT keeps serving everything. Run under tests/with-memoryd.sh with
# METRICS_PORT set to a free port.
set -euo pipefail
main="${MEMORYD_URL:?}"
probe="http://127.0.0.1:${METRICS_PORT:?}"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
fail=0
check() { # name want got
    if [[ "$2" == "$3" ]]; then echo "ok: $1"; else echo "FAIL: $1: want $2, got $3"; fail=$((fail + 1)); fi
}
check "metrics port /metrics" 200 "$(code "$probe/metrics")"
check "metrics port /healthz" 200 "$(code "$probe/healthz")"
check "metrics port /readyz" 200 "$(code "$probe/readyz")"
check "metrics port /health/memory" 200 "$(code "$probe/health/memory")"
check "metrics port refuses the API" 404 "$(code "$probe/checkpoints/t1")"
check "main port serves the API" 404 "$(code -H 'X-Tenant-Id: mp' "$main/checkpoints/t1")"
check "main port keeps /metrics" 200 "$(code "$main/metrics")"
# Read whole before grep: grep -q stops early, and with pipefail curl's SIGPIPE on a
# long /metrics would read as a failure.
metrics="$(curl -s "$probe/metrics")"
grep -q '^redis_up 1$' <<<"$metrics" || { echo "FAIL: redis_up 1 missing"; fail=$((fail + 1)); }
echo "$((8 - fail)) passed, $fail failed"
[[ "$fail" == 0 ]]
