#!/usr/bin/env bash
# PostgreSQL's own failover under a running memoryd: a primary and a streaming
# standby (synchronous: a commit is acknowledged once the standby has it), and
# DATABASE_URL naming both hosts with target_session_attrs=read-write, libpq's
# failover. memoryd runs with PostgreSQL as primary under write load; the
# primary is SIGKILLed and the standby promoted. memoryd must write again
# within 5 s of the promotion, on the new primary (its statements prepared
# again, its LISTEN connection again), lose no acknowledged write, and switch
# the routing (a write of the routing row and its NOTIFY) on the new primary.
# Usage: tests/pg/standby_failover.sh   (MEMORYD_BIN and REDIS_URL from scripts/test)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/lib.sh
. "$ROOT/tests/lib.sh"

mt_init pg-standby-failover
chmod 755 "$MT_WORK" # the postgres user must reach the data directories

p1="$(free_port)"
start_postgres "$MT_WORK/primary" "$p1"
p2="$(free_port)"
while [[ "$p2" == "$p1" ]]; do p2="$(free_port)"; done
psql1() { psql -h 127.0.0.1 -p "$p1" -U postgres -d memoryd -XAtq -v ON_ERROR_STOP=1 "$@"; }
psql2() { psql -h 127.0.0.1 -p "$p2" -U postgres -d memoryd -XAtq -v ON_ERROR_STOP=1 "$@"; }

# The standby: a base backup of the primary that follows it (-R), started on
# its own port.
bindir="$(_pg_bindir)"
mkdir -p "$MT_WORK/standby"
chown postgres:postgres "$MT_WORK/standby"
chmod 700 "$MT_WORK/standby"
runuser -u postgres -- "$bindir/pg_basebackup" -h 127.0.0.1 -p "$p1" -U postgres \
    -D "$MT_WORK/standby/data" -R -X stream -c fast >"$MT_WORK/basebackup.log" 2>&1 ||
    mt_fail "pg_basebackup: $(tail -5 "$MT_WORK/basebackup.log")"
start_postgres "$MT_WORK/standby" "$p2"
[[ "$(psql2 -c 'SELECT pg_is_in_recovery()')" == t ]] || mt_fail "the standby is not in recovery"
streaming() { [[ "$(psql1 -c "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")" == 1 ]]; }
mt_until 100 streaming ||
    mt_fail "the standby never streamed"
# From now on a commit waits for the standby (the standby's own copy of the
# configuration predates this, so once promoted it waits for nobody).
psql1 -c "ALTER SYSTEM SET synchronous_standby_names = '*'" -c "SELECT pg_reload_conf()" >/dev/null

url="postgresql://postgres@127.0.0.1:$p1,127.0.0.1:$p2/memoryd?target_session_attrs=read-write"
url+="&options=-c%20synchronous_commit%3Don"
mt_start_memoryd /readyz REDIS_URL="${REDIS_URL:?}" KEY_PREFIX="pgsf$$" CONV_KEY_PREFIX="pgsfc$$" \
    DATABASE_URL="$url" CONV_STORE_PRIMARY=postgres ADMIN_TOKEN=pg-standby-failover-admin \
    DATABASE_CONNECT_TIMEOUT_MS=500 HTTP_THREADS=2
grep -q '"msg":"postgres configured"' "$MT_WORK/log" || mt_fail "no postgres configured line"

tenant=pgsf
put() { # THREAD ID -> HTTP status
    curl -s -o /dev/null -w '%{http_code}' -m 5 -X POST -H 'Content-Type: application/json' \
        -H "X-Tenant-Id: $tenant" --data "{\"thread_id\":\"$1\",\"checkpoint_id\":\"$2\",
        \"checkpoint\":{\"id\":\"$2\",\"channel_versions\":{\"a\":\"$2\"}},
        \"blobs\":[{\"channel\":\"a\",\"version\":\"$2\",\"type\":\"json\",\"data\":\"$(printf '"%s"' "$2" | base64 -w0)\"}]}" \
        "$MT_URL/checkpoints" || echo 000
}

# Write load: two writers, each recording the ids memoryd acknowledged.
writer() {
    local w="$1" i=0 code id
    while [[ -d "$MT_WORK" && ! -e "$MT_WORK/stop" ]]; do # ends with the test
        i=$((i + 1))
        id="$(printf '1ef%02d%012d' "$w" "$i")"
        code="$(put "w$w" "$id")"
        [[ "$code" == 201 || "$code" == 200 ]] && echo "w$w $id" >>"$MT_WORK/acked.$w"
        echo "$code" >>"$MT_WORK/codes.$w"
    done
}
writer 1 &
w1=$!
writer 2 &
w2=$!
mt_until 100 test -s "$MT_WORK/acked.2" || mt_fail "no write acknowledged before the failover"
sleep 1

# The primary goes (SIGKILL to the postmaster), the standby takes over.
pm="$(head -1 "$MT_WORK/primary/data/postmaster.pid")"
kill -KILL "$pm"
psql2 -c 'SELECT pg_promote()' >/dev/null || mt_fail "pg_promote failed"
t0="$(date +%s%N)"
[[ "$(psql2 -c 'SELECT pg_is_in_recovery()')" == f ]] || mt_fail "the standby is still in recovery"
n=0
until [[ "$(put probe "1effff$(printf '%010d' "$n")")" == 201 ]]; do
    n=$((n + 1))
    (($(date +%s%N) - t0 < 10000000000)) || mt_fail "no write acknowledged within 10 s of the promotion"
    sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
echo "pg-standby-failover: writes acknowledged again $ms ms after the promotion"
((ms <= 5000)) || mt_fail "memoryd took $ms ms (> 5000) to write on the new primary"
sleep 1
touch "$MT_WORK/stop"
wait "$w1" "$w2"

# Every acknowledged write is on the new primary, and memoryd serves it.
cat "$MT_WORK"/acked.* >"$MT_WORK/acked"
acked="$(wc -l <"$MT_WORK/acked")"
((acked > 10)) || mt_fail "only $acked writes acknowledged"
while read -r thread id; do
    echo "('$thread','$id')"
done <"$MT_WORK/acked" | paste -sd, >"$MT_WORK/values"
lost="$(psql2 -c "SELECT count(*) FROM (VALUES $(cat "$MT_WORK/values")) v(t, c)
    WHERE NOT EXISTS (SELECT 1 FROM memoryd.checkpoints k
                      WHERE k.tenant = '$tenant' AND k.thread_id = v.t AND k.checkpoint_id = v.c)")"
[[ "$lost" == 0 ]] || mt_fail "$lost of $acked acknowledged checkpoints are not on the new primary"
read -r thread id < <(tail -1 "$MT_WORK/acked")
got="$(curl -sf -H "X-Tenant-Id: $tenant" "$MT_URL/checkpoints/$thread?checkpoint_id=$id" |
    jq -r '.channel_values.a.data' | base64 -d)"
[[ "$got" == "\"$id\"" ]] || mt_fail "the last acknowledged checkpoint reads back as $got"
echo "pg-standby-failover: $acked acknowledged writes, all on the new primary;" \
    "answers during the failover: $(cat "$MT_WORK"/codes.* | sort | uniq -c | tr -s ' \n' ' ')"

# Routing lives in PostgreSQL: switching the primary writes the new primary's row.
code="$(curl -s -o "$MT_WORK/failover.json" -w '%{http_code}' -X POST \
    -H 'Authorization: Bearer pg-standby-failover-admin' -H 'Content-Type: application/json' \
    --data '{"primary":"redis"}' "$MT_URL/admin/failover")"
[[ "$code" == 200 ]] || mt_fail "POST /admin/failover after the promotion: $code $(cat "$MT_WORK/failover.json")"
[[ "$(psql2 -c "SELECT count(*) FROM memoryd.routing_state WHERE primary_store = 'redis'")" == 1 ]] ||
    mt_fail "the routing row on the new primary: $(psql2 -c 'SELECT * FROM memoryd.routing_state')"
[[ "$(put after-switch 1ef0000000000001)" == 201 ]] || mt_fail "a put after switching to Redis"
mt_stop_memoryd
echo "pg-standby-failover: ok"
