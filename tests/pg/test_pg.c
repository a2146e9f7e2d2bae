/*
 * The PostgreSQL store (CONV_STORE_PRIMARY=postgres) against a running
 * memoryd (tests/with-memoryd.sh) and the PostgreSQL in DATABASE_URL:
 * requests over HTTP, and assertions on what the rows hold (libpq).
 *
 * Check tags pick the cases for each server setting (see CMakeLists.txt):
 *   default  the default settings
 *   expiry   CHECKPOINT_TTL_SECONDS=2 DATABASE_SWEEP_INTERVAL_SECONDS=1
 *   admin    ADMIN_TOKEN=adm-secret-for-tests
 *   connections  DATABASE_URL with an application_name of its own
 * Each test uses a fresh random tenant, so tests never see each other's data.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"

static PGconn *db;
static char *tenant;

static void setup(void)
{
	db = PQconnectdb(it_require_env("DATABASE_URL"));
	ck_assert_msg(PQstatus(db) == CONNECTION_OK, "cannot connect to DATABASE_URL: %s",
	              PQerrorMessage(db));
	tenant = it_random_id("pg-");
}

static void teardown(void)
{
	PQfinish(db);
	db = NULL;
	free(tenant);
	tenant = NULL;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Run sql with up to 4 text parameters (NULL-terminated list); the result
 * must succeed. Caller PQclears. */
static PGresult *q(const char *sql, const char *p1, const char *p2, const char *p3, const char *p4)
{
	const char *params[] = {p1, p2, p3, p4};
	int n = 0;
	while (n < 4 && params[n])
		n++;
	PGresult *r = PQexecParams(db, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	ck_assert_msg(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql,
	              PQerrorMessage(db));
	return r;
}

/* The first column of the first row as an integer (0 when no row). */
static long long q_int(const char *sql, const char *p1, const char *p2)
{
	PGresult *r = q(sql, p1, p2, NULL, NULL);
	long long v = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
	PQclear(r);
	return v;
}

static const char *const tables[] = {"checkpoints", "checkpoint_blobs", "checkpoint_writes",
                                     "checkpoint_heads"};
#define NTABLES (sizeof(tables) / sizeof(tables[0]))

/* Rows of a tenant (and thread, when not NULL) across every table. */
static long long rows_of(const char *t, const char *thread)
{
	long long n = 0;
	for (size_t i = 0; i < NTABLES; i++) {
		char *sql = it_strfmt("SELECT count(*) FROM memoryd.%s WHERE tenant = $1%s",
		                      tables[i], thread ? " AND thread_id = $2" : "");
		n += q_int(sql, t, thread);
		free(sql);
	}
	return n;
}

static void put_simple(const char *t, const char *thread, const char *ns, int n, int parent,
                       json_t *metadata)
{
	char *id = it_cp_id(n);
	char *pid = parent > 0 ? it_cp_id(parent) : NULL;
	char *data = it_strfmt("{\"n\":%d}", n);
	char *ver = it_strfmt("%05d", n);
	json_t *cv = json_pack("{s:s}", "state", ver);
	json_t *blobs =
	    json_pack("[o]", it_blob("state", json_string(ver), "json", data, strlen(data)));
	it_put_ok(t, it_put_body(thread, ns, id, pid, it_checkpoint(id, cv),
	                         metadata ? metadata : json_object(), blobs));
	free(id);
	free(pid);
	free(data);
	free(ver);
}

static void put_writes(const char *t, const char *thread, const char *ns, int n, const char *task,
                       const char *channel, const char *data)
{
	char *id = it_cp_id(n);
	json_t *w = json_pack("[o]", it_write(channel, "json", data, strlen(data)));
	it_put_writes_ok(t, thread, it_writes_body(ns, id, task, "", w));
	free(id);
}

static json_t *metadata_of(const json_t *tuple)
{
	return json_object_get(tuple, "metadata");
}

/* ===================================================================== */
/* rows                                                                   */
/* ===================================================================== */

/* What a put and writes leave in the tables: the exact JSON text, the exact
 * bytes, an expiry on every row, and nothing outside the tenant. */
START_TEST(test_rows_hold_exact_data_with_expiry_and_stay_in_the_tenant)
{
	const char *thread = "thread-rows";
	char *id = it_cp_id(1);
	/* Numbers jsonb would rewrite, a key order it would change. */
	const char *meta_text = "{\"z\":1,\"big\":123456789012345678901234567890,\"f\":1.50,"
	                        "\"a\":\"\\u0000x\"}";
	const unsigned char bin[] = {0x00, 0xff, 0x80, 'x', 0x00};
	char *b64 = it_b64_encode(bin, sizeof bin);
	char *body = it_strfmt(
	    "{\"thread_id\":\"%s\",\"checkpoint_ns\":\"sub:1\",\"checkpoint_id\":\"%s\","
	    "\"checkpoint\":{\"v\":4,\"id\":\"%s\",\"ts\":\"t\",\"n\":1e400,"
	    "\"channel_versions\":{\"c\":\"1\"}},\"metadata\":%s,"
	    "\"blobs\":[{\"channel\":\"c\",\"version\":\"1\",\"type\":\"bytes\",\"data\":\"%s\"}]}",
	    thread, id, id, meta_text, b64);
	char *th = it_strfmt("X-Tenant-Id: %s", tenant);
	const char *hdrs[] = {th, NULL};
	it_response *r = it_request("POST", "/checkpoints", hdrs, body, strlen(body));
	it_expect_status(r, 201);
	it_response_free(r);
	put_writes(tenant, thread, "sub:1", 1, "task-1", "w", "W");
	put_simple(tenant, "thread-other", "", 2, 0, NULL);

	PGresult *res = q("SELECT metadata, checkpoint FROM memoryd.checkpoints"
	                  " WHERE tenant = $1 AND thread_id = $2 AND checkpoint_ns = 'sub:1'",
	                  tenant, thread, NULL, NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 0), meta_text);
	ck_assert_msg(strstr(PQgetvalue(res, 0, 1), "\"n\":1e400") != NULL,
	              "checkpoint text not kept exactly: %s", PQgetvalue(res, 0, 1));
	PQclear(res);
	res = q("SELECT encode(bytes, 'hex'), type FROM memoryd.checkpoint_blobs"
	        " WHERE tenant = $1 AND thread_id = $2",
	        tenant, thread, NULL, NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 0), "00ff807800");
	ck_assert_str_eq(PQgetvalue(res, 0, 1), "bytes");
	PQclear(res);
	ck_assert_int_eq(q_int("SELECT count(*) FROM memoryd.checkpoint_writes WHERE tenant = $1"
	                       " AND thread_id = $2 AND idx = 0 AND channel = 'w'",
	                       tenant, thread),
	                 1);

	/* every row of the tenant expires CHECKPOINT_TTL_SECONDS from now */
	long ttl = it_configured_ttl();
	for (size_t i = 0; i < NTABLES; i++) {
		char *sql = it_strfmt("SELECT count(*) FILTER (WHERE expires_at IS NULL OR"
		                      " expires_at > now() + make_interval(secs => $2::int) OR"
		                      " expires_at < now() + make_interval(secs => $2::int - 60)),"
		                      " count(*) FROM memoryd.%s WHERE tenant = $1",
		                      tables[i]);
		char ttls[24];
		snprintf(ttls, sizeof ttls, "%ld", ttl);
		res = q(sql, tenant, ttls, NULL, NULL);
		ck_assert_msg(atoll(PQgetvalue(res, 0, 0)) == 0,
		              "%s: %s row(s) without an expiry near CHECKPOINT_TTL_SECONDS",
		              tables[i], PQgetvalue(res, 0, 0));
		ck_assert_msg(atoll(PQgetvalue(res, 0, 1)) > 0, "%s holds no row of the tenant",
		              tables[i]);
		PQclear(res);
		free(sql);
	}

	/* another tenant that reads and deletes leaves no row anywhere */
	char *other = it_random_id("pg-other-");
	r = it_get(other, thread, "sub:1", NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	json_t *l = it_list_ok(other, NULL);
	ck_assert_int_eq(json_array_size(l), 0);
	json_decref(l);
	r = it_delete(other, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	ck_assert_int_eq(rows_of(other, NULL), 0);
	ck_assert_int_eq(rows_of(tenant, thread) > 0, 1);

	/* and the API answers with the same text and bytes */
	r = it_get(tenant, thread, "sub:1", NULL);
	it_expect_status(r, 200);
	char *want_meta = it_strfmt("\"metadata\":%s", meta_text);
	ck_assert_msg(strstr(r->body, want_meta) != NULL, "metadata text changed: %s", r->body);
	free(want_meta);
	char *want_blob = it_strfmt("\"c\":{\"type\":\"bytes\",\"data\":\"%s\"}", b64);
	ck_assert_msg(strstr(r->body, want_blob) != NULL, "channel value changed: %s", r->body);
	free(want_blob);
	it_response_free(r);
	free(other);
	free(th);
	free(body);
	free(b64);
	free(id);
}
END_TEST

/* The head row names the latest checkpoint (largest id, not last put). */
START_TEST(test_head_row_names_the_largest_id)
{
	const char *thread = "thread-head";
	put_simple(tenant, thread, "", 10, 0, NULL);
	put_simple(tenant, thread, "", 2, 0, NULL);
	char *id10 = it_cp_id(10);
	PGresult *res = q("SELECT checkpoint_id, generation FROM memoryd.checkpoint_heads"
	                  " WHERE tenant = $1 AND thread_id = $2 AND checkpoint_ns = ''",
	                  tenant, thread, NULL, NULL);
	ck_assert_int_eq(PQntuples(res), 1);
	ck_assert_str_eq(PQgetvalue(res, 0, 0), id10);
	long long gen = atoll(PQgetvalue(res, 0, 1));
	PQclear(res);
	/* a write to the latest moves the generation; one to an older id does not */
	put_writes(tenant, thread, "", 2, "t", "a", "x");
	ck_assert_int_eq(q_int("SELECT generation FROM memoryd.checkpoint_heads WHERE tenant = $1"
	                       " AND thread_id = $2",
	                       tenant, thread),
	                 gen);
	put_writes(tenant, thread, "", 10, "t", "a", "x");
	ck_assert_msg(q_int("SELECT generation FROM memoryd.checkpoint_heads WHERE tenant = $1"
	                    " AND thread_id = $2",
	                    tenant, thread) > gen,
	              "a write to the latest checkpoint must move the head");
	free(id10);
}
END_TEST

/* ===================================================================== */
/* the cache of latest tuples                                             */
/* ===================================================================== */

START_TEST(test_cached_latest_follows_changes_made_in_postgres)
{
	const char *thread = "thread-cache";
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 1));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL); /* fills the cache */
	json_decref(t);
	t = it_get_ok(tenant, thread, NULL, NULL); /* served from it */
	ck_assert_int_eq(json_integer_value(json_object_get(metadata_of(t), "step")), 1);
	json_decref(t);

	/* another replica changes the row and moves the head */
	char *id1 = it_cp_id(1);
	PQclear(q("UPDATE memoryd.checkpoints SET metadata = '{\"step\":42}'"
	          " WHERE tenant = $1 AND thread_id = $2 AND checkpoint_id = $3",
	          tenant, thread, id1, NULL));
	PQclear(q("UPDATE memoryd.checkpoint_heads SET generation = generation + 1"
	          " WHERE tenant = $1 AND thread_id = $2",
	          tenant, thread, NULL, NULL));
	t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_msg(json_integer_value(json_object_get(metadata_of(t), "step")) == 42,
	              "a change made in postgres must be seen once the head moves");
	json_decref(t);

	/* the head gone (expired, removed): the read repairs it */
	PQclear(q("DELETE FROM memoryd.checkpoint_heads WHERE tenant = $1 AND thread_id = $2",
	          tenant, thread, NULL, NULL));
	t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_config(json_object_get(t, "config"), thread, "", id1);
	json_decref(t);
	PGresult *res = q("SELECT checkpoint_id FROM memoryd.checkpoint_heads WHERE tenant = $1"
	                  " AND thread_id = $2 AND expires_at > now()",
	                  tenant, thread, NULL, NULL);
	ck_assert_msg(PQntuples(res) == 1 && !strcmp(PQgetvalue(res, 0, 0), id1),
	              "get-latest should have repaired the head");
	PQclear(res);

	/* writes, a newer checkpoint, a delete: each seen at once */
	put_writes(tenant, thread, "", 1, "task-1", "a", "w1");
	t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_int_eq(json_array_size(json_object_get(t, "pending_writes")), 1);
	json_decref(t);
	put_simple(tenant, thread, "", 2, 1, json_pack("{s:i}", "step", 2));
	t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_int_eq(json_integer_value(json_object_get(metadata_of(t), "step")), 2);
	json_decref(t);
	it_response *r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	r = it_get(tenant, thread, NULL, NULL);
	it_expect_status(r, 404);
	it_response_free(r);
	free(id1);
}
END_TEST

/* ===================================================================== */
/* writes and delete                                                      */
/* ===================================================================== */

START_TEST(test_writes_before_their_checkpoint_are_rows_and_survive_its_put)
{
	const char *thread = "thread-early";
	put_writes(tenant, thread, "", 1, "task-1", "a", "early");
	ck_assert_int_eq(q_int("SELECT count(*) FROM memoryd.checkpoint_writes WHERE tenant = $1"
	                       " AND thread_id = $2",
	                       tenant, thread),
	                 1);
	put_simple(tenant, thread, "", 1, 0, NULL);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	json_t *pw = json_object_get(t, "pending_writes");
	ck_assert_int_eq(json_array_size(pw), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(pw, 0), "channel")), "a");
	json_decref(t);
}
END_TEST

START_TEST(test_delete_thread_removes_every_row_in_every_namespace)
{
	put_simple(tenant, "victim", "", 1, 0, NULL);
	put_simple(tenant, "victim", "sub:1", 2, 0, NULL);
	put_writes(tenant, "victim", "sub:1", 2, "t", "a", "x");
	put_writes(tenant, "victim", "", 9, "t", "a", "x"); /* no checkpoint 9 */
	put_simple(tenant, "keep", "", 3, 0, NULL);
	long long kept = rows_of(tenant, "keep");
	ck_assert_msg(rows_of(tenant, "victim") >= 8, "expected >= 8 rows before the delete");
	it_response *r = it_delete(tenant, "victim");
	it_expect_status(r, 204);
	it_response_free(r);
	ck_assert_int_eq(rows_of(tenant, "victim"), 0);
	ck_assert_int_eq(rows_of(tenant, "keep"), kept);
	r = it_delete(tenant, "never-existed");
	it_expect_status(r, 204);
	it_response_free(r);
	json_t *l = it_list_ok(tenant, NULL);
	ck_assert_int_eq(json_array_size(l), 1);
	json_decref(l);
}
END_TEST

/* ===================================================================== */
/* list                                                                   */
/* ===================================================================== */

/* A filter reads candidates page by page (200 a statement): the answer is
 * the same as one pass over all of them, newest first, ties by thread. */
START_TEST(test_list_filter_across_pages_and_threads)
{
	const int n = 260; /* per thread: two threads, more than two pages */
	for (int i = 1; i <= n; i++)
		for (int t = 0; t < 2; t++)
			put_simple(tenant, t ? "thread-b" : "thread-a", "", i, 0,
			           json_pack("{s:b}", "keep", i % 3 == 0));
	json_t *l = it_list_ok(tenant, "filter=%7B%22keep%22%3Atrue%7D&limit=1000");
	ck_assert_int_eq(json_array_size(l), 2 * (n / 3));
	for (size_t k = 0; k < json_array_size(l); k++) {
		json_t *cfg = json_object_get(json_array_get(l, k), "config");
		int want = 3 * (n / 3 - (int)(k / 2));
		char *id = it_cp_id(want);
		it_expect_config(cfg, k % 2 ? "thread-b" : "thread-a", "", id);
		free(id);
	}
	json_decref(l);
	it_response *r = it_list(tenant, "filter=%7B%22keep%22%3Atrue%7D&limit=101");
	it_expect_status(r, 200);
	json_t *cps = json_object_get(r->json, "checkpoints");
	ck_assert_int_eq(json_array_size(cps), 101);
	ck_assert_msg(json_is_true(json_object_get(r->json, "truncated")), "%s", r->desc);
	char *id = it_cp_id(3 * (n / 3 - 50));
	it_expect_config(json_object_get(json_array_get(cps, 100), "config"), "thread-a", "", id);
	free(id);
	it_response_free(r);
	r = it_list(tenant, "limit=520");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "checkpoints")), 2 * n);
	ck_assert_msg(json_is_false(json_object_get(r->json, "truncated")), "%s", r->desc);
	it_response_free(r);
	r = it_list(tenant, "limit=519");
	ck_assert_msg(json_is_true(json_object_get(r->json, "truncated")), "%s", r->desc);
	it_response_free(r);
}
END_TEST

/* ===================================================================== */
/* concurrency                                                            */
/* ===================================================================== */

#define N_WORKERS 6
#define N_PUTS    8

struct worker {
	const char *tenant;
	int w;
	int failures;
};

static void *worker_main(void *p)
{
	struct worker *wk = p;
	for (int i = 0; i < N_PUTS; i++) {
		int n = wk->w * 100 + i + 1;
		char *id = it_cp_id(n);
		json_t *body = it_put_body(
		    "shared", "", id, NULL, it_checkpoint(id, json_pack("{s:s}", "c", "1")),
		    json_pack("{s:i}", "w", wk->w),
		    json_pack("[o]", it_blob("c", json_string("1"), "json", "1", 1)));
		it_response *r = it_put(wk->tenant, body);
		wk->failures += r->status != 201;
		it_response_free(r);
		json_t *w = json_pack("[o]", it_write("a", "json", "x", 1));
		json_t *wb = it_writes_body("", id, "task", "", w);
		char *path = it_strfmt("/checkpoints/shared/writes");
		r = it_json_request("POST", path, wk->tenant, wb);
		wk->failures += r->status != 200;
		it_response_free(r);
		json_decref(wb);
		free(path);
		free(id);
	}
	return NULL;
}

START_TEST(test_concurrent_puts_and_writes_to_one_thread)
{
	pthread_t th[N_WORKERS];
	struct worker wk[N_WORKERS];
	for (int i = 0; i < N_WORKERS; i++) {
		wk[i] = (struct worker){tenant, i, 0};
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
	}
	for (int i = 0; i < N_WORKERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(wk[i].failures == 0, "worker %d: %d failed request(s)", i,
		              wk[i].failures);
	}
	json_t *l = it_list_ok(tenant, "thread_id=shared&limit=1000");
	ck_assert_int_eq(json_array_size(l), N_WORKERS * N_PUTS);
	json_decref(l);
	char *top = it_cp_id((N_WORKERS - 1) * 100 + N_PUTS);
	json_t *t = it_get_ok(tenant, "shared", NULL, NULL);
	it_expect_config(json_object_get(t, "config"), "shared", "", top);
	ck_assert_int_eq(json_array_size(json_object_get(t, "pending_writes")), 1);
	json_decref(t);
	ck_assert_int_eq(q_int("SELECT count(*) FROM memoryd.checkpoint_heads WHERE tenant = $1"
	                       " AND checkpoint_id = $2",
	                       tenant, top),
	                 1);
	free(top);
}
END_TEST

/* ===================================================================== */
/* connections                                                            */
/* ===================================================================== */

/* Every backend of this memoryd killed (what a server restart does to
 * them): the next requests reconnect and succeed. The ctest gives memoryd
 * and this test their own application_name, so no other memoryd is hit. */
START_TEST(test_requests_succeed_after_backends_are_terminated)
{
	put_simple(tenant, "thread-restart", "", 1, 0, NULL);
	for (int round = 0; round < 2; round++) {
		long long killed =
		    q_int("SELECT count(pg_terminate_backend(pid)) FROM"
		          " pg_stat_activity WHERE pid <> pg_backend_pid()"
		          " AND application_name = current_setting('application_name')",
		          NULL, NULL);
		ck_assert_msg(killed >= 1, "no memoryd backend to terminate");
		for (int i = 0; i < 10; i++) { /* several HTTP threads, each its connection */
			json_t *t = it_get_ok(tenant, "thread-restart", NULL, NULL);
			json_decref(t);
		}
		put_simple(tenant, "thread-restart", "", 2 + round, 1, NULL);
	}
	it_response *r = it_json_request("GET", "/readyz", NULL, NULL);
	it_expect_status(r, 200);
	ck_assert_msg(
	    json_is_true(json_object_get(
	        json_object_get(json_object_get(r->json, "stores"), "postgres"), "reachable")),
	    "readyz: %s", r->desc);
	it_response_free(r);
}
END_TEST

/* ===================================================================== */
/* expiry: CHECKPOINT_TTL_SECONDS=2, DATABASE_SWEEP_INTERVAL_SECONDS=1     */
/* ===================================================================== */

START_TEST(test_expired_rows_are_not_read_and_are_swept)
{
	ck_assert_msg(it_configured_ttl() <= 5, "run with CHECKPOINT_TTL_SECONDS=2");
	long long t0 = now_ms();
	put_simple(tenant, "thread-exp", "", 1, 0, NULL);
	put_writes(tenant, "thread-exp", "", 1, "t", "a", "x");
	json_t *t = it_get_ok(tenant, "thread-exp", NULL, NULL);
	json_decref(t);
	/* poll until get answers 404 */
	long status = 200;
	while (status == 200 && now_ms() - t0 < 15000) {
		it_response *r = it_get(tenant, "thread-exp", NULL, NULL);
		status = r->status;
		it_response_free(r);
		if (status == 200)
			sleep_ms(100);
	}
	ck_assert_msg(status == 404, "still readable %lld ms after a put with a 2 s TTL (%ld)",
	              now_ms() - t0, status);
	ck_assert_msg(now_ms() - t0 >= 1500, "expired after %lld ms, before its TTL",
	              now_ms() - t0);
	json_t *l = it_list_ok(tenant, NULL);
	ck_assert_int_eq(json_array_size(l), 0);
	json_decref(l);
	char *id = it_cp_id(1);
	it_response *r = it_get(tenant, "thread-exp", "", id);
	it_expect_status(r, 404);
	it_response_free(r);
	free(id);
	/* the sweep deletes the rows */
	while (rows_of(tenant, NULL) > 0 && now_ms() - t0 < 20000)
		sleep_ms(200);
	ck_assert_msg(rows_of(tenant, NULL) == 0, "%lld expired row(s) not swept",
	              rows_of(tenant, NULL));
}
END_TEST

/* ===================================================================== */
/* admin: ADMIN_TOKEN=adm-secret-for-tests                                          */
/* ===================================================================== */

static it_response *admin(const char *method, const char *path, const char *t)
{
	char *th = t ? it_strfmt("X-Tenant-Id: %s", t) : NULL;
	const char *h[] = {"Authorization: Bearer adm-secret-for-tests", th, NULL};
	it_response *r = it_request(method, path, h, NULL, 0);
	free(th);
	return r;
}

START_TEST(test_admin_tools_on_rows)
{
	put_simple(tenant, "thread-adm", "", 1, 0, NULL);
	put_simple(tenant, "thread-adm", "", 2, 1, NULL);
	put_writes(tenant, "thread-adm", "", 2, "t", "a", "x");

	it_response *r = admin("GET", "/admin/threads/thread-adm", tenant);
	it_expect_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "checkpoints")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "writes")), 1);
	json_t *keys = json_object_get(r->json, "keys");
	ck_assert_int_ge(json_array_size(keys), 5); /* 2 checkpoints, 2 blobs, writes, head */
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		ck_assert_msg(
		    !strncmp(json_string_value(json_object_get(k, "key")), "postgres:", 9),
		    "row names start with postgres: %s", r->desc);
		ck_assert_msg(json_integer_value(json_object_get(k, "ttl_ms")) > 0, "ttl: %s",
		              r->desc);
	}
	it_response_free(r);

	/* one checkpoint out: the latest falls back to the previous one */
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	char *path = it_strfmt("/admin/threads/thread-adm/checkpoints/%s", id2);
	r = admin("DELETE", path, tenant);
	it_expect_status(r, 204);
	it_response_free(r);
	r = admin("DELETE", path, tenant);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	json_t *t = it_get_ok(tenant, "thread-adm", NULL, NULL);
	it_expect_config(json_object_get(t, "config"), "thread-adm", "", id1);
	json_decref(t);

	/* not supported here, and said so */
	r = admin("POST", "/admin/backup", NULL);
	ck_assert_msg(r->status == 400 && strstr(r->body, "not supported on postgres"), "%s",
	              r->desc);
	it_response_free(r);
	r = admin("POST", "/admin/ttl-repair", NULL);
	ck_assert_msg(r->status == 400 && strstr(r->body, "not supported on postgres"), "%s",
	              r->desc);
	it_response_free(r);

	/* the tenant forgotten: every row, /memory items included */
	put_simple(tenant, "thread-adm-2", "x", 5, 0, NULL);
	json_t *item = json_pack("{s:[s], s:s, s:i}", "namespace", "facts", "key", "k", "value", 1);
	r = it_json_request("PUT", "/memory/items", tenant, item);
	it_expect_status(r, 200);
	it_response_free(r);
	json_decref(item);
	char *tp = it_strfmt("/admin/tenants/%s", tenant);
	r = admin("DELETE", tp, NULL);
	it_expect_status(r, 200);
	ck_assert_int_ge(json_integer_value(json_object_get(r->json, "deleted")), 7);
	it_response_free(r);
	ck_assert_int_eq(rows_of(tenant, NULL), 0);
	PGresult *mi = q("SELECT count(*)::text FROM memoryd.memory_items WHERE tenant = $1",
	                 tenant, NULL, NULL, NULL);
	ck_assert_str_eq(PQgetvalue(mi, 0, 0), "0");
	PQclear(mi);
	r = it_get(tenant, "thread-adm", NULL, NULL);
	it_expect_status(r, 404);
	it_response_free(r);
	free(tp);
	free(path);
	free(id1);
	free(id2);
}
END_TEST

static TCase *tc(Suite *s, const char *name, const char *tags, int timeout)
{
	TCase *t = tcase_create(name);
	tcase_set_tags(t, tags);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, timeout);
	suite_add_tcase(s, t);
	return t;
}

int main(void)
{
	Suite *s = suite_create("memoryd_postgres");
	TCase *t;

	t = tc(s, "rows", "default", 60);
	tcase_add_test(t, test_rows_hold_exact_data_with_expiry_and_stay_in_the_tenant);
	tcase_add_test(t, test_head_row_names_the_largest_id);
	tcase_add_test(t, test_writes_before_their_checkpoint_are_rows_and_survive_its_put);
	tcase_add_test(t, test_delete_thread_removes_every_row_in_every_namespace);

	t = tc(s, "list", "default", 120);
	tcase_add_test(t, test_list_filter_across_pages_and_threads);

	t = tc(s, "cache", "default", 60);
	tcase_add_test(t, test_cached_latest_follows_changes_made_in_postgres);

	t = tc(s, "concurrency", "default", 120);
	tcase_add_test(t, test_concurrent_puts_and_writes_to_one_thread);

	t = tc(s, "connections", "connections", 60);
	tcase_add_test(t, test_requests_succeed_after_backends_are_terminated);

	t = tc(s, "expiry", "expiry", 60);
	tcase_add_test(t, test_expired_rows_are_not_read_and_are_swept);

	t = tc(s, "admin", "admin", 60);
	tcase_add_test(t, test_admin_tools_on_rows);

	return it_run_suite(s);
}
