/*
 * Operating memoryd: bearer tokens, /health/memory and /metrics, against a
 * running memoryd (tests/with-memoryd.sh) on the Redis in REDIS_URL.
 * The token cases expect API_TOKENS="tok-acme:acme;tok-ops:*" (see
 * CMakeLists.txt); CK_RUN_CASE picks the cases for each server setting.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"
#include "redis_inspect.h"

static it_response *get_as(const char *path, const char *tenant, const char *auth)
{
	char th[128], ah[128];
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;
	if (tenant) {
		snprintf(th, sizeof(th), "X-Tenant-Id: %s", tenant);
		h[n++] = th;
	}
	if (auth) {
		snprintf(ah, sizeof(ah), "Authorization: %s", auth);
		h[n++] = ah;
	}
	return it_request("GET", path, h, NULL, 0);
}

static void expect_error(it_response *r, long status, const char *code)
{
	ck_assert_msg(r->status == status, "want %ld: %s", status, r->desc);
	json_t *e = json_object_get(r->json, "error");
	ck_assert_msg(e && !strcmp(json_string_value(json_object_get(e, "code")), code),
	              "want error code %s: %s", code, r->desc);
}

START_TEST(test_missing_token_is_401_with_challenge)
{
	it_response *r = get_as("/checkpoints/t1", "acme", NULL);
	expect_error(r, 401, "unauthorized");
	ck_assert_msg(it_header_get(r, "WWW-Authenticate"), "401 without WWW-Authenticate");
	it_response_free(r);
	r = get_as("/checkpoints/t1", "acme", "Bearer not-a-token");
	expect_error(r, 401, "unauthorized");
	ck_assert_msg(!strstr(r->body, "not-a-token"), "a token was echoed: %s", r->body);
	it_response_free(r);
}
END_TEST

START_TEST(test_token_for_another_tenant_is_403)
{
	it_response *r = get_as("/checkpoints/t1", "globex", "Bearer tok-acme");
	expect_error(r, 403, "forbidden");
	it_response_free(r);
}
END_TEST

START_TEST(test_token_for_its_tenant_and_wildcard_pass)
{
	it_response *r = get_as("/checkpoints/t1", "acme", "Bearer tok-acme");
	expect_error(r, 404, "not_found"); /* authorised: the thread just does not exist */
	it_response_free(r);
	r = get_as("/checkpoints/t1", "anyone", "bearer tok-ops");
	expect_error(r, 404, "not_found");
	it_response_free(r);
}
END_TEST

START_TEST(test_probes_and_metrics_need_no_token)
{
	const char *paths[] = {"/healthz", "/readyz", "/health/memory", "/metrics"};
	for (size_t i = 0; i < 4; i++) {
		it_response *r = get_as(paths[i], NULL, NULL);
		ck_assert_msg(r->status == 200, "%s", r->desc);
		it_response_free(r);
	}
}
END_TEST

START_TEST(test_health_memory_reports_redis)
{
	it_response *r = get_as("/health/memory", NULL, NULL);
	ck_assert_msg(r->status == 200 && r->json, "%s", r->desc);
	json_t *j = r->json;
	ck_assert(json_is_true(json_object_get(j, "healthy")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "connectionState")), "connected");
	ck_assert(json_is_integer(json_object_get(j, "reconnectAttempts")));
	ck_assert(json_is_number(json_object_get(j, "latencyMs")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "primary")), "redis");
	ck_assert(json_is_false(json_object_get(j, "dual_write")));
	json_t *redis = json_object_get(j, "redis");
	ck_assert_msg(json_integer_value(json_object_get(redis, "used_memory")) > 0, "%s", r->body);
	ck_assert(json_is_string(json_object_get(redis, "maxmemory_policy")));
	ck_assert(json_is_integer(json_object_get(redis, "evicted_keys")));
	ck_assert(json_is_boolean(json_object_get(redis, "aof_enabled")));
	ck_assert(json_is_true(
	    json_object_get(json_object_get(json_object_get(j, "stores"), "redis"), "reachable")));
	it_response_free(r);
}
END_TEST

START_TEST(test_health_memory_warns_on_allkeys_eviction)
{
	redisContext *rc = it_redis_connect();
	redisReply *old = redisCommand(rc, "CONFIG GET maxmemory-policy");
	ck_assert(old && old->type == REDIS_REPLY_ARRAY && old->elements == 2);
	char *was = strdup(old->element[1]->str);
	freeReplyObject(old);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory-policy allkeys-lru"));
	it_response *r = get_as("/health/memory", NULL, NULL);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory-policy %s", was));
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_is_true(json_object_get(r->json, "healthy")), "warnings keep healthy");
	json_t *w = json_object_get(r->json, "warnings");
	ck_assert_msg(json_array_size(w) >= 1 &&
	                  strstr(json_string_value(json_array_get(w, 0)), "allkeys-lru"),
	              "no eviction warning: %s", r->body);
	it_response_free(r);
	r = get_as("/health/memory", NULL, NULL);
	ck_assert_msg(json_array_size(json_object_get(r->json, "warnings")) == 0,
	              "warning stays after the policy was restored: %s", r->body);
	it_response_free(r);
	free(was);
	redisFree(rc);
}
END_TEST

START_TEST(test_metrics_count_requests_by_route_template)
{
	char *t = it_random_id("ops-");
	for (int i = 0; i < 3; i++) {
		it_response *r = get_as("/checkpoints/some-raw-thread-id", t, NULL);
		it_response_free(r);
	}
	it_response *m = get_as("/metrics", NULL, NULL);
	ck_assert_msg(m->status == 200, "%s", m->desc);
	ck_assert_msg(strstr(it_header_get(m, "Content-Type"), "text/plain"), "content type");
	ck_assert_msg(strstr(m->body, "http_requests_total{route=\"/checkpoints/{thread_id}\","
	                              "method=\"GET\",code=\"404\"}"),
	              "no per-route counter:\n%s", m->body);
	ck_assert_msg(!strstr(m->body, "some-raw-thread-id"), "a raw id became a label");
	const char *families[] = {"redis_up 1",
	                          "redis_latency_p95_ms",
	                          "redis_reconnects_total",
	                          "store_primary{store=\"redis\"} 1",
	                          "dual_write_enabled 0",
	                          "checkpoints_written_total",
	                          "memoryd_build_info{version=",
	                          "http_request_duration_seconds_bucket"};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		ck_assert_msg(strstr(m->body, families[i]), "missing %s", families[i]);
	it_response_free(m);
	free(t);
}
END_TEST

/* ---- admin tools: the server runs with ADMIN_TOKEN=adm-secret ---- */

static it_response *admin(const char *method, const char *path, const char *tenant)
{
	char th[128];
	const char *h[3] = {"Authorization: Bearer adm-secret", NULL, NULL};
	if (tenant) {
		snprintf(th, sizeof(th), "X-Tenant-Id: %s", tenant);
		h[1] = th;
	}
	return it_request(method, path, h, NULL, 0);
}

static void put_cp(const char *tenant, const char *thread, int n)
{
	char *id = it_cp_id(n);
	it_put_ok(tenant, it_put_body(thread, NULL, id, NULL, it_checkpoint(id, json_object()),
	                              NULL, NULL));
	free(id);
}

START_TEST(test_admin_without_admin_token_configured_is_403)
{
	it_response *r = get_as("/admin/threads/x", NULL, "Bearer anything");
	expect_error(r, 403, "forbidden");
	ck_assert_msg(strstr(r->body, "ADMIN_TOKEN"), "should say why: %s", r->body);
	it_response_free(r);
}
END_TEST

START_TEST(test_admin_needs_the_admin_token)
{
	it_response *r = it_request("POST", "/admin/backup", NULL, NULL, 0);
	expect_error(r, 401, "unauthorized");
	it_response_free(r);
	const char *h[] = {"Authorization: Bearer wrong", NULL};
	r = it_request("POST", "/admin/backup", h, NULL, 0);
	expect_error(r, 403, "forbidden");
	it_response_free(r);
}
END_TEST

START_TEST(test_admin_ttl_repair_fixes_keys_without_ttl)
{
	redisContext *rc = it_redis_connect();
	char *k1 = it_strfmt("%s:checkpoint:{hand-made:%s}::1", it_key_prefix(), "t");
	char *k2 = it_strfmt("%s:blob:{hand-made:%s}::c:1", it_key_prefix(), "t");
	freeReplyObject(redisCommand(rc, "SET %s x", k1));
	freeReplyObject(redisCommand(rc, "SET %s y", k2));
	freeReplyObject(redisCommand(rc, "SET not-ours-%s z", k1));
	ck_assert(it_redis_ttl(rc, k1) == -1);
	it_response *r = admin("POST", "/admin/ttl-repair", NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "fixed")) >= 2, "%s", r->body);
	ck_assert(it_redis_ttl(rc, k1) > 0 && it_redis_ttl(rc, k2) > 0);
	redisReply *other = redisCommand(rc, "TTL not-ours-%s", k1);
	ck_assert_msg(other->integer == -1, "a key outside the prefix was touched");
	freeReplyObject(other);
	freeReplyObject(redisCommand(rc, "DEL not-ours-%s", k1));
	it_response_free(r);
	free(k1);
	free(k2);
	redisFree(rc);
}
END_TEST

START_TEST(test_admin_backup_returns_lastsave)
{
	it_response *r = admin("POST", "/admin/backup", NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	long long last = json_integer_value(json_object_get(r->json, "last_save"));
	ck_assert_msg(last > (long long)time(NULL) - 120, "stale LASTSAVE: %s", r->body);
	it_response_free(r);
}
END_TEST

START_TEST(test_admin_thread_inspect_and_one_checkpoint_delete)
{
	char *t = it_random_id("adm-");
	put_cp(t, "th", 1);
	put_cp(t, "th", 2);
	it_response *r = admin("GET", "/admin/threads/th", t);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "checkpoints")) == 2, "%s",
	              r->body);
	json_t *keys = json_object_get(r->json, "keys");
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		ck_assert_msg(json_integer_value(json_object_get(k, "ttl_ms")) > 0, "no TTL: %s",
		              r->body);
		ck_assert_msg(json_integer_value(json_object_get(k, "bytes")) > 0, "no size");
	}
	it_response_free(r);

	char *id2 = it_cp_id(2), *id1 = it_cp_id(1);
	char *path = it_strfmt("/admin/threads/th/checkpoints/%s", id2);
	r = admin("DELETE", path, t);
	ck_assert_msg(r->status == 204, "%s", r->desc);
	it_response_free(r);
	json_t *latest = it_get_ok(t, "th", NULL, NULL);
	it_expect_config(json_object_get(latest, "config"), "th", "", id1);
	json_decref(latest);
	r = admin("DELETE", path, t);
	expect_error(r, 404, "not_found");
	it_response_free(r);
	free(path);
	free(id1);
	free(id2);
	free(t);
}
END_TEST

START_TEST(test_admin_tenant_delete_forgets_only_that_tenant)
{
	char *t = it_random_id("gone-"), *keep = it_random_id("kept-");
	put_cp(t, "a", 1);
	put_cp(t, "b:{x}", 1);
	put_cp(keep, "a", 1);
	char *path = it_strfmt("/admin/tenants/%s", t);
	it_response *r = admin("DELETE", path, NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "deleted")) >= 10, "%s", r->body);
	it_response_free(r);
	redisContext *rc = it_redis_connect();
	it_redis_expect_tenant_empty(rc, t, "tenant delete");
	it_strlist kept = {0};
	it_redis_tenant_keys(rc, keep, &kept);
	ck_assert_msg(kept.n >= 5, "the other tenant lost keys (%zu left)", kept.n);
	it_strlist_free(&kept);
	redisFree(rc);
	free(path);
	free(t);
	free(keep);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ops");
	TCase *tokens = tcase_create("tokens");
	tcase_add_test(tokens, test_missing_token_is_401_with_challenge);
	tcase_add_test(tokens, test_token_for_another_tenant_is_403);
	tcase_add_test(tokens, test_token_for_its_tenant_and_wildcard_pass);
	tcase_add_test(tokens, test_probes_and_metrics_need_no_token);
	suite_add_tcase(s, tokens);
	TCase *health = tcase_create("health");
	tcase_add_test(health, test_health_memory_reports_redis);
	tcase_add_test(health, test_health_memory_warns_on_allkeys_eviction);
	tcase_add_test(health, test_metrics_count_requests_by_route_template);
	suite_add_tcase(s, health);
	TCase *off = tcase_create("admin_off");
	tcase_add_test(off, test_admin_without_admin_token_configured_is_403);
	suite_add_tcase(s, off);
	TCase *adm = tcase_create("admin");
	tcase_set_timeout(adm, 120);
	tcase_add_test(adm, test_admin_needs_the_admin_token);
	tcase_add_test(adm, test_admin_ttl_repair_fixes_keys_without_ttl);
	tcase_add_test(adm, test_admin_backup_returns_lastsave);
	tcase_add_test(adm, test_admin_thread_inspect_and_one_checkpoint_delete);
	tcase_add_test(adm, test_admin_tenant_delete_forgets_only_that_tenant);
	suite_add_tcase(s, adm);
	return it_run_suite(s);
}
