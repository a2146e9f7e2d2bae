/* memoryd with an unreachable Redis: it must start, answer /healthz, report
 * 503 on /readyz and answer every store operation with 503 store_unavailable
 * and Retry-After. Run with REDIS_URL pointing at a closed port. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"

static char *tenant;

static void setup(void)
{
	/* The test only makes sense against a server given a dead Redis. */
	it_require_env("REDIS_URL");
	tenant = it_random_id("it-down-");
}

static void teardown(void)
{
	free(tenant);
	tenant = NULL;
}

static void expect_unavailable(it_response *r)
{
	it_expect_error(r, 503, "store_unavailable", NULL);
	const char *ra = it_header_get(r, "Retry-After");
	ck_assert_msg(ra != NULL && strcmp(ra, "1") == 0, "503 needs Retry-After: 1, got '%s': %s",
	              ra ? ra : "(none)", r->desc);
	it_response_free(r);
}

START_TEST(test_healthz_ok_while_redis_down)
{
	it_response *r = it_json_request("GET", "/healthz", NULL, NULL);
	it_expect_status(r, 200);
	const char *st = json_string_value(json_object_get(r->json, "status"));
	ck_assert_msg(st && strcmp(st, "ok") == 0, "healthz body: %s", r->desc);
	it_response_free(r);
}
END_TEST

START_TEST(test_readyz_503_reports_redis_unreachable)
{
	it_response *r = it_json_request("GET", "/readyz", NULL, NULL);
	it_expect_status(r, 503);
	ck_assert_msg(json_is_object(r->json), "readyz body is not JSON: %s", r->desc);
	const char *st = json_string_value(json_object_get(r->json, "status"));
	ck_assert_msg(st && strcmp(st, "unavailable") == 0, "status != unavailable: %s", r->desc);
	const char *reason = json_string_value(json_object_get(r->json, "reason"));
	ck_assert_msg(reason && strncmp(reason, "redis", 5) == 0, "reason should name redis: %s",
	              r->desc);
	json_t *redis = json_object_get(json_object_get(r->json, "stores"), "redis");
	ck_assert_msg(json_is_false(json_object_get(redis, "reachable")),
	              "stores.redis.reachable != false: %s", r->desc);
	/* without the admin token: no error message, which names the host */
	ck_assert_msg(!json_object_get(redis, "error") && !strstr(r->body, "127.0.0.1"),
	              "store details without the admin token: %s", r->body);
	it_expect_request_id(r, NULL);
	it_response_free(r);
}
END_TEST

START_TEST(test_put_checkpoint_503_with_retry_after)
{
	json_t *body =
	    it_put_body("t1", "", "c1", NULL, it_checkpoint("c1", json_object()), NULL,
	                json_pack("[o]", it_blob("a", json_string("1"), "json", "1", 1)));
	expect_unavailable(it_put(tenant, body));
}
END_TEST

START_TEST(test_get_and_list_503_with_retry_after)
{
	expect_unavailable(it_get(tenant, "t1", NULL, NULL));
	expect_unavailable(it_get(tenant, "t1", "", "c1"));
	expect_unavailable(it_list(tenant, NULL));
	expect_unavailable(it_list(tenant, "thread_id=t1&limit=5"));
}
END_TEST

START_TEST(test_put_writes_and_delete_503_with_retry_after)
{
	json_t *w = json_pack("[o]", it_write("a", "json", "1", 1));
	expect_unavailable(it_put_writes(tenant, "t1", it_writes_body("", "c1", "task", "", w)));
	expect_unavailable(it_delete(tenant, "t1"));
}
END_TEST

START_TEST(test_server_keeps_answering_after_store_errors)
{
	for (int i = 0; i < 5; i++)
		expect_unavailable(it_get(tenant, "t1", NULL, NULL));
	it_response *r = it_json_request("GET", "/healthz", NULL, NULL);
	it_expect_status(r, 200);
	it_response_free(r);
	r = it_json_request("GET", "/readyz", NULL, NULL);
	it_expect_status(r, 503);
	it_response_free(r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memoryd_unavailable");
	TCase *t = tcase_create("redis_down");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_healthz_ok_while_redis_down);
	tcase_add_test(t, test_readyz_503_reports_redis_unreachable);
	tcase_add_test(t, test_put_checkpoint_503_with_retry_after);
	tcase_add_test(t, test_get_and_list_503_with_retry_after);
	tcase_add_test(t, test_put_writes_and_delete_503_with_retry_after);
	tcase_add_test(t, test_server_keeps_answering_after_store_errors);
	suite_add_tcase(s, t);
	return it_run_suite(s);
}
