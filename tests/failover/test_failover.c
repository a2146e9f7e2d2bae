/*
 * Routing between the stores: dual write, read-through, /admin/failover and
 * automatic failover, against running memoryd processes (tests/with-memoryd.sh,
 * tests/failover/run.sh), the Redis in REDIS_URL (hiredis) and the PostgreSQL in
 * DATABASE_URL (libpq). Assertions are on HTTP answers and on what each store
 * holds.
 *
 * Check tags pick the cases for each server setting (see CMakeLists.txt):
 *   dual            CONV_DUAL_WRITE=1
 *   secondary_down  CONV_DUAL_WRITE=1, memoryd's DATABASE_URL on a closed port
 * Each test uses a fresh random tenant, so tests never see each other's data.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"
#include "redis_inspect.h"

static PGconn *db;
static char *tenant;

static void setup(void)
{
	db = PQconnectdb(it_require_env("DATABASE_URL"));
	ck_assert_msg(PQstatus(db) == CONNECTION_OK, "cannot connect to DATABASE_URL: %s",
	              PQerrorMessage(db));
	tenant = it_random_id("fo-");
}

static void setup_no_db(void)
{
	tenant = it_random_id("fo-");
}

static void teardown(void)
{
	PQfinish(db);
	db = NULL;
	free(tenant);
	tenant = NULL;
}

/* sql with up to 3 text parameters; must succeed. Caller PQclears. */
static PGresult *q(const char *sql, const char *p1, const char *p2, const char *p3)
{
	const char *params[] = {p1, p2, p3};
	int n = 0;
	while (n < 3 && params[n])
		n++;
	PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 1);
	ExecStatusType st = PQresultStatus(r);
	ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
	              PQerrorMessage(db));
	return r;
}

static long long rows_of(const char *t, const char *thread)
{
	static const char *const tables[] = {"checkpoints", "checkpoint_blobs", "checkpoint_writes",
	                                     "checkpoint_heads"};
	long long n = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char *sql = it_strfmt("SELECT count(*)::text FROM memoryd.%s WHERE tenant = $1 AND "
		                      "thread_id = $2",
		                      tables[i]);
		PGresult *r =
		    PQexecParams(db, sql, 2, NULL, (const char *[]){t, thread}, NULL, NULL, 0);
		ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
		n += atoll(PQgetvalue(r, 0, 0));
		PQclear(r);
		free(sql);
	}
	return n;
}

/* A put with one blob of the given bytes; returns the response. */
static it_response *put_bytes(const char *t, const char *thread, int n, const void *data,
                              size_t len)
{
	char *id = it_cp_id(n);
	char *ver = it_strfmt("%05d", n);
	json_t *body =
	    it_put_body(thread, "", id, NULL, it_checkpoint(id, json_pack("{s:s}", "state", ver)),
	                json_pack("{s:i, s:s}", "step", n, "note", "ü \\u0000"),
	                json_pack("[o]", it_blob("state", json_string(ver), "bytes", data, len)));
	it_response *r = it_put(t, body);
	free(id);
	free(ver);
	return r;
}

static const char *stored_header(const it_response *r)
{
	const char *h = it_header_get(r, "X-Memory-Stored");
	ck_assert_msg(h != NULL, "no X-Memory-Stored header: %s", r->desc);
	return h;
}

/* The value of a counter in /metrics (-1 when absent). */
static long long metric(const char *name)
{
	it_response *m = it_request("GET", "/metrics", NULL, NULL, 0);
	ck_assert_msg(m->status == 200, "%s", m->desc);
	long long v = -1;
	char *needle = it_strfmt("\n%s ", name);
	const char *p = strstr(m->body, needle);
	if (p)
		v = atoll(p + strlen(needle));
	free(needle);
	it_response_free(m);
	return v;
}

/* ===================================================================== */
/* dual write: CONV_DUAL_WRITE=1                                          */
/* ===================================================================== */

/* A put and its writes land in both stores with the same bytes, and the
 * response says so. */
START_TEST(test_dual_write_puts_the_same_bytes_in_both_stores)
{
	const char *thread = "thread-dual";
	const unsigned char bin[] = {0x00, 0xff, 0x80, 'x', 0x00, '\n'};
	it_response *r = put_bytes(tenant, thread, 1, bin, sizeof bin);
	it_expect_status(r, 201);
	ck_assert_str_eq(stored_header(r), "redis,postgres");
	it_response_free(r);
	char *id = it_cp_id(1);
	const unsigned char wbytes[] = {'w', 0x00, 0xfe};
	json_t *w = json_pack("[o]", it_write("ch", "bytes", wbytes, sizeof wbytes));
	r = it_put_writes(tenant, thread, it_writes_body("", id, "task-1", "", w));
	it_expect_status(r, 200);
	ck_assert_str_eq(stored_header(r), "redis,postgres");
	it_response_free(r);

	/* Redis: the checkpoint hash, the blob string ("type NUL bytes") */
	redisContext *rc = it_redis_connect();
	char *ck = it_key_checkpoint(tenant, thread, "", id);
	size_t cl, ml;
	char *r_cp = it_redis_hget(rc, ck, "checkpoint", &cl);
	char *r_md = it_redis_hget(rc, ck, "metadata", &ml);
	ck_assert_msg(r_cp && r_md, "checkpoint hash %s missing in redis", ck);
	char *bk = it_key_blob(tenant, thread, "", "state", "00001");
	redisReply *blob = redisCommand(rc, "GET %s", bk);
	ck_assert_msg(blob && blob->type == REDIS_REPLY_STRING, "blob %s missing in redis", bk);
	ck_assert_int_eq(blob->len, strlen("bytes") + 1 + sizeof bin);
	ck_assert_int_eq(memcmp(blob->str + strlen("bytes") + 1, bin, sizeof bin), 0);
	char *wk = it_key_writes(tenant, thread, "", id);
	redisReply *wr = redisCommand(rc, "HVALS %s", wk);
	ck_assert_msg(wr && wr->type == REDIS_REPLY_ARRAY && wr->elements == 1, "writes %s", wk);
	const redisReply *wv = wr->element[0];
	ck_assert_msg(wv->len >= (int)sizeof wbytes &&
	                  !memcmp(wv->str + wv->len - sizeof wbytes, wbytes, sizeof wbytes),
	              "the write's bytes are not in redis");

	/* PostgreSQL: the same text and bytes */
	PGresult *p = q("SELECT checkpoint, metadata FROM memoryd.checkpoints WHERE tenant = $1"
	                " AND thread_id = $2 AND checkpoint_id = $3",
	                tenant, thread, id);
	ck_assert_int_eq(PQntuples(p), 1);
	ck_assert_uint_eq((size_t)PQgetlength(p, 0, 0), cl);
	ck_assert_int_eq(memcmp(PQgetvalue(p, 0, 0), r_cp, cl), 0);
	ck_assert_uint_eq((size_t)PQgetlength(p, 0, 1), ml);
	ck_assert_int_eq(memcmp(PQgetvalue(p, 0, 1), r_md, ml), 0);
	PQclear(p);
	p = q("SELECT type, bytes FROM memoryd.checkpoint_blobs WHERE tenant = $1"
	      " AND thread_id = $2 AND channel = 'state' AND version = $3",
	      tenant, thread, "00001");
	ck_assert_int_eq(PQntuples(p), 1);
	ck_assert_str_eq(PQgetvalue(p, 0, 0), "bytes");
	ck_assert_int_eq(PQgetlength(p, 0, 1), sizeof bin);
	ck_assert_int_eq(memcmp(PQgetvalue(p, 0, 1), bin, sizeof bin), 0);
	PQclear(p);
	p = q("SELECT bytes FROM memoryd.checkpoint_writes WHERE tenant = $1 AND thread_id = $2"
	      " AND checkpoint_id = $3",
	      tenant, thread, id);
	ck_assert_int_eq(PQntuples(p), 1);
	ck_assert_int_eq(PQgetlength(p, 0, 0), sizeof wbytes);
	ck_assert_int_eq(memcmp(PQgetvalue(p, 0, 0), wbytes, sizeof wbytes), 0);
	PQclear(p);

	/* a delete leaves nothing in either */
	r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	ck_assert_str_eq(stored_header(r), "redis,postgres");
	it_response_free(r);
	ck_assert_int_eq(rows_of(tenant, thread), 0);
	it_strlist keys = {0};
	it_redis_thread_keys(rc, tenant, thread, &keys);
	ck_assert_msg(keys.n == 0, "%zu redis key(s) left after the delete", keys.n);
	it_strlist_free(&keys);

	freeReplyObject(blob);
	freeReplyObject(wr);
	free(r_cp);
	free(r_md);
	free(ck);
	free(bk);
	free(wk);
	free(id);
	redisFree(rc);
}
END_TEST

/* What Redis lost (evicted, flushed, never had) is read from PostgreSQL;
 * what a client deletes is gone from both, so read-through never brings it
 * back. */
START_TEST(test_read_through_finds_in_postgres_what_redis_lacks)
{
	const char *thread = "thread-rt";
	const unsigned char bin[] = {1, 2, 3};
	for (int n = 1; n <= 2; n++) {
		it_response *r = put_bytes(tenant, thread, n, bin, sizeof bin);
		it_expect_status(r, 201);
		it_response_free(r);
	}
	redisContext *rc = it_redis_connect();
	it_strlist keys = {0};
	it_redis_thread_keys(rc, tenant, thread, &keys);
	ck_assert_msg(keys.n > 0, "nothing in redis");
	for (size_t i = 0; i < keys.n; i++)
		freeReplyObject(redisCommand(rc, "DEL %s", keys.v[i]));
	it_strlist_free(&keys);

	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_config(json_object_get(t, "config"), thread, "", id2);
	it_expect_channel_value(t, "state", "bytes", bin, sizeof bin);
	json_decref(t);
	t = it_get_ok(tenant, thread, "", id1);
	it_expect_config(json_object_get(t, "config"), thread, "", id1);
	json_decref(t);
	char *qs = it_query("thread_id", thread, NULL);
	json_t *l = it_list_ok(tenant, qs);
	ck_assert_int_eq(json_array_size(l), 2);
	json_decref(l);

	it_response *r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	r = it_get(tenant, thread, NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	l = it_list_ok(tenant, qs);
	ck_assert_int_eq(json_array_size(l), 0);
	json_decref(l);
	ck_assert_int_eq(rows_of(tenant, thread), 0);
	free(qs);
	free(id1);
	free(id2);
	redisFree(rc);
}
END_TEST

/* /health/memory and /metrics describe both stores. */
START_TEST(test_health_and_metrics_report_both_stores)
{
	it_response *r = it_request("GET", "/health/memory", NULL, NULL, 0);
	it_expect_status(r, 200);
	ck_assert(json_is_true(json_object_get(r->json, "dual_write")));
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "primary")), "redis");
	json_t *stores = json_object_get(r->json, "stores");
	const char *names[] = {"redis", "postgres"};
	for (int i = 0; i < 2; i++) {
		json_t *s = json_object_get(stores, names[i]);
		ck_assert_msg(json_is_true(json_object_get(s, "reachable")), "%s: %s", names[i],
		              r->body);
		ck_assert_msg(json_is_number(json_object_get(s, "latency_ms")), "%s", r->body);
	}
	it_response_free(r);
	ck_assert_int_eq(metric("dual_write_enabled"), 1);
	ck_assert_int_eq(metric("postgres_up"), 1);
	ck_assert_int_eq(metric("redis_up"), 1);
	ck_assert_int_ge(metric("postgres_latency_p95_ms"), 0);
	ck_assert_int_eq(metric("store_primary{store=\"redis\"}"), 1);
}
END_TEST

/* ===================================================================== */
/* secondary down: CONV_DUAL_WRITE=1, memoryd's DATABASE_URL unreachable  */
/* ===================================================================== */

START_TEST(test_secondary_down_still_acknowledges_and_counts)
{
	const char *thread = "thread-sd";
	long long before = metric("dual_write_errors_total");
	ck_assert_msg(before >= 0, "no dual_write_errors_total in /metrics");
	const unsigned char bin[] = {9, 8, 7};
	it_response *r = put_bytes(tenant, thread, 1, bin, sizeof bin);
	it_expect_status(r, 201);
	ck_assert_str_eq(stored_header(r), "redis");
	it_response_free(r);
	char *id = it_cp_id(1);
	json_t *w = json_pack("[o]", it_write("ch", "json", "1", 1));
	r = it_put_writes(tenant, thread, it_writes_body("", id, "task-1", "", w));
	it_expect_status(r, 200);
	ck_assert_str_eq(stored_header(r), "redis");
	it_response_free(r);
	ck_assert_int_eq(metric("dual_write_errors_total"), before + 2);
	ck_assert_int_eq(metric("postgres_up"), 0);

	/* the data is in Redis and readable */
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_channel_value(t, "state", "bytes", bin, sizeof bin);
	json_decref(t);

	/* the log names what was missed */
	const char *log = it_require_env("MEMORYD_LOG");
	FILE *f = fopen(log, "r");
	ck_assert_msg(f != NULL, "cannot read %s", log);
	char line[4096];
	int missed = 0;
	while (fgets(line, sizeof line, f))
		if (strstr(line, "\"msg\":\"dual write missed") && strstr(line, tenant) &&
		    strstr(line, "\"thread_id\":\"thread-sd\"") && strstr(line, id) &&
		    strstr(line, "\"store\":\"postgres\""))
			missed += strstr(line, "\"op\":\"checkpoint_put\"") ||
			          strstr(line, "\"op\":\"checkpoint_put_writes\"");
	fclose(f);
	ck_assert_msg(missed == 2, "%d log line(s) name the missed writes, want 2", missed);
	free(id);
}
END_TEST

static TCase *tc(Suite *s, const char *name, const char *tags, int timeout, bool with_db)
{
	TCase *t = tcase_create(name);
	tcase_set_tags(t, tags);
	tcase_add_checked_fixture(t, with_db ? setup : setup_no_db, teardown);
	tcase_set_timeout(t, timeout);
	suite_add_tcase(s, t);
	return t;
}

int main(void)
{
	Suite *s = suite_create("memoryd_failover");
	TCase *t;

	t = tc(s, "dual", "dual", 60, true);
	tcase_add_test(t, test_dual_write_puts_the_same_bytes_in_both_stores);
	tcase_add_test(t, test_read_through_finds_in_postgres_what_redis_lacks);
	tcase_add_test(t, test_health_and_metrics_report_both_stores);

	t = tc(s, "secondary_down", "secondary_down", 60, false);
	tcase_add_test(t, test_secondary_down_still_acknowledges_and_counts);

	return it_run_suite(s);
}
