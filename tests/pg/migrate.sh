#!/usr/bin/env bash
# Usage: tests/pg/migrate.sh MEMORYD_BIN
# Migrations and the start-up rules of the PostgreSQL store, against the
# PostgreSQL in DATABASE_URL (from scripts/test), in a database of its own:
#  - two `memoryd migrate` started at once both exit 0, and the migrations
#    table holds each version once; a third run applies nothing;
#  - CONV_STORE_PRIMARY=postgres (or mongo) without DATABASE_URL, an unknown
#    store, an unreachable database: start-up stops with one clear line.
set -euo pipefail

bin="${1:?usage: $0 MEMORYD_BIN}"
: "${DATABASE_URL:?DATABASE_URL is not set; run the tests through scripts/test}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SANITIZER_RE='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:'

db="memoryd_migrate_$$_$RANDOM"
base="${DATABASE_URL%%\?*}"
query=""
[[ "$DATABASE_URL" == *\?* ]] && query="?${DATABASE_URL#*\?}"
url="${base%/*}/$db$query"
admin_url="${base%/*}/postgres$query"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/memoryd-migrate.XXXXXX")"

# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    psql "$admin_url" -XAtq -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "migrate.sh: FAIL: $*" >&2
    for f in "$tmp"/*.log; do
        [[ -f "$f" ]] && { echo "---- $f" >&2; cat "$f" >&2; }
    done
    exit 1
}

psql "$admin_url" -XAtq -c "CREATE DATABASE $db" >/dev/null

# 1. two processes at once
DATABASE_URL="$url" "$bin" migrate >"$tmp/a.log" 2>&1 &
pa=$!
DATABASE_URL="$url" "$bin" migrate >"$tmp/b.log" 2>&1 &
pb=$!
rca=0 rcb=0
wait "$pa" || rca=$?
wait "$pb" || rcb=$?
((rca == 0 && rcb == 0)) || fail "memoryd migrate exited $rca and $rcb"
nfiles=$(find "$ROOT/schemas/sql" -name '[0-9][0-9][0-9][0-9]_*.sql' | wc -l)
rows=$(psql "$url" -XAtq -c "SELECT count(*), count(DISTINCT version) FROM memoryd.schema_migrations")
[[ "$rows" == "$nfiles|$nfiles" ]] || fail "schema_migrations holds $rows (count|distinct), want $nfiles|$nfiles"
applied=$(cat "$tmp/a.log" "$tmp/b.log" | grep -c '"msg":"migration applied"' || true)
[[ "$applied" == "$nfiles" ]] || fail "$applied 'migration applied' lines across both, want $nfiles"
grep -q '"msg":"postgres schema up to date","applied":0' "$tmp/a.log" "$tmp/b.log" ||
    fail "neither process found the schema up to date"

# 2. again: nothing to do
DATABASE_URL="$url" "$bin" migrate >"$tmp/c.log" 2>&1 || fail "third migrate failed"
grep -q '"applied":0' "$tmp/c.log" || fail "a third run applied something"
rows2=$(psql "$url" -XAtq -c "SELECT count(*) FROM memoryd.schema_migrations")
[[ "$rows2" == "$nfiles" ]] || fail "schema_migrations changed on a re-run: $rows2"
tables=$(psql "$url" -XAtq -c "SELECT count(*) FROM pg_tables WHERE schemaname = 'memoryd'")
# every CREATE TABLE of the migrations (schema_migrations is memoryd's own)
want_tables=$(($(cat "$ROOT"/schemas/sql/*.sql | grep -c '^CREATE TABLE') + 1))
[[ "$tables" == "$want_tables" ]] || fail "schema memoryd holds $tables tables, want $want_tables"

# 3. start-up rules: exit 2 and one line naming the variable
expect_refusal() { # NAME VARIABLE ENV...
    local name="$1" var="$2" rc=0
    shift 2
    env -u DATABASE_URL "$@" PORT=1 "$bin" >"$tmp/$name.log" 2>&1 </dev/null || rc=$?
    ((rc == 2)) || fail "$name: exit status $rc, want 2"
    local n
    n=$(wc -l <"$tmp/$name.log")
    ((n == 1)) || fail "$name: $n lines, want one"
    grep -q "\"level\":\"fatal\".*\"variable\":\"$var\"" "$tmp/$name.log" ||
        fail "$name: the line does not name $var"
}
expect_refusal no_url DATABASE_URL CONV_STORE_PRIMARY=postgres
expect_refusal mongo_no_url DATABASE_URL CONV_STORE_PRIMARY=mongo
expect_refusal unknown CONV_STORE_PRIMARY CONV_STORE_PRIMARY=cassandra
grep -q "redis or postgres" "$tmp/unknown.log" || fail "unknown: the line does not say what is accepted"
grep -q "DATABASE_URL" "$tmp/no_url.log" || fail "no_url: the line does not mention DATABASE_URL"

# unreachable database as primary: memoryd stops; as fallback only, it serves
rc=0
env CONV_STORE_PRIMARY=postgres DATABASE_URL="postgresql://postgres@127.0.0.1:1/x" \
    DATABASE_CONNECT_TIMEOUT_MS=500 PORT=1 "$bin" >"$tmp/unreachable.log" 2>&1 </dev/null || rc=$?
((rc == 2)) || fail "unreachable primary: exit status $rc, want 2"
grep -q '"level":"fatal".*migration' "$tmp/unreachable.log" || fail "unreachable: no fatal line about the migration"

rc=0
env -u DATABASE_URL "$bin" migrate >"$tmp/migrate_no_url.log" 2>&1 || rc=$?
((rc == 1)) || fail "migrate without DATABASE_URL: exit status $rc, want 1"
grep -q "needs DATABASE_URL" "$tmp/migrate_no_url.log" || fail "migrate without DATABASE_URL: unclear"

if grep -Eq "$SANITIZER_RE" "$tmp"/*.log; then
    fail "sanitizer error"
fi
echo "migrate.sh: ok ($nfiles migration(s); two concurrent runs, a re-run, start-up refusals)"
