#!/usr/bin/env bash
# Scrape the running memoryd (MEMORYD_URL) after some traffic and check the
# exposition with Prometheus's promtool. promtool comes from Debian's
# prometheus package, unpacked (not installed) into the build directory.
set -euo pipefail
dir="${1:?usage: promtool.sh BUILD_DIR}"
promtool="$(command -v promtool || true)"
if [[ -z "$promtool" ]]; then
    promtool="$dir/prometheus-pkg/usr/bin/promtool"
    if [[ ! -x "$promtool" ]]; then
        rm -rf "$dir/prometheus-pkg" && mkdir -p "$dir/prometheus-pkg"
        cd "$dir/prometheus-pkg"
        if ! apt-get download prometheus >/dev/null 2>&1; then
            apt-get update -qq && apt-get download prometheus >/dev/null
        fi
        cd - >/dev/null
        dpkg -x "$dir"/prometheus-pkg/prometheus_*.deb "$dir/prometheus-pkg"
    fi
fi
url="${MEMORYD_URL:?}"
curl -sf "$url/healthz" >/dev/null
curl -s -H 'X-Tenant-Id: promtool' "$url/checkpoints/nothing-here" >/dev/null || true
curl -s -X POST "$url/checkpoints" -H 'Content-Type: application/json' \
    -d '{"thread_id":"p","checkpoint_id":"1","checkpoint":{}}' >/dev/null
# with ADMIN_TOKEN: an archival pass first, so the archiver's gauges are there too
if [[ -n "${ADMIN_TOKEN:-}" ]]; then
    curl -sf -X POST -H "Authorization: Bearer $ADMIN_TOKEN" "$url/admin/archive" >/dev/null
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
curl -sf "$url/metrics" >"$out"
grep -q '^http_requests_total{' "$out"
if [[ -n "${ADMIN_TOKEN:-}" ]]; then grep -q '^archiver_last_run_timestamp_seconds ' "$out"; fi
# redis_latency_p95_ms and postgres_latency_p95_ms are names the operators'
# runbooks and alerts already use (a contract), and promtool's lint objects to
# the "ms" in them. That one finding is expected; anything else fails.
status=0
report="$("$promtool" check metrics <"$out" 2>&1)" || status=$?
unexpected="$(printf '%s\n' "$report" |
    grep -Ev '^((redis|postgres)_latency_p95_ms metric names should not contain abbreviated units)?$' || true)"
if [[ -n "$unexpected" || ($status != 0 && $status != 3) ]]; then
    printf 'promtool check metrics failed (status %s):\n%s\n' "$status" "$report" >&2
    exit 1
fi
echo "promtool: $(grep -vc '^#' "$out") samples pass 'promtool check metrics'" \
    "(expected lint on the contracted *_latency_p95_ms names only)"
