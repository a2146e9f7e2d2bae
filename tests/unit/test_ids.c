#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/ids.h"
#include "check_main.h"

static char *enc(const char *s)
{
	struct buf b = {0};
	key_encode(&b, s, strlen(s));
	return buf_detach(&b, NULL);
}

START_TEST(encode_specials)
{
	char *e = enc("a:b{c}*?[x]\\ %");
	ck_assert_str_eq(e, "a%3Ab%7Bc%7D%2A%3F%5Bx%5D%5C%20%25");
	char *d = key_decode(e, strlen(e));
	ck_assert_str_eq(d, "a:b{c}*?[x]\\ %");
	free(e);
	free(d);
}
END_TEST

START_TEST(encode_is_injective_on_separators)
{
	/* tenant "a" thread "b:c" must not meet tenant "a:b" thread "c" */
	char *x = enc("a"), *y = enc("b:c"), *z = enc("a:b"), *w = enc("c");
	char k1[64], k2[64];
	snprintf(k1, sizeof(k1), "%s:%s", x, y);
	snprintf(k2, sizeof(k2), "%s:%s", z, w);
	ck_assert_str_ne(k1, k2);
	free(x), free(y), free(z), free(w);
}
END_TEST

START_TEST(unicode_passes_through)
{
	char *e = enc("héllo-日本");
	ck_assert_str_eq(e, "héllo-日本");
	free(e);
}
END_TEST

START_TEST(id_rules)
{
	struct mem_error err = {0};
	ck_assert_int_eq(id_check("abc", 3, 256, false, "thread_id", &err), 0);
	ck_assert_int_eq(id_check("", 0, 256, false, "thread_id", &err), -1);
	ck_assert_str_eq(err.field, "thread_id");
	ck_assert_int_eq(id_check("", 0, 256, true, "checkpoint_ns", &err), 0);
	ck_assert_int_eq(id_check("a\nb", 3, 256, false, "x", &err), -1);
	ck_assert_int_eq(err.code, MEM_EINVALID_FIELD);
	ck_assert_int_eq(id_check("a\x7f", 2, 256, false, "x", &err), -1);
	char big[300];
	memset(big, 'a', sizeof(big));
	ck_assert_int_eq(id_check(big, 257, 256, false, "x", &err), -1);
	ck_assert_int_eq(id_check(big, 256, 256, false, "x", &err), 0);
	ck_assert_int_eq(id_check("\xc3\x28", 2, 256, false, "x", &err), -1);
}
END_TEST

START_TEST(utf8)
{
	ck_assert(utf8_valid("\xe6\x97\xa5", 3));
	ck_assert(!utf8_valid("\xe6\x97", 2));
	ck_assert(!utf8_valid("\xc0\xaf", 2));         /* overlong */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
	ck_assert(utf8_valid("\xf0\x9f\x98\x80", 4));
}
END_TEST

START_TEST(url_decoding)
{
	size_t n;
	char *s = url_decode("a%2Fb+c%20d", 11, true, &n);
	ck_assert_str_eq(s, "a/b c d");
	free(s);
	s = url_decode("a+b", 3, false, &n);
	ck_assert_str_eq(s, "a+b");
	free(s);
	ck_assert_ptr_null(url_decode("%4", 2, false, &n));
	ck_assert_ptr_null(url_decode("%zz", 3, false, &n));
	s = url_decode("%00", 3, false, &n);
	ck_assert_uint_eq(n, 1);
	free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("ids");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, encode_specials);
	tcase_add_test(tc, encode_is_injective_on_separators);
	tcase_add_test(tc, unicode_passes_through);
	tcase_add_test(tc, id_rules);
	tcase_add_test(tc, utf8);
	tcase_add_test(tc, url_decoding);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
