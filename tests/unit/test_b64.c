#include <stdlib.h>
#include <string.h>

#include "../../common/b64.h"
#include "check_main.h"

START_TEST(rfc4648_vectors)
{
	static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *out[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		struct buf b = {0};
		b64_encode(&b, (const unsigned char *)in[i], strlen(in[i]));
		ck_assert_str_eq(b.data ? b.data : "", out[i]);
		unsigned char *d;
		size_t n;
		ck_assert_int_eq(b64_decode(out[i], strlen(out[i]), &d, &n), 0);
		ck_assert_uint_eq(n, strlen(in[i]));
		ck_assert(memcmp(d, in[i], n) == 0);
		free(d);
		buf_release(&b);
	}
}
END_TEST

START_TEST(binary_round_trip)
{
	unsigned char all[256];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 0; len <= 256; len++) {
		struct buf b = {0};
		b64_encode(&b, all, len);
		unsigned char *d;
		size_t n;
		ck_assert_int_eq(b64_decode(b.data ? b.data : "", b.len, &d, &n), 0);
		ck_assert_uint_eq(n, len);
		ck_assert(len == 0 || memcmp(d, all, len) == 0);
		free(d);
		buf_release(&b);
	}
}
END_TEST

START_TEST(rejects_malformed)
{
	unsigned char *d;
	size_t n;
	ck_assert_int_eq(b64_decode("Zg=", 3, &d, &n), -1);      /* length */
	ck_assert_int_eq(b64_decode("Z$==", 4, &d, &n), -1);     /* alphabet */
	ck_assert_int_eq(b64_decode("Zh==", 4, &d, &n), -1);     /* non-canonical bits */
	ck_assert_int_eq(b64_decode("Zm9=Zm9v", 8, &d, &n), -1); /* padding inside */
	ck_assert_int_eq(b64_decode("Zm 9", 4, &d, &n), -1);
	ck_assert_int_eq(b64_decode("====", 4, &d, &n), -1);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("b64");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, rfc4648_vectors);
	tcase_add_test(tc, binary_round_trip);
	tcase_add_test(tc, rejects_malformed);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
