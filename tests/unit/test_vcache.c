#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/vcache.h"
#include "check_main.h"

/* A hit names the version the entry was made at; anything else misses. */
START_TEST(hits_only_at_the_cached_version)
{
	struct vcache *c = vcache_new(1 << 20);
	char *d = NULL;
	size_t n = 0;
	ck_assert_int_eq(vcache_has(c, "t\nth\n"), 0);
	vcache_put(c, "t\nth\n", "1|a", "tuple-a", 7);
	ck_assert_int_eq(vcache_has(c, "t\nth\n"), 1);
	ck_assert_int_eq(vcache_get(c, "t\nth\n", "2|b", &d, &n), 0);
	ck_assert_int_eq(vcache_get(c, "t\nth\n", "1|a", &d, &n), 1);
	ck_assert_uint_eq(n, 7);
	ck_assert_str_eq(d, "tuple-a");
	free(d);
	vcache_put(c, "t\nth\n", "2|b", "tuple-b", 7);
	ck_assert_int_eq(vcache_get(c, "t\nth\n", "1|a", &d, &n), 0);
	ck_assert_int_eq(vcache_get(c, "t\nth\n", "2|b", &d, &n), 1);
	ck_assert_str_eq(d, "tuple-b");
	free(d);
	vcache_free(c);
}
END_TEST

/* A dropped key is gone at every version; other keys stay. */
START_TEST(drop_forgets_one_key)
{
	struct vcache *c = vcache_new(1 << 20);
	char *d = NULL;
	size_t n = 0;
	vcache_put(c, "t\na\n", "1|x", "A", 1);
	vcache_put(c, "t\nb\n", "1|y", "B", 1);
	vcache_drop(c, "t\na\n");
	vcache_drop(c, "t\nnever\n");
	ck_assert_int_eq(vcache_has(c, "t\na\n"), 0);
	ck_assert_int_eq(vcache_get(c, "t\na\n", "1|x", &d, &n), 0);
	ck_assert_int_eq(vcache_has(c, "t\nb\n"), 1);
	ck_assert_int_eq(vcache_get(c, "t\nb\n", "1|y", &d, &n), 1);
	ck_assert_str_eq(d, "B");
	free(d);
	/* put again after a drop: cached anew */
	vcache_put(c, "t\na\n", "2|z", "A2", 2);
	ck_assert_int_eq(vcache_get(c, "t\na\n", "2|z", &d, &n), 1);
	ck_assert_str_eq(d, "A2");
	free(d);
	vcache_free(c);
}
END_TEST

/* The bound holds: least recently used entries leave first, and an entry
 * larger than a shard's share is not kept. */
START_TEST(bounded_least_recently_used_leave_first)
{
	struct vcache *c = vcache_new(1024 * 1024); /* 32 shards of 32 KiB */
	char big[4096];
	memset(big, 'x', sizeof(big));
	char key[32];
	for (int i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "t\n%d\n", i);
		vcache_put(c, key, "v", big, sizeof(big));
	}
	int kept = 0;
	for (int i = 0; i < 400; i++) {
		snprintf(key, sizeof(key), "t\n%d\n", i);
		kept += vcache_has(c, key);
	}
	ck_assert_int_lt(kept, 400);
	ck_assert_int_gt(kept, 0);
	ck_assert_int_eq(vcache_has(c, "t\n399\n"), 1); /* the newest stays */
	char *huge = calloc(1, 128 * 1024);
	ck_assert_ptr_nonnull(huge);
	vcache_put(c, "t\nhuge\n", "v", huge, 128 * 1024);
	ck_assert_int_eq(vcache_has(c, "t\nhuge\n"), 0);
	free(huge);
	vcache_free(c);
}
END_TEST

/* Caching off: every call is a no-op or a miss. */
START_TEST(off_when_zero_bytes)
{
	struct vcache *c = vcache_new(0);
	char *d = NULL;
	size_t n = 0;
	ck_assert_ptr_null(c);
	vcache_put(c, "k", "v", "d", 1);
	vcache_drop(c, "k");
	ck_assert_int_eq(vcache_has(c, "k"), 0);
	ck_assert_int_eq(vcache_get(c, "k", "v", &d, &n), 0);
	vcache_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("vcache");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, hits_only_at_the_cached_version);
	tcase_add_test(tc, drop_forgets_one_key);
	tcase_add_test(tc, bounded_least_recently_used_leave_first);
	tcase_add_test(tc, off_when_zero_bytes);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
