/* Integration tests for /conversations against a real memoryd and real stores.
 *
 * Environment: MEMORYD_URL (tests/with-memoryd.sh), REDIS_URL, DATABASE_URL,
 * and the settings memoryd runs with when they are not the defaults:
 * CONV_STORE_PRIMARY (redis or postgres: which store the assertions on
 * stored data read), CONV_KEY_PREFIX, CONV_TTL_SECONDS, CONV_MAX_MESSAGES.
 * Every test uses a fresh random tenant.
 *
 * Groups (CK_RUN_CASE): api, concurrency, bad_input (any primary), redis
 * (the Redis key layout: TTLs, hash tags), pg_rows (PostgreSQL as primary:
 * the rows), trim_delete (Redis without
 * DATABASE_URL, CONV_MAX_MESSAGES=50), trim_archive (Redis with DATABASE_URL,
 * CONV_MAX_MESSAGES=50).
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>
#include <libpq-fe.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"
#include "redis_inspect.h"

static char *tenant;

static void setup(void)
{
	tenant = it_random_id("cv-");
}

static void teardown(void)
{
	free(tenant);
	tenant = NULL;
}

static long env_num(const char *name, long dflt)
{
	const char *v = getenv(name);
	return v && *v ? strtol(v, NULL, 10) : dflt;
}

static bool primary_is_pg(void)
{
	const char *p = getenv("CONV_STORE_PRIMARY");
	return p && (!strcmp(p, "postgres") || !strcmp(p, "mongo"));
}

/* ---- HTTP ---------------------------------------------------------------- */

static char *conv_path(const char *cid, const char *suffix, const char *query)
{
	char *e = it_url_escape(cid);
	char *p = it_strfmt("/conversations/%s%s%s%s", e, suffix, query && *query ? "?" : "",
	                    query ? query : "");
	free(e);
	return p;
}

/* POST messages; the body is stolen. */
static it_response *append_raw(const char *t, const char *cid, json_t *body)
{
	char *p = conv_path(cid, "/messages", NULL);
	it_response *r = it_json_request("POST", p, t, body);
	free(p);
	json_decref(body);
	return r;
}

/* POST messages, expect status, return the body (new reference). */
static json_t *append_ok(const char *cid, json_t *body, long status)
{
	it_response *r = append_raw(tenant, cid, body);
	it_expect_status(r, status);
	json_t *j = json_incref(r->json);
	it_response_free(r);
	return j;
}

static json_t *msg(const char *role, const char *content, const char *id)
{
	json_t *m = json_pack("{s:s,s:s}", "role", role, "content", content);
	if (id)
		json_object_set_new(m, "id", json_string(id));
	return m;
}

static json_t *one(const char *content, const char *id)
{
	return json_pack("{s:[o]}", "messages", msg("user", content, id));
}

/* A request with a JSON body (stolen). */
static it_response *send_json(const char *method, const char *path, json_t *body)
{
	it_response *r = it_json_request(method, path, tenant, body);
	json_decref(body);
	return r;
}

static json_t *get_json(const char *path, long status)
{
	it_response *r = it_json_request("GET", path, tenant, NULL);
	it_expect_status(r, status);
	json_t *j = json_incref(r->json);
	it_response_free(r);
	return j;
}

static json_t *read_msgs(const char *cid, const char *query)
{
	char *p = conv_path(cid, "/messages", query);
	json_t *j = get_json(p, 200);
	free(p);
	return j;
}

static long long jint(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

static const char *jstr(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	ck_assert_msg(json_is_string(v), "%s is not a string", key);
	return json_string_value(v);
}

/* The seqs of a page, which must be ascending by one. */
static void expect_page(const json_t *page, long long from, long long to)
{
	json_t *m = json_object_get(page, "messages");
	size_t n = json_array_size(m);
	char *dump = it_json_dump(page);
	ck_assert_msg(n == (size_t)(to - from + 1), "expected seqs %lld..%lld, got %zu: %.400s",
	              from, to, n, dump);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(jint(json_array_get(m, i), "seq") == from + (long long)i,
		              "message %zu has seq %lld, expected %lld", i,
		              jint(json_array_get(m, i), "seq"), from + (long long)i);
	free(dump);
}

/* ---- what the primary store holds ---------------------------------------- */

static const char *conv_prefix(void)
{
	const char *p = getenv("CONV_KEY_PREFIX");
	return p && *p ? p : "conv";
}

static char *conv_key(const char *kind, const char *cid)
{
	char *tag = it_tag(tenant, cid);
	char *k = it_strfmt("%s:%s:%s", conv_prefix(), kind, tag);
	free(tag);
	return k;
}

static PGconn *pg_connect(void)
{
	PGconn *c = PQconnectdb(it_require_env("DATABASE_URL"));
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "postgres: %s", PQerrorMessage(c));
	return c;
}

/* The rows of a query with $1 = tenant, $2 = conversation id: column 0 of
 * each row as an integer into out (malloc'd); the row count. */
static size_t pg_ints(const char *sql, const char *cid, long long **out)
{
	PGconn *c = pg_connect();
	const char *params[] = {tenant, cid};
	PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "postgres: %s", PQerrorMessage(c));
	size_t n = (size_t)PQntuples(r);
	*out = calloc(n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = strtoll(PQgetvalue(r, (int)i, 0), NULL, 10);
	PQclear(r);
	PQfinish(c);
	return n;
}

/* Seqs of the messages the primary store holds, ascending (malloc'd). */
static size_t held_seqs(const char *cid, long long **out)
{
	if (primary_is_pg())
		return pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
		               "AND conversation_id = $2 ORDER BY seq",
		               cid, out);
	redisContext *rc = it_redis_connect();
	char *k = conv_key("msgs", cid);
	redisReply *r = redisCommand(rc, "ZRANGE %s 0 -1 WITHSCORES", k);
	ck_assert_msg(r && r->type == REDIS_REPLY_ARRAY, "ZRANGE failed");
	size_t n = r->elements / 2;
	*out = calloc(n + 1, sizeof(**out));
	for (size_t i = 0; i < n; i++)
		(*out)[i] = strtoll(r->element[2 * i + 1]->str, NULL, 10);
	freeReplyObject(r);
	free(k);
	redisFree(rc);
	return n;
}

/* The primary holds exactly seqs from..to (Redis: the last
 * CONV_MAX_MESSAGES of them). */
static void expect_held(const char *cid, long long from, long long to)
{
	long long *s;
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	if (!primary_is_pg() && to - from + 1 > max)
		from = to - max + 1;
	size_t n = held_seqs(cid, &s);
	ck_assert_msg(n == (size_t)(to - from + 1), "store holds %zu messages, expected %lld..%lld",
	              n, from, to);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(s[i] == from + (long long)i, "store: seq %lld at %zu, expected %lld",
		              s[i], i, from + (long long)i);
	free(s);
}

/* The messages of a conversation of `total` messages are all held, with
 * Redis as primary across the two stores: Redis a contiguous tail of at least
 * CONV_MAX_MESSAGES (more while a concurrent trim is pending) and, with an
 * archive (DATABASE_URL), PostgreSQL 1 up to at least where that tail starts. */
static void expect_across_stores(const char *cid, long long total)
{
	if (primary_is_pg()) {
		expect_held(cid, 1, total);
		return;
	}
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	long long want = total < max ? total : max, *r, *a;
	size_t nr = held_seqs(cid, &r);
	ck_assert_msg((long long)nr >= want, "redis holds %zu messages, want >= %lld", nr, want);
	for (size_t i = 0; i < nr; i++)
		ck_assert_msg(r[i] == total - (long long)nr + 1 + (long long)i,
		              "redis: a gap at %zu", i);
	long long first = r[0];
	free(r);
	const char *db = getenv("DATABASE_URL");
	if (!db || !*db) {
		ck_assert_msg((long long)nr == want, "redis holds %zu without an archive", nr);
		return;
	}
	size_t na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	                    "AND conversation_id = $2 ORDER BY seq",
	                    cid, &a);
	ck_assert_msg((long long)na >= first - 1, "the archive holds %zu, want >= %lld", na,
	              first - 1);
	for (size_t i = 0; i < na; i++)
		ck_assert_msg(a[i] == (long long)i + 1, "archive: seq %lld at %zu", a[i], i);
	free(a);
}

/* ---- api ---------------------------------------------------------------- */

START_TEST(test_append_creates_and_counts)
{
	json_t *body =
	    json_pack("{s:s,s:{s:s},s:[o,o]}", "customer_id", "cust-1", "metadata", "topic", "tea",
	              "messages", msg("user", "hello", "m-1"), msg("assistant", "hi there", NULL));
	json_t *a = append_ok("c1", body, 201);
	ck_assert(json_is_true(json_object_get(a, "created")));
	ck_assert_int_eq(jint(a, "msg_count_before"), 0);
	ck_assert_int_eq(jint(a, "last_seq"), 2);
	ck_assert_int_eq(jint(a, "message_count"), 2);
	ck_assert_int_eq(jint(a, "stored"), 2);
	json_t *ms = json_object_get(a, "messages");
	ck_assert_int_eq(jint(json_array_get(ms, 0), "seq"), 1);
	ck_assert_str_eq(jstr(json_array_get(ms, 0), "id"), "m-1");
	ck_assert(json_is_null(json_object_get(json_array_get(ms, 1), "id")));
	ck_assert_int_eq(jint(json_array_get(ms, 1), "seq"), 2);
	json_decref(a);

	a = append_ok("c1", one("and then?", NULL), 200);
	ck_assert(json_is_false(json_object_get(a, "created")));
	ck_assert_int_eq(jint(a, "msg_count_before"), 2);
	ck_assert_int_eq(jint(a, "last_seq"), 3);
	json_decref(a);
	expect_held("c1", 1, 3);

	json_t *m = get_json("/conversations/c1", 200);
	ck_assert_str_eq(jstr(m, "conversation_id"), "c1");
	ck_assert_str_eq(jstr(m, "customer_id"), "cust-1");
	ck_assert_str_eq(jstr(json_object_get(m, "metadata"), "topic"), "tea");
	ck_assert_int_eq(jint(m, "message_count"), 3);
	ck_assert_int_eq(jint(m, "first_seq"), 1);
	long long ttl = jint(m, "ttl_seconds");
	long want = env_num("CONV_TTL_SECONDS", 2592000);
	ck_assert_msg(ttl > want - 60 && ttl <= want, "ttl_seconds %lld, configured %ld", ttl,
	              want);
	json_t *stores = json_object_get(m, "stores");
	ck_assert_str_eq(json_string_value(json_array_get(stores, 0)),
	                 primary_is_pg() ? "postgres" : "redis");
	ck_assert_msg(strlen(jstr(m, "created_at")) == 24, "created_at %s", jstr(m, "created_at"));
	ck_assert_msg(strcmp(jstr(m, "updated_at"), jstr(m, "created_at")) >= 0,
	              "updated < created");
	json_decref(m);
}
END_TEST

START_TEST(test_window_is_byte_exact_and_oldest_first)
{
	const char *texts[] = {"plain ascii", "héllo wörld — ünïcode", "日本語のテキスト",
	                       "emoji 😀🎉 and \"quotes\" \\ and\nnewlines\t",
	                       "\x7f control \x01 chars"};
	size_t n = sizeof(texts) / sizeof(texts[0]);
	json_t *arr = json_array();
	for (size_t i = 0; i < n; i++) {
		json_t *m = msg(i % 2 ? "assistant" : "user", texts[i], NULL);
		json_object_set_new(m, "metadata", json_pack("{s:i,s:s}", "i", (int)i, "k", "ü"));
		json_array_append_new(arr, m);
	}
	json_decref(append_ok("w", json_pack("{s:o}", "messages", arr), 201));
	json_t *p = read_msgs("w", NULL);
	expect_page(p, 1, (long long)n);
	json_t *ms = json_object_get(p, "messages");
	for (size_t i = 0; i < n; i++) {
		json_t *m = json_array_get(ms, i);
		ck_assert_str_eq(jstr(m, "content"), texts[i]);
		ck_assert_str_eq(jstr(m, "role"), i % 2 ? "assistant" : "user");
		ck_assert_int_eq(jint(json_object_get(m, "metadata"), "i"), (long long)i);
		ck_assert_str_eq(jstr(json_object_get(m, "metadata"), "k"), "ü");
		ck_assert_msg(strlen(jstr(m, "created_at")) == 24, "created_at");
	}
	ck_assert_int_eq(jint(p, "last_seq"), (long long)n);
	ck_assert(json_is_null(json_object_get(p, "prev_cursor")));
	json_decref(p);

	/* the raw bytes of the response carry the UTF-8 unescaped */
	char *path = conv_path("w", "/messages", NULL);
	it_response *r = it_json_request("GET", path, tenant, NULL);
	ck_assert_msg(strstr(r->body, "日本語のテキスト") != NULL, "not byte-exact: %.300s",
	              r->body);
	it_response_free(r);
	free(path);
}
END_TEST

START_TEST(test_window_default_and_limit)
{
	long win = env_num("CONV_WINDOW_DEFAULT", 20);
	for (int b = 0; b < 3; b++) {
		json_t *arr = json_array();
		for (int i = 0; i < 10; i++) {
			char t[16];
			snprintf(t, sizeof(t), "m%d", b * 10 + i + 1);
			json_array_append_new(arr, msg("user", t, NULL));
		}
		json_decref(append_ok("win", json_pack("{s:o}", "messages", arr), b ? 200 : 201));
	}
	json_t *p = read_msgs("win", NULL);
	expect_page(p, 30 - win + 1, 30);
	char first[32];
	snprintf(first, sizeof(first), "m%ld", 30 - win + 1);
	ck_assert_str_eq(jstr(json_array_get(json_object_get(p, "messages"), 0), "content"), first);
	json_decref(p);
	p = read_msgs("win", "limit=3");
	expect_page(p, 28, 30);
	ck_assert(json_is_string(json_object_get(p, "prev_cursor")));
	ck_assert(json_is_null(json_object_get(p, "next_cursor")));
	json_decref(p);
	p = read_msgs("win", "limit=1000");
	expect_page(p, 1, 30);
	json_decref(p);
}
END_TEST

/* Page backwards from the window to the start, then forwards to the end. */
START_TEST(test_cursor_paging_both_ways)
{
	json_t *arr = json_array();
	for (int i = 1; i <= 45; i++) {
		char t[16];
		snprintf(t, sizeof(t), "n%d", i);
		json_array_append_new(arr, msg("user", t, NULL));
	}
	json_decref(append_ok("pg", json_pack("{s:o}", "messages", arr), 201));

	json_t *p = read_msgs("pg", "limit=10");
	expect_page(p, 36, 45);
	long long want_to = 35;
	int pages = 1;
	while (json_is_string(json_object_get(p, "prev_cursor"))) {
		char *q = it_query("limit", "10", "cursor", jstr(p, "prev_cursor"), NULL);
		json_decref(p);
		p = read_msgs("pg", q);
		free(q);
		long long from = want_to - 9 < 1 ? 1 : want_to - 9;
		expect_page(p, from, want_to);
		want_to = from - 1;
		pages++;
	}
	ck_assert_int_eq(want_to, 0);
	ck_assert_int_eq(pages, 5);
	/* forwards from the first page */
	long long want_from = 6;
	while (json_is_string(json_object_get(p, "next_cursor"))) {
		char *q = it_query("limit", "10", "cursor", jstr(p, "next_cursor"), NULL);
		json_decref(p);
		p = read_msgs("pg", q);
		free(q);
		long long to = want_from + 9 > 45 ? 45 : want_from + 9;
		expect_page(p, want_from, to);
		want_from = to + 1;
	}
	ck_assert_int_eq(want_from, 46);
	json_decref(p);

	p = read_msgs("pg", "after_seq=40&limit=3");
	expect_page(p, 41, 43);
	json_decref(p);
	p = read_msgs("pg", "before_seq=3");
	expect_page(p, 1, 2);
	json_decref(p);
	p = read_msgs("pg", "after_seq=45");
	expect_page(p, 1, 0);
	ck_assert(json_is_null(json_object_get(p, "next_cursor")));
	json_decref(p);
}
END_TEST

START_TEST(test_retried_append_is_stored_once)
{
	json_t *body = json_pack("{s:[o,o,o]}", "messages", msg("user", "q", "r-1"),
	                         msg("assistant", "a", "r-2"), msg("user", "q2", "r-3"));
	json_t *first = append_ok("d", json_incref(body), 201);
	json_t *again = append_ok("d", body, 200);
	ck_assert_int_eq(jint(again, "stored"), 0);
	ck_assert_int_eq(jint(again, "last_seq"), 3);
	ck_assert_int_eq(jint(again, "msg_count_before"), 3);
	for (size_t i = 0; i < 3; i++) {
		json_t *a = json_array_get(json_object_get(first, "messages"), i);
		json_t *b = json_array_get(json_object_get(again, "messages"), i);
		ck_assert_int_eq(jint(a, "seq"), jint(b, "seq"));
		ck_assert(json_is_false(json_object_get(a, "duplicate")));
		ck_assert(json_is_true(json_object_get(b, "duplicate")));
	}
	json_decref(first);
	json_decref(again);
	/* a duplicate inside one batch, and a retry beside new messages */
	json_t *mixed = append_ok("d",
	                          json_pack("{s:[o,o,o]}", "messages", msg("user", "x", "r-4"),
	                                    msg("user", "x", "r-4"), msg("user", "q", "r-1")),
	                          200);
	ck_assert_int_eq(jint(mixed, "stored"), 1);
	json_t *ms = json_object_get(mixed, "messages");
	ck_assert_int_eq(jint(json_array_get(ms, 0), "seq"), 4);
	ck_assert_int_eq(jint(json_array_get(ms, 1), "seq"), 4);
	ck_assert_int_eq(jint(json_array_get(ms, 2), "seq"), 1);
	json_decref(mixed);
	expect_held("d", 1, 4);
	/* a retry wins over a stale precondition: it was acknowledged before */
	json_t *retry =
	    json_pack("{s:i,s:[o]}", "expected_seq", 0, "messages", msg("user", "q", "r-1"));
	json_decref(append_ok("d", retry, 200));
	expect_held("d", 1, 4);
}
END_TEST

START_TEST(test_expected_seq_conflict_stores_nothing)
{
	json_decref(append_ok(
	    "e",
	    json_pack("{s:i,s:[o]}", "expected_seq", 0, "messages", msg("user", "first", NULL)),
	    201));
	json_decref(append_ok(
	    "e",
	    json_pack("{s:i,s:[o]}", "expected_seq", 1, "messages", msg("user", "second", NULL)),
	    200));
	it_response *r =
	    append_raw(tenant, "e",
	               json_pack("{s:i,s:[o,o]}", "expected_seq", 1, "messages",
	                         msg("user", "late", NULL), msg("user", "late2", NULL)));
	it_expect_error(r, 409, "conflict", "expected_seq");
	it_response_free(r);
	expect_held("e", 1, 2);
	json_t *p = read_msgs("e", NULL);
	expect_page(p, 1, 2);
	ck_assert_str_eq(jstr(json_array_get(json_object_get(p, "messages"), 1), "content"),
	                 "second");
	json_decref(p);
	/* a new conversation expects 0 */
	r = append_raw(
	    tenant, "e-new",
	    json_pack("{s:i,s:[o]}", "expected_seq", 3, "messages", msg("user", "x", NULL)));
	it_expect_error(r, 409, "conflict", "expected_seq");
	it_response_free(r);
	char *path = conv_path("e-new", "", NULL);
	json_decref(get_json(path, 404));
	free(path);
}
END_TEST

START_TEST(test_metadata_update_list_and_delete)
{
	const char *ids[] = {"l-a", "l-b", "l-c", "l-d", "l-e"};
	for (int i = 0; i < 5; i++)
		json_decref(append_ok(ids[i],
		                      json_pack("{s:s,s:[o]}", "customer_id", "buyer", "messages",
		                                msg("user", ids[i], NULL)),
		                      201));
	json_decref(append_ok("other",
	                      json_pack("{s:s,s:[o]}", "customer_id", "someone-else", "messages",
	                                msg("user", "x", NULL)),
	                      201));
	/* l-b is touched last: it comes first */
	json_decref(append_ok("l-b", one("later", NULL), 200));
	json_t *l = get_json("/conversations?customer_id=buyer&limit=2", 200);
	json_t *cs = json_object_get(l, "conversations");
	ck_assert_int_eq(json_array_size(cs), 2);
	ck_assert_str_eq(jstr(json_array_get(cs, 0), "conversation_id"), "l-b");
	ck_assert_int_eq(jint(json_array_get(cs, 0), "message_count"), 2);
	/* follow the cursor to the end: every conversation once, newest first */
	char seen[8][16];
	int nseen = 0;
	char prev_updated[32] = "9999";
	for (;;) {
		for (size_t i = 0; i < json_array_size(cs); i++) {
			json_t *c = json_array_get(cs, i);
			ck_assert_str_eq(jstr(c, "customer_id"), "buyer");
			ck_assert_msg(strcmp(jstr(c, "updated_at"), prev_updated) <= 0,
			              "not newest first");
			snprintf(prev_updated, sizeof(prev_updated), "%s", jstr(c, "updated_at"));
			ck_assert_int_lt(nseen, 8);
			snprintf(seen[nseen++], 16, "%s", jstr(c, "conversation_id"));
		}
		if (!json_is_string(json_object_get(l, "next_cursor")))
			break;
		char *q = it_query("customer_id", "buyer", "limit", "2", "cursor",
		                   jstr(l, "next_cursor"), NULL);
		char *path = it_strfmt("/conversations?%s", q);
		json_t *next = get_json(path, 200);
		free(path);
		free(q);
		json_decref(l);
		l = next;
		cs = json_object_get(l, "conversations");
	}
	json_decref(l);
	ck_assert_int_eq(nseen, 5);
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			ck_assert_str_ne(seen[i], seen[j]);

	/* PATCH: move l-a to another customer, set metadata */
	it_response *r =
	    send_json("PATCH", "/conversations/l-a",
	              json_pack("{s:s,s:{s:b}}", "customer_id", "buyer-2", "metadata", "vip", 1));
	it_expect_status(r, 200);
	ck_assert_str_eq(jstr(r->json, "customer_id"), "buyer-2");
	ck_assert(json_is_true(json_object_get(json_object_get(r->json, "metadata"), "vip")));
	ck_assert_int_eq(jint(r->json, "message_count"), 1);
	it_response_free(r);
	l = get_json("/conversations?customer_id=buyer", 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "conversations")), 4);
	json_decref(l);
	l = get_json("/conversations?customer_id=buyer-2", 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "conversations")), 1);
	json_decref(l);
	/* an append naming another customer is refused */
	r = append_raw(
	    tenant, "l-a",
	    json_pack("{s:s,s:[o]}", "customer_id", "buyer", "messages", msg("user", "x", NULL)));
	it_expect_error(r, 409, "conflict", "customer_id");
	it_response_free(r);
	r = send_json("PATCH", "/conversations/nope", json_pack("{s:{}}", "metadata"));
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);

	/* delete: gone from reads, the list and the store */
	char *hdr = it_strfmt("X-Tenant-Id: %s", tenant);
	r = it_request("DELETE", "/conversations/l-c", (const char *const[]){hdr, NULL}, NULL, 0);
	free(hdr);
	it_expect_status(r, 204);
	it_response_free(r);
	json_decref(get_json("/conversations/l-c", 404));
	json_decref(get_json("/conversations/l-c/messages", 404));
	expect_held("l-c", 1, 0);
	l = get_json("/conversations?customer_id=buyer", 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "conversations")), 3);
	json_decref(l);
	/* and it starts afresh */
	json_t *a = append_ok("l-c", one("again", NULL), 201);
	ck_assert_int_eq(jint(a, "msg_count_before"), 0);
	ck_assert_int_eq(jint(json_array_get(json_object_get(a, "messages"), 0), "seq"), 1);
	json_decref(a);
}
END_TEST

START_TEST(test_tenants_are_apart)
{
	json_decref(append_ok("shared-id", one("mine", NULL), 201));
	char *other = it_random_id("cv-other-");
	char *path = conv_path("shared-id", "/messages", NULL);
	it_response *r = it_json_request("GET", path, other, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	free(path);
	free(other);
}
END_TEST

/* ---- concurrency ---------------------------------------------------------- */

#define WRITERS    8
#define PER_WRITER 500

struct writer {
	const char *tenant;
	int no;
	int failures;
	int batch; /* messages per append */
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (int i = 0; i < PER_WRITER / w->batch; i++) {
		json_t *arr = json_array();
		for (int k = 0; k < w->batch; k++) {
			char text[32], id[32];
			snprintf(text, sizeof(text), "w%d-%d", w->no, i * w->batch + k);
			snprintf(id, sizeof(id), "w%d-%d", w->no, i * w->batch + k);
			json_array_append_new(arr, msg("user", text, id));
		}
		json_t *body = json_pack("{s:o}", "messages", arr);
		char *p = conv_path("busy", "/messages", NULL);
		it_response *r = it_json_request("POST", p, w->tenant, body);
		if (r->status != 200 && r->status != 201)
			w->failures++;
		it_response_free(r);
		free(p);
		json_decref(body);
	}
	return NULL;
}

/* Every message once, seq 1..N without gap; each writer's messages in the
 * order it sent them, and each batch on consecutive seqs. */
static void run_writers(int batch)
{
	pthread_t th[WRITERS];
	struct writer w[WRITERS];
	for (int i = 0; i < WRITERS; i++) {
		w[i] = (struct writer){.tenant = tenant, .no = i, .batch = batch};
		ck_assert_int_eq(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++) {
		pthread_join(th[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	const int total = WRITERS * PER_WRITER;
	expect_across_stores("busy", total);
	int next[WRITERS] = {0}, pw = -1, pk = -1;
	long long after = 0;
	while (after < total) {
		char q[64];
		snprintf(q, sizeof(q), "after_seq=%lld&limit=1000", after);
		json_t *p = read_msgs("busy", q);
		json_t *ms = json_object_get(p, "messages");
		ck_assert_int_gt(json_array_size(ms), 0);
		for (size_t i = 0; i < json_array_size(ms); i++) {
			json_t *m = json_array_get(ms, i);
			int wn, k;
			ck_assert_int_eq(jint(m, "seq"), after + 1);
			ck_assert_int_eq(sscanf(jstr(m, "content"), "w%d-%d", &wn, &k), 2);
			ck_assert_msg(wn >= 0 && wn < WRITERS && k == next[wn],
			              "seq %lld: writer %d message %d, expected %d", after + 1, wn,
			              k, wn >= 0 && wn < WRITERS ? next[wn] : -1);
			/* inside a batch, the previous seq is the same batch's */
			ck_assert_msg(k % batch == 0 || (pw == wn && pk == k - 1),
			              "batch of writer %d interleaved at seq %lld", wn, after + 1);
			next[wn]++;
			after++;
			pw = wn;
			pk = k;
		}
		json_decref(p);
	}
	for (int i = 0; i < WRITERS; i++)
		ck_assert_int_eq(next[i], PER_WRITER);
}

START_TEST(test_concurrent_appends_get_every_seq_once)
{
	run_writers(1);
}
END_TEST

START_TEST(test_concurrent_batches_never_interleave)
{
	run_writers(5);
}
END_TEST

/* ---- bad input ---------------------------------------------------------- */

static void expect_bad(json_t *body, long status, const char *code, const char *field)
{
	it_response *r = append_raw(tenant, "bad", body);
	it_expect_error(r, status, code, field);
	it_response_free(r);
}

START_TEST(test_bad_append_bodies_name_the_field)
{
	expect_bad(json_pack("{s:[]}", "messages"), 400, "invalid_field", "messages");
	expect_bad(json_pack("{}"), 400, "missing_field", "messages");
	expect_bad(json_pack("{s:[o]}", "messages", msg("wizard", "x", NULL)), 400, "invalid_field",
	           "messages[0].role");
	expect_bad(json_pack("{s:[{s:s}]}", "messages", "role", "user"), 400, "missing_field",
	           "messages[0].content");
	expect_bad(json_pack("{s:[{s:s,s:i}]}", "messages", "role", "user", "content", 3), 400,
	           "invalid_field", "messages[0].content");
	expect_bad(json_pack("{s:[o,s]}", "messages", msg("user", "x", NULL), "str"), 400,
	           "invalid_field", "messages[1]");
	expect_bad(json_pack("{s:i,s:[o]}", "expected_seq", -1, "messages", msg("user", "x", NULL)),
	           400, "invalid_field", "expected_seq");
	expect_bad(json_pack("{s:[{s:s,s:s,s:s}]}", "messages", "role", "user", "content", "x",
	                     "metadata", "notobj"),
	           400, "invalid_field", "messages[0].metadata");
	expect_bad(json_pack("{s:[o]}", "messages", msg("user", "x", "bad\x01id")), 400,
	           "invalid_field", "messages[0].id");
	/* an empty customer_id (schemathesis: accepted, taken as none) */
	expect_bad(json_pack("{s:s,s:[o]}", "customer_id", "", "messages", msg("user", "x", NULL)),
	           400, "invalid_field", "customer_id");
	/* metadata no store could hold: refused up front, never poisoning the archive */
	const char nulmd[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\","
	                     "\"metadata\":{\"k\":\"a\\u0000b\"}}]}";
	it_response *rn = it_request("POST", "/conversations/bad/messages",
	                             (const char *const[]){"Content-Type: application/json", NULL},
	                             nulmd, sizeof(nulmd) - 1);
	it_expect_error(rn, 400, "invalid_field", "messages[0].metadata");
	it_response_free(rn);
	/* a batch over CONV_MAX_BATCH */
	long maxb = env_num("CONV_MAX_BATCH", 100);
	json_t *arr = json_array();
	for (long i = 0; i <= maxb; i++)
		json_array_append_new(arr, msg("user", "x", NULL));
	expect_bad(json_pack("{s:o}", "messages", arr), 400, "invalid_field", "messages");
	/* content over CONV_MAX_MESSAGE_BYTES */
	long maxc = env_num("CONV_MAX_MESSAGE_BYTES", 262144);
	char *big = malloc((size_t)maxc + 2);
	memset(big, 'a', (size_t)maxc + 1);
	big[maxc + 1] = '\0';
	expect_bad(
	    json_pack("{s:[o,o]}", "messages", msg("user", "ok", NULL), msg("user", big, NULL)),
	    413, "payload_too_large", "messages[1].content");
	big[maxc] = '\0'; /* exactly the limit is accepted */
	json_decref(
	    append_ok("bad-ok", json_pack("{s:[o]}", "messages", msg("user", big, NULL)), 201));
	free(big);
	/* NUL in content, invalid UTF-8 (the scanner refuses the body) */
	const char nul[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}";
	it_response *r = it_request("POST", "/conversations/bad/messages",
	                            (const char *const[]){"Content-Type: application/json", NULL},
	                            nul, sizeof(nul) - 1);
	it_expect_error(r, 400, "invalid_field", "messages[0].content");
	it_response_free(r);
	const char bad_utf8[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"\xc3\x28\"}]}";
	r = it_request("POST", "/conversations/bad/messages",
	               (const char *const[]){"Content-Type: application/json", NULL}, bad_utf8,
	               sizeof(bad_utf8) - 1);
	it_expect_error(r, 400, "invalid_json", "messages[0].content");
	it_response_free(r);
	/* nothing of any of it was stored */
	json_decref(get_json("/conversations/bad", 404));
}
END_TEST

START_TEST(test_bad_queries_name_the_field)
{
	json_decref(append_ok("q", one("x", NULL), 201));
	const char *cases[][2] = {
	    {"limit=0", "limit"},
	    {"limit=-5", "limit"},
	    {"limit=1001", "limit"},
	    {"limit=99999999999999999999", "limit"},
	    {"limit=abc", "limit"},
	    {"cursor=zz", "cursor"},
	    {"cursor=6c3a313a78", "cursor"},
	    {"before_seq=0", "before_seq"},
	    {"after_seq=-1", "after_seq"},
	    {"after_seq=1&before_seq=3", "cursor"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p = conv_path("q", "/messages", cases[i][0]);
		it_response *r = it_json_request("GET", p, tenant, NULL);
		it_expect_error(r, 400, "invalid_field", cases[i][1]);
		it_response_free(r);
		free(p);
	}
	it_response *r = it_json_request("GET", "/conversations", tenant, NULL);
	it_expect_error(r, 400, "missing_field", "customer_id");
	it_response_free(r);
	r = it_json_request("GET", "/conversations?customer_id=x&cursor=6d3a623a32", tenant, NULL);
	it_expect_error(r, 400, "invalid_field", "cursor");
	it_response_free(r);
	r = it_json_request("GET", "/conversations?customer_id=x&limit=201", tenant, NULL);
	it_expect_error(r, 400, "invalid_field", "limit");
	it_response_free(r);
	r = send_json("PATCH", "/conversations/q", json_pack("{}"));
	it_expect_error(r, 400, "missing_field", "customer_id");
	it_response_free(r);
	r = send_json("PATCH", "/conversations/q", json_pack("{s:s}", "customer_id", ""));
	it_expect_error(r, 400, "invalid_field", "customer_id");
	it_response_free(r);
}
END_TEST

START_TEST(test_wrong_method_is_405)
{
	const char *paths[] = {"/conversations", "/conversations/x", "/conversations/x/messages"};
	for (size_t i = 0; i < 3; i++) {
		it_response *r = it_json_request("PUT", paths[i], tenant, NULL);
		it_expect_error(r, 405, "method_not_allowed", NULL);
		ck_assert_ptr_nonnull(it_header_get(r, "Allow"));
		it_response_free(r);
	}
}
END_TEST

/* ---- the Redis layout --------------------------------------------------- */

START_TEST(test_every_key_has_ttl_and_one_hash_slot)
{
	json_decref(append_ok("k:{odd} id*",
	                      json_pack("{s:s,s:[o,o]}", "customer_id", "cu{1}", "messages",
	                                msg("user", "x", "i-1"), msg("user", "y", "i-2")),
	                      201));
	redisContext *rc = it_redis_connect();
	it_strlist keys = {0};
	char *pattern = it_strfmt("%s:*", conv_prefix());
	it_redis_scan(rc, pattern, &keys);
	long ttl = env_num("CONV_TTL_SECONDS", 2592000);
	int mine = 0;
	char *tag = it_tag(tenant, "k:{odd} id*");
	unsigned slot = it_keyslot(tag, strlen(tag));
	for (size_t i = 0; i < keys.n; i++) {
		if (!strstr(keys.v[i], tenant))
			continue;
		mine++;
		long long t = it_redis_ttl(rc, keys.v[i]);
		/* the customer's index a tenth more: an append writes its entry
		 * only a tenth of the TTL after the last */
		bool index = strstr(keys.v[i], ":customer:") != NULL;
		long want = index ? ttl + (ttl / 10 > 0 ? ttl / 10 : 1) : ttl;
		ck_assert_msg(t > want - 60 && t <= want, "%s has TTL %lld, want %ld", keys.v[i], t,
		              want);
		if (index)
			continue; /* the customer's index has the customer's tag */
		ck_assert_msg(it_keyslot(keys.v[i], strlen(keys.v[i])) == slot,
		              "%s is not in the conversation's hash slot", keys.v[i]);
	}
	ck_assert_int_eq(mine, 4); /* meta, msgs, ids, customer index */
	char *meta = conv_key("meta", "k:{odd} id*");
	char *ids = conv_key("ids", "k:{odd} id*");
	ck_assert(it_redis_exists(rc, meta));
	ck_assert_int_eq(it_redis_card(rc, "HLEN", ids), 2);
	/* an update refreshes the TTL of every key */
	redisReply *x = redisCommand(rc, "EXPIRE %s 100", meta);
	freeReplyObject(x);
	it_response *r = send_json("PATCH", "/conversations/k%3A%7Bodd%7D%20id%2A",
	                           json_pack("{s:{}}", "metadata"));
	it_expect_status(r, 200);
	it_response_free(r);
	ck_assert_int_gt(it_redis_ttl(rc, meta), ttl - 60);
	free(meta);
	free(ids);
	free(tag);
	free(pattern);
	it_strlist_free(&keys);
	redisFree(rc);
}
END_TEST

/* The conversation's entry in its customer's index (another hash slot): the
 * append that sets the customer writes it and so does the next (mending a
 * failed first write), then only when it is due, a tenth of the TTL after
 * the last, not every append that names the customer. */
START_TEST(test_customer_index_written_when_due)
{
	const char *cid = "idx-due";
	json_decref(append_ok(
	    cid,
	    json_pack("{s:s,s:[o]}", "customer_id", "cu-due", "messages", msg("user", "a", NULL)),
	    201));
	redisContext *rc = it_redis_connect();
	char *index = conv_key("customer", "cu-due");
	/* as if the first write had failed: the next append writes it */
	redisReply *x = redisCommand(rc, "ZREM %s %s", index, cid);
	ck_assert_int_eq(x->integer, 1);
	freeReplyObject(x);
	json_decref(append_ok(
	    cid,
	    json_pack("{s:s,s:[o]}", "customer_id", "cu-due", "messages", msg("user", "b", NULL)),
	    200));
	x = redisCommand(rc, "ZSCORE %s %s", index, cid);
	ck_assert_int_eq(x->type, REDIS_REPLY_STRING);
	freeReplyObject(x);
	/* then not before it is due: appends naming the customer or not leave
	 * the entry as it is */
	x = redisCommand(rc, "ZADD %s 7 %s", index, cid);
	freeReplyObject(x);
	json_decref(append_ok(
	    cid,
	    json_pack("{s:s,s:[o]}", "customer_id", "cu-due", "messages", msg("user", "c", NULL)),
	    200));
	json_decref(append_ok(cid, one("d", NULL), 200));
	x = redisCommand(rc, "ZSCORE %s %s", index, cid);
	ck_assert_int_eq(x->type, REDIS_REPLY_STRING);
	ck_assert_str_eq(x->str, "7");
	freeReplyObject(x);
	json_t *l = get_json("/conversations?customer_id=cu-due", 200);
	json_t *cs = json_object_get(l, "conversations");
	ck_assert_int_eq(json_array_size(cs), 1);
	ck_assert_str_eq(jstr(json_array_get(cs, 0), "conversation_id"), cid);
	ck_assert_int_eq(jint(json_array_get(cs, 0), "message_count"), 4);
	json_decref(l);
	free(index);
	redisFree(rc);
}
END_TEST

/* ---- the PostgreSQL rows ------------------------------------------------ */

/* The text of column 0 of the first row of sql ($1 tenant, $2 id); malloc'd. */
static char *pg_text1(const char *sql, const char *cid)
{
	PGconn *c = pg_connect();
	const char *params[] = {tenant, cid};
	PGresult *r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1, "postgres: %s",
	              PQerrorMessage(c));
	char *v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	PQfinish(c);
	return v;
}

START_TEST(test_rows_carry_tenant_expiry_and_message_fields)
{
	json_t *m = msg("user", "héllo", "pm-1");
	json_object_set_new(m, "metadata", json_pack("{s:i}", "k", 7));
	json_decref(append_ok("rows",
	                      json_pack("{s:s,s:[o,o]}", "customer_id", "cu", "messages", m,
	                                msg("assistant", "hi", NULL)),
	                      201));
	long ttl = env_num("CONV_TTL_SECONDS", 2592000);
	char *left = pg_text1("SELECT extract(epoch FROM expires_at - now())::bigint FROM "
	                      "memoryd.conversations WHERE tenant = $1 AND conversation_id = $2",
	                      "rows");
	ck_assert_msg(atol(left) > ttl - 60 && atol(left) <= ttl, "expires in %s s, want %ld", left,
	              ttl);
	free(left);
	char *row = pg_text1("SELECT customer_id || '|' || message_id || '|' || role || '|' || "
	                     "content || '|' || (metadata->>'k') FROM memoryd.conversation_history "
	                     "WHERE tenant = $1 AND conversation_id = $2 AND seq = 1",
	                     "rows");
	ck_assert_str_eq(row, "cu|pm-1|user|héllo|7");
	free(row);
	char *nulls =
	    pg_text1("SELECT count(*) FROM memoryd.conversation_history WHERE tenant = $1 "
	             "AND conversation_id = $2 AND seq = 2 AND message_id IS NULL",
	             "rows");
	ck_assert_str_eq(nulls, "1");
	free(nulls);
}
END_TEST

/* ---- trimming ----------------------------------------------------------- */

#define TRIM_APPENDS 500

static void append_many(const char *cid)
{
	for (int i = 1; i <= TRIM_APPENDS; i++) {
		char text[32], id[32];
		snprintf(text, sizeof(text), "t%d", i);
		snprintf(id, sizeof(id), "id-%d", i);
		json_decref(append_ok(cid, one(text, id), i == 1 ? 201 : 200));
	}
}

/* Without DATABASE_URL: the oldest messages beyond CONV_MAX_MESSAGES are
 * deleted, their ids with them. */
START_TEST(test_trim_without_archive_deletes)
{
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	ck_assert_msg(max < TRIM_APPENDS, "run with CONV_MAX_MESSAGES < %d", TRIM_APPENDS);
	append_many("tr");
	expect_held("tr", TRIM_APPENDS - max + 1, TRIM_APPENDS);
	redisContext *rc = it_redis_connect();
	char *ids = conv_key("ids", "tr");
	ck_assert_int_eq(it_redis_card(rc, "HLEN", ids), max);
	free(ids);
	redisFree(rc);
	json_t *p = read_msgs("tr", "limit=1000");
	expect_page(p, TRIM_APPENDS - max + 1, TRIM_APPENDS);
	ck_assert_int_eq(jint(p, "first_seq"), TRIM_APPENDS - max + 1);
	ck_assert(json_is_null(json_object_get(p, "prev_cursor")));
	json_decref(p);
	json_t *m = get_json("/conversations/tr", 200);
	ck_assert_int_eq(jint(m, "message_count"), TRIM_APPENDS);
	ck_assert_int_eq(jint(m, "first_seq"), TRIM_APPENDS - max + 1);
	json_decref(m);
}
END_TEST

/* history_persist_errors_total from /metrics. */
static long long persist_errors(void)
{
	it_response *r = it_request("GET", "/metrics", NULL, NULL, 0);
	it_expect_status(r, 200);
	const char *at = strstr(r->body, "\nhistory_persist_errors_total ");
	ck_assert_msg(at != NULL, "no history_persist_errors_total in /metrics");
	long long n = strtoll(at + strlen("\nhistory_persist_errors_total "), NULL, 10);
	it_response_free(r);
	return n;
}

/* Every message 1..total reads back, in order, by pages forwards and by
 * cursors backwards from the window: across Redis and the archive. */
static void expect_whole(const char *cid, long long total)
{
	long long after = 0;
	while (after < total) {
		char q[64];
		snprintf(q, sizeof(q), "after_seq=%lld&limit=64", after);
		json_t *p = read_msgs(cid, q);
		json_t *ms = json_object_get(p, "messages");
		ck_assert_int_gt(json_array_size(ms), 0);
		for (size_t i = 0; i < json_array_size(ms); i++) {
			json_t *m = json_array_get(ms, i);
			char want[32];
			snprintf(want, sizeof(want), "t%lld", after + 1);
			ck_assert_int_eq(jint(m, "seq"), after + 1);
			ck_assert_str_eq(jstr(m, "content"), want);
			after++;
		}
		ck_assert_int_eq(jint(p, "first_seq"), 1);
		json_decref(p);
	}
	json_t *p = read_msgs(cid, "limit=37");
	long long to = total;
	for (;;) {
		expect_page(p, to - 36 > 1 ? to - 36 : 1, to);
		to = to - 36 > 1 ? to - 37 : 0;
		if (!json_is_string(json_object_get(p, "prev_cursor")))
			break;
		char *q = it_query("limit", "37", "cursor", jstr(p, "prev_cursor"), NULL);
		json_decref(p);
		p = read_msgs(cid, q);
		free(q);
	}
	ck_assert_int_eq(to, 0);
	json_decref(p);
}

/* With DATABASE_URL: messages beyond CONV_MAX_MESSAGES are archived before
 * they leave Redis, and every read sees the whole history in order. */
START_TEST(test_trim_archives_then_reads_across_stores)
{
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	ck_assert_msg(max < TRIM_APPENDS, "run with CONV_MAX_MESSAGES < %d", TRIM_APPENDS);
	long long errors = persist_errors();
	append_many("ta");
	expect_held("ta", TRIM_APPENDS - max + 1, TRIM_APPENDS);
	long long *a;
	size_t na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	                    "AND conversation_id = $2 ORDER BY seq",
	                    "ta", &a);
	ck_assert_int_eq(na, TRIM_APPENDS - max);
	for (size_t i = 0; i < na; i++)
		ck_assert_int_eq(a[i], (long long)i + 1);
	free(a);
	redisContext *rc = it_redis_connect();
	char *ids = conv_key("ids", "ta");
	ck_assert_int_eq(it_redis_card(rc, "HLEN", ids), max);
	free(ids);
	redisFree(rc);
	expect_whole("ta", TRIM_APPENDS);
	json_t *m = get_json("/conversations/ta", 200);
	ck_assert_int_eq(jint(m, "first_seq"), 1);
	ck_assert_int_eq(jint(m, "message_count"), TRIM_APPENDS);
	json_t *stores = json_object_get(m, "stores");
	ck_assert_int_eq(json_array_size(stores), 2);
	ck_assert_str_eq(json_string_value(json_array_get(stores, 1)), "postgres");
	json_decref(m);
	ck_assert_int_eq(persist_errors(), errors);
	/* delete: everywhere */
	char *hdr = it_strfmt("X-Tenant-Id: %s", tenant);
	it_response *r =
	    it_request("DELETE", "/conversations/ta", (const char *const[]){hdr, NULL}, NULL, 0);
	it_expect_status(r, 204);
	it_response_free(r);
	free(hdr);
	na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	             "AND conversation_id = $2",
	             "ta", &a);
	free(a);
	ck_assert_int_eq(na, 0);
	expect_held("ta", 1, 0);
	json_decref(get_json("/conversations/ta/messages", 404));
}
END_TEST

/* PostgreSQL refuses the archive (its table locked past the statement
 * timeout): appends still succeed, the messages stay in Redis over the cap
 * and history_persist_errors_total counts; the next append once it answers
 * archives the backlog. */
START_TEST(test_archive_outage_keeps_messages_in_redis)
{
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	for (int i = 1; i <= max; i++) {
		char text[32];
		snprintf(text, sizeof(text), "t%d", i);
		json_decref(append_ok("out", one(text, NULL), i == 1 ? 201 : 200));
	}
	long long errors = persist_errors();
	PGconn *lock = pg_connect();
	PGresult *r = PQexec(lock, "BEGIN; LOCK TABLE memoryd.conversation_history IN ACCESS "
	                           "EXCLUSIVE MODE");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	for (int i = max + 1; i <= max + 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "t%d", i);
		json_decref(append_ok("out", one(text, NULL), 200));
	}
	ck_assert_int_eq(persist_errors(), errors + 10);
	long long *held;
	size_t nh = held_seqs("out", &held); /* over the cap: nothing lost */
	ck_assert_int_eq(nh, max + 10);
	ck_assert_int_eq(held[0], 1);
	free(held);
	r = PQexec(lock, "ROLLBACK");
	PQclear(r);
	PQfinish(lock);
	char text[32];
	snprintf(text, sizeof(text), "t%ld", max + 11);
	json_decref(append_ok("out", one(text, NULL), 200));
	ck_assert_int_eq(persist_errors(), errors + 10);
	long long *a;
	size_t na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	                    "AND conversation_id = $2 ORDER BY seq",
	                    "out", &a);
	ck_assert_int_eq(na, 11);
	free(a);
	nh = held_seqs("out", &held);
	ck_assert_int_eq(nh, max);
	ck_assert_int_eq(held[0], 12);
	free(held);
	expect_whole("out", max + 11);
}
END_TEST

/* The conversation expired from Redis (its keys are gone) while its trimmed
 * history is archived: reads come from the archive, and the next append
 * continues the numbering after it. */
START_TEST(test_expired_conversation_continues_from_archive)
{
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	for (int i = 1; i <= max + 10; i++) {
		char text[32];
		snprintf(text, sizeof(text), "t%d", i);
		json_decref(append_ok("ex", one(text, NULL), i == 1 ? 201 : 200));
	}
	redisContext *rc = it_redis_connect();
	const char *kinds[] = {"meta", "msgs", "ids"};
	for (int i = 0; i < 3; i++) {
		char *k = conv_key(kinds[i], "ex");
		freeReplyObject(redisCommand(rc, "DEL %s", k));
		free(k);
	}
	redisFree(rc);
	json_t *p = read_msgs("ex", "limit=5");
	expect_page(p, 6, 10);
	json_decref(p);
	json_t *m = get_json("/conversations/ex", 200);
	ck_assert_int_eq(jint(m, "message_count"), 10);
	ck_assert(json_is_null(json_object_get(m, "ttl_seconds")));
	json_decref(m);
	/* not created: its history (in PostgreSQL) says it exists */
	json_t *a = append_ok("ex", one("t11", NULL), 200);
	ck_assert(json_is_false(json_object_get(a, "created")));
	ck_assert_int_eq(jint(a, "msg_count_before"), 10);
	ck_assert_int_eq(jint(json_array_get(json_object_get(a, "messages"), 0), "seq"), 11);
	json_decref(a);
	expect_whole("ex", 11);
}
END_TEST

/* The admin tool that forgets a tenant (ADMIN_TOKEN=adm-secret-for-tests) removes its
 * conversations from Redis and their archived history from PostgreSQL. */
START_TEST(test_forgetting_a_tenant_removes_conversations_everywhere)
{
	long max = env_num("CONV_MAX_MESSAGES", 1000);
	for (int i = 1; i <= max + 5; i++)
		json_decref(append_ok("gone",
		                      json_pack("{s:s,s:[o]}", "customer_id", "cu", "messages",
		                                msg("user", "x", NULL)),
		                      i == 1 ? 201 : 200));
	long long *a;
	size_t na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	                    "AND conversation_id = $2",
	                    "gone", &a);
	free(a);
	ck_assert_int_eq(na, 5);
	char *path = it_strfmt("/admin/tenants/%s", tenant);
	it_response *r = it_request(
	    "DELETE", path,
	    (const char *const[]){"Authorization: Bearer adm-secret-for-tests", NULL}, NULL, 0);
	it_expect_status(r, 200);
	it_response_free(r);
	free(path);
	redisContext *rc = it_redis_connect();
	it_redis_expect_tenant_empty(rc, tenant, "the tenant was forgotten");
	it_strlist keys = {0};
	char *pattern = it_strfmt("%s:*", conv_prefix());
	it_redis_scan(rc, pattern, &keys);
	for (size_t i = 0; i < keys.n; i++)
		ck_assert_msg(!strstr(keys.v[i], tenant), "%s survived", keys.v[i]);
	it_strlist_free(&keys);
	free(pattern);
	redisFree(rc);
	na = pg_ints("SELECT seq FROM memoryd.conversation_history WHERE tenant = $1 "
	             "AND conversation_id = $2",
	             "gone", &a);
	free(a);
	ck_assert_int_eq(na, 0);
}
END_TEST

/* RESPONSE_MAX_BYTES=65536 (integration_response_bytes): pages of 20000-byte
 * messages hold the three that fit, newest for a window or before page,
 * oldest for an after page, and their cursors go on from there. */
static void expect_seqs(const json_t *page, long long lo, long long hi, bool truncated)
{
	json_t *ms = json_object_get(page, "messages");
	char *d = json_dumps(json_object_get(page, "truncated"), JSON_ENCODE_ANY);
	ck_assert_msg(json_array_size(ms) == (size_t)(hi - lo + 1), "%zu messages, want %lld..%lld",
	              json_array_size(ms), lo, hi);
	for (size_t i = 0; i < json_array_size(ms); i++)
		ck_assert_int_eq(jint(json_array_get(ms, i), "seq"), lo + (long long)i);
	ck_assert_msg(json_is_boolean(json_object_get(page, "truncated")) &&
	                  json_is_true(json_object_get(page, "truncated")) == truncated,
	              "truncated %s", d);
	free(d);
}

/* The page of conversation "big" that p's cursor `which` leads to (limit
 * 10); p is released. */
static json_t *follow(json_t *p, const char *which)
{
	const char *c = json_string_value(json_object_get(p, which));
	ck_assert_msg(c != NULL, "no %s on a truncated page", which);
	char *q = it_strfmt("limit=10&cursor=%s", c);
	json_t *next = read_msgs("big", q);
	free(q);
	json_decref(p);
	return next;
}

START_TEST(test_pages_end_at_response_max_bytes)
{
	const char *max = getenv("RESPONSE_MAX_BYTES");
	if (!max || strcmp(max, "65536"))
		return; /* run at that setting */
	char *big = malloc(20001);
	memset(big, 'a', 20000);
	big[20000] = '\0';
	for (int i = 1; i <= 10; i++)
		json_decref(append_ok("big", one(big, NULL), i == 1 ? 201 : 200));
	free(big);
	json_t *p = read_msgs("big", "limit=10");
	expect_seqs(p, 8, 10, true);
	p = follow(p, "prev_cursor");
	expect_seqs(p, 5, 7, true);
	json_decref(p);
	p = read_msgs("big", "limit=10&after_seq=0");
	expect_seqs(p, 1, 3, true);
	p = follow(p, "next_cursor");
	expect_seqs(p, 4, 6, true);
	json_decref(p);
	p = read_msgs("big", "limit=2&after_seq=8");
	expect_seqs(p, 9, 10, false);
	json_decref(p);
}
END_TEST

/* An append that finds its customer's index entry due writes it; when that
 * write fails the append still answers (its messages are stored) and the
 * mark is taken back, so the next append writes the entry. */
START_TEST(test_failed_customer_index_refresh_is_asked_again)
{
	if (primary_is_pg())
		return;
	const char *cid = "due";
	json_decref(append_ok(
	    cid,
	    json_pack("{s:s,s:[o]}", "customer_id", "cu-due", "messages", msg("user", "a", "d-1")),
	    201));
	redisContext *rc = it_redis_connect();
	char *meta = conv_key("meta", cid);
	char *ctag = it_tag(tenant, "cu-due");
	char *ck = it_strfmt("%s:customer:%s", conv_prefix(), ctag);
	free(ctag);
	ck_assert_msg(it_redis_exists(rc, ck), "%s missing after the first append", ck);
	/* due (indexed long ago), and a string where the index is: ZADD fails */
	freeReplyObject(redisCommand(rc, "HSET %s indexed_at 1", meta));
	freeReplyObject(redisCommand(rc, "DEL %s", ck));
	freeReplyObject(redisCommand(rc, "SET %s x EX 60", ck));
	json_decref(append_ok(cid, one("b", "d-2"), 200));
	redisReply *r = redisCommand(rc, "HGET %s indexed_at", meta);
	ck_assert_msg(r && r->type == REDIS_REPLY_NIL,
	              "indexed_at kept after a failed index write");
	freeReplyObject(r);
	/* the index back: the next append writes the entry */
	freeReplyObject(redisCommand(rc, "DEL %s", ck));
	json_decref(append_ok(cid, one("c", "d-3"), 200));
	r = redisCommand(rc, "ZSCORE %s %s", ck, cid);
	ck_assert_msg(r && r->type == REDIS_REPLY_STRING, "the entry was not written again");
	freeReplyObject(r);
	r = redisCommand(rc, "HGET %s indexed_at", meta);
	ck_assert_msg(r && r->type == REDIS_REPLY_STRING && atoll(r->str) > 1,
	              "indexed_at not set again");
	freeReplyObject(r);
	json_t *l = get_json("/conversations?customer_id=cu-due", 200);
	ck_assert_int_eq(json_array_size(json_object_get(l, "conversations")), 1);
	json_decref(l);
	free(ck);
	free(meta);
	redisFree(rc);
}
END_TEST

/* An append that names its customer fails when the customer's index cannot
 * be written, as when the entry was written in the append's own round trip:
 * its messages are stored and the mark taken back, so the retry (the same
 * message ids) stores nothing twice and writes the entry. */
START_TEST(test_failed_customer_index_fails_the_naming_append)
{
	if (primary_is_pg())
		return;
	const char *cid = "named-bad";
	redisContext *rc = it_redis_connect();
	char *meta = conv_key("meta", cid);
	char *ctag = it_tag(tenant, "cu-bad");
	char *ck = it_strfmt("%s:customer:%s", conv_prefix(), ctag);
	free(ctag);
	/* a string where the customer's index is: its ZADD fails */
	freeReplyObject(redisCommand(rc, "SET %s x EX 60", ck));
	json_t *body =
	    json_pack("{s:s,s:[o]}", "customer_id", "cu-bad", "messages", msg("user", "a", "nb-1"));
	it_response *r = append_raw(tenant, cid, json_incref(body));
	it_expect_error(r, 500, "internal", NULL);
	it_response_free(r);
	expect_held(cid, 1, 1);
	redisReply *x = redisCommand(rc, "HGET %s indexed_at", meta);
	ck_assert_msg(x && x->type == REDIS_REPLY_NIL,
	              "indexed_at kept after a failed index write");
	freeReplyObject(x);
	/* the index back: the retry is a duplicate, and lists the conversation */
	freeReplyObject(redisCommand(rc, "DEL %s", ck));
	json_t *again = append_ok(cid, body, 200);
	ck_assert_int_eq(jint(again, "stored"), 0);
	ck_assert(json_is_true(
	    json_object_get(json_array_get(json_object_get(again, "messages"), 0), "duplicate")));
	json_decref(again);
	expect_held(cid, 1, 1);
	x = redisCommand(rc, "ZSCORE %s %s", ck, cid);
	ck_assert_msg(x && x->type == REDIS_REPLY_STRING, "the retry did not write the entry");
	freeReplyObject(x);
	json_t *l = get_json("/conversations?customer_id=cu-bad", 200);
	json_t *cs = json_object_get(l, "conversations");
	ck_assert_int_eq(json_array_size(cs), 1);
	ck_assert_str_eq(jstr(json_array_get(cs, 0), "conversation_id"), cid);
	json_decref(l);
	free(ck);
	free(meta);
	redisFree(rc);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("conversations");
	TCase *t = tcase_create("api");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_append_creates_and_counts);
	tcase_add_test(t, test_window_is_byte_exact_and_oldest_first);
	tcase_add_test(t, test_window_default_and_limit);
	tcase_add_test(t, test_cursor_paging_both_ways);
	tcase_add_test(t, test_retried_append_is_stored_once);
	tcase_add_test(t, test_expected_seq_conflict_stores_nothing);
	tcase_add_test(t, test_metadata_update_list_and_delete);
	tcase_add_test(t, test_tenants_are_apart);
	suite_add_tcase(s, t);

	t = tcase_create("concurrency");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_concurrent_appends_get_every_seq_once);
	tcase_add_test(t, test_concurrent_batches_never_interleave);
	suite_add_tcase(s, t);

	t = tcase_create("bad_input");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_bad_append_bodies_name_the_field);
	tcase_add_test(t, test_bad_queries_name_the_field);
	tcase_add_test(t, test_wrong_method_is_405);
	suite_add_tcase(s, t);

	t = tcase_create("redis");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_every_key_has_ttl_and_one_hash_slot);
	tcase_add_test(t, test_failed_customer_index_refresh_is_asked_again);
	tcase_add_test(t, test_failed_customer_index_fails_the_naming_append);
	tcase_add_test(t, test_customer_index_written_when_due);
	suite_add_tcase(s, t);

	t = tcase_create("pg_rows");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_rows_carry_tenant_expiry_and_message_fields);
	suite_add_tcase(s, t);

	t = tcase_create("trim_delete");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_trim_without_archive_deletes);
	suite_add_tcase(s, t);

	t = tcase_create("bytes");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 120);
	tcase_add_test(t, test_pages_end_at_response_max_bytes);
	suite_add_tcase(s, t);

	t = tcase_create("trim_archive");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 300);
	tcase_add_test(t, test_trim_archives_then_reads_across_stores);
	tcase_add_test(t, test_archive_outage_keeps_messages_in_redis);
	tcase_add_test(t, test_expired_conversation_continues_from_archive);
	tcase_add_test(t, test_forgetting_a_tenant_removes_conversations_everywhere);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return it_run_suite(suite());
}
