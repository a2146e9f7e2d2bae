/* Integration tests for /memory (key-value memory per tenant) against a real
 * memoryd and its real primary store: Redis (inspected with hiredis), or
 * PostgreSQL when CONV_STORE_PRIMARY=postgres (inspected with libpq).
 *
 * Environment: MEMORYD_URL, MEMORYD_LOG (tests/with-memoryd.sh), REDIS_URL or
 * DATABASE_URL, and the MEMORY_* / KEY_PREFIX settings memoryd runs with.
 * Each test uses a fresh random tenant.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
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
#include "redis_inspect.h"

static redisContext *rc;
static PGconn *pg;
static char *tenant;

static bool on_pg(void)
{
	const char *p = getenv("CONV_STORE_PRIMARY");
	return p && (!strcmp(p, "postgres") || !strcmp(p, "mongo"));
}

static void setup(void)
{
	if (on_pg()) {
		pg = PQconnectdb(it_require_env("DATABASE_URL"));
		ck_assert_msg(PQstatus(pg) == CONNECTION_OK, "PostgreSQL: %s", PQerrorMessage(pg));
	} else {
		rc = it_redis_connect();
	}
	tenant = it_random_id("mem-");
}

static void teardown(void)
{
	if (rc)
		redisFree(rc);
	rc = NULL;
	if (pg)
		PQfinish(pg);
	pg = NULL;
	free(tenant);
	tenant = NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- requests ------------------------------------------------------------ */

static it_response *mem_req(const char *method, const char *path, const char *t,
                            const char *if_match, const char *body)
{
	char *h_tenant = it_strfmt("X-Tenant-Id: %s", t);
	char *h_match = if_match ? it_strfmt("If-Match: %s", if_match) : NULL;
	const char *headers[] = {h_tenant, h_match, NULL};
	it_response *r = it_request(method, path, headers, body, body ? strlen(body) : 0);
	free(h_tenant);
	free(h_match);
	return r;
}

static it_response *mem_put(const char *t, const char *body, const char *if_match)
{
	return mem_req("PUT", "/memory/items", t, if_match, body);
}

/* Put {namespace: ns_json, key, value: value_json}; asserts 200; returns the version. */
static char *mem_put_ok(const char *t, const char *ns_json, const char *key, const char *value_json)
{
	json_t *k = json_string(key);
	char *kj = json_dumps(k, JSON_ENCODE_ANY);
	char *body =
	    it_strfmt("{\"namespace\":%s,\"key\":%s,\"value\":%s}", ns_json, kj, value_json);
	it_response *r = mem_put(t, body, NULL);
	it_expect_status(r, 200);
	const char *v = json_string_value(json_object_get(r->json, "version"));
	ck_assert_msg(v && *v, "put answered no version: %s", r->desc);
	const char *etag = it_header_get(r, "ETag");
	char *want = it_strfmt("\"%s\"", v);
	ck_assert_msg(etag && !strcmp(etag, want), "ETag %s != %s: %s", etag ? etag : "(none)",
	              want, r->desc);
	char *ver = strdup(v);
	free(want);
	it_response_free(r);
	free(body);
	free(kj);
	json_decref(k);
	return ver;
}

static char *item_path(const char *method_unused, const char *ns_json, const char *key)
{
	(void)method_unused;
	char *ns = it_url_escape(ns_json);
	char *k = it_url_escape(key);
	char *p = it_strfmt("/memory/items?namespace=%s&key=%s", ns, k);
	free(ns);
	free(k);
	return p;
}

static it_response *mem_get(const char *t, const char *ns_json, const char *key)
{
	char *p = item_path("GET", ns_json, key);
	it_response *r = mem_req("GET", p, t, NULL, NULL);
	free(p);
	return r;
}

static it_response *mem_delete(const char *t, const char *ns_json, const char *key,
                               const char *if_match)
{
	char *p = item_path("DELETE", ns_json, key);
	it_response *r = mem_req("DELETE", p, t, if_match, NULL);
	free(p);
	return r;
}

static it_response *mem_post(const char *t, const char *path, const char *body)
{
	return mem_req("POST", path, t, NULL, body);
}

/* POST body to path; expect that error. */
static void post_error(const char *path, const char *body, long status, const char *code,
                       const char *field)
{
	it_response *r = mem_post(tenant, path, body);
	it_expect_error(r, status, code, field);
	it_response_free(r);
}

/* POST /memory/namespaces with body; expect exactly want (JSON text). */
static void expect_namespaces(const char *body, const char *want_text)
{
	it_response *r = mem_post(tenant, "/memory/namespaces", body);
	it_expect_status(r, 200);
	json_t *want = json_loads(want_text, 0, NULL);
	ck_assert_msg(want != NULL, "bad expectation %s", want_text);
	ck_assert_msg(json_equal(json_object_get(r->json, "namespaces"), want), "want %s: %s",
	              want_text, r->desc);
	json_decref(want);
	it_response_free(r);
}

/* The exact text of "value" in a response body: what follows "value": up to
 * ,"version". Our own renderer writes exactly that order. */
static char *raw_value(const it_response *r)
{
	const char *v = strstr(r->body, "\"value\":");
	ck_assert_msg(v != NULL, "no value in: %s", r->desc);
	v += strlen("\"value\":");
	const char *end = strstr(v, ",\"version\":");
	ck_assert_msg(end != NULL, "no version after value in: %s", r->desc);
	char *s = malloc((size_t)(end - v) + 1);
	memcpy(s, v, (size_t)(end - v));
	s[end - v] = '\0';
	return s;
}

/* ---- the store, inspected directly ------------------------------------------- */

/* Redis key of an item: P:memory:{<tenant>}:<labels...>:<key>, encoded. */
static char *redis_item_key(const char *t, const char *const *labels, size_t n, const char *key)
{
	char *et = it_key_enc(t);
	char *k = it_strfmt("%s:memory:{%s}", it_key_prefix(), et);
	free(et);
	for (size_t i = 0; i < n; i++) {
		char *e = it_key_enc(labels[i]);
		char *nk = it_strfmt("%s:%s", k, e);
		free(k);
		free(e);
		k = nk;
	}
	char *e = it_key_enc(key);
	char *nk = it_strfmt("%s:%s", k, e);
	free(k);
	free(e);
	return nk;
}

/* PostgreSQL: the namespace column, its labels joined by U+001F. */
static char *pg_ns_literal(const char *const *labels, size_t n)
{
	size_t len = 1;
	for (size_t i = 0; i < n; i++)
		len += strlen(labels[i]) + 1;
	char *s = calloc(1, len);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strcat(s, "\x1f");
		strcat(s, labels[i]);
	}
	return s;
}

static PGresult *pg_item_row(const char *t, const char *const *labels, size_t n, const char *key,
                             const char *cols)
{
	char *ns = pg_ns_literal(labels, n);
	char *sql =
	    it_strfmt("SELECT %s FROM memoryd.memory_items WHERE tenant = $1 AND"
	              " ns = $2 AND key = $3 AND (expires_at IS NULL OR expires_at > now())",
	              cols);
	const char *params[] = {t, ns, key};
	PGresult *res = PQexecParams(pg, sql, 3, NULL, params, NULL, NULL, 0);
	ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(pg));
	free(sql);
	free(ns);
	return res;
}

/* The stored value text of an item; NULL when the store holds none. */
static char *store_value(const char *t, const char *const *labels, size_t n, const char *key)
{
	if (pg) {
		PGresult *res = pg_item_row(t, labels, n, key, "value");
		char *v = PQntuples(res) ? strdup(PQgetvalue(res, 0, 0)) : NULL;
		PQclear(res);
		return v;
	}
	char *k = redis_item_key(t, labels, n, key);
	size_t len;
	char *v = it_redis_hget(rc, k, "v", &len);
	free(k);
	return v;
}

/* Seconds until the item expires: -1 none, -2 no such item. */
static long long store_ttl(const char *t, const char *const *labels, size_t n, const char *key)
{
	if (pg) {
		PGresult *res = pg_item_row(
		    t, labels, n, key,
		    "COALESCE(ceil(extract(epoch FROM expires_at - now()))::bigint, -1)");
		long long v = PQntuples(res) ? atoll(PQgetvalue(res, 0, 0)) : -2;
		PQclear(res);
		return v;
	}
	char *k = redis_item_key(t, labels, n, key);
	long long v = it_redis_ttl(rc, k);
	free(k);
	return v;
}

/* Overwrite the stored value with text that is not JSON, as an operator
 * with redis-cli (or psql) would. */
static void store_write_raw(const char *t, const char *const *labels, size_t n, const char *key,
                            const char *text)
{
	if (pg) {
		char *ns = pg_ns_literal(labels, n);
		const char *params[] = {t, ns, key, text};
		PGresult *res =
		    PQexecParams(pg,
		                 "UPDATE memoryd.memory_items SET value = $4 WHERE tenant = $1 AND"
		                 " ns = $2 AND key = $3",
		                 4, NULL, params, NULL, NULL, 0);
		ck_assert_msg(PQresultStatus(res) == PGRES_COMMAND_OK &&
		                  !strcmp(PQcmdTuples(res), "1"),
		              "UPDATE: %s", PQerrorMessage(pg));
		PQclear(res);
		free(ns);
		return;
	}
	char *k = redis_item_key(t, labels, n, key);
	redisReply *r = redisCommand(rc, "HSET %s v %s", k, text);
	ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "HSET failed");
	freeReplyObject(r);
	free(k);
}

/* How many items of the tenant the store holds (live ones). */
static long long store_count(const char *t)
{
	if (pg) {
		const char *params[] = {t};
		PGresult *res =
		    PQexecParams(pg,
		                 "SELECT count(*) FROM memoryd.memory_items WHERE tenant = $1"
		                 " AND (expires_at IS NULL OR expires_at > now())",
		                 1, NULL, params, NULL, NULL, 0);
		ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s", PQerrorMessage(pg));
		long long v = atoll(PQgetvalue(res, 0, 0));
		PQclear(res);
		return v;
	}
	char *et = it_key_enc(t);
	char *pat = it_strfmt("%s:memory:{%s}:*", it_key_prefix(), et);
	it_strlist l = {0};
	it_redis_scan(rc, pat, &l);
	long long n = (long long)l.n;
	it_strlist_free(&l);
	free(pat);
	free(et);
	return n;
}

static long long metric(const char *name)
{
	it_response *r = it_request("GET", "/metrics", NULL, NULL, 0);
	it_expect_status(r, 200);
	char *needle = it_strfmt("\n%s ", name);
	const char *p = strstr(r->body, needle);
	ck_assert_msg(p != NULL, "no metric %s", name);
	long long v = atoll(p + strlen(needle));
	free(needle);
	it_response_free(r);
	return v;
}

/* ===================================================================== */

static const char *NS_GOV[] = {"governance", "decision"};
#define NS_GOV_JSON "[\"governance\",\"decision\"]"

START_TEST(test_roundtrip_byte_exact)
{
	/* escapes, raw UTF-8 (2, 3 and 4 bytes), numbers as written */
	const char *value = "{\"result\":\"approved\",\"who\":\"caf\\u00e9 \\\"q\\\" \\\\ \\n\","
	                    "\"raw\":\"ünïcødé ☕ 😀\",\"n\":-0,\"x\":1.50e-7,"
	                    "\"list\":[true,false,null,{}]}";
	char *ver = mem_put_ok(tenant, NS_GOV_JSON, "abc123", value);
	it_response *r = mem_get(tenant, NS_GOV_JSON, "abc123");
	it_expect_status(r, 200);
	char *got = raw_value(r);
	ck_assert_msg(!strcmp(got, value), "value changed:\n sent %s\n got  %s", value, got);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "version")), ver);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "key")), "abc123");
	json_t *want_ns = json_pack("[ss]", "governance", "decision");
	ck_assert_msg(json_equal(json_object_get(r->json, "namespace"), want_ns), "namespace: %s",
	              r->desc);
	json_decref(want_ns);
	ck_assert_msg(json_is_string(json_object_get(r->json, "created_at")) &&
	                  json_is_string(json_object_get(r->json, "updated_at")) &&
	                  json_is_string(json_object_get(r->json, "expires_at")),
	              "times: %s", r->desc);
	char *stored = store_value(tenant, NS_GOV, 2, "abc123");
	ck_assert_msg(stored && !strcmp(stored, value), "store holds %s",
	              stored ? stored : "(none)");
	free(stored);
	free(got);
	it_response_free(r);

	/* numbers no double holds, and \u0000, survive as written */
	const char *big = "{\"n\":12345678901234567890123,\"big\":1e400,\"tiny\":1E-400,"
	                  "\"nul\":\"a\\u0000b\"}";
	free(mem_put_ok(tenant, NS_GOV_JSON, "big", big));
	r = mem_get(tenant, NS_GOV_JSON, "big");
	it_expect_status(r, 200);
	got = raw_value(r);
	ck_assert_str_eq(got, big);
	free(got);
	it_response_free(r);
	r = mem_delete(tenant, NS_GOV_JSON, "big", NULL);
	it_expect_status(r, 204);
	it_response_free(r);

	/* whitespace goes, nothing else changes; scalars are values too */
	char *v2 = mem_put_ok(tenant, NS_GOV_JSON, "abc123", " [ 1 , \"two\" ]\n");
	ck_assert_msg(strtoll(v2, NULL, 10) > strtoll(ver, NULL, 10), "version did not grow");
	r = mem_get(tenant, NS_GOV_JSON, "abc123");
	got = raw_value(r);
	ck_assert_str_eq(got, "[1,\"two\"]");
	free(got);
	it_response_free(r);

	r = mem_delete(tenant, NS_GOV_JSON, "abc123", NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	r = mem_get(tenant, NS_GOV_JSON, "abc123");
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	ck_assert_msg(store_value(tenant, NS_GOV, 2, "abc123") == NULL,
	              "deleted item still stored");
	ck_assert_int_eq(store_count(tenant), 0);
	/* deleting what is not there is fine */
	r = mem_delete(tenant, NS_GOV_JSON, "abc123", NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	free(ver);
	free(v2);
}
END_TEST

START_TEST(test_tenants_are_apart)
{
	char *other = it_random_id("mem-other-");
	free(mem_put_ok(tenant, NS_GOV_JSON, "k", "{\"mine\":1}"));
	it_response *r = mem_get(other, NS_GOV_JSON, "k");
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	r = mem_post(other, "/memory/search", "{\"namespace_prefix\":[]}");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "items")), 0);
	it_response_free(r);
	r = mem_post(other, "/memory/namespaces", "{}");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "namespaces")), 0);
	it_response_free(r);
	free(other);
}
END_TEST

START_TEST(test_ttl_set_and_honoured)
{
	long def = getenv("MEMORY_DEFAULT_TTL_SECONDS") ? atol(getenv("MEMORY_DEFAULT_TTL_SECONDS"))
	                                                : 86400;
	/* default TTL */
	free(mem_put_ok(tenant, NS_GOV_JSON, "default", "1"));
	long long t = store_ttl(tenant, NS_GOV, 2, "default");
	ck_assert_msg(t > def - 60 && t <= def, "default TTL %lld, want about %ld", t, def);

	/* a short TTL: set, reported, then honoured */
	it_response *r = mem_put(tenant,
	                         "{\"namespace\":" NS_GOV_JSON
	                         ",\"key\":\"short\",\"value\":{\"a\":1},\"ttl_seconds\":1}",
	                         NULL);
	it_expect_status(r, 200);
	ck_assert_msg(json_is_string(json_object_get(r->json, "expires_at")), "%s", r->desc);
	it_response_free(r);
	t = store_ttl(tenant, NS_GOV, 2, "short");
	ck_assert_msg(t >= 0 && t <= 1, "TTL of short item: %lld", t);
	long waited = 0;
	for (;;) {
		r = mem_get(tenant, NS_GOV_JSON, "short");
		long st = r->status;
		it_response_free(r);
		if (st == 404)
			break;
		ck_assert_msg(st == 200, "get answered %ld", st);
		ck_assert_msg(waited < 15000, "item with ttl_seconds 1 still there after 15 s");
		sleep_ms(100);
		waited += 100;
	}
	r = mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"governance\"]}");
	it_expect_status(r, 200);
	json_t *items = json_object_get(r->json, "items");
	ck_assert_int_eq(json_array_size(items), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "key")),
	                 "default");
	it_response_free(r);

	/* no expiry only when MEMORY_ALLOW_PERSISTENT=1 */
	bool allowed =
	    getenv("MEMORY_ALLOW_PERSISTENT") && !strcmp(getenv("MEMORY_ALLOW_PERSISTENT"), "1");
	r = mem_put(tenant,
	            "{\"namespace\":" NS_GOV_JSON
	            ",\"key\":\"forever\",\"value\":1,\"ttl_seconds\":0}",
	            NULL);
	if (allowed) {
		it_expect_status(r, 200);
		ck_assert_msg(json_is_null(json_object_get(r->json, "expires_at")), "%s", r->desc);
		ck_assert_int_eq(store_ttl(tenant, NS_GOV, 2, "forever"), -1);
		/* ttl-repair leaves a deliberately persistent item alone */
		const char *adm = getenv("ADMIN_TOKEN");
		if (adm && *adm && !on_pg()) {
			char *auth = it_strfmt("Authorization: Bearer %s", adm);
			const char *hs[] = {auth, NULL};
			it_response *rep = it_request("POST", "/admin/ttl-repair", hs, NULL, 0);
			it_expect_status(rep, 200);
			it_response_free(rep);
			free(auth);
			ck_assert_int_eq(store_ttl(tenant, NS_GOV, 2, "forever"), -1);
		}
	} else {
		it_expect_error(r, 400, "invalid_field", "ttl_seconds");
		ck_assert_int_eq(store_ttl(tenant, NS_GOV, 2, "forever"), -2);
	}
	it_response_free(r);
	r = mem_put(tenant, "{\"namespace\":[\"a\"],\"key\":\"k\",\"value\":1,\"ttl_seconds\":-5}",
	            NULL);
	it_expect_error(r, 400, "invalid_field", "ttl_seconds");
	it_response_free(r);
}
END_TEST

START_TEST(test_if_match_conflict_keeps_winner)
{
	char *v1 = mem_put_ok(tenant, NS_GOV_JSON, "doc", "{\"rev\":1}");
	char *etag = it_strfmt("\"%s\"", v1);
	/* two writers read v1; A writes first and wins */
	it_response *a = mem_put(tenant,
	                         "{\"namespace\":" NS_GOV_JSON
	                         ",\"key\":\"doc\",\"value\":{\"rev\":2,\"by\":\"A\"}}",
	                         etag);
	it_expect_status(a, 200);
	it_response *b = mem_put(tenant,
	                         "{\"namespace\":" NS_GOV_JSON
	                         ",\"key\":\"doc\",\"value\":{\"rev\":2,\"by\":\"B\"}}",
	                         etag);
	it_expect_error(b, 412, "precondition_failed", "If-Match");
	it_response *g = mem_get(tenant, NS_GOV_JSON, "doc");
	it_expect_status(g, 200);
	char *got = raw_value(g);
	ck_assert_str_eq(got, "{\"rev\":2,\"by\":\"A\"}");
	ck_assert_str_eq(json_string_value(json_object_get(g->json, "version")),
	                 json_string_value(json_object_get(a->json, "version")));
	char *stored = store_value(tenant, NS_GOV, 2, "doc");
	ck_assert_str_eq(stored, "{\"rev\":2,\"by\":\"A\"}");
	free(stored);
	free(got);

	/* B re-reads and retries with the current ETag */
	const char *cur = it_header_get(g, "ETag");
	ck_assert_msg(cur != NULL, "get answered no ETag: %s", g->desc);
	it_response *b2 = mem_put(tenant,
	                          "{\"namespace\":" NS_GOV_JSON
	                          ",\"key\":\"doc\",\"value\":{\"rev\":3,\"by\":\"B\"}}",
	                          cur);
	it_expect_status(b2, 200);

	/* If-Match on an absent item, "*", and a stale delete */
	it_response *r =
	    mem_put(tenant, "{\"namespace\":" NS_GOV_JSON ",\"key\":\"nope\",\"value\":1}", "*");
	it_expect_error(r, 412, "precondition_failed", "If-Match");
	it_response_free(r);
	ck_assert_msg(store_value(tenant, NS_GOV, 2, "nope") == NULL, "412 put stored something");
	r = mem_put(tenant, "{\"namespace\":" NS_GOV_JSON ",\"key\":\"doc\",\"value\":{\"rev\":4}}",
	            "*");
	it_expect_status(r, 200);
	it_response_free(r);
	r = mem_delete(tenant, NS_GOV_JSON, "doc", etag);
	it_expect_error(r, 412, "precondition_failed", "If-Match");
	it_response_free(r);
	stored = store_value(tenant, NS_GOV, 2, "doc");
	ck_assert_str_eq(stored, "{\"rev\":4}");
	free(stored);
	r = mem_put(tenant, "{\"namespace\":" NS_GOV_JSON ",\"key\":\"doc\",\"value\":1}",
	            "not-an-etag");
	it_expect_error(r, 400, "invalid_field", "If-Match");
	it_response_free(r);

	it_response_free(a);
	it_response_free(b);
	it_response_free(b2);
	it_response_free(g);
	free(etag);
	free(v1);
}
END_TEST

START_TEST(test_search_filter_and_pages)
{
	/* 30 items under docs (two namespaces), kinds alternating; one under a sibling */
	for (int i = 0; i < 30; i++) {
		char *key = it_strfmt("d%02d", i);
		char *val = it_strfmt("{\"kind\":\"%s\",\"i\":%d,\"tags\":[\"t\"]}",
		                      i % 3 == 0 ? "note" : "fact", i);
		free(mem_put_ok(tenant, i % 2 ? "[\"docs\",\"a\"]" : "[\"docs\",\"b\",\"c\"]", key,
		                val));
		free(key);
		free(val);
	}
	free(mem_put_ok(tenant, "[\"docsx\"]", "other", "{\"kind\":\"note\"}"));

	/* pages of 4 with the filter: every note, newest first, once each */
	int want = 27; /* the newest note; then 24, 21, ..., 0 */
	int pages = 0, seen = 0;
	char *cursor = NULL;
	for (;;) {
		char *body = cursor ? it_strfmt("{\"namespace_prefix\":[\"docs\"],\"filter\":{"
		                                "\"kind\":\"note\"},\"limit\":4,\"cursor\":\"%s\"}",
		                                cursor)
		                    : strdup("{\"namespace_prefix\":[\"docs\"],\"filter\":{"
		                             "\"kind\":\"note\"},\"limit\":4}");
		it_response *r = mem_post(tenant, "/memory/search", body);
		it_expect_status(r, 200);
		json_t *items = json_object_get(r->json, "items");
		pages++;
		for (size_t i = 0; i < json_array_size(items); i++) {
			json_t *it = json_array_get(items, i);
			json_t *v = json_object_get(it, "value");
			ck_assert_str_eq(json_string_value(json_object_get(v, "kind")), "note");
			ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), want);
			want -= 3;
			seen++;
		}
		free(cursor);
		cursor = NULL;
		json_t *nc = json_object_get(r->json, "next_cursor");
		if (json_is_string(nc))
			cursor = strdup(json_string_value(nc));
		it_response_free(r);
		free(body);
		if (!cursor)
			break;
		ck_assert_msg(pages < 10, "search never ends");
	}
	ck_assert_int_eq(seen, 10);
	ck_assert_int_eq(pages, 3);

	/* one namespace only; offset; the sibling "docsx" is not under "docs" */
	it_response *r =
	    mem_post(tenant, "/memory/search",
	             "{\"namespace_prefix\":[\"docs\",\"a\"],\"limit\":100,\"offset\":2}");
	it_expect_status(r, 200);
	json_t *items = json_object_get(r->json, "items");
	ck_assert_int_eq(json_array_size(items), 13);
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     json_object_get(json_array_get(items, 0), "value"), "i")),
	                 25);
	ck_assert_msg(json_is_null(json_object_get(r->json, "next_cursor")), "%s", r->desc);
	it_response_free(r);
	r = mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"docs\"],\"limit\":1000}");
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "items")), 30);
	it_response_free(r);
	r = mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[],\"limit\":1000}");
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "items")), 31);
	it_response_free(r);

	/* updating an item makes it the most recent */
	free(mem_put_ok(tenant, "[\"docs\",\"b\",\"c\"]", "d00", "{\"kind\":\"note\",\"i\":100}"));
	r = mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"docs\"],\"limit\":1}");
	items = json_object_get(r->json, "items");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "key")),
	                 "d00");
	it_response_free(r);

	/* bad searches */
	post_error("/memory/search",
	           "{\"namespace_prefix\":[\"docs\"],\"query\":\"what did I say\"}", 400,
	           "invalid_field", "query");
	post_error("/memory/search", "{\"limit\":0}", 400, "invalid_field", "limit");
	post_error("/memory/search", "{\"limit\":1001}", 400, "invalid_field", "limit");
	post_error("/memory/search", "{\"cursor\":\"abc\"}", 400, "invalid_field", "cursor");
	post_error("/memory/search", "{\"filter\":[1]}", 400, "invalid_field", "filter");

	/* namespaces: all, under a prefix, cut to a depth, by suffix, paged */
	expect_namespaces("{}", "[[\"docs\",\"a\"],[\"docs\",\"b\",\"c\"],[\"docsx\"]]");
	expect_namespaces("{\"prefix\":[\"docs\"],\"max_depth\":2}",
	                  "[[\"docs\",\"a\"],[\"docs\",\"b\"]]");
	expect_namespaces("{\"max_depth\":1,\"limit\":1,\"offset\":1}", "[[\"docsx\"]]");
	expect_namespaces("{\"suffix\":[\"c\"]}", "[[\"docs\",\"b\",\"c\"]]");
}
END_TEST

/* Labels and keys full of glob and separator characters. */
static const char *GLOB_NS[] = {"se*ss", "?[a]{b}:c\\"};
#define GLOB_NS_JSON "[\"se*ss\",\"?[a]{b}:c\\\\\"]"

START_TEST(test_glob_characters_are_literal)
{
	const char *keys[] = {"*", "?", "[abc]", "{tag}", "a:b", "%2A", "sp ace\\"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *val = it_strfmt("{\"i\":%zu}", i);
		free(mem_put_ok(tenant, GLOB_NS_JSON, keys[i], val));
		free(val);
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		it_response *r = mem_get(tenant, GLOB_NS_JSON, keys[i]);
		it_expect_status(r, 200);
		ck_assert_str_eq(json_string_value(json_object_get(r->json, "key")), keys[i]);
		ck_assert_int_eq(
		    json_integer_value(json_object_get(json_object_get(r->json, "value"), "i")),
		    (json_int_t)i);
		it_response_free(r);
		char *stored = store_value(tenant, GLOB_NS, 2, keys[i]);
		char *want = it_strfmt("{\"i\":%zu}", i);
		ck_assert_msg(stored && !strcmp(stored, want), "stored %s for key %s",
		              stored ? stored : "(none)", keys[i]);
		free(want);
		free(stored);
	}
	/* "*" is one key, not all of them */
	it_response *r = mem_delete(tenant, GLOB_NS_JSON, "*", NULL);
	it_expect_status(r, 204);
	it_response_free(r);
	r = mem_post(tenant, "/memory/search",
	             "{\"namespace_prefix\":" GLOB_NS_JSON ",\"limit\":100}");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_array_size(json_object_get(r->json, "items")), 6);
	it_response_free(r);
	expect_namespaces("{\"prefix\":[\"se*ss\"]}", "[[\"se*ss\",\"?[a]{b}:c\\\\\"]]");
}
END_TEST

/* Put n items under ns_json through the batch endpoint, 500 per request. */
static void bulk_put(const char *t, const char *ns_json, const char *key_prefix, int n)
{
	for (int start = 0; start < n; start += 500) {
		int end = start + 500 < n ? start + 500 : n;
		size_t cap = (size_t)(end - start) * (strlen(ns_json) + 96) + 64;
		char *body = malloc(cap);
		size_t len = (size_t)snprintf(body, cap, "{\"operations\":[");
		for (int i = start; i < end; i++)
			len += (size_t)snprintf(body + len, cap - len,
			                        "%s{\"op\":\"put\",\"namespace\":%s,\"key\":\"%s%"
			                        "d\",\"value\":{\"i\":%d}}",
			                        i > start ? "," : "", ns_json, key_prefix, i, i);
		snprintf(body + len, cap - len, "]}");
		it_response *r = mem_post(t, "/memory/batch", body);
		it_expect_status(r, 200);
		json_t *res = json_object_get(r->json, "results");
		ck_assert_int_eq(json_array_size(res), (size_t)(end - start));
		for (size_t i = 0; i < json_array_size(res); i++)
			ck_assert_msg(
			    json_is_string(json_object_get(json_array_get(res, i), "version")),
			    "batch put %zu failed: %.300s", i, r->body);
		it_response_free(r);
		free(body);
	}
}

START_TEST(test_cleanup_prefix_exactly)
{
	char *other = it_random_id("mem-other-");
	bulk_put(tenant, "[\"gov\",\"se*ss\"]", "k", 10000);
	/* siblings a glob "gov:se*ss*" would catch, a child, another tenant */
	free(mem_put_ok(tenant, "[\"gov\",\"se*ssion\"]", "keep1", "1"));
	free(mem_put_ok(tenant, "[\"gov\",\"seXss\"]", "keep2", "2"));
	free(mem_put_ok(tenant, "[\"gov\"]", "keep3", "3"));
	free(mem_put_ok(tenant, "[\"gov\",\"se*ss\",\"child\"]", "gone", "4"));
	free(mem_put_ok(other, "[\"gov\",\"se*ss\"]", "k1", "5"));
	ck_assert_int_eq(store_count(tenant), 10004);

	it_response *r =
	    mem_post(tenant, "/memory/cleanup", "{\"namespace_prefix\":[\"gov\",\"se*ss\"]}");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "deleted")), 10001);
	it_response_free(r);
	ck_assert_int_eq(store_count(tenant), 3);
	const char *kept[][3] = {{"[\"gov\",\"se*ssion\"]", "keep1", "1"},
	                         {"[\"gov\",\"seXss\"]", "keep2", "2"},
	                         {"[\"gov\"]", "keep3", "3"}};
	for (size_t i = 0; i < 3; i++) {
		r = mem_get(tenant, kept[i][0], kept[i][1]);
		it_expect_status(r, 200);
		char *v = raw_value(r);
		ck_assert_str_eq(v, kept[i][2]);
		free(v);
		it_response_free(r);
	}
	r = mem_get(other, "[\"gov\",\"se*ss\"]", "k1");
	it_expect_status(r, 200);
	it_response_free(r);
	r = mem_get(tenant, "[\"gov\",\"se*ss\"]", "k9999");
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	expect_namespaces("{\"prefix\":[\"gov\"]}",
	                  "[[\"gov\"],[\"gov\",\"se*ssion\"],[\"gov\",\"seXss\"]]");

	/* again: nothing left to delete */
	r = mem_post(tenant, "/memory/cleanup", "{\"namespace_prefix\":[\"gov\",\"se*ss\"]}");
	it_expect_status(r, 200);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "deleted")), 0);
	it_response_free(r);
	post_error("/memory/cleanup", "{\"namespace_prefix\":[]}", 400, "invalid_field",
	           "namespace_prefix");
	free(other);
}
END_TEST

static bool log_contains(const char *needle)
{
	const char *path = it_require_env("MEMORYD_LOG");
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	char line[8192];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) && strstr(line, "malformed");
	fclose(f);
	return found;
}

START_TEST(test_malformed_value_written_by_hand)
{
	free(mem_put_ok(tenant, NS_GOV_JSON, "good1", "{\"ok\":1}"));
	free(mem_put_ok(tenant, NS_GOV_JSON, "bad", "{\"ok\":2}"));
	free(mem_put_ok(tenant, NS_GOV_JSON, "good2", "{\"ok\":3}"));
	store_write_raw(tenant, NS_GOV, 2, "bad", "{not json");

	long long before = metric("memory_malformed_values_total");
	it_response *r =
	    mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"governance\"]}");
	it_expect_status(r, 200);
	json_t *items = json_object_get(r->json, "items");
	ck_assert_int_eq(json_array_size(items), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "key")),
	                 "good2");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 1), "key")),
	                 "good1");
	it_response_free(r);
	ck_assert_int_eq(metric("memory_malformed_values_total"), before + 1);

	r = mem_get(tenant, NS_GOV_JSON, "bad");
	it_expect_error(r, 500, "malformed_value", "key");
	const char *msg =
	    json_string_value(json_object_get(json_object_get(r->json, "error"), "message"));
	ck_assert_msg(strstr(msg, "bad") != NULL, "message does not name the item: %s", msg);
	it_response_free(r);
	ck_assert_int_eq(metric("memory_malformed_values_total"), before + 2);

	/* the log names where it is */
	char *where;
	if (pg) {
		where = strdup(tenant);
	} else {
		where = redis_item_key(tenant, NS_GOV, 2, "bad");
	}
	bool logged = false;
	for (int i = 0; i < 50 && !logged; i++) {
		logged = log_contains(where);
		if (!logged)
			sleep_ms(100);
	}
	ck_assert_msg(logged, "no malformed-JSON warning naming %s in the log", where);
	free(where);

	/* the other items still work; a put repairs it */
	r = mem_get(tenant, NS_GOV_JSON, "good1");
	it_expect_status(r, 200);
	it_response_free(r);
	free(mem_put_ok(tenant, NS_GOV_JSON, "bad", "{\"fixed\":true}"));
	r = mem_get(tenant, NS_GOV_JSON, "bad");
	it_expect_status(r, 200);
	it_response_free(r);

	if (rc) {
		/* a plain string written with SET, as the old MemoryService did */
		char *k = redis_item_key(tenant, NS_GOV, 2, "handwritten");
		redisReply *rr =
		    redisCommand(rc, "SET %s %s EX 60", k, "{\"result\":\"approved\"}");
		freeReplyObject(rr);
		r = mem_get(tenant, NS_GOV_JSON, "handwritten");
		it_expect_status(r, 200);
		char *v = raw_value(r);
		ck_assert_str_eq(v, "{\"result\":\"approved\"}");
		free(v);
		it_response_free(r);
		rr = redisCommand(rc, "SET %s %s EX 60", k, "approved");
		freeReplyObject(rr);
		r = mem_get(tenant, NS_GOV_JSON, "handwritten");
		it_expect_error(r, 500, "malformed_value", "key");
		it_response_free(r);
		free(k);
	}
}
END_TEST

START_TEST(test_batch_one_round_trip)
{
	it_response *r =
	    mem_post(tenant, "/memory/batch",
	             "{\"operations\":["
	             "{\"op\":\"put\",\"namespace\":[\"u\",\"1\"],\"key\":\"name\",\"value\":{"
	             "\"v\":\"Ada\"}},"
	             "{\"op\":\"put\",\"namespace\":[\"u\",\"1\"],\"key\":\"lang\",\"value\":{"
	             "\"v\":\"en\"},\"ttl_seconds\":600},"
	             "{\"op\":\"get\",\"namespace\":[\"u\",\"1\"],\"key\":\"name\"},"
	             "{\"op\":\"get\",\"namespace\":[\"u\",\"1\"],\"key\":\"missing\"},"
	             "{\"op\":\"search\",\"namespace_prefix\":[\"u\"],\"filter\":{\"v\":\"en\"}},"
	             "{\"op\":\"list_namespaces\",\"prefix\":[\"u\"]},"
	             "{\"op\":\"put\",\"namespace\":[\"u\",\"1\"],\"key\":\"name\",\"value\":null},"
	             "{\"op\":\"put\",\"namespace\":[],\"key\":\"x\",\"value\":1},"
	             "{\"op\":\"delete\",\"namespace\":[\"u\",\"1\"],\"key\":\"lang\",\"if_match\":"
	             "\"\\\"1\\\"\"},"
	             "{\"op\":\"search\",\"namespace_prefix\":[\"u\"],\"query\":\"semantic\"}"
	             "]}");
	it_expect_status(r, 200);
	json_t *res = json_object_get(r->json, "results");
	ck_assert_int_eq(json_array_size(res), 10);
	ck_assert_msg(json_is_string(json_object_get(json_array_get(res, 0), "version")), "%s",
	              r->desc);
	const char *lang_ver =
	    json_string_value(json_object_get(json_array_get(res, 1), "version"));
	json_t *item = json_object_get(json_array_get(res, 2), "item");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(item, "value"), "v")),
	                 "Ada");
	ck_assert_msg(json_is_null(json_object_get(json_array_get(res, 3), "item")), "%s", r->desc);
	json_t *found = json_object_get(json_array_get(res, 4), "items");
	ck_assert_int_eq(json_array_size(found), 1);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(found, 0), "key")),
	                 "lang");
	json_t *want_ns = json_pack("[[ss]]", "u", "1");
	ck_assert_msg(json_equal(json_object_get(json_array_get(res, 5), "namespaces"), want_ns),
	              "%s", r->desc);
	json_decref(want_ns);
	ck_assert_msg(json_is_true(json_object_get(json_array_get(res, 6), "deleted")), "%s",
	              r->desc);
	json_t *e = json_object_get(json_array_get(res, 7), "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "invalid_field");
	ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "namespace");
	/* the delete's If-Match names version 1, which lang does not have */
	e = json_object_get(json_array_get(res, 8), "error");
	ck_assert_msg(lang_ver && strcmp(lang_ver, "1"), "lang got version 1");
	ck_assert_str_eq(json_string_value(json_object_get(e, "code")), "precondition_failed");
	e = json_object_get(json_array_get(res, 9), "error");
	ck_assert_str_eq(json_string_value(json_object_get(e, "field")), "query");
	it_response_free(r);

	const char *u1[] = {"u", "1"};
	ck_assert_msg(store_value(tenant, u1, 2, "name") == NULL, "null put did not delete");
	char *lang = store_value(tenant, u1, 2, "lang");
	ck_assert_str_eq(lang, "{\"v\":\"en\"}");
	free(lang);
	long long t = store_ttl(tenant, u1, 2, "lang");
	ck_assert_msg(t > 500 && t <= 600, "lang TTL %lld", t);

	/* a batch with an unknown op runs nothing */
	r = mem_post(
	    tenant, "/memory/batch",
	    "{\"operations\":[{\"op\":\"put\",\"namespace\":[\"u\"],\"key\":\"z\",\"value\":1},"
	    "{\"op\":\"frobnicate\"}]}");
	it_expect_error(r, 400, "invalid_field", "operations[1].op");
	it_response_free(r);
	const char *u[] = {"u"};
	ck_assert_msg(store_value(tenant, u, 1, "z") == NULL, "a refused batch stored something");
	post_error("/memory/batch", "{\"operations\":{}}", 400, "invalid_field", "operations");
}
END_TEST

START_TEST(test_bad_input)
{
	struct {
		const char *body;
		const char *code;
		const char *field;
	} cases[] = {
	    {"{\"key\":\"k\",\"value\":1}", "missing_field", "namespace"},
	    {"{\"namespace\":[\"a\"],\"value\":1}", "missing_field", "key"},
	    {"{\"namespace\":[\"a\"],\"key\":\"k\"}", "missing_field", "value"},
	    {"{\"namespace\":[\"a\"],\"key\":\"k\",\"value\":null}", "missing_field", "value"},
	    {"{\"namespace\":[],\"key\":\"k\",\"value\":1}", "invalid_field", "namespace"},
	    {"{\"namespace\":[\"\"],\"key\":\"k\",\"value\":1}", "invalid_field", "namespace"},
	    {"{\"namespace\":[\"a\\u0001\"],\"key\":\"k\",\"value\":1}", "invalid_field",
	     "namespace"},
	    {"{\"namespace\":[1],\"key\":\"k\",\"value\":1}", "invalid_field", "namespace"},
	    {"{\"namespace\":\"a\",\"key\":\"k\",\"value\":1}", "invalid_field", "namespace"},
	    {"{\"namespace\":[\"a\"],\"key\":\"\",\"value\":1}", "invalid_field", "key"},
	    {"{\"namespace\":[\"a\"],\"key\":\"k\",\"value\":1,\"ttl_seconds\":1.5}",
	     "invalid_field", "ttl_seconds"},
	    {"{\"namespace\":[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\","
	     "\"l\",\"m\",\"n\",\"o\",\"p\",\"q\"],\"key\":\"k\",\"value\":1}",
	     "invalid_field", "namespace"},
	    {"{\"namespace\":[\"a\"],\"key\":\"k\",\"value\":1,", "invalid_json", NULL},
	    {"[1]", "invalid_json", NULL},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		it_response *r = mem_put(tenant, cases[i].body, NULL);
		it_expect_error(r, 400, cases[i].code, cases[i].field);
		it_response_free(r);
	}
	ck_assert_int_eq(store_count(tenant), 0);

	/* get: the namespace is a JSON array in the query */
	it_response *r = it_request("GET", "/memory/items?key=k", NULL, NULL, 0);
	it_expect_error(r, 400, "missing_field", "namespace");
	it_response_free(r);
	r = mem_get(tenant, "governance", "k");
	it_expect_error(r, 400, "invalid_field", "namespace");
	it_response_free(r);
	r = it_request("GET", "/memory/items?namespace=%5B%22a%22%5D", NULL, NULL, 0);
	it_expect_error(r, 400, "missing_field", "key");
	it_response_free(r);
	post_error("/memory/namespaces", "{\"max_depth\":17}", 400, "invalid_field", "max_depth");
	/* invalid UTF-8 is refused in a member no handler reads too (issue 15) */
	const char *body_routes[] = {"/memory/search", "/memory/namespaces", "/memory/cleanup",
	                             "/memory/batch"};
	for (size_t i = 0; i < sizeof(body_routes) / sizeof(body_routes[0]); i++) {
		post_error(body_routes[i], "{\"a\":\"\xff\xfe\"}", 400, "invalid_json", "a");
		post_error(body_routes[i], "{\"a\":\"\\udcff\"}", 400, "invalid_json", "a");
	}
	r = mem_req("PATCH", "/memory/items", tenant, NULL, "{}");
	it_expect_error(r, 405, "method_not_allowed", NULL);
	it_response_free(r);

	/* a value over MEMORY_MAX_VALUE_BYTES: 413, nothing stored */
	long max =
	    getenv("MEMORY_MAX_VALUE_BYTES") ? atol(getenv("MEMORY_MAX_VALUE_BYTES")) : 1048576;
	size_t n = (size_t)max + 1 - 2; /* a JSON string of max + 1 bytes */
	char *body = malloc(n + 128);
	size_t len = (size_t)sprintf(body, "{\"namespace\":[\"big\"],\"key\":\"k\",\"value\":\"");
	memset(body + len, 'x', n);
	len += n;
	strcpy(body + len, "\"}");
	r = mem_put(tenant, body, NULL);
	it_expect_error(r, 413, "payload_too_large", "value");
	it_response_free(r);
	/* exactly the limit is fine */
	memcpy(body + len - 1, "\"}", 3);
	r = mem_put(tenant, body, NULL);
	it_expect_status(r, 200);
	it_response_free(r);
	free(body);
	ck_assert_int_eq(store_count(tenant), 1);
}
END_TEST

/* A filter value holding \u0000 matches the item that holds it (found by
 * fuzz_memory_bodies: the filter was read without NUL, so it matched nothing). */
START_TEST(test_search_filter_with_nul)
{
	free(mem_put_ok(tenant, "[\"nul\"]", "a", "{\"s\":\"x\\u0000y\",\"n\":1}"));
	free(mem_put_ok(tenant, "[\"nul\"]", "b", "{\"s\":\"x\",\"n\":2}"));
	it_response *r =
	    mem_post(tenant, "/memory/search",
	             "{\"namespace_prefix\":[\"nul\"],\"filter\":{\"s\":\"x\\u0000y\"}}");
	it_expect_status(r, 200);
	/* r->json is read without \u0000 */
	json_t *j = json_loadb(r->body, r->body_len, JSON_ALLOW_NUL, NULL);
	json_t *items = json_object_get(j, "items");
	ck_assert_msg(json_array_size(items) == 1, "want item a only: %s", r->desc);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "key")), "a");
	json_decref(j);
	it_response_free(r);
}
END_TEST

/* One batch putting n items, item i holding {"i": i}: in namespace
 * ["wb", "n<i>"] under key "k" each (spread), or all in ["bc"] under key
 * "k<i>". */
static void put_numbered(int n, bool spread)
{
	char *ops = strdup("{\"operations\":[");
	for (int i = 0; i < n; i++) {
		char *where = spread ? it_strfmt("[\"wb\",\"n%03d\"],\"key\":\"k\"", i)
		                     : it_strfmt("[\"bc\"],\"key\":\"k%03d\"", i);
		char *next = it_strfmt("%s%s{\"op\":\"put\",\"namespace\":%s,\"value\":{\"i\":%d}}",
		                       ops, i ? "," : "", where, i);
		free(where);
		free(ops);
		ops = next;
	}
	char *body = it_strfmt("%s]}", ops);
	it_response *r = mem_post(tenant, "/memory/batch", body);
	it_expect_status(r, 200);
	ck_assert(json_is_false(json_object_get(r->json, "truncated")));
	it_response_free(r);
	free(body);
	free(ops);
}

/* A scan reads at most 32 items a script call (redis/memory.c
 * SCAN_CALL_ITEMS: a script holds Redis until it ends, and a get waits
 * behind it): a page of 150 items of one namespace takes five 'items'
 * calls, and still comes whole and newest first. */
START_TEST(test_search_reads_in_bounded_calls)
{
	if (on_pg() || it_redis_is_cluster())
		return; /* the Redis scripts, counted with MONITOR (one node) */
	enum { N = 150 };
	put_numbered(N, false);

	char *enc = it_key_enc(tenant);
	char *reg = it_strfmt("memory-namespaces:{%s}", enc);
	char *mark = it_strfmt("scan-end-%s", tenant);
	redisContext *m = it_redis_monitor();
	it_response *r =
	    mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"bc\"],\"limit\":150}");
	it_expect_status(r, 200);
	freeReplyObject(redisCommand(rc, "ECHO %s", mark));
	const char *items[] = {"\"EVALSHA\"", reg, "\"items\"", NULL};
	const char *end[] = {"\"ECHO\"", mark, NULL};
	long calls = it_redis_monitor_count(m, items, end);
	redisFree(m);
	ck_assert_msg(calls == 5, "%ld 'items' calls for %d items, want 5 of at most 32", calls, N);
	json_t *got = json_object_get(r->json, "items");
	ck_assert_int_eq(json_array_size(got), N);
	for (int i = 0; i < N; i++) {
		json_t *v = json_object_get(json_array_get(got, (size_t)i), "value");
		ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), N - 1 - i);
	}
	it_response_free(r);
	free(mark);
	free(reg);
	free(enc);
}
END_TEST

/* MEMORY_WORK_BUDGET (run with 2000 in integration_memory_settings): a
 * search over 300 namespaces walks them in bounded script calls and still
 * answers newest first; a batch shares one budget, so its searches past it
 * are 413 and the batch says it was truncated. */
START_TEST(test_work_budget_bounds_scans_and_batches)
{
	const char *budget = getenv("MEMORY_WORK_BUDGET");
	if (on_pg() || !budget || atol(budget) != 2000)
		return; /* the Redis scripts, at the budget this case is run with */
	if (it_redis_is_cluster())
		return; /* MONITOR sees one node of a cluster: not run there */
	enum { NS = 300 };
	put_numbered(NS, true);

	/* one search: bounded steps over the namespaces (32 a call: 1024 entries
	 * at 32 items each), then one read */
	char *enc = it_key_enc(tenant);
	char *reg = it_strfmt("memory-namespaces:{%s}", enc);
	redisContext *m = it_redis_monitor();
	it_response *r =
	    mem_post(tenant, "/memory/search", "{\"namespace_prefix\":[\"wb\"],\"limit\":5}");
	it_expect_status(r, 200);
	const char *step[] = {"\"EVALSHA\"", reg, "\"cands\"", "\"32\"", NULL};
	const char *last[] = {"\"EVALSHA\"", reg, "\"items\"", NULL};
	long steps = it_redis_monitor_count(m, step, last);
	redisFree(m);
	ck_assert_msg(steps >= NS / 32, "%ld bounded steps over %d namespaces", steps, NS);
	json_t *items = json_object_get(r->json, "items");
	ck_assert_int_eq(json_array_size(items), 5);
	for (int i = 0; i < 5; i++) {
		json_t *v = json_object_get(json_array_get(items, (size_t)i), "value");
		ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), NS - 1 - i);
	}
	ck_assert(json_is_string(json_object_get(r->json, "next_cursor")));
	ck_assert(json_is_false(json_object_get(r->json, "truncated")));
	it_response_free(r);

	/* five such searches in a batch: the budget pays for three */
	char *body = strdup("{\"operations\":[");
	for (int i = 0; i < 5; i++) {
		char *next = it_strfmt("%s%s{\"op\":\"search\",\"namespace_prefix\":[\"wb\"],"
		                       "\"limit\":1}",
		                       body, i ? "," : "");
		free(body);
		body = next;
	}
	char *b2 =
	    it_strfmt("%s,{\"op\":\"get\",\"namespace\":[\"wb\",\"n001\"],\"key\":\"k\"}]}", body);
	r = mem_post(tenant, "/memory/batch", b2);
	it_expect_status(r, 200);
	json_t *res = json_object_get(r->json, "results");
	ck_assert_int_eq(json_array_size(res), 6);
	for (size_t i = 0; i < 6; i++) {
		json_t *e = json_object_get(json_array_get(res, i), "error");
		if (i < 3) {
			ck_assert_msg(!e, "op %zu: %s", i, r->desc);
			ck_assert_int_eq(
			    json_array_size(json_object_get(json_array_get(res, i), "items")), 1);
		} else {
			ck_assert_msg(e && !strcmp(json_string_value(json_object_get(e, "code")),
			                           "payload_too_large"),
			              "op %zu not refused: %s", i, r->desc);
		}
	}
	ck_assert_msg(json_is_true(json_object_get(r->json, "truncated")), "%s", r->desc);
	it_response_free(r);
	free(b2);
	free(body);
	free(reg);
	free(enc);
}
END_TEST

/* RESPONSE_MAX_BYTES=65536 (integration_response_bytes): a search page of
 * 15000-byte values holds the four that fit, truncated, and goes on from
 * its cursor; a batch shares the bytes, refusing (413) what comes after. */
START_TEST(test_search_pages_end_at_response_max_bytes)
{
	const char *max = getenv("RESPONSE_MAX_BYTES");
	if (!max || strcmp(max, "65536"))
		return; /* run at that setting */
	char *big = malloc(15001);
	memset(big, 'c', 15000);
	big[15000] = '\0';
	for (int i = 0; i < 10; i++) {
		char *key = it_strfmt("k%d", i);
		char *val = it_strfmt("{\"i\":%d,\"s\":\"%s\"}", i, big);
		free(mem_put_ok(tenant, "[\"big\"]", key, val));
		free(val);
		free(key);
	}
	free(big);
	static const size_t want[] = {4, 4, 2};
	char *cursor = NULL;
	int next = 9;
	for (int page = 0; page < 3; page++) {
		char *body =
		    cursor ? it_strfmt(
		                 "{\"namespace_prefix\":[\"big\"],\"limit\":10,\"cursor\":\"%s\"}",
		                 cursor)
		           : strdup("{\"namespace_prefix\":[\"big\"],\"limit\":10}");
		it_response *r = mem_post(tenant, "/memory/search", body);
		free(body);
		it_expect_status(r, 200);
		json_t *items = json_object_get(r->json, "items");
		ck_assert_msg(json_array_size(items) == want[page], "page %d: %zu items", page,
		              json_array_size(items));
		for (size_t i = 0; i < want[page]; i++) {
			json_t *v = json_object_get(json_array_get(items, i), "value");
			ck_assert_int_eq(json_integer_value(json_object_get(v, "i")), next--);
		}
		ck_assert(json_is_true(json_object_get(r->json, "truncated")) == (page < 2));
		free(cursor);
		const char *c = json_string_value(json_object_get(r->json, "next_cursor"));
		ck_assert_msg((c != NULL) == (page < 2), "page %d: %s", page, r->desc);
		cursor = c ? strdup(c) : NULL;
		it_response_free(r);
	}
	free(cursor);

	it_response *r = mem_post(tenant, "/memory/batch",
	                          "{\"operations\":["
	                          "{\"op\":\"search\",\"namespace_prefix\":[\"big\"],\"limit\":10},"
	                          "{\"op\":\"search\",\"namespace_prefix\":[\"big\"],\"limit\":10},"
	                          "{\"op\":\"get\",\"namespace\":[\"big\"],\"key\":\"k1\"}]}");
	it_expect_status(r, 200);
	ck_assert_msg(r->body_len < 2 * 65536, "%zu bytes", r->body_len);
	json_t *res = json_object_get(r->json, "results");
	ck_assert_int_eq(json_array_size(json_object_get(json_array_get(res, 0), "items")), 4);
	ck_assert_int_eq(json_array_size(json_object_get(json_array_get(res, 1), "items")), 1);
	ck_assert(json_is_true(json_object_get(json_array_get(res, 1), "truncated")));
	json_t *e = json_object_get(json_array_get(res, 2), "error");
	ck_assert_msg(
	    e && !strcmp(json_string_value(json_object_get(e, "code")), "payload_too_large"), "%s",
	    r->desc);
	ck_assert(json_is_true(json_object_get(r->json, "truncated")));
	it_response_free(r);
}
END_TEST

static TCase *tcase(Suite *s, const char *name, int timeout)
{
	TCase *t = tcase_create(name);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, timeout);
	suite_add_tcase(s, t);
	return t;
}

int main(void)
{
	Suite *s = suite_create("memoryd_memory");
	tcase_add_test(tcase(s, "roundtrip", 30), test_roundtrip_byte_exact);
	tcase_add_test(tcase(s, "tenants", 30), test_tenants_are_apart);
	tcase_add_test(tcase(s, "ttl", 60), test_ttl_set_and_honoured);
	tcase_add_test(tcase(s, "if_match", 30), test_if_match_conflict_keeps_winner);
	tcase_add_test(tcase(s, "search", 60), test_search_filter_and_pages);
	tcase_add_test(tcase(s, "search_nul", 30), test_search_filter_with_nul);
	tcase_add_test(tcase(s, "glob_ids", 30), test_glob_characters_are_literal);
	tcase_add_test(tcase(s, "cleanup", 300), test_cleanup_prefix_exactly);
	tcase_add_test(tcase(s, "malformed", 30), test_malformed_value_written_by_hand);
	tcase_add_test(tcase(s, "batch", 30), test_batch_one_round_trip);
	tcase_add_test(tcase(s, "bad_input", 30), test_bad_input);
	tcase_add_test(tcase(s, "budget", 60), test_work_budget_bounds_scans_and_batches);
	tcase_add_test(tcase(s, "scan_calls", 60), test_search_reads_in_bounded_calls);
	tcase_add_test(tcase(s, "bytes", 60), test_search_pages_end_at_response_max_bytes);
	it_http_global_init();
	int rc_ = it_run_suite(s);
	it_http_global_cleanup();
	return rc_;
}
