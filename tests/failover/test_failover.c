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
 *   switch          two replicas (MEMORYD_URL, MEMORYD_URL_B) on a database and
 *                   a Redis of their own (tests/failover/run.sh), ADMIN_TOKEN
 *   auto            the same with FAILOVER_AUTO=1 and CONV_DUAL_WRITE=1; the
 *                   test kills the Redis (FO_REDIS_PID)
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

/* Every PostgreSQL backend of this memoryd killed between puts (what a
 * server restart does): a dual write sends the secondary's statement before
 * the primary runs and finds the connection broken only when it collects the
 * answer; it reconnects and sends it again, so both stores hold every put
 * and nothing is counted missed. The ctest gives memoryd and this test their
 * own application_name, so no other memoryd is hit. */
START_TEST(test_dual_write_survives_postgres_backends_dying)
{
	const char *thread = "thread-dual-restart";
	const unsigned char bin[] = {0x01, 0x00, 0x02};
	long long missed = metric("dual_write_errors_total");
	int n = 0;
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 8; i++) { /* several HTTP threads, each its connection */
			it_response *r = put_bytes(tenant, thread, ++n, bin, sizeof bin);
			it_expect_status(r, 201);
			ck_assert_str_eq(stored_header(r), "redis,postgres");
			it_response_free(r);
		}
		PGresult *k =
		    q("SELECT count(pg_terminate_backend(pid))::text FROM pg_stat_activity"
		      " WHERE pid <> pg_backend_pid()"
		      " AND application_name = current_setting('application_name')",
		      NULL, NULL, NULL);
		ck_assert_msg(atoll(PQgetvalue(k, 0, 0)) >= 1, "no memoryd backend to terminate");
		PQclear(k);
	}
	it_response *r = put_bytes(tenant, thread, ++n, bin, sizeof bin);
	it_expect_status(r, 201);
	ck_assert_str_eq(stored_header(r), "redis,postgres");
	it_response_free(r);
	PGresult *p = q("SELECT count(*)::text FROM memoryd.checkpoints WHERE tenant = $1"
	                " AND thread_id = $2",
	                tenant, thread, NULL);
	ck_assert_int_eq(atoll(PQgetvalue(p, 0, 0)), n);
	PQclear(p);
	ck_assert_int_eq(metric("dual_write_errors_total"), missed);
}
END_TEST

/* POST /conversations/{id}/messages with the given messages [[id, content]...]. */
static it_response *conv_append_to(const char *base, const char *t, const char *cid,
                                   const char *const (*msgs)[2], size_t n)
{
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "id", msgs[i][0], "role",
		                                     "user", "content", msgs[i][1]));
	json_t *body = json_pack("{s:s, s:o}", "customer_id", "cust-dw", "messages", arr);
	char *text = it_json_dump(body);
	char *path = it_strfmt("/conversations/%s/messages", cid);
	char *th = it_strfmt("X-Tenant-Id: %s", t);
	const char *hdrs[] = {th, NULL};
	it_response *r = it_request_to(base, "POST", path, hdrs, text, strlen(text));
	json_decref(body);
	free(text);
	free(path);
	free(th);
	return r;
}

/* An append and a metadata update land in both stores with the same seqs
 * and bytes; a retry adds nothing to either; a delete empties both. */
START_TEST(test_dual_write_conversations_in_both_stores)
{
	const char *cid = "conv-dual";
	static const char *const first[][2] = {{"m1", "hola ü"}, {"m2", "qué tal"}};
	static const char *const second[][2] = {{"m3", "bien \u00e9"}};
	it_response *r = conv_append_to(it_base_url(), tenant, cid, first, 2);
	it_expect_status(r, 201);
	it_response_free(r);
	r = conv_append_to(it_base_url(), tenant, cid, second, 1);
	it_expect_status(r, 200);
	it_response_free(r);
	r = conv_append_to(it_base_url(), tenant, cid, second, 1); /* a retry */
	it_expect_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "stored")), 0);
	it_response_free(r);

	/* Redis: the messages zset holds seqs 1..3 */
	redisContext *rc = it_redis_connect();
	char *tag = it_tag(tenant, cid);
	char *mk = it_strfmt("conv:msgs:%s", tag);
	redisReply *z = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", mk);
	ck_assert_msg(z && z->type == REDIS_REPLY_ARRAY && z->elements == 6, "%s in redis", mk);
	freeReplyObject(z);

	/* PostgreSQL: the same messages under the same seqs, and the row */
	PGresult *p = q("SELECT seq::text, message_id, content FROM memoryd.conversation_history"
	                " WHERE tenant = $1 AND conversation_id = $2 ORDER BY seq",
	                tenant, cid, NULL);
	ck_assert_int_eq(PQntuples(p), 3);
	const char *want[][2] = {{"m1", "hola ü"}, {"m2", "qué tal"}, {"m3", "bien é"}};
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(atoi(PQgetvalue(p, i, 0)), i + 1);
		ck_assert_str_eq(PQgetvalue(p, i, 1), want[i][0]);
		ck_assert_str_eq(PQgetvalue(p, i, 2), want[i][1]);
	}
	PQclear(p);

	/* an update reaches both */
	char *path = it_strfmt("/conversations/%s", cid);
	json_t *patch =
	    json_pack("{s:s, s:{s:s}}", "customer_id", "cust-dw2", "metadata", "topic", "té");
	r = it_json_request("PATCH", path, tenant, patch);
	it_expect_status(r, 200);
	it_response_free(r);
	json_decref(patch);
	p = q("SELECT customer_id, last_seq::text, metadata FROM memoryd.conversations"
	      " WHERE tenant = $1 AND conversation_id = $2",
	      tenant, cid, NULL);
	ck_assert_int_eq(PQntuples(p), 1);
	ck_assert_str_eq(PQgetvalue(p, 0, 0), "cust-dw2");
	ck_assert_str_eq(PQgetvalue(p, 0, 1), "3");
	ck_assert_msg(strstr(PQgetvalue(p, 0, 2), "té") != NULL, "metadata %s",
	              PQgetvalue(p, 0, 2));
	PQclear(p);
	char *metak = it_strfmt("conv:meta:%s", tag);
	size_t cl;
	char *cust = it_redis_hget(rc, metak, "customer_id", &cl);
	ck_assert_msg(cust && !strcmp(cust, "cust-dw2"), "redis customer_id %s", cust);
	free(cust);

	/* both stores list it; the customer's list shows it once (Redis's entry) */
	r = it_json_request("GET", "/conversations?customer_id=cust-dw2", tenant, NULL);
	it_expect_status(r, 200);
	json_t *convs = json_object_get(r->json, "conversations");
	ck_assert_msg(json_array_size(convs) == 1, "list: %s", r->desc);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_array_get(convs, 0), "conversation_id")), cid);
	it_response_free(r);

	/* a delete empties both */
	r = it_json_request("DELETE", path, tenant, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	p = q(
	    "SELECT (SELECT count(*) FROM memoryd.conversation_history WHERE tenant = $1 AND"
	    " conversation_id = $2) + (SELECT count(*) FROM memoryd.conversations WHERE tenant = $1"
	    " AND conversation_id = $2)",
	    tenant, cid, NULL);
	ck_assert_int_eq(PQgetlength(p, 0, 0), 8); /* bigint, binary */
	ck_assert_msg(!memcmp(PQgetvalue(p, 0, 0), "\0\0\0\0\0\0\0\0", 8), "rows left in postgres");
	PQclear(p);
	redisReply *ex = redisCommand(rc, "EXISTS %s %s", mk, metak);
	ck_assert_int_eq(ex->integer, 0);
	freeReplyObject(ex);
	free(metak);
	free(path);
	free(mk);
	free(tag);
	redisFree(rc);
}
END_TEST

/* The append answer's messages: each seq and duplicate flag as "seq:0|1,". */
static char *append_summary(const it_response *r)
{
	json_t *ms = json_object_get(r->json, "messages");
	ck_assert_msg(json_is_array(ms), "%s", r->desc);
	char *out = strdup("");
	for (size_t i = 0; i < json_array_size(ms); i++) {
		json_t *m = json_array_get(ms, i);
		char *next = it_strfmt("%s%lld:%d,", out,
		                       (long long)json_integer_value(json_object_get(m, "seq")),
		                       json_is_true(json_object_get(m, "duplicate")));
		free(out);
		out = next;
	}
	return out;
}

static void expect_append(const it_response *r, long status, bool created, long long before,
                          long long stored, const char *summary)
{
	it_expect_status(r, status);
	ck_assert_msg(json_is_boolean(json_object_get(r->json, "created")) &&
	                  json_is_true(json_object_get(r->json, "created")) == created,
	              "created: %s", r->desc);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "msg_count_before")), before);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "stored")), stored);
	char *got = append_summary(r);
	ck_assert_msg(!strcmp(got, summary), "messages %s, want %s: %s", got, summary, r->desc);
	free(got);
}

/* "seq:message_id," of the conversation's history in PostgreSQL is want. */
static void expect_pg_history(const char *cid, const char *want)
{
	PGresult *p = q("SELECT coalesce(string_agg(seq || ':' || message_id || ',', '' ORDER BY"
	                " seq), '') FROM memoryd.conversation_history WHERE tenant = $1 AND"
	                " conversation_id = $2",
	                tenant, cid, NULL);
	ck_assert_str_eq(PQgetvalue(p, 0, 0), want);
	PQclear(p);
}

/* Redis lost a conversation (an empty Redis after a failback) that
 * PostgreSQL holds: retries of its messages are answered as the duplicates
 * they are, with their seqs, and stored nowhere again; a new message
 * continues the numbering. */
START_TEST(test_retries_after_redis_lost_the_conversation_are_not_duplicated)
{
	const char *cid = "conv-lost";
	static const char *const first[][2] = {{"m1", "uno"}, {"m2", "dos"}, {"m3", "tres"}};
	static const char *const mixed[][2] = {{"m3", "tres"}, {"m4", "cuatro"}};
	it_response *r = conv_append_to(it_base_url(), tenant, cid, first, 3);
	expect_append(r, 201, true, 0, 3, "1:0,2:0,3:0,");
	it_response_free(r);
	redisContext *rc = it_redis_connect();
	char *tag = it_tag(tenant, cid);
	char *metak = it_strfmt("conv:meta:%s", tag), *msgk = it_strfmt("conv:msgs:%s", tag),
	     *idk = it_strfmt("conv:ids:%s", tag);
	redisReply *x = redisCommand(rc, "UNLINK %s %s %s", metak, msgk, idk);
	ck_assert_msg(x && x->type == REDIS_REPLY_INTEGER && x->integer == 3, "unlink");
	freeReplyObject(x);

	/* the whole batch again: three duplicates, nothing created in Redis */
	r = conv_append_to(it_base_url(), tenant, cid, first, 3);
	expect_append(r, 200, false, 3, 0, "1:1,2:1,3:1,");
	it_response_free(r);
	ck_assert_int_eq(it_redis_exists(rc, metak), 0);
	ck_assert_int_eq(it_redis_exists(rc, msgk), 0);
	expect_pg_history(cid, "1:m1,2:m2,3:m3,");

	/* a retry with a new message: the new one continues at 4 */
	r = conv_append_to(it_base_url(), tenant, cid, mixed, 2);
	expect_append(r, 200, false, 3, 1, "3:1,4:0,");
	it_response_free(r);
	ck_assert_int_eq(it_redis_card(rc, "ZCARD", msgk), 1);
	size_t len;
	char *s3 = it_redis_hget(rc, idk, "m3", &len), *s4 = it_redis_hget(rc, idk, "m4", &len);
	ck_assert_msg(s3 && !strcmp(s3, "3") && s4 && !strcmp(s4, "4"), "ids m3=%s m4=%s", s3, s4);
	free(s3);
	free(s4);
	expect_pg_history(cid, "1:m1,2:m2,3:m3,4:m4,");
	/* and again: Redis now knows both */
	r = conv_append_to(it_base_url(), tenant, cid, mixed, 2);
	expect_append(r, 200, false, 4, 0, "3:1,4:1,");
	it_response_free(r);
	ck_assert_int_eq(it_redis_card(rc, "ZCARD", msgk), 1);
	free(metak);
	free(msgk);
	free(idk);
	free(tag);
	redisFree(rc);
}
END_TEST

/* A /memory request with a body (may be NULL) and an optional If-Match. */
static it_response *mem_req(const char *base, const char *method, const char *path,
                            const char *if_match, const char *body)
{
	char *th = it_strfmt("X-Tenant-Id: %s", tenant);
	char *im = if_match ? it_strfmt("If-Match: %s", if_match) : NULL;
	const char *hdrs[] = {th, im, NULL};
	it_response *r = it_request_to(base, method, path, hdrs, body, body ? strlen(body) : 0);
	free(th);
	free(im);
	return r;
}

/* The item's version and value in PostgreSQL ("" when there is no row). */
static void pg_item(const char *key, char *version, size_t vcap, char *value, size_t cap)
{
	PGresult *p = q("SELECT version::text, value FROM memoryd.memory_items WHERE tenant = $1"
	                " AND ns = 'prefs' || chr(31) || 'ui' AND key = $2",
	                tenant, key, NULL);
	version[0] = value[0] = '\0';
	if (PQntuples(p) == 1) {
		snprintf(version, vcap, "%s", PQgetvalue(p, 0, 0));
		snprintf(value, cap, "%s", PQgetvalue(p, 0, 1));
	}
	PQclear(p);
}

/* Puts land in both stores under the primary's version (so the ETag holds
 * after a switch); deletes and cleanups empty both. */
START_TEST(test_dual_write_memory_in_both_stores)
{
	const char *base = it_base_url();
	const char *body = "{\"namespace\":[\"prefs\",\"ui\"],\"key\":\"theme\","
	                   "\"value\":{\"mode\":\"oscuro ü\",\"n\":12345678901234567890}}";
	it_response *r = mem_req(base, "PUT", "/memory/items", NULL, body);
	it_expect_status(r, 200);
	char *ver = strdup(json_string_value(json_object_get(r->json, "version")));
	it_response_free(r);
	/* a conditional put on the primary's ETag */
	char *etag = it_strfmt("\"%s\"", ver);
	const char *body2 = "{\"namespace\":[\"prefs\",\"ui\"],\"key\":\"theme\","
	                    "\"value\":{\"mode\":\"claro\"}}";
	r = mem_req(base, "PUT", "/memory/items", etag, body2);
	it_expect_status(r, 200);
	char *ver2 = strdup(json_string_value(json_object_get(r->json, "version")));
	it_response_free(r);

	char pv[32], pval[256];
	pg_item("theme", pv, sizeof pv, pval, sizeof pval);
	ck_assert_str_eq(pv, ver2);
	ck_assert_str_eq(pval, "{\"mode\":\"claro\"}");
	redisContext *rc = it_redis_connect();
	char *et = it_key_enc(tenant);
	char *rk = it_strfmt("%s:memory:{%s}:prefs:ui:theme", it_key_prefix(), et);
	size_t n;
	char *rv = it_redis_hget(rc, rk, "ver", &n);
	ck_assert_msg(rv && !strcmp(rv, ver2), "redis ver %s, want %s", rv, ver2);
	free(rv);

	/* a second item, then a cleanup of the prefix reaches both */
	r = mem_req(base, "PUT", "/memory/items", NULL,
	            "{\"namespace\":[\"prefs\",\"ui\"],\"key\":\"lang\",\"value\":\"es\"}");
	it_expect_status(r, 200);
	it_response_free(r);
	pg_item("lang", pv, sizeof pv, pval, sizeof pval);
	ck_assert_str_eq(pval, "\"es\"");
	r = mem_req(base, "DELETE", "/memory/items?namespace=%5B%22prefs%22%2C%22ui%22%5D&key=lang",
	            NULL, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	pg_item("lang", pv, sizeof pv, pval, sizeof pval);
	ck_assert_str_eq(pv, "");
	r = mem_req(base, "POST", "/memory/cleanup", NULL, "{\"namespace_prefix\":[\"prefs\"]}");
	it_expect_status(r, 200);
	it_response_free(r);
	pg_item("theme", pv, sizeof pv, pval, sizeof pval);
	ck_assert_str_eq(pv, "");
	redisReply *ex = redisCommand(rc, "EXISTS %s", rk);
	ck_assert_int_eq(ex->integer, 0);
	freeReplyObject(ex);
	free(rk);
	free(et);
	free(etag);
	free(ver);
	free(ver2);
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

/* A conversation Redis does not hold may have history in PostgreSQL: with
 * PostgreSQL unreachable its numbering is unknown, so the append is 503 and
 * stores nothing (numbered from 1, archival would drop it as a conflict). */
START_TEST(test_append_new_to_redis_with_archive_down_is_unavailable)
{
	static const char *const msgs[][2] = {{"n1", "hola"}};
	it_response *r = conv_append_to(it_base_url(), tenant, "conv-unknown", msgs, 1);
	it_expect_error(r, 503, "store_unavailable", NULL);
	ck_assert_msg(it_header_get(r, "Retry-After") != NULL, "%s", r->desc);
	ck_assert_msg(strstr(r->body, "numbering") != NULL, "%s", r->desc);
	it_response_free(r);
	redisContext *rc = it_redis_connect();
	it_strlist keys = {0};
	it_redis_thread_keys(rc, tenant, "conv-unknown", &keys);
	ck_assert_msg(keys.n == 0, "%zu key(s) in redis, e.g. %s", keys.n, keys.n ? keys.v[0] : "");
	it_strlist_free(&keys);
	redisFree(rc);
}
END_TEST

/* ===================================================================== */
/* /admin/failover: two replicas on a database and Redis of their own     */
/* ===================================================================== */

static char *url_a, *url_b;

static void setup_replicas(void)
{
	setup();
	url_a = strdup(it_require_env("MEMORYD_URL"));
	url_b = strdup(it_require_env("MEMORYD_URL_B"));
}

static void teardown_replicas(void)
{
	teardown();
	free(url_a);
	free(url_b);
	url_a = url_b = NULL;
}

static long long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An /admin/failover request to one replica; token NULL: the admin token. */
static it_response *failover_req(const char *base, const char *method, const char *body,
                                 const char *token)
{
	char *auth =
	    it_strfmt("Authorization: Bearer %s", token ? token : it_require_env("ADMIN_TOKEN"));
	const char *hdrs[] = {auth, NULL};
	it_response *r =
	    it_request_to(base, method, "/admin/failover", hdrs, body, body ? strlen(body) : 0);
	free(auth);
	return r;
}

/* GET /admin/failover of one replica (new reference). */
static json_t *routing_of(const char *base)
{
	it_response *r = failover_req(base, "GET", NULL, NULL);
	it_expect_status(r, 200);
	ck_assert_msg(r->json != NULL, "%s", r->desc);
	json_t *j = json_incref(r->json);
	it_response_free(r);
	return j;
}

static const char *jstr(const json_t *o, const char *k)
{
	const char *v = json_string_value(json_object_get(o, k));
	ck_assert_msg(v != NULL, "no string %s in %s", k, json_dumps(o, 0));
	return v;
}

/* POST a switch through base; asserts 200 and returns the state it answers. */
static json_t *switch_to(const char *base, const char *primary, bool dual_write)
{
	char *body = it_strfmt("{\"primary\":\"%s\",\"dual_write\":%s}", primary,
	                       dual_write ? "true" : "false");
	it_response *r = failover_req(base, "POST", body, NULL);
	it_expect_status(r, 200);
	ck_assert_str_eq(jstr(r->json, "primary"), primary);
	ck_assert(json_is_boolean(json_object_get(r->json, "dual_write")) &&
	          json_boolean_value(json_object_get(r->json, "dual_write")) == dual_write);
	ck_assert_str_eq(jstr(r->json, "changed_by"), "admin");
	json_t *j = json_incref(r->json);
	it_response_free(r);
	free(body);
	return j;
}

/* How long base took to route by version (ms), polling; -1 past deadline_ms. */
static long long wait_version(const char *base, long long version, long long deadline_ms)
{
	long long t0 = mono_ms();
	for (;;) {
		json_t *j = routing_of(base);
		long long v = json_integer_value(json_object_get(j, "version"));
		json_decref(j);
		long long el = mono_ms() - t0;
		if (v >= version)
			return el;
		if (el > deadline_ms)
			return -1;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
}

/* A put of checkpoint n of thread to one replica. */
static it_response *put_to(const char *base, const char *t, const char *thread, int n)
{
	char *id = it_cp_id(n);
	char *ver = it_strfmt("%05d", n);
	char *data = it_strfmt("payload-%s-%d-ü", thread, n);
	json_t *body = it_put_body(
	    thread, "", id, NULL, it_checkpoint(id, json_pack("{s:s}", "state", ver)),
	    json_pack("{s:i}", "step", n),
	    json_pack("[o]", it_blob("state", json_string(ver), "bytes", data, strlen(data))));
	char *text = it_json_dump(body);
	char *th = it_strfmt("X-Tenant-Id: %s", t);
	const char *hdrs[] = {th, NULL};
	it_response *r = it_request_to(base, "POST", "/checkpoints", hdrs, text, strlen(text));
	json_decref(body);
	free(text);
	free(th);
	free(data);
	free(ver);
	free(id);
	return r;
}

/* Every acknowledged checkpoint n of thread reads back with its bytes. */
static void expect_readable(const char *t, const char *thread, int n)
{
	char *id = it_cp_id(n);
	char *data = it_strfmt("payload-%s-%d-ü", thread, n);
	json_t *tuple = it_get_ok(t, thread, "", id);
	it_expect_config(json_object_get(tuple, "config"), thread, "", id);
	it_expect_channel_value(tuple, "state", "bytes", data, strlen(data));
	json_decref(tuple);
	free(data);
	free(id);
}

#define FO_WRITERS   4
#define FO_MAX_ACKED 100000

/* A client writing continuously to one replica: each put a checkpoint of a
 * thread of its own, so each acknowledged write is one (thread, n). */
struct fo_writer {
	const char *base;
	int no;
	int *stop; /* atomic */
	int acked, unavailable, other;
	char other_desc[512];
	int stored_postgres; /* acknowledged with postgres first in X-Memory-Stored */
};

static void *fo_writer_main(void *arg)
{
	struct fo_writer *w = arg;
	char thread[32];
	snprintf(thread, sizeof(thread), "w%d", w->no);
	for (int n = 1; !__atomic_load_n(w->stop, __ATOMIC_RELAXED) && n < FO_MAX_ACKED; n++) {
		it_response *r = put_to(w->base, tenant, thread, n);
		if (r->status == 201) {
			w->acked = n; /* every n up to here is acknowledged or refused */
			const char *st = it_header_get(r, "X-Memory-Stored");
			if (st && !strncmp(st, "postgres", 8))
				w->stored_postgres++;
		} else if (r->status == 503) {
			w->unavailable++;
			n--; /* retried, as a client does */
		} else {
			if (!w->other)
				snprintf(w->other_desc, sizeof(w->other_desc), "%s", r->desc);
			w->other++;
		}
		it_response_free(r);
	}
	return NULL;
}

static void writers_start(pthread_t *th, struct fo_writer *w, int *stop)
{
	for (int i = 0; i < FO_WRITERS; i++) {
		w[i] = (struct fo_writer){.base = i % 2 ? url_b : url_a, .no = i, .stop = stop};
		ck_assert_int_eq(pthread_create(&th[i], NULL, fo_writer_main, &w[i]), 0);
	}
}

/* Stop the writers; nothing but 503 failed, and every acknowledged write
 * reads back through replica A. */
static void writers_finish(pthread_t *th, struct fo_writer *w, int *stop)
{
	__atomic_store_n(stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < FO_WRITERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < FO_WRITERS; i++) {
		ck_assert_msg(w[i].other == 0,
		              "writer %d: %d answers other than 201/503, first: %s", i, w[i].other,
		              w[i].other_desc);
		ck_assert_msg(w[i].acked > 0, "writer %d: nothing acknowledged", i);
	}
	for (int i = 0; i < FO_WRITERS; i++) {
		char thread[32];
		snprintf(thread, sizeof(thread), "w%d", i);
		for (int n = 1; n <= w[i].acked; n++)
			expect_readable(tenant, thread, n);
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Bad input and tokens change nothing; a switch through A is recorded in
 * PostgreSQL and B routes by it within 2 s. */
START_TEST(test_failover_switch_reaches_every_replica)
{
	json_t *before = routing_of(url_a);
	long long v0 = json_integer_value(json_object_get(before, "version"));
	ck_assert(json_is_boolean(json_object_get(before, "auto")));
	jstr(before, "since");
	jstr(before, "changed_by");

	static const struct {
		const char *body, *token;
		long status;
		const char *code, *field;
	} bad[] = {
	    {"{\"primary\":\"cassandra\"}", NULL, 400, "invalid_field", "primary"},
	    {"{\"primary\":7}", NULL, 400, "invalid_field", "primary"},
	    {"{\"dual_write\":\"yes\"}", NULL, 400, "invalid_field", "dual_write"},
	    {"{\"dual_write\":1}", NULL, 400, "invalid_field", "dual_write"},
	    {"{}", NULL, 400, "missing_field", "primary"},
	    {"{\"primary\":\"postgres\",\"force\":true}", NULL, 400, "invalid_field", "body"},
	    {"[\"postgres\"]", NULL, 400, NULL, NULL},
	    {"{\"primary\":", NULL, 400, "invalid_json", NULL},
	    {"{\"primary\":\"postgres\"}", "not-the-admin-token", 403, "forbidden", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		it_response *r = failover_req(url_a, "POST", bad[i].body, bad[i].token);
		if (bad[i].code)
			it_expect_error(r, bad[i].status, bad[i].code, bad[i].field);
		else
			it_expect_status(r, bad[i].status);
		it_response_free(r);
	}
	it_response *r =
	    it_request_to(url_a, "POST", "/admin/failover", NULL, "{\"primary\":\"postgres\"}", 22);
	it_expect_error(r, 401, "unauthorized", NULL);
	it_response_free(r);
	r = it_request_to(url_a, "GET", "/admin/failover", NULL, NULL, 0);
	it_expect_error(r, 401, "unauthorized", NULL);
	it_response_free(r);
	r = failover_req(url_a, "GET", NULL, "not-the-admin-token");
	it_expect_error(r, 403, "forbidden", NULL);
	it_response_free(r);
	json_t *after = routing_of(url_a);
	ck_assert_int_eq(json_integer_value(json_object_get(after, "version")), v0);
	ck_assert_str_eq(jstr(after, "primary"), jstr(before, "primary"));
	json_decref(after);
	json_decref(before);

	/* the runbook's sequence: dual write on, switch, dual write off */
	json_t *s1 = switch_to(url_a, "redis", true);
	json_t *s2 = switch_to(url_a, "postgres", true);
	long long v2 = json_integer_value(json_object_get(s2, "version"));
	ck_assert_int_gt(v2, json_integer_value(json_object_get(s1, "version")));
	long long took = wait_version(url_b, v2, 2000);
	ck_assert_msg(took >= 0, "replica B did not apply version %lld within 2 s", v2);
	json_t *b = routing_of(url_b);
	ck_assert_str_eq(jstr(b, "primary"), "postgres");
	ck_assert(json_is_true(json_object_get(b, "dual_write")));
	ck_assert_str_eq(jstr(b, "changed_by"), "admin");
	json_decref(b);

	/* B's writes now land in PostgreSQL first, then Redis */
	r = put_to(url_b, tenant, "t-b", 1);
	it_expect_status(r, 201);
	ck_assert_str_eq(stored_header(r), "postgres,redis");
	it_response_free(r);
	ck_assert_int_eq(rows_of(tenant, "t-b"), 3); /* checkpoint, blob, head */

	/* ... and so do conversations and /memory, with the same seqs and versions */
	static const char *const msgs[][2] = {{"b1", "uno"}, {"b2", "dos"}};
	r = conv_append_to(url_b, tenant, "conv-b", msgs, 2);
	it_expect_status(r, 201);
	it_response_free(r);
	r = mem_req(url_b, "PUT", "/memory/items", NULL,
	            "{\"namespace\":[\"prefs\",\"ui\"],\"key\":\"k\",\"value\":[1]}");
	it_expect_status(r, 200);
	char *mver = strdup(json_string_value(json_object_get(r->json, "version")));
	it_response_free(r);
	redisContext *rc = it_redis_connect();
	char *tag = it_tag(tenant, "conv-b");
	redisReply *z = redisCommand(rc, "ZRANGE conv:msgs:%s 0 -1 WITHSCORES", tag);
	ck_assert_msg(z && z->type == REDIS_REPLY_ARRAY && z->elements == 4, "conv-b not in redis");
	ck_assert_str_eq(z->element[1]->str, "1");
	ck_assert_str_eq(z->element[3]->str, "2");
	freeReplyObject(z);
	char *et = it_key_enc(tenant);
	char *rk = it_strfmt("%s:memory:{%s}:prefs:ui:k", it_key_prefix(), et);
	size_t vl;
	char *rv = it_redis_hget(rc, rk, "ver", &vl);
	ck_assert_msg(rv && !strcmp(rv, mver), "redis ver %s, want %s", rv, mver);
	free(rv);
	free(rk);
	free(et);
	free(tag);
	free(mver);
	redisFree(rc);

	/* the state is in PostgreSQL */
	PGresult *p = q("SELECT primary_store, dual_write::text, version::text, changed_by"
	                " FROM memoryd.routing_state",
	                NULL, NULL, NULL);
	ck_assert_int_eq(PQntuples(p), 1);
	ck_assert_str_eq(PQgetvalue(p, 0, 0), "postgres");
	ck_assert_str_eq(PQgetvalue(p, 0, 1), "true");
	ck_assert_int_eq(atoll(PQgetvalue(p, 0, 2)), v2);
	ck_assert_str_eq(PQgetvalue(p, 0, 3), "admin");
	PQclear(p);

	/* a replica started now routes by the persisted state, not by its
	 * CONV_STORE_PRIMARY */
	char *cmd =
	    it_strfmt("CONV_STORE_PRIMARY=redis CONV_DUAL_WRITE=0 %s sh -c 'curl -sS -H "
	              "\"Authorization: Bearer $ADMIN_TOKEN\" \"$MEMORYD_URL/admin/failover\"'",
	              it_require_env("FO_WITH_MEMORYD"));
	FILE *c = popen(cmd, "r");
	ck_assert(c != NULL);
	char out[2048] = "";
	size_t got = fread(out, 1, sizeof(out) - 1, c);
	out[got] = '\0';
	ck_assert_msg(pclose(c) == 0, "%s failed: %s", cmd, out);
	json_t *third = json_loads(out, 0, NULL);
	ck_assert_msg(third != NULL, "not JSON: %s", out);
	ck_assert_str_eq(jstr(third, "primary"), "postgres");
	ck_assert(json_is_true(json_object_get(third, "dual_write")));
	ck_assert_int_eq(json_integer_value(json_object_get(third, "version")), v2);
	json_decref(third);
	free(cmd);

	/* /readyz says which store serves */
	r = it_request_to(url_b, "GET", "/readyz", NULL, NULL, 0);
	it_expect_status(r, 200);
	ck_assert_str_eq(jstr(json_object_get(r->json, "routing"), "primary"), "postgres");
	ck_assert_msg(json_object_get(json_object_get(r->json, "stores"), "postgres") != NULL, "%s",
	              r->desc);
	it_response_free(r);

	/* a switch made in PostgreSQL by another replica, without a notification
	 * reaching anyone, is applied by the poll */
	json_decref(switch_to(url_a, "redis", false));
	p = q("UPDATE memoryd.routing_state SET dual_write = true, version = version + 1,"
	      " changed_by = 'admin' RETURNING version::text",
	      NULL, NULL, NULL);
	long long v3 = atoll(PQgetvalue(p, 0, 0));
	PQclear(p);
	ck_assert_msg(wait_version(url_a, v3, 2000) >= 0, "A missed a change made without NOTIFY");
	ck_assert_msg(wait_version(url_b, v3, 2000) >= 0, "B missed a change made without NOTIFY");
	json_decref(switch_to(url_a, "redis", false));
	json_decref(s1);
	json_decref(s2);
}
END_TEST

/* Switch back and forth while clients write through both replicas: nothing
 * but 503 fails, and every acknowledged write is readable afterwards. */
START_TEST(test_failover_switching_under_load_loses_nothing)
{
	int stop = 0;
	pthread_t th[FO_WRITERS];
	struct fo_writer w[FO_WRITERS];
	writers_start(th, w, &stop);
	static const struct {
		const char *primary;
		bool dual;
	} steps[] = {{"redis", true},    {"postgres", true},  {"postgres", false},
	             {"redis", false},   {"postgres", false}, {"redis", true},
	             {"postgres", true}, {"redis", true},     {"redis", false}};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		sleep_ms(300);
		json_decref(switch_to(i % 2 ? url_b : url_a, steps[i].primary, steps[i].dual));
	}
	sleep_ms(300);
	json_t *last = routing_of(url_a);
	long long v = json_integer_value(json_object_get(last, "version"));
	json_decref(last);
	ck_assert_msg(wait_version(url_b, v, 2000) >= 0, "B did not catch up");
	ck_assert_msg(wait_version(url_a, v, 2000) >= 0, "A did not catch up");
	writers_finish(th, w, &stop);
	int total = 0;
	for (int i = 0; i < FO_WRITERS; i++)
		total += w[i].acked;
	ck_assert_int_gt(total, 40);
}
END_TEST

/* FAILOVER_AUTO=1 on both replicas, dual write on: Redis killed under load;
 * both replicas move to PostgreSQL once (one version), writes carry on, and
 * every acknowledged write is readable. */
START_TEST(test_auto_failover_when_redis_dies)
{
	json_t *before = routing_of(url_a);
	ck_assert(json_is_true(json_object_get(before, "auto")));
	ck_assert_str_eq(jstr(before, "primary"), "redis");
	long long v0 = json_integer_value(json_object_get(before, "version"));
	json_decref(before);

	int stop = 0;
	pthread_t th[FO_WRITERS];
	struct fo_writer w[FO_WRITERS];
	writers_start(th, w, &stop);
	sleep_ms(500);
	pid_t redis = (pid_t)atol(it_require_env("FO_REDIS_PID"));
	ck_assert_int_eq(kill(redis, SIGKILL), 0);
	long long t_kill = mono_ms();

	/* both replicas fail over */
	const char *bases[] = {url_a, url_b};
	for (int i = 0; i < 2; i++) {
		long long took = wait_version(bases[i], v0 + 1, 15000);
		ck_assert_msg(took >= 0, "replica %d did not fail over", i);
		json_t *j = routing_of(bases[i]);
		ck_assert_str_eq(jstr(j, "primary"), "postgres");
		ck_assert_str_eq(jstr(j, "changed_by"), "auto");
		ck_assert_msg(strstr(jstr(j, "reason"), "redis unreachable") != NULL, "%s",
		              jstr(j, "reason"));
		ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), v0 + 1);
		json_decref(j);
	}
	long long failed_over_after = mono_ms() - t_kill;
	ck_assert_msg(failed_over_after >= 400,
	              "failed over after %lld ms, before FAILOVER_AFTER_MS", failed_over_after);

	/* writes carry on against PostgreSQL */
	int pg_before = 0;
	for (int i = 0; i < FO_WRITERS; i++)
		pg_before += __atomic_load_n(&w[i].stored_postgres, __ATOMIC_RELAXED);
	long long deadline = mono_ms() + 15000;
	int pg_now = pg_before;
	while (pg_now < pg_before + 40 && mono_ms() < deadline) {
		sleep_ms(50);
		pg_now = 0;
		for (int i = 0; i < FO_WRITERS; i++)
			pg_now += __atomic_load_n(&w[i].stored_postgres, __ATOMIC_RELAXED);
	}
	ck_assert_msg(pg_now >= pg_before + 40, "only %d writes landed in postgres",
	              pg_now - pg_before);
	writers_finish(th, w, &stop);

	/* one change, recorded once */
	PGresult *p =
	    q("SELECT primary_store, changed_by, version::text FROM memoryd.routing_state", NULL,
	      NULL, NULL);
	ck_assert_str_eq(PQgetvalue(p, 0, 0), "postgres");
	ck_assert_str_eq(PQgetvalue(p, 0, 1), "auto");
	ck_assert_int_eq(atoll(PQgetvalue(p, 0, 2)), v0 + 1);
	PQclear(p);
	/* the routing's history is a store detail: the admin token sees it */
	char *auth = it_strfmt("Authorization: Bearer %s", it_require_env("ADMIN_TOKEN"));
	const char *hdrs[] = {auth, NULL};
	it_response *r = it_request_to(url_a, "GET", "/readyz", hdrs, NULL, 0);
	free(auth);
	it_expect_status(r, 200);
	json_t *rt = json_object_get(r->json, "routing");
	ck_assert_str_eq(jstr(rt, "primary"), "postgres");
	ck_assert_str_eq(jstr(rt, "changed_by"), "auto");
	it_response_free(r);
	/* the log says so */
	FILE *f = fopen(it_require_env("MEMORYD_LOG"), "r");
	ck_assert(f != NULL);
	char line[4096];
	int said = 0;
	while (fgets(line, sizeof line, f))
		said += strstr(line, "\"msg\":\"routing changed\"") && strstr(line, "\"auto\"");
	fclose(f);
	ck_assert_msg(said >= 1, "memoryd A's log does not say it failed over");
}
END_TEST

/* Without DATABASE_URL there is nothing to switch to: 409, state unchanged. */
START_TEST(test_failover_without_database_is_a_conflict)
{
	const char *base = it_base_url();
	json_t *before = routing_of(base);
	ck_assert_str_eq(jstr(before, "changed_by"), "config");
	it_response *r = failover_req(base, "POST", "{\"primary\":\"postgres\"}", NULL);
	it_expect_error(r, 409, "conflict", NULL);
	it_response_free(r);
	json_t *after = routing_of(base);
	ck_assert(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}
END_TEST

/* PostgreSQL unreachable: the switch cannot be recorded, so it is not made. */
START_TEST(test_failover_with_database_down_changes_nothing)
{
	const char *base = it_base_url();
	json_t *before = routing_of(base);
	it_response *r = failover_req(base, "POST", "{\"dual_write\":false}", NULL);
	it_expect_error(r, 503, "store_unavailable", NULL);
	ck_assert_msg(it_header_get(r, "Retry-After") != NULL, "%s", r->desc);
	it_response_free(r);
	json_t *after = routing_of(base);
	ck_assert(json_equal(before, after));
	json_decref(before);
	json_decref(after);
}
END_TEST

/* A request to replica A as tenant t (admin: with the admin token too). */
static it_response *req_a(const char *method, const char *path, const char *t, bool admin,
                          const char *body)
{
	char *th = it_strfmt("X-Tenant-Id: %s", t);
	char *auth =
	    admin ? it_strfmt("Authorization: Bearer %s", it_require_env("ADMIN_TOKEN")) : NULL;
	const char *hdrs[] = {th, auth, NULL};
	it_response *r = it_request_to(url_a, method, path, hdrs, body, body ? strlen(body) : 0);
	free(th);
	free(auth);
	return r;
}

/* Written while Redis was primary (no dual write), deleted while PostgreSQL
 * is: a thread, one checkpoint, a conversation, a /memory item and a whole
 * tenant stay deleted after the failback, in the answers and in Redis. */
START_TEST(test_deletes_reach_redis_while_postgres_is_primary)
{
	json_decref(switch_to(url_a, "redis", false));
	char *gone = it_random_id("fo-gone-");
	it_response *r = put_to(url_a, tenant, "z1", 1);
	it_expect_status(r, 201);
	ck_assert_str_eq(stored_header(r), "redis");
	it_response_free(r);
	for (int n = 1; n <= 2; n++) {
		r = put_to(url_a, tenant, "z2", n);
		it_expect_status(r, 201);
		it_response_free(r);
	}
	r = put_to(url_a, gone, "z3", 1);
	it_expect_status(r, 201);
	it_response_free(r);
	static const char *const msgs[][2] = {{"d1", "adiós"}};
	r = conv_append_to(url_a, tenant, "conv-z", msgs, 1);
	it_expect_status(r, 201);
	it_response_free(r);
	const char *item = "/memory/items?namespace=%5B%22prefs%22%5D&key=z";
	r = mem_req(url_a, "PUT", "/memory/items", NULL,
	            "{\"namespace\":[\"prefs\"],\"key\":\"z\",\"value\":1}");
	it_expect_status(r, 200);
	it_response_free(r);
	ck_assert_int_eq(rows_of(tenant, "z1"), 0); /* Redis only */

	json_decref(switch_to(url_a, "postgres", false));
	r = req_a("DELETE", "/checkpoints/z1", tenant, false, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	char *cp2 = it_cp_id(2);
	char *path = it_strfmt("/admin/threads/z2/checkpoints/%s?checkpoint_ns=", cp2);
	r = req_a("DELETE", path, tenant, true, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	free(path);
	r = req_a("DELETE", "/conversations/conv-z", tenant, false, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	r = mem_req(url_a, "DELETE", item, NULL, NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	path = it_strfmt("/admin/tenants/%s", gone);
	r = req_a("DELETE", path, tenant, true, NULL);
	it_expect_status(r, 200);
	it_response_free(r);
	free(path);

	json_decref(switch_to(url_a, "redis", false));
	r = req_a("GET", "/checkpoints/z1", tenant, false, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	path = it_strfmt("/checkpoints/z2?checkpoint_id=%s", cp2);
	r = req_a("GET", path, tenant, false, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	free(path);
	char *cp1 = it_cp_id(1);
	path = it_strfmt("/checkpoints/z2?checkpoint_id=%s", cp1);
	r = req_a("GET", path, tenant, false, NULL); /* the other checkpoint stays */
	it_expect_status(r, 200);
	it_response_free(r);
	free(path);
	r = req_a("GET", "/checkpoints/z3", gone, false, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	r = req_a("GET", "/conversations/conv-z/messages", tenant, false, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	r = mem_req(url_a, "GET", item, NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);

	redisContext *rc = it_redis_connect();
	it_redis_expect_thread_empty(rc, tenant, "z1", "the deletes");
	it_redis_expect_thread_empty(rc, tenant, "conv-z", "the deletes");
	char *ck = it_key_checkpoint(tenant, "z2", "", cp2);
	ck_assert_int_eq(it_redis_exists(rc, ck), 0);
	free(ck);
	ck = it_key_checkpoint(tenant, "z2", "", cp1);
	ck_assert_int_eq(it_redis_exists(rc, ck), 1);
	free(ck);
	char *et = it_key_enc(tenant);
	char *mk = it_strfmt("%s:memory:{%s}:prefs:z", it_key_prefix(), et);
	ck_assert_int_eq(it_redis_exists(rc, mk), 0);
	free(mk);
	free(et);
	it_redis_expect_tenant_empty(rc, gone, "a tenant delete while postgres was primary");
	redisFree(rc);
	free(cp1);
	free(cp2);
	free(gone);
}
END_TEST

enum fixture { FX_NO_DB, FX_DB, FX_REPLICAS };

static TCase *tc(Suite *s, const char *name, const char *tags, int timeout, enum fixture fx)
{
	TCase *t = tcase_create(name);
	tcase_set_tags(t, tags);
	if (fx == FX_REPLICAS)
		tcase_add_checked_fixture(t, setup_replicas, teardown_replicas);
	else
		tcase_add_checked_fixture(t, fx == FX_DB ? setup : setup_no_db, teardown);
	tcase_set_timeout(t, timeout);
	suite_add_tcase(s, t);
	return t;
}

int main(void)
{
	Suite *s = suite_create("memoryd_failover");
	TCase *t;

	t = tc(s, "dual", "dual", 60, FX_DB);
	tcase_add_test(t, test_dual_write_puts_the_same_bytes_in_both_stores);
	tcase_add_test(t, test_dual_write_survives_postgres_backends_dying);
	tcase_add_test(t, test_dual_write_conversations_in_both_stores);
	tcase_add_test(t, test_retries_after_redis_lost_the_conversation_are_not_duplicated);
	tcase_add_test(t, test_dual_write_memory_in_both_stores);
	tcase_add_test(t, test_read_through_finds_in_postgres_what_redis_lacks);
	tcase_add_test(t, test_health_and_metrics_report_both_stores);

	t = tc(s, "secondary_down", "secondary_down", 60, FX_NO_DB);
	tcase_add_test(t, test_secondary_down_still_acknowledges_and_counts);
	tcase_add_test(t, test_append_new_to_redis_with_archive_down_is_unavailable);

	tcase_add_test(t, test_failover_with_database_down_changes_nothing);

	t = tc(s, "no_db", "no_db", 30, FX_NO_DB);
	tcase_add_test(t, test_failover_without_database_is_a_conflict);

	t = tc(s, "switch", "switch", 120, FX_REPLICAS);
	tcase_add_test(t, test_failover_switch_reaches_every_replica);
	tcase_add_test(t, test_failover_switching_under_load_loses_nothing);
	tcase_add_test(t, test_deletes_reach_redis_while_postgres_is_primary);

	t = tc(s, "auto", "auto", 120, FX_REPLICAS);
	tcase_add_test(t, test_auto_failover_when_redis_dies);

	return it_run_suite(s);
}
