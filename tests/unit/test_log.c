#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/log.h"
#include "check_main.h"

/* json_escape one byte at a time, as it was before it learnt to skip words
 * of plain bytes: the reference. */
static void escape_ref(struct buf *o, const unsigned char *s, size_t n)
{
	buf_putc(o, '"');
	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];
		char e[8];
		if (c == '"')
			buf_puts(o, "\\\"");
		else if (c == '\\')
			buf_puts(o, "\\\\");
		else if (c == '\n')
			buf_puts(o, "\\n");
		else if (c == '\r')
			buf_puts(o, "\\r");
		else if (c == '\t')
			buf_puts(o, "\\t");
		else if (c < 0x20 || c == 0x7f) {
			snprintf(e, sizeof(e), "\\u%04x", c);
			buf_puts(o, e);
		} else
			buf_putc(o, (char)c);
	}
	buf_putc(o, '"');
}

START_TEST(escape_matches_the_bytewise_reference)
{
	unsigned seed = 12345;
	for (int t = 0; t < 100000; t++) {
		unsigned char s[80];
		size_t n = (size_t)(rand_r(&seed) % 80);
		for (size_t i = 0; i < n; i++) {
			int r = rand_r(&seed) % 10;
			s[i] = r < 6   ? (unsigned char)('a' + rand_r(&seed) % 26)
			       : r < 8 ? (unsigned char)(rand_r(&seed) % 256)
			               : (unsigned char)"\"\\\n\x7f\x01\xc3"[rand_r(&seed) % 6];
		}
		struct buf a = {0}, b = {0};
		json_escape(&a, (const char *)s, n);
		escape_ref(&b, s, n);
		ck_assert_uint_eq(a.len, b.len);
		ck_assert(memcmp(a.data, b.data, a.len) == 0);
		buf_release(&a);
		buf_release(&b);
	}
}
END_TEST

START_TEST(escape_examples)
{
	struct buf b = {0};
	json_escape(&b, "plain text of more than eight bytes", 35);
	ck_assert_str_eq(b.data, "\"plain text of more than eight bytes\"");
	buf_reset(&b);
	json_escape(&b,
	            "a\"b\\c\nd\x01\x7f"
	            "ü",
	            11);
	ck_assert_str_eq(b.data, "\"a\\\"b\\\\c\\nd\\u0001\\u007fü\"");
	buf_reset(&b);
	json_escape(&b, "", 0);
	ck_assert_str_eq(b.data, "\"\"");
	buf_release(&b);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, escape_examples);
	tcase_add_test(tc, escape_matches_the_bytewise_reference);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(log_suite)
