#!/usr/bin/env bash
# Usage: tests/archive/archive.sh MEMORYD_BIN CASE
# The archiver on real servers: the Redis in REDIS_URL and the PostgreSQL in
# DATABASE_URL (from scripts/test), in a database of its own and under key
# prefixes of its own, so no other test's data is in its way or in reach. A
# memoryd (tests/with-memoryd.sh) takes the appends; `memoryd archive`,
# `archiver` and `retention` run beside it. Every assertion reads the stores
# (psql, redis-cli) as well as what memoryd says. Cases:
#   basic     idle conversations archived and gone from Redis, the active one
#             stays; a second pass archives nothing; customer_id null kept;
#             the log lines; the health file; reads and appends after it
#   kill      passes SIGKILLed at random points, then a clean pass: every
#             message in PostgreSQL exactly once, nothing left in Redis
#   race      an append while a pass holds the conversation: the pass leaves
#             it in Redis, nothing is lost, the next pass archives it all
#   shards    ARCHIVE_SHARD=0/2 and 1/2 archive exactly what one pass would
#   threads   idle checkpoint threads (every namespace, values, pending writes)
#             archived to the checkpoint tables and gone from Redis, served
#             alike by read-through; the active one stays; a put while a pass
#             waits on PostgreSQL leaves the thread in Redis for the next pass
#   retention old history deleted in batches, --export holds exactly it
#   archiver  `memoryd archiver` runs on its schedule and stops on SIGTERM;
#             the start-up refusals
#   term      `memoryd archiver` gets SIGTERM mid-pass: it finishes the batch
#             it is writing and exits 0 within 2 s; one stuck on PostgreSQL
#             exits at SHUTDOWN_GRACE_SECONDS; run again, every message and
#             checkpoint is in PostgreSQL exactly once and Redis holds none
set -euo pipefail

bin="${1:?usage: $0 MEMORYD_BIN CASE}"
case_name="${2:?usage: $0 MEMORYD_BIN CASE}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'

fail() {
    echo "archive.sh ($case_name): FAIL: $*" >&2
    for f in "$TMP"/*.log; do
        [[ -f "$f" ]] && { echo "---- $f" >&2; tail -n 40 "$f" >&2; }
    done
    [[ -n "${MEMORYD_LOG:-}" && -f "${MEMORYD_LOG:-}" ]] && { echo "---- memoryd" >&2; tail -n 40 "$MEMORYD_LOG" >&2; }
    exit 1
}

pg() { psql "$ARCH_DB_URL" -XAtq -v ON_ERROR_STOP=1 -c "$1"; }
rd() { redis-cli -u "$REDIS_URL" "$@"; }

now_ms() {
    local t="${EPOCHREALTIME//[.,]/}"
    printf '%s\n' "$((10#$t / 1000))"
}

# ---------------------------------------------------------------------------
# Outer part: a database and key prefixes of its own, then memoryd around the
# inner part.
if [[ "${ARCH_INNER:-}" != 1 ]]; then
    : "${DATABASE_URL:?DATABASE_URL is not set; run the tests through scripts/test}"
    : "${REDIS_URL:?REDIS_URL is not set; run the tests through scripts/test}"
    db="memoryd_arch_${case_name}_$$"
    base="${DATABASE_URL%%\?*}"
    query=""
    [[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
    admin_url="${base%/*}/postgres$query"
    TMP="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-archive.XXXXXX")"
    prefix="arch${case_name}$$"
    cleanup() {
        psql "$admin_url" -XAtq -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
        redis-cli -u "$REDIS_URL" --scan --pattern "$prefix*" 2>/dev/null |
            xargs -r redis-cli -u "$REDIS_URL" UNLINK >/dev/null 2>&1 || true
        rm -rf "$TMP"
    }
    trap cleanup EXIT
    psql "$admin_url" -XAtq -c "CREATE DATABASE $db" >/dev/null
    export ARCH_INNER=1 ARCH_TMP="$TMP" ARCH_DB_URL="${base%/*}/$db$query"
    export DATABASE_URL="$ARCH_DB_URL" CONV_KEY_PREFIX="$prefix" KEY_PREFIX="${prefix}k"
    export CONV_TTL_SECONDS=600 CHECKPOINT_TTL_SECONDS=600 ARCHIVE_AFTER_SECONDS=2
    export ARCHIVE_INTERVAL_SECONDS=1 ARCHIVE_RETRY_DELAY_SECONDS=0
    export ARCHIVER_HEALTH_FILE="$TMP/archiver_health.json"
    "$ROOT/tests/with-memoryd.sh" "$0" "$bin" "$case_name"
    exit $?
fi

# ---------------------------------------------------------------------------
# Inner part: MEMORYD_URL serves the API.
TMP="$ARCH_TMP"
P="$CONV_KEY_PREFIX"
T="tenant-$case_name"

# append CONV N [CUSTOMER] [TAG]: N messages "<CONV>-m<k>" (k from the
# conversation's next seq), with ids.
append() {
    local conv="$1" n="$2" customer="${3:-}" tag="${4:-}" msgs="" k
    for ((k = 1; k <= n; k++)); do
        msgs+="${msgs:+,}{\"id\":\"$conv-$tag$k\",\"role\":\"user\",\"content\":\"$conv-$tag$k\"}"
    done
    local body="{\"messages\":[$msgs]${customer:+,\"customer_id\":\"$customer\"}}"
    local code
    code="$(curl -s -o "$TMP/append.out" -w '%{http_code}' -X POST \
        "$MEMORYD_URL/conversations/$conv/messages" -H 'Content-Type: application/json' \
        -H "X-Tenant-Id: $T" -d "$body")"
    [[ "$code" == 200 || "$code" == 201 ]] || fail "append to $conv: $code $(cat "$TMP/append.out")"
}

meta_key() { printf '%s:meta:{%s:%s}' "$P" "$T" "$1"; }
msgs_key() { printf '%s:msgs:{%s:%s}' "$P" "$T" "$1"; }

# wait_key_idle KEY TTL SECONDS: until KEY was last written SECONDS ago (what
# the archiver reads: the configured TTL minus the TTL left), within 20 s.
wait_key_idle() {
    local deadline pttl
    deadline=$(($(now_ms) + 20000))
    while :; do
        pttl="$(rd PTTL "$1")"
        ((pttl > 0)) || fail "$1 has no TTL ($pttl)"
        (($2 * 1000 - pttl >= $3 * 1000 + 50)) && return 0
        (($(now_ms) < deadline)) || fail "$1 never became idle"
        sleep 0.1
    done
}

wait_idle() { wait_key_idle "$(meta_key "$1")" "$CONV_TTL_SECONDS" "$2"; }
wait_thread_idle() { wait_key_idle "$KEY_PREFIX:thread:{$T:$1}:keys" "$CHECKPOINT_TTL_SECONDS" "$2"; }

# health_ok: the health file is there and is a valid health JSON object.
health_ok() {
    python3 - "$ARCHIVER_HEALTH_FILE" <<'PY' || fail "health file invalid: $(cat "$ARCHIVER_HEALTH_FILE" 2>&1)"
import json, re, sys
h = json.load(open(sys.argv[1]))
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", h["last_run"]), h
assert h["status"] in ("healthy", "unhealthy"), h
for k in ("checkpoints_archived", "messages_archived", "errors"):
    assert isinstance(h[k], int) and h[k] >= 0, h
PY
}

health() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$ARCHIVER_HEALTH_FILE" "$1"; }

# archive [VAR=value...]: one `memoryd archive`, which must exit 0.
archive() {
    local log="$TMP/archive.log" rc=0
    env "$@" "$bin" archive >"$log" 2>&1 || rc=$?
    grep -Eq "$SANITIZER_RE" "$log" && fail "sanitizer error in memoryd archive"
    ((rc == 0)) || fail "memoryd archive exited $rc"
    health_ok
}

# history CONV: "seq|content" lines of its archived messages, in seq order.
history() {
    pg "SELECT seq || '|' || content FROM memoryd.conversation_history
        WHERE tenant = '$T' AND conversation_id = '$1' ORDER BY seq"
}

expect_history() { # CONV N [TAG]: exactly seqs 1..N with their contents
    local want="" k
    for ((k = 1; k <= $2; k++)); do want+="$k|$1-${3:-}$k"$'\n'; done
    [[ "$(history "$1")"$'\n' == "$want" ]] || fail "history of $1: $(history "$1" | tr '\n' ' ') want $(echo "$want" | tr '\n' ' ')"
}

contents() { python3 -c 'import json,sys; print(",".join(m["content"] for m in json.load(sys.stdin)["messages"]))'; }

# put_cp THREAD NS ID PARENT VALUE: a checkpoint with one channel value.
put_cp() {
    local v64 code
    v64="$(printf '"%s"' "$5" | base64 -w0)"
    code="$(curl -s -o "$TMP/put.out" -w '%{http_code}' -X POST "$MEMORYD_URL/checkpoints" \
        -H 'Content-Type: application/json' -H "X-Tenant-Id: $T" -d "{\"thread_id\":\"$1\",
        \"checkpoint_ns\":\"$2\",\"checkpoint_id\":\"$3\",${4:+\"parent_checkpoint_id\":\"$4\",}
        \"checkpoint\":{\"v\":4,\"id\":\"$3\",\"channel_versions\":{\"messages\":\"$3\"}},
        \"metadata\":{\"step\":1,\"big\":123456789012345678901234567890},
        \"blobs\":[{\"channel\":\"messages\",\"version\":\"$3\",\"type\":\"json\",\"data\":\"$v64\"}]}")"
    [[ "$code" == 200 || "$code" == 201 ]] || fail "put $1/$3: $code $(cat "$TMP/put.out")"
}

# writes_cp THREAD NS ID TASK: two pending writes of a task.
writes_cp() {
    local code
    code="$(curl -s -o "$TMP/put.out" -w '%{http_code}' -X POST "$MEMORYD_URL/checkpoints/$1/writes" \
        -H 'Content-Type: application/json' -H "X-Tenant-Id: $T" -d "{\"checkpoint_ns\":\"$2\",
        \"checkpoint_id\":\"$3\",\"task_id\":\"$4\",\"task_path\":\"p/$4\",\"writes\":[
        {\"channel\":\"messages\",\"type\":\"json\",\"data\":\"WyJ3MSJd\"},
        {\"channel\":\"other\",\"type\":\"bytes\",\"data\":\"AAEC\"}]}")"
    [[ "$code" == 200 || "$code" == 201 ]] || fail "writes $1/$3: $code $(cat "$TMP/put.out")"
}

# thread_view THREAD: what the API answers for it (latest per namespace, by
# id, the list), normalised.
thread_view() {
    local th="$1" ns id
    for ns in "" sub; do
        curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints/$th?checkpoint_ns=$ns" || echo "none:$ns"
        for id in 0001 0002 0003; do
            curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints/$th?checkpoint_ns=$ns&checkpoint_id=$id" || echo "none:$ns:$id"
        done
    done
    curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints?thread_id=$th&limit=100" || echo "no list"
}

thread_keys() { rd --scan --pattern "$KEY_PREFIX:*{$T:$1}*"; }

# locked_pass TABLE LOG CMD...: CMD (a pass, its output in LOG) started
# while another session holds TABLE locked; returns once the pass waits on
# the lock, with the pass's pid in APID. unlock: the lock goes.
locked_pass() {
    local table="$1" log="$2" line deadline
    shift 2
    coproc LOCKER { psql "$ARCH_DB_URL" -XAtq -v ON_ERROR_STOP=1; }
    echo "BEGIN; LOCK TABLE memoryd.$table IN EXCLUSIVE MODE; SELECT 'locked';" >&"${LOCKER[1]}"
    read -r -t 20 line <&"${LOCKER[0]}" || fail "no lock on $table"
    [[ "$line" == locked ]] || fail "locker said $line"
    DATABASE_STATEMENT_TIMEOUT_MS=60000 "$@" >"$log" 2>&1 &
    APID=$!
    deadline=$(($(now_ms) + 20000))
    until [[ "$(pg "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%$table%'")" != 0 ]]; do
        (($(now_ms) < deadline)) || fail "the pass never reached $table"
        sleep 0.05
    done
}
unlock() {
    echo "COMMIT;" >&"${LOCKER[1]}"
    eval "exec ${LOCKER[1]}>&-"
}

# race_pass TABLE CMD...: a pass that waits on TABLE (locked by another
# session) while CMD runs; then the lock goes and the pass must end with 0.
race_pass() {
    local table="$1" rc=0
    shift
    locked_pass "$table" "$TMP/race.log" "$bin" archive
    "$@"
    unlock
    wait "$APID" || rc=$?
    ((rc == 0)) || fail "the racing pass exited $rc"
}

in_redis() { [[ "$(rd EXISTS "$(meta_key "$1")" "$(msgs_key "$1")")" != 0 ]]; }

case "$case_name" in
basic)
    append c1 3 cust-1
    append c2 2 # no customer
    append c3 4 cust-1
    code="$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$MEMORYD_URL/conversations/c3" \
        -H 'Content-Type: application/json' -H "X-Tenant-Id: $T" -d '{"metadata":{"topic":"té","n":1}}')"
    [[ "$code" == 200 ]] || fail "PATCH c3: $code"
    wait_idle c3 3
    append a1 2 cust-2 # active
    archive ARCHIVE_AFTER_SECONDS=3
    expect_history c1 3
    expect_history c2 2
    expect_history c3 4
    [[ -z "$(history a1)" ]] || fail "the active conversation was archived"
    [[ "$(pg "SELECT count(*) FROM memoryd.conversation_history WHERE conversation_id = 'c2' AND customer_id IS NULL")" == 2 ]] ||
        fail "c2 should be archived with customer_id null"
    [[ "$(pg "SELECT DISTINCT customer_id FROM memoryd.conversation_history WHERE conversation_id = 'c1'")" == cust-1 ]] ||
        fail "c1 lost its customer"
    for c in c1 c2 c3; do
        in_redis "$c" && fail "$c is still in Redis"
        [[ "$(rd EXISTS "$P:ids:{$T:$c}")" == 0 ]] || fail "$c's ids hash is still in Redis"
    done
    in_redis a1 || fail "the active conversation left Redis"
    [[ "$(rd ZCARD "$(msgs_key a1)")" == 2 ]] || fail "a1 lost messages"
    [[ -z "$(rd ZSCORE "$P:customer:{$T:cust-1}" c1)" ]] || fail "c1 still in its customer's index"
    [[ "$(health status)|$(health checkpoints_archived)|$(health messages_archived)|$(health errors)" == "healthy|3|9|0" ]] ||
        fail "health after the first pass: $(cat "$ARCHIVER_HEALTH_FILE")"
    log="$TMP/archive.log"
    grep -Eq '"msg":"Starting conversation archival run at [0-9-]{10}T[0-9:]{8}[+-][0-9]{2}:[0-9]{2}"' "$log" ||
        fail "no start line"
    # one line per SCAN step that found some: together, the three
    found="$(grep -o '"msg":"Found [0-9]* expired checkpoints to archive","count":[0-9]*,"kind":"conversation"' "$log" |
        sed 's/.*"count":\([0-9]*\).*/\1/' | awk '{ s += $1 } END { print s + 0 }')"
    [[ "$found" == 3 ]] || fail "Found lines count $found conversations, want 3"
    grep -Eq '"msg":"Completed archival run in [0-9]+\.[0-9]+s"' "$log" || fail "no completed line"
    # again: nothing new, nothing twice (a1 written again, a retry that
    # stores nothing, so that the checks above taking 3 s under load do not
    # make it idle)
    append a1 2 cust-2
    archive ARCHIVE_AFTER_SECONDS=3
    [[ "$(health checkpoints_archived)|$(health messages_archived)" == "0|0" ]] ||
        fail "a second pass archived again: $(cat "$ARCHIVER_HEALTH_FILE")"
    [[ "$(pg "SELECT count(*), count(DISTINCT (conversation_id, seq)) FROM memoryd.conversation_history")" == "9|9" ]] ||
        fail "history rows after two passes: $(pg "SELECT count(*) FROM memoryd.conversation_history")"
    in_redis a1 || fail "the active conversation left Redis on the second pass"
    # the conversation's own row is archived too: metadata, customer list, updates
    meta="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/conversations/c3")"
    [[ "$(jq -c .metadata <<<"$meta")" == '{"topic":"té","n":1}' ]] || fail "c3's metadata after archival: $meta"
    [[ "$(jq -r .customer_id <<<"$meta")|$(jq -r .message_count <<<"$meta")" == "cust-1|4" ]] ||
        fail "c3's row after archival: $meta"
    listed="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/conversations?customer_id=cust-1" |
        jq -r '[.conversations[].conversation_id] | sort | join(",")')"
    [[ "$listed" == "c1,c3" ]] || fail "cust-1's list after archival: $listed"
    code="$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$MEMORYD_URL/conversations/c3" \
        -H 'Content-Type: application/json' -H "X-Tenant-Id: $T" -d '{"metadata":{"topic":"later"}}')"
    [[ "$code" == 200 ]] || fail "PATCH of an archived conversation: $code"
    [[ "$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/conversations/c3" | jq -c .metadata)" == '{"topic":"later"}' ]] ||
        fail "the archived conversation's update did not hold"
    # the archive serves reads, and the numbering continues
    out="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/conversations/c1/messages")"
    [[ "$(contents <<<"$out")" == "c1-1,c1-2,c1-3" ]] ||
        fail "c1 read back: $out"
    append c1 1 cust-1 again
    [[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"][0]["seq"])' <"$TMP/append.out")" == 4 ]] ||
        fail "c1 did not continue its numbering: $(cat "$TMP/append.out")"
    ;;

kill)
    # Rounds: new idle conversations, then a pass SIGKILLed at a random
    # point: somewhere in the time a whole pass over a round took (round 0,
    # not killed, measures it; a pass that ended before its kill measures it
    # again, shorter, and one more round runs, up to 8, so that on a loaded
    # machine at least two passes are still killed mid-way).
    nconv=0 nmsg=40 killed=0 span=0 passes=0
    for round in 0 1 2 3 4 5 6 7 8; do
        ((round > 4 && killed >= 2)) && break
        for ((i = nconv + 1; i <= nconv + 100; i++)); do append "k$i" "$nmsg"; done
        for ((i = nconv + 1; i <= nconv + 10; i++)); do
            put_cp "kt$i" "" 0001 "" "v$i"
            put_cp "kt$i" "" 0002 0001 "w$i"
        done
        nconv=$((nconv + 100))
        wait_idle "k$nconv" 2
        t0="$(now_ms)"
        "$bin" archive >"$TMP/kill-$round.log" 2>&1 &
        pid=$!
        if ((round > 0)); then
            passes=$((passes + 1))
            sleep "$(awk -v s="$span" -v r="$RANDOM" 'BEGIN { printf "%.3f", s * (0.05 + 0.9 * r / 32768) / 1000 }')"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        took=$(($(now_ms) - t0))
        if ((round == 0)); then
            span=$took
        elif ((rc == 137)); then
            killed=$((killed + 1))
        elif ((took < span)); then
            span=$took
        fi
        [[ -f "$ARCHIVER_HEALTH_FILE" ]] && health_ok
        [[ "$(pg "SELECT count(*) = count(DISTINCT (conversation_id, seq)) FROM memoryd.conversation_history")" == t ]] ||
            fail "duplicate history after round $round"
        # what left Redis is in PostgreSQL, whole
        rd --scan --pattern "$P:meta:*" | sed 's/.*://; s/}$//' | sort >"$TMP/in-redis"
        pg "SELECT conversation_id FROM memoryd.conversation_history GROUP BY 1 HAVING count(*) = $nmsg" | sort >"$TMP/whole"
        for ((i = 1; i <= nconv; i++)); do echo "k$i"; done | sort >"$TMP/all"
        missing="$(sort -m "$TMP/in-redis" "$TMP/whole" | comm -23 "$TMP/all" -)"
        [[ -z "$missing" ]] || fail "left Redis without all their messages in PostgreSQL (round $round): $missing"
        # and the threads: what left Redis has both checkpoints in PostgreSQL
        rd --scan --pattern "$KEY_PREFIX:thread:*:keys" | sed 's/.*{[^:]*://; s/}.*//' | sort >"$TMP/in-redis"
        pg "SELECT thread_id FROM memoryd.checkpoints GROUP BY 1 HAVING count(*) = 2" | sort >"$TMP/whole"
        for ((i = 1; i <= nconv; i++)); do if ((i % 100 <= 10 && i % 100 > 0)); then echo "kt$i"; fi; done |
            sort >"$TMP/all"
        missing="$(sort -m "$TMP/in-redis" "$TMP/whole" | comm -23 "$TMP/all" -)"
        [[ -z "$missing" ]] || fail "threads left Redis without their checkpoints in PostgreSQL (round $round): $missing"
    done
    echo "archive.sh: $killed of $passes passes were killed before they ended (a pass took ${span} ms)"
    ((killed >= 2)) || fail "$killed passes were killed mid-way: the test did not test"
    archive
    want="$(for ((i = 1; i <= nconv; i++)); do for ((k = 1; k <= nmsg; k++)); do echo "k$i|$k|k$i-$k"; done; done | sort)"
    got="$(pg "SELECT conversation_id || '|' || seq || '|' || content FROM memoryd.conversation_history" | sort)"
    [[ "$got" == "$want" ]] || fail "PostgreSQL does not hold every message exactly once: $(diff <(echo "$want") <(echo "$got") | head -5)"
    [[ -z "$(rd --scan --pattern "$P:*")" ]] || fail "keys left in Redis after the clean pass: $(rd --scan --pattern "$P:*" | head -3)"
    # A kill between a thread's drop and its ZREM from the tenant's thread index
    # (another hash tag, so another command) leaves index entries naming gone
    # threads, which the next list prunes; they may stay, with a TTL, and only
    # for threads Redis no longer holds. Nothing else may.
    left="$(rd --scan --pattern "$KEY_PREFIX:*" | grep -vx "$KEY_PREFIX:threads:{$T}" || true)"
    [[ -z "$left" ]] || fail "thread keys left in Redis: $(head -3 <<<"$left")"
    idx="$KEY_PREFIX:threads:{$T}"
    if [[ "$(rd EXISTS "$idx")" == 1 ]]; then
        (($(rd TTL "$idx") > 0)) || fail "the tenant's thread index has no TTL"
        for th in $(rd ZRANGE "$idx" 0 -1); do
            [[ -z "$(rd --scan --pattern "$KEY_PREFIX:*:{$T:$th}*")" ]] ||
                fail "thread $th is indexed and still in Redis after the clean pass"
        done
    fi
    [[ "$(pg "SELECT count(*) FROM memoryd.checkpoints")" == $((nconv / 10 * 2)) ]] ||
        fail "PostgreSQL holds $(pg "SELECT count(*) FROM memoryd.checkpoints") checkpoints, want $((nconv / 10 * 2))"
    latest="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints/kt1")"
    [[ "$latest" == *'"checkpoint_id":"0002"'* ]] || fail "kt1 read back: $latest"
    ;;

race)
    append r1 3
    wait_idle r1 2
    # The pass waits on conversation_history between reading r1 and writing
    # it; the append comes meanwhile.
    race_pass conversation_history append r1 1 "" late
    grep -q '"msg":"conversation written during archival: left for the next pass"' "$TMP/race.log" ||
        fail "the pass did not notice the append"
    in_redis r1 || fail "r1 left Redis although it changed during the pass"
    [[ "$(rd ZCARD "$(msgs_key r1)")" == 4 ]] || fail "r1 in Redis holds $(rd ZCARD "$(msgs_key r1)") messages"
    health_ok
    wait_idle r1 2
    archive
    [[ "$(history r1 | tr '\n' ' ')" == "1|r1-1 2|r1-2 3|r1-3 4|r1-late1 " ]] ||
        fail "r1 history: $(history r1 | tr '\n' ' ')"
    in_redis r1 && fail "r1 still in Redis"
    out="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/conversations/r1/messages")"
    [[ "$(contents <<<"$out")" == "r1-1,r1-2,r1-3,r1-late1" ]] ||
        fail "r1 read back: $out"
    ;;

shards)
    n=40
    for ((i = 1; i <= n; i++)); do append "s$i" 2; done
    wait_idle "s$n" 2
    archive ARCHIVE_SHARD=0/2
    a0="$(health checkpoints_archived)" m0="$(health messages_archived)"
    left=0
    for ((i = 1; i <= n; i++)); do in_redis "s$i" && left=$((left + 1)); done
    ((a0 > 0 && a0 < n && left == n - a0)) || fail "shard 0 archived $a0, $left left in Redis"
    [[ "$(pg "SELECT count(DISTINCT conversation_id) FROM memoryd.conversation_history")" == "$a0" ]] ||
        fail "shard 0 wrote other conversations than it removed"
    archive ARCHIVE_SHARD=1/2
    a1="$(health checkpoints_archived)" m1="$(health messages_archived)"
    ((a0 + a1 == n && m0 + m1 == 2 * n)) || fail "shards archived $a0+$a1 conversations, $m0+$m1 messages"
    for ((i = 1; i <= n; i++)); do
        in_redis "s$i" && fail "s$i is in neither shard"
        expect_history "s$i" 2
    done
    archive # one pass over what the shards left: nothing
    [[ "$(health checkpoints_archived)" == 0 ]] || fail "the shards left something"
    ;;

bigthread)
    # 150 checkpoints, 300 keys and more: read in bounded dump steps
    for ((k = 1; k <= 150; k++)); do put_cp big "" "$(printf '%04d' "$k")" "" "v$k"; done
    wait_thread_idle big 2
    redis-cli -u "$REDIS_URL" MONITOR >"$TMP/monitor.log" 2>&1 &
    mon=$! # redis-cli itself, not a subshell: kill must reach it
    for ((k = 0; k < 100; k++)); do
        grep -q OK "$TMP/monitor.log" && break
        sleep 0.05
    done
    archive
    kill "$mon"
    wait "$mon" 2>/dev/null || true
    steps="$(grep -F '"dump"' "$TMP/monitor.log" | grep -cF "{$T:big}:keys")"
    ((steps >= 2)) || fail "the dump of a 300-key thread took $steps script call(s)"
    [[ "$(health checkpoints_archived)|$(health errors)" == "1|0" ]] || fail "health: $(cat "$ARCHIVER_HEALTH_FILE")"
    [[ "$(pg "SELECT count(*) FROM memoryd.checkpoints WHERE thread_id = 'big'")|$(pg "SELECT count(*) FROM memoryd.checkpoint_blobs WHERE thread_id = 'big'")" == "150|150" ]] ||
        fail "rows of big: $(pg "SELECT count(*) FROM memoryd.checkpoints WHERE thread_id = 'big'")"
    [[ -z "$(thread_keys big)" ]] || fail "big left keys in Redis"
    latest="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints/big")"
    [[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["checkpoint_id"])' <<<"$latest")" == 0150 ]] ||
        fail "big's latest after archival: $latest"
    ;;

threads)
    put_cp th1 "" 0001 "" one
    put_cp th1 "" 0002 0001 two
    put_cp th1 sub 0001 "" sub-one
    put_cp th1 sub 0003 0001 sub-three
    writes_cp th1 "" 0002 task-a
    writes_cp th1 sub 0003 task-b
    put_cp th2 "" 0001 "" idle-too
    before1="$(thread_view th1)" before2="$(thread_view th2)"
    wait_thread_idle th2 2 # the later of the two
    put_cp act "" 0001 "" active
    archive
    [[ "$(health checkpoints_archived)|$(health errors)" == "2|0" ]] || fail "health: $(cat "$ARCHIVER_HEALTH_FILE")"
    grep -q '"msg":"Found [12] expired checkpoints to archive","count":[12],"kind":"thread"' "$TMP/archive.log" ||
        fail "no found line for threads"
    [[ -z "$(thread_keys th1)$(thread_keys th2)" ]] || fail "archived threads left keys: $(thread_keys th1)"
    [[ -n "$(thread_keys act)" ]] || fail "the active thread left Redis"
    [[ -z "$(rd ZSCORE "$KEY_PREFIX:threads:{$T}" th1)" ]] || fail "th1 still in the tenant's thread index"
    [[ "$(pg "SELECT thread_id || ':' || checkpoint_ns || ':' || checkpoint_id || ':' || coalesce(parent_id, '-') FROM memoryd.checkpoints ORDER BY 1" | tr '\n' ' ')" == "th1::0001:- th1::0002:0001 th1:sub:0001:- th1:sub:0003:0001 th2::0001:- " ]] ||
        fail "checkpoint rows: $(pg "SELECT thread_id, checkpoint_ns, checkpoint_id FROM memoryd.checkpoints")"
    [[ "$(pg "SELECT count(*) FROM memoryd.checkpoint_blobs")|$(pg "SELECT count(*) FROM memoryd.checkpoint_writes")" == "5|4" ]] ||
        fail "blob and write rows: $(pg "SELECT count(*) FROM memoryd.checkpoint_blobs") $(pg "SELECT count(*) FROM memoryd.checkpoint_writes")"
    [[ "$(pg "SELECT bool_and(expires_at > now() + interval '179 days') FROM (SELECT expires_at FROM memoryd.checkpoints UNION ALL SELECT expires_at FROM memoryd.checkpoint_blobs UNION ALL SELECT expires_at FROM memoryd.checkpoint_writes) x")" == t ]] ||
        fail "archived rows do not live ARCHIVE_RETENTION_DAYS"
    # read-through answers what Redis answered
    [[ "$(thread_view th1)" == "$before1" ]] || fail "th1 reads differently after archival:
$(diff <(echo "$before1") <(thread_view th1))"
    [[ "$(thread_view th2)" == "$before2" ]] || fail "th2 reads differently after archival"
    put_cp act "" 0001 "" active # active still, however long the checks above took
    archive
    [[ "$(health checkpoints_archived)" == 0 ]] || fail "a second pass archived again"
    [[ "$(pg "SELECT count(*) FROM memoryd.checkpoints")" == 5 ]] || fail "a second pass wrote rows"
    # a put while the pass waits on PostgreSQL: the thread stays
    wait_thread_idle act 2
    archive
    [[ -z "$(thread_keys act)" ]] || fail "the idle thread was not archived"
    # th3 alone is idle now, so the first statement the pass blocks on is its
    put_cp th3 "" 0001 "" first
    wait_thread_idle th3 2
    race_pass checkpoint_blobs put_cp th3 "" 0002 0001 second
    grep -q '"msg":"thread written during archival: left for the next pass"' "$TMP/race.log" ||
        fail "the pass did not notice the put"
    [[ -n "$(thread_keys th3)" ]] || fail "th3 left Redis although it changed during the pass"
    wait_thread_idle th3 2
    archive
    [[ -z "$(thread_keys th3)" ]] || fail "th3 still in Redis"
    latest="$(curl -sf -H "X-Tenant-Id: $T" "$MEMORYD_URL/checkpoints/th3")"
    [[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)["config"]["checkpoint_id"])' <<<"$latest")" == 0002 ]] ||
        fail "th3's latest after archival: $latest"
    ;;

retention)
    # 30 rows past ARCHIVE_RETENTION_DAYS (180), 5 just inside it, 20 recent
    pg "INSERT INTO memoryd.conversation_history (tenant, conversation_id, customer_id, seq, role, content, metadata, created_at)
        SELECT 'rt', 'old' || (g % 3), CASE WHEN g % 2 = 0 THEN 'cu' END, g, 'user', 'old ' || g, '{\"k\": 1}', now() - interval '200 days' - g * interval '1 hour' FROM generate_series(1, 30) g;
        INSERT INTO memoryd.conversation_history (tenant, conversation_id, seq, role, content, created_at)
        SELECT 'rt', 'edge', g, 'user', 'edge ' || g, now() - interval '179 days' FROM generate_series(1, 5) g;
        INSERT INTO memoryd.conversation_history (tenant, conversation_id, seq, role, content, created_at)
        SELECT 'rt', 'new', g, 'assistant', 'new ' || g, now() - interval '10 days' FROM generate_series(1, 20) g;"
    want="$(pg "SELECT tenant || '|' || conversation_id || '|' || seq FROM memoryd.conversation_history WHERE created_at < now() - interval '180 days' ORDER BY 1")"
    [[ "$(wc -l <<<"$want")" == 30 ]] || fail "setup"
    # an export that cannot be written: nothing deleted
    rc=0
    "$bin" retention --export "$TMP/no/such/dir/x.jsonl" >"$TMP/ret0.log" 2>&1 || rc=$?
    ((rc != 0)) || fail "retention with an unwritable export exited 0"
    [[ "$(pg "SELECT count(*) FROM memoryd.conversation_history")" == 55 ]] || fail "deleted without its export"
    "$bin" retention --export "$TMP/export.jsonl" >"$TMP/ret1.log" 2>&1 || fail "retention --export failed"
    grep -Eq "$SANITIZER_RE" "$TMP/ret1.log" && fail "sanitizer error in retention"
    got="$(python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    assert r["content"].startswith("old "), r
    assert r["metadata"] == {"k": 1}, r
    print("%s|%s|%d" % (r["tenant"], r["conversation_id"], r["seq"]))
' "$TMP/export.jsonl" | sort)"
    [[ "$got" == "$(sort <<<"$want")" ]] || fail "the export holds something else than the old rows"
    [[ "$(pg "SELECT count(*) FROM memoryd.conversation_history WHERE created_at < now() - interval '180 days'")" == 0 ]] ||
        fail "old rows remain"
    [[ "$(pg "SELECT string_agg(DISTINCT conversation_id, ',' ORDER BY conversation_id) || ' ' || count(*) FROM memoryd.conversation_history")" == "edge,new 25" ]] ||
        fail "retention removed rows inside the retention period"
    grep -q '"msg":"retention run done","deleted":30' "$TMP/ret1.log" || fail "no count in the log"
    # without an export; and a second run finds nothing
    pg "INSERT INTO memoryd.conversation_history (tenant, conversation_id, seq, role, content, created_at)
        SELECT 'rt', 'later', g, 'user', 'x', now() - interval '365 days' FROM generate_series(1, 2500) g"
    "$bin" retention >"$TMP/ret2.log" 2>&1 || fail "retention failed"
    grep -q '"deleted":2500' "$TMP/ret2.log" || fail "retention without export: $(tail -1 "$TMP/ret2.log")"
    [[ "$(pg "SELECT count(*) FROM memoryd.conversation_history")" == 25 ]] || fail "after the second run"
    ;;

term)
    nconv=300 nmsg=5 nth=10
    for ((i = 1; i <= nconv; i++)); do append "t$i" "$nmsg"; done
    for ((i = 1; i <= nth; i++)); do put_cp "tt$i" "" 0001 "" "v$i"; done
    wait_idle "t$nconv" 2
    wait_thread_idle "tt$nth" 2
    # whole CONV_COUNT: the conversations Redis no longer holds are in
    # PostgreSQL with all their messages, none twice; prints how many left
    check_whole() {
        [[ "$(pg "SELECT count(*) = count(DISTINCT (conversation_id, seq)) FROM memoryd.conversation_history")" == t ]] ||
            fail "duplicate history ($1)"
        local gone=0 i
        pg "SELECT conversation_id FROM memoryd.conversation_history GROUP BY 1 HAVING count(*) = $nmsg" |
            sort >"$TMP/whole"
        for ((i = 1; i <= nconv; i++)); do
            in_redis "t$i" && continue
            gone=$((gone + 1))
            grep -qx "t$i" "$TMP/whole" || fail "t$i left Redis without all its messages in PostgreSQL ($1)"
        done
        echo "$gone"
    }
    # stopped PASS_ENV...: an archiver whose first pass waits on a lock on
    # conversation_history gets SIGTERM; with release, the lock goes at once.
    # Prints the milliseconds from SIGTERM to its exit.
    stopped() {
        local release="$1" t0 deadline rc=0
        shift
        locked_pass conversation_history "$TMP/term.log" env "$@" "$bin" archiver
        kill -TERM "$APID"
        t0="$(now_ms)"
        [[ "$release" == release ]] && unlock
        deadline=$((t0 + 15000))
        while kill -0 "$APID" 2>/dev/null && [[ "$(ps -o stat= -p "$APID")" != Z* ]]; do
            (($(now_ms) < deadline)) || fail "the archiver did not exit 15 s after SIGTERM"
            sleep 0.01
        done
        echo "$(($(now_ms) - t0))"
        wait "$APID" || rc=$?
        [[ "$release" == release ]] || unlock
        ((rc == 0)) || fail "memoryd archiver exited $rc on SIGTERM"
        grep -Eq "$SANITIZER_RE" "$TMP/term.log" && fail "sanitizer error in the archiver"
        return 0
    }
    took="$(stopped release SHUTDOWN_GRACE_SECONDS=10)"
    grep -q '"msg":"Stopped (shutting down) archival run in' "$TMP/term.log" || fail "the pass did not say it stopped"
    gone="$(check_whole "after SIGTERM")"
    echo "archive.sh: SIGTERM mid-pass: exit after $took ms, $gone of $nconv conversations archived"
    ((took < 2000)) || fail "the archiver took $took ms to exit after SIGTERM"
    ((gone > 0 && gone < nconv)) || fail "$gone of $nconv conversations archived: the pass did not stop at the SIGTERM"
    took="$(stopped hold SHUTDOWN_GRACE_SECONDS=2)"
    grep -q '"msg":"shutdown grace period over with an archival step unfinished' "$TMP/term.log" ||
        fail "the abandoned step was not logged"
    gone2="$(check_whole "after a stuck pass")"
    echo "archive.sh: stuck pass: exit after $took ms (grace 2 s), $gone2 of $nconv conversations archived"
    ((took >= 1900 && took < 4000)) || fail "a stuck archiver exited after $took ms, not at the 2 s grace"
    archive
    want="$(for ((i = 1; i <= nconv; i++)); do for ((k = 1; k <= nmsg; k++)); do echo "t$i|$k|t$i-$k"; done; done | sort)"
    got="$(pg "SELECT conversation_id || '|' || seq || '|' || content FROM memoryd.conversation_history" | sort)"
    [[ "$got" == "$want" ]] || fail "PostgreSQL does not hold every message exactly once: $(diff <(echo "$want") <(echo "$got") | head -5)"
    [[ -z "$(rd --scan --pattern "$P:*")" ]] || fail "conversation keys left in Redis: $(rd --scan --pattern "$P:*" | head -3)"
    [[ "$(pg "SELECT count(*), count(DISTINCT thread_id) FROM memoryd.checkpoints")" == "$nth|$nth" ]] ||
        fail "PostgreSQL holds $(pg "SELECT count(*) FROM memoryd.checkpoints") checkpoints, want $nth"
    [[ -z "$(rd --scan --pattern "$KEY_PREFIX:*{$T:tt*")" ]] || fail "thread keys left in Redis"
    ;;

archiver)
    # start-up refusals: one line each, exit 2, nothing archived
    for bad in "CHECKPOINT_TTL_SECONDS=86400 ARCHIVE_AFTER_SECONDS=82800 ARCHIVE_INTERVAL_SECONDS=3600" \
        "CONV_TTL_SECONDS=10 ARCHIVE_AFTER_SECONDS=9" "ARCHIVE_TIMEZONE=Mars/Olympus" "ARCHIVE_SHARD=2/2"; do
        for cmd in archive archiver; do
            rc=0
            # shellcheck disable=SC2086
            env $bad "$bin" "$cmd" >"$TMP/refuse.log" 2>&1 || rc=$?
            ((rc == 2)) || fail "$cmd with $bad exited $rc"
            [[ "$(wc -l <"$TMP/refuse.log")" == 1 ]] || fail "$cmd with $bad: not one line: $(cat "$TMP/refuse.log")"
        done
    done
    env CHECKPOINT_TTL_SECONDS=86400 CONV_TTL_SECONDS=2592000 ARCHIVE_AFTER_SECONDS=82800 ARCHIVE_INTERVAL_SECONDS=3600 "$bin" archive >"$TMP/refuse.log" 2>&1 || true
    grep -q 'ARCHIVE_AFTER_SECONDS (82800) + ARCHIVE_INTERVAL_SECONDS (3600) = 86400 is not below CHECKPOINT_TTL_SECONDS (86400)' "$TMP/refuse.log" ||
        fail "the refusal does not say why"
    [[ ! -f "$ARCHIVER_HEALTH_FILE" ]] || fail "a refused archiver ran a pass"
    # the schedule: a pass every second, in the zone's time
    append z1 2
    "$bin" archiver >"$TMP/archiver.log" 2>&1 &
    apid=$!
    deadline=$(($(now_ms) + 30000))
    until [[ "$(pg "SELECT count(*) FROM memoryd.conversation_history WHERE conversation_id = 'z1'")" == 2 ]] && ! in_redis z1; do
        (($(now_ms) < deadline)) || fail "the archiver never archived z1"
        [[ -f "$ARCHIVER_HEALTH_FILE" ]] && health_ok
        sleep 0.2
    done
    runs="$(grep -c '"msg":"Completed archival run in' "$TMP/archiver.log")"
    ((runs >= 1)) || fail "no completed pass in the log"
    kill -TERM "$apid"
    rc=0
    wait "$apid" || rc=$?
    ((rc == 0)) || fail "memoryd archiver exited $rc on SIGTERM"
    grep -Eq "$SANITIZER_RE" "$TMP/archiver.log" && fail "sanitizer error in the archiver"
    offset="$(TZ=Europe/Madrid date +%:z)"
    [[ "$(health last_run)" == *"$offset" ]] || fail "last_run $(health last_run) is not in Europe/Madrid ($offset)"
    grep '"msg":"next archival run","at":"' "$TMP/archiver.log" | grep -qF "$offset\"" || fail "no schedule line"
    archive ARCHIVE_TIMEZONE=UTC
    [[ "$(health last_run)" == *+00:00 ]] || fail "ARCHIVE_TIMEZONE=UTC gave $(health last_run)"
    ;;

*)
    echo "archive.sh: unknown case $case_name" >&2
    exit 2
    ;;
esac
echo "archive.sh: $case_name passed"
