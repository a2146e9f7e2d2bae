#!/usr/bin/env bash
# SIGTERM during a burst: memoryd stops accepting, answers every request
# already in flight, and exits 0. Uploads are rate-limited so that they are
# still arriving when the signal comes.
set -euo pipefail
bin="${MEMORYD_BIN:?}"
: "${REDIS_URL:?}"
work="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# A port below the ephemeral range (scripts/lib.sh): one in it can be held in
# TIME-WAIT by an earlier test's outgoing connection, and the bind fails.
# shellcheck source=scripts/lib.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/lib.sh"
port="$(free_port)"
PORT=$port BIND_ADDRESS=127.0.0.1 SHUTDOWN_GRACE_SECONDS=30 "$bin" 2>"$work/log" &
pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
curl -sf "http://127.0.0.1:$port/healthz" >/dev/null

# A ~300 KB checkpoint put: one blob of 224 KB of base64.
blob="$(head -c 230000 /dev/urandom | base64 -w0)"
printf '{"thread_id":"sigterm-%%s","checkpoint_id":"1","checkpoint":{"id":"1","channel_versions":{"c":1}},"blobs":[{"channel":"c","version":1,"type":"bytes","data":"%s"}]}' \
    "$blob" >"$work/body.fmt"
n=16
for i in $(seq 1 "$n"); do
    # shellcheck disable=SC2059
    printf "$(cat "$work/body.fmt")" "$i" >"$work/body.$i"
    curl -s -o /dev/null -w '%{http_code}\n' --limit-rate 200K -X POST \
        -H 'Content-Type: application/json' -H 'X-Tenant-Id: sigterm' \
        --data-binary "@$work/body.$i" "http://127.0.0.1:$port/checkpoints" >"$work/code.$i" &
done
sleep 0.5
kill -TERM "$pid"
started=$SECONDS
wait_status=0
for job in $(jobs -p); do
    [[ "$job" == "$pid" ]] && continue
    wait "$job" || true
done
wait "$pid" || wait_status=$?
codes="$(cat "$work"/code.* | sort | uniq -c | tr '\n' ' ')"
echo "answers: $codes; memoryd exit status $wait_status after $((SECONDS - started)) s"
if [[ "$wait_status" != 0 ]]; then
    tail -20 "$work/log" >&2
    echo "memoryd did not exit 0 on SIGTERM" >&2
    exit 1
fi
if [[ "$(cat "$work"/code.* | grep -vc '^201$' || true)" != 0 ]]; then
    tail -20 "$work/log" >&2
    echo "a request in flight at SIGTERM was not answered 201" >&2
    exit 1
fi
grep -q '"msg":"shutting down"' "$work/log"
# And the data is there: every acknowledged put is readable.
for i in $(seq 1 "$n"); do
    redis-cli -u "$REDIS_URL" EXISTS "langgraph:checkpoint:{sigterm:sigterm-$i}::1" | grep -qx 1 ||
        { echo "checkpoint $i acknowledged but not in Redis" >&2; exit 1; }
done
echo "16 passed, 0 failed"
