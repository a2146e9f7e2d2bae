#!/usr/bin/env bash
# bench/pg.sh: memoryd with PostgreSQL as primary, beside pgbench running the
# same SQL memoryd runs (captured from the server's log), and, when the build
# has dual write, dual-write put beside each store's own put; one run, one
# machine. A benchmark, not a test: it exits 0 when the run completed,
# whatever the numbers (BENCH_ENFORCE=1 makes a missed target exit 1).
# See bench/README.md.
set -euo pipefail

ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
CONNS=${BENCH_CONNS:-32}
DURATION=${BENCH_SECONDS:-10}
WRK_THREADS=${WRK_THREADS:-2}
HTTP_THREADS=${HTTP_THREADS:-8}
# memoryd has at most HTTP_THREADS statements in flight (a connection per
# worker thread): pgbench gets as many clients.
PGBENCH_CLIENTS=${PGBENCH_CLIENTS:-$HTTP_THREADS}
MEMORYD_LOG_LEVEL=${MEMORYD_LOG_LEVEL:-warn}
THREAD_SPREAD=${THREAD_SPREAD:-16}
GET_THREADS=${GET_THREADS:-8}
TENANT=bench
BLOB_B64=3300
BLOB_RAW=$((BLOB_B64 * 3 / 4))
ENFORCE=${BENCH_ENFORCE:-0}
MEMORYD_BIN=${MEMORYD_BIN:-$BUILD/memoryd}
RESULTS=${BENCH_RESULTS:-$BUILD/bench-pg-results.jsonl}
METADATA='{"source":"loop","step":1,"writes":null,"parents":{}}' # as in put.lua

MEMORYD_PID='' SAMPLER_PID='' WORK=''

# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh" # and scripts/lib.sh: start_postgres, start_redis, stop_all

cleanup() {
	local rc=$?
	stop_sampler
	stop_pid "$MEMORYD_PID"
	stop_all
	remove_work "$rc" "logs, captured SQL and pgbench scripts"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

psql_q() { psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 "$@"; }

# start_memoryd ENV...: memoryd on a free port with these settings added.
start_memoryd() {
	stop_pid "$MEMORYD_PID"
	HTTP_PORT=$(free_port)
	env REDIS_URL="$REDIS_URL" DATABASE_URL="$DATABASE_URL" PORT="$HTTP_PORT" \
		BIND_ADDRESS=127.0.0.1 HTTP_THREADS="$HTTP_THREADS" LOG_LEVEL="$MEMORYD_LOG_LEVEL" \
		"$@" "$MEMORYD_BIN" 2>>"$WORK/memoryd.log" &
	MEMORYD_PID=$!
	wait_until memoryd "$MEMORYD_PID" curl -fsS "http://127.0.0.1:$HTTP_PORT/readyz"
	# Each HTTP thread's connections and prepared statements, before timing.
	local i
	for ((i = 0; i < 2 * HTTP_THREADS; i++)); do
		post_checkpoint bench-warmup "1ef-warmup-$i" null
	done
}

empty_stores() {
	psql_q -c 'TRUNCATE memoryd.checkpoints, memoryd.checkpoint_blobs,
		memoryd.checkpoint_writes, memoryd.checkpoint_heads'
	redis-cli -u "$REDIS_URL" flushall >/dev/null
}

# capture_sql NAME: the text of prepared statement NAME as memoryd last
# executed it, from the server log (log_statement is on while capturing).
capture_sql() {
	grep -a -o "execute $1: .*" "$WORK/pg/postgres.log" | tail -1 | sed "s/^execute $1: //"
}

# The SQL memoryd runs for a put and a get-latest: log_statement on, one
# of each through memoryd, log_statement off.
capture() {
	psql_q -c "ALTER SYSTEM SET log_statement = 'all'" -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 0.5
	post_checkpoint bench-capture 1ef-capture-0 null
	curl -fsS -o /dev/null -H "X-Tenant-Id: $TENANT" \
		"http://127.0.0.1:$HTTP_PORT/checkpoints/bench-capture"
	psql_q -c 'ALTER SYSTEM RESET log_statement' -c 'SELECT pg_reload_conf()' >/dev/null
	PUT_SQL=$(capture_sql memoryd_put)
	GET_SQL=$(capture_sql memoryd_get_latest)
	[[ $PUT_SQL == *checkpoint_put* ]] || die "memoryd's put statement not found in the log"
	[[ -n $GET_SQL ]] || die "memoryd's get-latest statement not found in the log"
	log "captured memoryd's put: ${PUT_SQL:0:100}..."
	log "captured memoryd's get-latest: ${#GET_SQL} characters"
}

# bind SQL EXPR...: SQL with $1, $2, ... replaced by the EXPRs.
bind() {
	local sql=$1
	shift
	SQL="$sql" perl -e '
		my $sql = $ENV{SQL}; my @e = @ARGV;
		$sql =~ s/\$(\d+)/(defined $e[$1 - 1] ? $e[$1 - 1] : die "no value for \$$1\n")/ge;
		print $sql, "\n";' "$@"
}

# pgbench scripts doing memoryd's put and get-latest with the same arguments
# as bench/put.lua and bench/get.lua: each client writes its own threads with
# growing checkpoint ids (c counts per client), three ~2.5 KB blobs, over as
# many threads in all as wrk writes. Text
# that pgbench would take for variables (":null" in JSON) travels in -D
# variables rather than in the script.
write_pgbench_scripts() {
	local cid="('1ef' || lpad(:client_id::text, 3, '0') || lpad(:c::text, 14, '0'))"
	# as many LangGraph threads in all as wrk writes (WRK_THREADS x
	# THREAD_SPREAD), each written by one client with growing ids: every
	# head row then takes as many updates a second as under memoryd
	local spread=$(((WRK_THREADS * THREAD_SPREAD + PGBENCH_CLIENTS - 1) / PGBENCH_CLIENTS))
	local thread="('bench-pgb-' || :client_id::text || '-' || (:c::bigint % $spread)::text)"
	local cp="('{\"v\":4,\"id\":\"' || $cid || '\",\"ts\":\"2024-07-31T20:14:19.804150+00:00\",\"channel_versions\":{\"messages\":\"' || $cid || '.1\",\"scratch\":\"' || $cid || '.2\",\"summary\":\"' || $cid || '.3\"},\"versions_seen\":{\"__input__\":{},\"agent\":{\"messages\":\"' || $cid || '.1\"}},\"pending_sends\":[]}')"
	local versions="ARRAY[$cid || '.1', $cid || '.2', $cid || '.3']"
	{
		echo '\set c :c + 1'
		bind "$PUT_SQL" "'$TENANT'" "$thread" "''" "$cid" "NULL" "$cp" \
			":meta" \
			"ARRAY['messages','scratch','summary']" "$versions" \
			"ARRAY['messages','scratch','summary']" "$versions" \
			"ARRAY['json','msgpack','json']" "ARRAY[:b1::bytea, :b2::bytea, :b3::bytea]" 86400
	} >"$WORK/put.sql"
	{
		echo "\\set g random(0, $((GET_THREADS - 1)))"
		bind "$GET_SQL" "'$TENANT'" "('bench-get-' || :g::text)" "''"
	} >"$WORK/get.sql"
}

# run_pgbench NAME SCRIPT: one pgbench phase; appends its JSON line.
run_pgbench() {
	local name=$1 script=$2 out="$WORK/$1.pgbench.txt"
	log "phase $name: pgbench -c$PGBENCH_CLIENTS -j$WRK_THREADS -T$DURATION -M prepared"
	pgbench "$DATABASE_URL" -n -M prepared -c "$PGBENCH_CLIENTS" -j "$WRK_THREADS" \
		-T "$DURATION" -f "$script" -D c=0 -D meta="$METADATA" -D b1="\\x$HEX1" -D b2="\\x$HEX2" -D b3="\\x$HEX3" \
		-r >"$out" 2>&1 || die "pgbench failed: $(tail -20 "$out")"
	awk -v name="$name" '
		/number of transactions actually processed/ { split($NF, a, "/"); n = a[1] }
		/number of failed transactions/ { f = $5 }
		/latency average/ { lat = $4 }
		/^tps = / { tps = $3 }
		END { printf "{\"name\":\"%s\",\"tool\":\"pgbench\",\"requests\":%d,\"ops_per_s\":%.1f,\"avg_ms\":%.3f,\"errors\":%d}\n",
			name, n, tps, lat, f + 0 }' "$out" | tee -a "$RESULTS"
}

summary() {
	local ppg bput mget bget rput dput slower
	ppg=$(field memoryd_pg_put rps) bput=$(field pgbench_put ops_per_s)
	mget=$(field memoryd_pg_get rps) bget=$(field pgbench_get ops_per_s)
	rput=$(field memoryd_redis_put rps) dput=$(field memoryd_dual_put rps)
	printf '\n%-24s %10s %9s %9s %8s\n' phase 'ops/s' 'p50 ms' 'p99 ms' errors
	jq -r '[.name, (.rps // .ops_per_s), (.p50_ms // .avg_ms), (.p99_ms // 0),
		((.errors // 0) + (.socket_errors // 0) + (.non_2xx_3xx // 0))]
		| select(.[1] != null) | @tsv' "$RESULTS" |
		while IFS=$'\t' read -r n ops p50 p99 err; do
			printf '%-24s %10.0f %9.3f %9.3f %8d\n' "$n" "$ops" "$p50" "$p99" "$err"
		done
	echo '(pgbench rows: average latency in the p50 column)'
	printf '\n%-40s %9s %9s  %s\n' target value goal result
	MISSED=0
	ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b }'; }
	check() { # label value goal
		local ok
		ok=$(awk -v v="$2" -v g="$3" 'BEGIN { if (v == "") print "n/a"; else print (v >= g) ? "PASS" : "MISS" }')
		[[ $ok == MISS ]] && MISSED=1
		printf '%-40s %9s %9s  %s\n' "$1" "${2:-n/a}" ">= $3" "$ok"
	}
	check "put ratio (memoryd pg / pgbench)" "$(ratio "$ppg" "$bput")" 0.8
	check "get ratio (memoryd pg / pgbench)" "$(ratio "$mget" "$bget")" 0.7
	if [[ -n $dput ]]; then
		local ppg2 pgmean
		ppg2=$(field memoryd_pg_put_again rps)
		pgmean=$(awk -v a="$ppg" -v b="${ppg2:-$ppg}" 'BEGIN { print (a + b) / 2 }')
		slower=$(awk -v a="$rput" -v b="$pgmean" 'BEGIN { print (a < b) ? a : b }')
		check "dual-write put / slower store's put (*)" "$(ratio "$dput" "$slower")" 1.0
		printf '%-40s %9s\n' "dual-write put / redis put (info)" "$(ratio "$dput" "$rput")"
		echo "(*) the slower of Redis's put and the mean of PostgreSQL's two put phases"
	fi
	echo
}

main() {
	local invalid=0 i
	command -v pgbench >/dev/null || export PATH="/usr/lib/postgresql/15/bin:$PATH"
	for tool in wrk jq curl perl pgbench psql redis-cli; do
		command -v "$tool" >/dev/null || die "$tool missing (scripts/run installs what memoryd needs; wrk and jq: apt-get install wrk jq)"
	done
	build_memoryd
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/memoryd-bench-pg.XXXXXX")
	chmod 755 "$WORK" # the postgres user must reach $WORK/pg
	mkdir -p -- "$(dirname -- "$RESULTS")"
	: >"$RESULTS"
	log "results: $RESULTS (JSON lines); wrk $CONNS connections, pgbench $PGBENCH_CLIENTS clients, ${DURATION}s a phase, $(nproc) cores"
	BLOB1=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	BLOB2=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	BLOB3=$(head -c "$BLOB_RAW" /dev/urandom | base64 -w0)
	HEX1=$(base64 -d <<<"$BLOB1" | od -An -v -tx1 | tr -d ' \n')
	HEX2=$(base64 -d <<<"$BLOB2" | od -An -v -tx1 | tr -d ' \n')
	HEX3=$(base64 -d <<<"$BLOB3" | od -An -v -tx1 | tr -d ' \n')

	start_postgres "$WORK/pg" "$(free_port)"
	DATABASE_URL=$STARTED_DATABASE_URL
	start_redis "$WORK/redis" "$(free_port)"
	REDIS_URL=$STARTED_REDIS_URL

	start_memoryd CONV_STORE_PRIMARY=postgres
	log "memoryd pid $MEMORYD_PID on :$HTTP_PORT, PostgreSQL primary"
	capture
	write_pgbench_scripts
	empty_stores

	run_wrk memoryd_pg_put "$BENCH/put.lua"
	log "stored: $(psql_q -c "SELECT count(*) FROM memoryd.checkpoints WHERE tenant = '$TENANT'") checkpoints"
	empty_stores
	run_pgbench pgbench_put "$WORK/put.sql"
	log "stored: $(psql_q -c "SELECT count(*) FROM memoryd.checkpoints WHERE tenant = '$TENANT'") checkpoints"
	empty_stores

	for ((i = 0; i < GET_THREADS; i++)); do
		post_checkpoint "bench-get-$i" "1ef0000000000000000$i" null
	done
	curl -fsS -H "X-Tenant-Id: $TENANT" "http://127.0.0.1:$HTTP_PORT/checkpoints/bench-get-0" \
		>"$WORK/get.json" || die "GET of a seeded checkpoint failed"
	jq -e --arg b1 "$BLOB1" '.channel_values.messages.data == $b1' "$WORK/get.json" >/dev/null ||
		die "the get answer does not carry the stored blob: $(head -c 300 "$WORK/get.json")"
	run_wrk memoryd_pg_get "$BENCH/get.lua"
	run_pgbench pgbench_get "$WORK/get.sql"

	# the whole help first: grep -q stopping early would SIGPIPE memoryd, and
	# pipefail would read that as "no dual write"
	local help
	help=$("$MEMORYD_BIN" --help 2>&1)
	if [[ $help == *CONV_DUAL_WRITE* ]]; then
		empty_stores
		start_memoryd CONV_STORE_PRIMARY=redis CONV_DUAL_WRITE=0
		empty_stores
		run_wrk memoryd_redis_put "$BENCH/put.lua"
		start_memoryd CONV_STORE_PRIMARY=redis CONV_DUAL_WRITE=1
		empty_stores
		run_wrk memoryd_dual_put "$BENCH/put.lua"
		log "dual write stored: $(psql_q -c "SELECT count(*) FROM memoryd.checkpoints WHERE tenant = '$TENANT'") checkpoints in PostgreSQL"
		# PostgreSQL's put again, right after: the dual phase is compared
		# with the mean of the two, not with a phase a minute before it
		start_memoryd CONV_STORE_PRIMARY=postgres
		empty_stores
		run_wrk memoryd_pg_put_again "$BENCH/put.lua"
	else
		log "this build has no CONV_DUAL_WRITE: dual-write phases skipped"
	fi
	kill -0 "$MEMORYD_PID" 2>/dev/null || die "memoryd died during the run"
	if jq -e 'select(((.errors // 0) + (.socket_errors // 0) + (.non_2xx_3xx // 0)) > 0)' \
		"$RESULTS" >/dev/null; then
		invalid=1
	fi
	summary
	((invalid)) && die "some requests failed: the figures above are not comparable"
	[[ $ENFORCE == 1 && ${MISSED:-0} == 1 ]] && die "a target was missed"
	return 0
}

main "$@"
