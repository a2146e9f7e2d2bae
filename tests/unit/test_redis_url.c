#include <string.h>

#include "../../common/redis_url.h"
#include "check_main.h"

START_TEST(plain)
{
	struct redis_url u;
	struct mem_error err = {0};
	ck_assert_int_eq(redis_url_parse("redis://localhost", &u, &err), 0);
	ck_assert_str_eq(u.host, "localhost");
	ck_assert_int_eq(u.port, 6379);
	ck_assert_int_eq(u.db, 0);
	ck_assert(!u.tls);
	ck_assert_ptr_null(u.password);
	redis_url_release(&u);
}
END_TEST

START_TEST(full)
{
	struct redis_url u;
	struct mem_error err = {0};
	ck_assert_int_eq(redis_url_parse("rediss://alice:p%40ss:w@cache.example:6380/3", &u, &err),
	                 0);
	ck_assert(u.tls);
	ck_assert_str_eq(u.user, "alice");
	ck_assert_str_eq(u.password, "p@ss:w");
	ck_assert_str_eq(u.host, "cache.example");
	ck_assert_int_eq(u.port, 6380);
	ck_assert_int_eq(u.db, 3);
	redis_url_release(&u);
	ck_assert_int_eq(redis_url_parse("redis://:secret@[::1]:7000/", &u, &err), 0);
	ck_assert_ptr_null(u.user);
	ck_assert_str_eq(u.password, "secret");
	ck_assert_str_eq(u.host, "::1");
	ck_assert_int_eq(u.port, 7000);
	redis_url_release(&u);
}
END_TEST

START_TEST(bad)
{
	struct redis_url u;
	struct mem_error err = {0};
	static const char *urls[] = {
	    "http://x",      "redis://",    "redis://:6379", "redis://h:0",     "redis://h:99999",
	    "redis://h:12a", "redis://h/x", "redis://[::1",  "redis://u:%zz@h", "redis://h o"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		ck_assert_msg(redis_url_parse(urls[i], &u, &err) == -1, "accepted %s", urls[i]);
		ck_assert_str_eq(err.field, "REDIS_URL");
		/* never echo the password back */
		ck_assert_ptr_null(strstr(err.message, "%zz"));
	}
}
END_TEST

START_TEST(addr_lists)
{
	struct redis_addr *a;
	size_t n;
	struct mem_error err = {0};
	ck_assert_int_eq(redis_addr_list_parse("10.0.0.1:26379,[::1]:26380,s-3.ns:1",
	                                       "REDIS_SENTINELS", &a, &n, &err),
	                 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(a[0].host, "10.0.0.1");
	ck_assert_int_eq(a[0].port, 26379);
	ck_assert_str_eq(a[1].host, "::1");
	ck_assert_int_eq(a[1].port, 26380);
	ck_assert_str_eq(a[2].host, "s-3.ns");
	ck_assert_int_eq(a[2].port, 1);
	redis_addr_list_free(a, n);
	static const char *lists[] = {"",        "h",      "h:",    ":1",       "h:0",
	                              "h:65536", "h:1,",   ",h:1",  "h:1,,h:2", "::1:2",
	                              "[]:1",    "[::1:2", "h o:1", "u@h:1",    "h:1x"};
	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		ck_assert_msg(redis_addr_list_parse(lists[i], "REDIS_SENTINELS", &a, &n, &err) ==
		                  -1,
		              "accepted \"%s\"", lists[i]);
		ck_assert_ptr_null(a);
		ck_assert_str_eq(err.field, "REDIS_SENTINELS");
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("redis_url");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, plain);
	tcase_add_test(tc, full);
	tcase_add_test(tc, bad);
	tcase_add_test(tc, addr_lists);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
