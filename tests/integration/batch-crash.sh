#!/usr/bin/env bash
# A store failure mid-batch leaves no partial batch: four clients append
# batches of 20 messages to one conversation while its Redis (AOF, fsync
# always) is SIGKILLed and started again from its files. Afterwards every
# batch is there whole, on consecutive seqs, or not at all, and every batch
# memoryd acknowledged is there.
# Usage: tests/integration/batch-crash.sh   (MEMORYD_BIN from scripts/test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init batch-crash

rport="$(free_port)"
start_redis "$MT_WORK/redis" "$rport" --aof
mt_start_memoryd /readyz REDIS_URL="redis://127.0.0.1:$rport/0" REDIS_CONNECT_TIMEOUT_MS=200 \
    CONV_MAX_BATCH=20 CONV_MAX_MESSAGES=1000000

writer() { # W: batches w<W>-<j> until the stop file exists; acknowledged ones to ack.<W>
    local w="$1" j=0
    while [[ ! -e "$MT_WORK/stop" ]]; do
        local msgs="" k
        for ((k = 0; k < 20; k++)); do
            msgs+="${msgs:+,}{\"id\":\"w$w-$j-$k\",\"role\":\"user\",\"content\":\"w$w-$j-$k\"}"
        done
        code="$(curl -s -o /dev/null -m 5 -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
            -H 'X-Tenant-Id: crash' --data "{\"messages\":[$msgs]}" "$MT_URL/conversations/c/messages")" || true
        [[ "$code" == 200 || "$code" == 201 ]] && echo "w$w-$j" >>"$MT_WORK/ack.$w"
        j=$((j + 1))
    done
}
writers=()
for w in 1 2 3 4; do
    writer "$w" &
    writers+=($!)
done
sleep 1
kill -KILL "$STARTED_REDIS_PID"
wait "$STARTED_REDIS_PID" 2>/dev/null || true
sleep 0.3
start_redis "$MT_WORK/redis" "$rport" --aof # the same files: what was acknowledged is there
sleep 1
touch "$MT_WORK/stop"
for w in "${writers[@]}"; do wait "$w" || true; done

# every message, in seq order: batch -> count, and seqs consecutive within it
after=0
: >"$MT_WORK/all"
while :; do
    page="$(curl -s -H 'X-Tenant-Id: crash' "$MT_URL/conversations/c/messages?after_seq=$after&limit=1000")"
    n="$(jq '.messages | length' <<<"$page")"
    ((n > 0)) || break
    jq -r '.messages[] | "\(.seq) \(.content)"' <<<"$page" >>"$MT_WORK/all"
    after="$(jq '.messages[-1].seq' <<<"$page")"
done
total="$(wc -l <"$MT_WORK/all")"
((total > 0)) || mt_fail "nothing was stored"
bad="$(awk '{ split($2, p, "-"); b = p[1] "-" p[2]; k = p[3];
              if (!(b in first)) { first[b] = $1 - k; n[b] = 0 }
              if ($1 - k != first[b]) wrong[b] = 1
              n[b]++ }
            END { for (b in n) if (n[b] != 20 || (b in wrong)) print b, n[b] }' "$MT_WORK/all")"
[[ -z "$bad" ]] || mt_fail "partial or interleaved batches (batch count): $bad"
missing=0
for f in "$MT_WORK"/ack.*; do
    [[ -f "$f" ]] || continue
    while read -r b; do
        grep -q " $b-0\$" "$MT_WORK/all" || { echo "acknowledged $b is missing" >&2; missing=$((missing + 1)); }
    done <"$f"
done
((missing == 0)) || mt_fail "$missing acknowledged batch(es) lost"
acked="$(cat "$MT_WORK"/ack.* 2>/dev/null | wc -l)"
batches=$((total / 20))
echo "batch-crash: $batches whole batches of 20 stored ($acked acknowledged), none partial"

mt_stop_memoryd
echo "1 passed, 0 failed"
