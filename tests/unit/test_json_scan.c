#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/json_scan.h"
#include "check_main.h"

/* ---- helpers ---- */

#define LIT(s) s, sizeof(s) - 1

/* ck_assert without Check's per-assertion bookkeeping (a write each time), for
 * the loops that check hundreds of thousands of tokens. */
#define REQUIRE(cond)                                                                              \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg("line %d: %s", __LINE__, #cond);                              \
	} while (0)
#define REQUIRE_MSG(cond, ...)                                                                     \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

static int scan(const char *text, size_t len, struct json_doc *doc, struct mem_error *err)
{
	mem_error_clear(err);
	return json_scan(text, len, doc, err);
}

static bool jansson_accepts(const char *text, size_t len, json_error_t *je)
{
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, je);
	json_decref(j);
	return j != NULL;
}

/* A printable rendering of text for failure messages (static buffer). */
static const char *show(const char *text, size_t len)
{
	static char out[1024];
	size_t o = 0;
	for (size_t i = 0; i < len && o + 8 < sizeof out; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof out - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/*
 * Check the token invariants of an accepted document: every token lies within
 * its parent, its first and last bytes match its type, a container's children
 * chain (via next) ends exactly at its next, and token 0 spans the value.
 */
static void check_structure(const struct json_doc *doc)
{
	REQUIRE(doc->ntoks > 0);
	REQUIRE(doc->toks[0].next == doc->ntoks);
	for (size_t i = 0; i < doc->ntoks; i++) {
		const struct json_tok *t = &doc->toks[i];
		const char *s = doc->text;
		REQUIRE(t->start < t->end);
		REQUIRE(t->end <= doc->len);
		REQUIRE(t->next > i);
		REQUIRE(t->next <= doc->ntoks);
		switch (t->type) {
		case JSON_TOK_OBJECT:
		case JSON_TOK_ARRAY: {
			bool obj = t->type == JSON_TOK_OBJECT;
			REQUIRE(s[t->start] == (obj ? '{' : '['));
			REQUIRE(s[t->end - 1] == (obj ? '}' : ']'));
			size_t c = i + 1;
			for (uint32_t k = 0; k < t->size; k++) {
				REQUIRE(c < t->next);
				REQUIRE(doc->toks[c].start > t->start);
				if (obj) {
					REQUIRE(doc->toks[c].type == JSON_TOK_STRING);
					REQUIRE(doc->toks[c].next == c + 1);
					c++;
				}
				REQUIRE(doc->toks[c].end < t->end);
				c = doc->toks[c].next;
			}
			REQUIRE(c == t->next);
			break;
		}
		case JSON_TOK_STRING:
			REQUIRE(s[t->start] == '"');
			REQUIRE(s[t->end - 1] == '"');
			REQUIRE(t->end - t->start >= 2);
			REQUIRE(t->has_escapes ==
			        (memchr(s + t->start, '\\', t->end - t->start) != NULL));
			REQUIRE(t->size == 0);
			REQUIRE(t->next == i + 1);
			break;
		case JSON_TOK_NUMBER:
			REQUIRE(s[t->start] == '-' || (s[t->start] >= '0' && s[t->start] <= '9'));
			REQUIRE(s[t->end - 1] >= '0' && s[t->end - 1] <= '9');
			REQUIRE(t->next == i + 1);
			break;
		case JSON_TOK_TRUE:
			REQUIRE(t->end - t->start == 4 && !memcmp(s + t->start, "true", 4));
			break;
		case JSON_TOK_FALSE:
			REQUIRE(t->end - t->start == 5 && !memcmp(s + t->start, "false", 5));
			break;
		case JSON_TOK_NULL:
			REQUIRE(t->end - t->start == 4 && !memcmp(s + t->start, "null", 4));
			break;
		default:
			ck_abort_msg("token %zu has type %d", i, t->type);
		}
	}
}

/* ---- accept / reject cases ---- */

struct jcase {
	const char *name;
	const char *text;
	size_t len;
	bool
	    jansson_differs; /* jansson rejects it for its own reasons (int64, overflow, NUL key) */
};

static const struct jcase accept_cases[] = {
    {"y_empty_array", LIT("[]"), false},
    {"y_empty_object", LIT("{}"), false},
    {"y_nested_empty", LIT("[[],{},[{}]]"), false},
    {"y_object_one", LIT("{\"a\":1}"), false},
    {"y_deep_mix", LIT("{\"a\":{\"b\":[1,{\"c\":null}]}}"), false},
    {"y_ws_around", LIT(" \t\r\n[ 1 , 2 ]\n\r\t "), false},
    {"y_ws_object", LIT("{ \"a\" : 1 , \"b\" : [ ] }"), false},
    {"y_top_string", LIT("\"abc\""), false},
    {"y_top_empty_string", LIT("\"\""), false},
    {"y_top_number", LIT("123"), false},
    {"y_top_number_ws", LIT(" 42 "), false},
    {"y_top_true", LIT("true"), false},
    {"y_top_false", LIT("false"), false},
    {"y_top_null", LIT("null"), false},
    {"y_literals", LIT("[true,false,null]"), false},
    {"y_zero", LIT("0"), false},
    {"y_minus_zero", LIT("-0"), false},
    {"y_negative", LIT("[-1]"), false},
    {"y_fraction", LIT("[1.5]"), false},
    {"y_zero_fraction", LIT("[0.0]"), false},
    {"y_neg_exp_frac", LIT("[-1.5e10]"), false},
    {"y_exp_plus", LIT("[1E+2]"), false},
    {"y_exp_minus", LIT("[1e-2]"), false},
    {"y_exp_upper", LIT("[1E2]"), false},
    {"y_zero_exp", LIT("[0e0]"), false},
    {"y_exp_leading_zeros", LIT("[1e007]"), false},
    {"y_minus_zero_frac_exp", LIT("[-0.0e-0]"), false},
    {"y_int64_min", LIT("-9223372036854775808"), false},
    {"y_int64_max", LIT("9223372036854775807"), false},
    {"y_huge_int", LIT("[123456789012345678901234567890]"), true},
    {"y_huge_exp", LIT("[1e400]"), true},
    {"y_tiny_exp", LIT("[1e-400]"), false},
    {"y_all_escapes", LIT("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"]"), false},
    {"y_u_escape", LIT("\"\\u0061\\u00e9\\u20AC\""), false},
    {"y_u_nul", LIT("[\"a\\u0000b\"]"), false},
    {"y_u_nul_key", LIT("{\"\\u0000\":1}"), true},
    {"y_u_ffff", LIT("\"\\uFFFF\""), false},
    {"y_u_surrogate_pair", LIT("\"\\uD834\\uDD1E\""), false},
    {"y_u_surrogate_pair_lower", LIT("\"\\ud834\\udd1e\""), false},
    {"y_u_max_pair", LIT("\"\\uDBFF\\uDFFF\""), false},
    {"y_u_min_pair", LIT("\"\\uD800\\uDC00\""), false},
    {"y_u_d7ff", LIT("\"\\uD7FF\\uE000\""), false},
    {"y_utf8_2", LIT("\"\xc3\xa9\""), false},
    {"y_utf8_3", LIT("\"\xe2\x82\xac\""), false},
    {"y_utf8_4", LIT("\"\xf0\x9d\x84\x9e\""), false},
    {"y_utf8_max", LIT("\"\xf4\x8f\xbf\xbf\""), false},
    {"y_utf8_min_2", LIT("\"\xc2\x80\""), false},
    {"y_utf8_min_3", LIT("\"\xe0\xa0\x80\""), false},
    {"y_utf8_min_4", LIT("\"\xf0\x90\x80\x80\""), false},
    {"y_utf8_d7ff", LIT("\"\xed\x9f\xbf\""), false},
    {"y_utf8_e000", LIT("\"\xee\x80\x80\""), false},
    {"y_utf8_fffe", LIT("\"\xef\xbf\xbe\""), false},
    {"y_utf8_key", LIT("{\"\xc3\xa9t\xc3\xa9\":\"\xe2\x82\xac\"}"), false},
    {"y_del_raw", LIT("\"\x7f\""), false},
    {"y_slash_raw", LIT("\"a/b\""), false},
    {"y_duplicate_keys", LIT("{\"a\":1,\"a\":2}"), false},
    {"y_empty_key", LIT("{\"\":0}"), false},
    {"y_string_in_array", LIT("[\"\"]"), false},
    {"y_space_string", LIT("\" \""), false},
    {"y_nested_arrays", LIT("[[[[[[]]]]]]"), false},
    {"y_long_8plus", LIT("[\"abcdefghijklmnopqrstuvwxyz0123456789+/=\"]"), false},
    {"y_escape_after_8", LIT("\"abcdefgh\\nabcdefgh\\\"\""), false},
};

static const struct jcase reject_cases[] = {
    {"n_empty", LIT(""), false},
    {"n_only_ws", LIT(" \n\t"), false},
    {"n_open_array", LIT("["), false},
    {"n_close_array", LIT("]"), false},
    {"n_open_object", LIT("{"), false},
    {"n_close_object", LIT("}"), false},
    {"n_array_trailing_comma", LIT("[1,]"), false},
    {"n_array_leading_comma", LIT("[,1]"), false},
    {"n_array_double_comma", LIT("[1,,2]"), false},
    {"n_array_no_comma", LIT("[1 2]"), false},
    {"n_array_strings_no_comma", LIT("[\"a\" \"b\"]"), false},
    {"n_array_colon", LIT("[1:2]"), false},
    {"n_array_extra_close", LIT("[1]]"), false},
    {"n_array_unclosed", LIT("[1,2"), false},
    {"n_array_unclosed_comma", LIT("[1,"), false},
    {"n_array_object_mismatch", LIT("[}"), false},
    {"n_object_array_mismatch", LIT("{]"), false},
    {"n_mismatch_nested", LIT("[{]}"), false},
    {"n_object_missing_colon", LIT("{\"a\" 1}"), false},
    {"n_object_missing_value", LIT("{\"a\":}"), false},
    {"n_object_trailing_comma", LIT("{\"a\":1,}"), false},
    {"n_object_comma_only", LIT("{,}"), false},
    {"n_object_number_key", LIT("{1:1}"), false},
    {"n_object_bare_key", LIT("{a:1}"), false},
    {"n_object_single_quote_key", LIT("{'a':1}"), false},
    {"n_object_double_colon", LIT("{\"a\"::1}"), false},
    {"n_object_two_values", LIT("{\"a\":1:2}"), false},
    {"n_object_key_only", LIT("{\"a\"}"), false},
    {"n_object_no_comma", LIT("{\"a\":1 \"b\":2}"), false},
    {"n_object_extra_close", LIT("{\"a\":1}}"), false},
    {"n_object_unclosed_array", LIT("{\"a\":[}"), false},
    {"n_object_unclosed", LIT("{\"a\":1"), false},
    {"n_single_quote_string", LIT("['a']"), false},
    {"n_trailing_garbage", LIT("[1]x"), false},
    {"n_two_values", LIT("[1] [2]"), false},
    {"n_two_numbers", LIT("1 2"), false},
    {"n_trailing_nul", LIT("[1]\0"), false},
    {"n_string_then_nul", LIT("\"a\"\0"), false},
    {"n_nul_in_array", LIT("[\0]"), false},
    {"n_comment_block", LIT("/* c */ []"), false},
    {"n_comment_line", LIT("[1] // c"), false},
    {"n_bom", LIT("\xef\xbb\xbf[]"), false},
    {"n_ws_vertical_tab", LIT("\v[]"), false},
    {"n_ws_form_feed", LIT("\f[]"), false},
    {"n_ws_nbsp", LIT("\xc2\xa0[]"), false},
    {"n_string_unterminated", LIT("\"abc"), false},
    {"n_string_unterminated_long", LIT("\"abcdefghijklmnopqrstuvwxyz"), false},
    {"n_string_escaped_quote_end", LIT("\"\\\""), false},
    {"n_string_backslash_end", LIT("\"\\"), false},
    {"n_escape_q", LIT("\"a\\q\""), false},
    {"n_escape_x", LIT("\"\\x41\""), false},
    {"n_escape_upper_u", LIT("\"\\U0041\""), false},
    {"n_escape_apostrophe", LIT("\"\\'\""), false},
    {"n_escape_zero", LIT("\"\\0\""), false},
    {"n_escape_u_short", LIT("\"\\u12\""), false},
    {"n_escape_u_truncated", LIT("\"\\u00"), false},
    {"n_escape_u_bad_hex", LIT("\"\\u12G4\""), false},
    {"n_escape_u_bad_hex_last", LIT("\"\\u123z\""), false},
    {"n_lone_high", LIT("\"\\uD800\""), false},
    {"n_lone_high_then_char", LIT("\"\\uD800x\""), false},
    {"n_high_then_bmp", LIT("\"\\uD800\\u0041\""), false},
    {"n_high_then_high", LIT("\"\\uD800\\uD800\""), false},
    {"n_high_then_other_escape", LIT("\"\\uD800\\n\""), false},
    {"n_high_at_end", LIT("\"\\uDBFF"), false},
    {"n_lone_low", LIT("\"\\uDC00\""), false},
    {"n_low_then_high", LIT("\"\\uDC00\\uD800\""), false},
    {"n_low_then_low", LIT("\"\\uDC00\\uDC00\""), false},
    {"n_raw_tab", LIT("\"a\tb\""), false},
    {"n_raw_newline", LIT("\"a\nb\""), false},
    {"n_raw_1f", LIT("\"\x1f\""), false},
    {"n_raw_nul", LIT("\"a\0b\""), false},
    {"n_raw_cr_after_8", LIT("\"abcdefghij\r\""), false},
    {"n_utf8_overlong_nul", LIT("\"\xc0\x80\""), false},
    {"n_utf8_overlong_c1", LIT("\"\xc1\xbf\""), false},
    {"n_utf8_overlong_3", LIT("\"\xe0\x80\xaf\""), false},
    {"n_utf8_overlong_3_max", LIT("\"\xe0\x9f\xbf\""), false},
    {"n_utf8_overlong_4", LIT("\"\xf0\x80\x80\xaf\""), false},
    {"n_utf8_overlong_4_max", LIT("\"\xf0\x8f\xbf\xbf\""), false},
    {"n_utf8_surrogate_high", LIT("\"\xed\xa0\x80\""), false},
    {"n_utf8_surrogate_low", LIT("\"\xed\xbf\xbf\""), false},
    {"n_utf8_above_max", LIT("\"\xf4\x90\x80\x80\""), false},
    {"n_utf8_f5", LIT("\"\xf5\x80\x80\x80\""), false},
    {"n_utf8_ff", LIT("\"\xff\""), false},
    {"n_utf8_fe", LIT("\"\xfe\""), false},
    {"n_utf8_lone_continuation", LIT("\"\x80\""), false},
    {"n_utf8_truncated_2", LIT("\"\xc3\""), false},
    {"n_utf8_truncated_3", LIT("\"\xe2\x82\""), false},
    {"n_utf8_truncated_4", LIT("\"\xf0\x9d\x84\""), false},
    {"n_utf8_truncated_at_end", LIT("\"\xe2\x82"), false},
    {"n_utf8_bad_continuation", LIT("\"\xc3\x28\""), false},
    {"n_utf8_bad_third", LIT("\"\xe2\x82\x28\""), false},
    {"n_utf8_outside_string", LIT("[\xc3\xa9]"), false},
    {"n_utf8_invalid_key", LIT("{\"\xff\":1}"), false},
    {"n_number_leading_zero", LIT("[01]"), false},
    {"n_number_neg_leading_zero", LIT("[-01]"), false},
    {"n_number_top_leading_zero", LIT("00"), false},
    {"n_number_plus", LIT("[+1]"), false},
    {"n_number_dot_first", LIT("[.5]"), false},
    {"n_number_dot_last", LIT("[1.]"), false},
    {"n_number_dot_exp", LIT("[1.e1]"), false},
    {"n_number_exp_empty", LIT("[1e]"), false},
    {"n_number_exp_sign_only", LIT("[1e+]"), false},
    {"n_number_exp_at_end", LIT("1E-"), false},
    {"n_number_exp_frac", LIT("[1e1.5]"), false},
    {"n_number_minus_only", LIT("[-]"), false},
    {"n_number_minus_at_end", LIT("-"), false},
    {"n_number_double_minus", LIT("[--1]"), false},
    {"n_number_minus_space", LIT("[- 1]"), false},
    {"n_number_hex", LIT("[0x10]"), false},
    {"n_number_two_dots", LIT("[1.5.3]"), false},
    {"n_number_infinity", LIT("[Infinity]"), false},
    {"n_number_minus_infinity", LIT("[-Infinity]"), false},
    {"n_number_nan", LIT("[NaN]"), false},
    {"n_number_trailing_letter", LIT("[1x]"), false},
    {"n_number_comma_decimal", LIT("1,5"), false},
    {"n_literal_truncated_true", LIT("[tru]"), false},
    {"n_literal_truncated_at_end", LIT("tru"), false},
    {"n_literal_capital", LIT("[True]"), false},
    {"n_literal_nul", LIT("[nul]"), false},
    {"n_literal_nulll", LIT("[nulll]"), false},
    {"n_literal_falsey", LIT("falsey"), false},
    {"n_literal_no_comma", LIT("[true false]"), false},
    {"n_literal_undefined", LIT("[undefined]"), false},
};

START_TEST(accepts_valid)
{
	for (size_t i = 0; i < sizeof accept_cases / sizeof accept_cases[0]; i++) {
		const struct jcase *c = &accept_cases[i];
		struct json_doc doc = {0};
		struct mem_error err;
		json_error_t je;
		ck_assert_msg(scan(c->text, c->len, &doc, &err) == 0, "%s rejected: %s", c->name,
		              err.message);
		check_structure(&doc);
		ck_assert_msg(jansson_accepts(c->text, c->len, &je) != c->jansson_differs,
		              "%s: jansson disagrees (%s)", c->name, je.text);
		json_doc_release(&doc);
	}
}
END_TEST

START_TEST(rejects_invalid)
{
	struct json_doc doc = {0}; /* reused across cases */
	for (size_t i = 0; i < sizeof reject_cases / sizeof reject_cases[0]; i++) {
		const struct jcase *c = &reject_cases[i];
		struct mem_error err;
		json_error_t je;
		ck_assert_msg(scan(c->text, c->len, &doc, &err) == -1, "%s accepted", c->name);
		ck_assert_int_eq(err.code, MEM_EINVALID_JSON);
		ck_assert_msg(strstr(err.message, "invalid JSON: ") == err.message &&
		                  strstr(err.message, " at byte "),
		              "%s: message '%s'", c->name, err.message);
		ck_assert_uint_eq(doc.ntoks, 0);
		ck_assert_msg(!jansson_accepts(c->text, c->len, &je), "%s: jansson accepts it",
		              c->name);
	}
	json_doc_release(&doc);
}
END_TEST

START_TEST(error_messages)
{
	/* the message, and the field path of the fault ("" at the top level) */
	static const struct {
		const char *text;
		const char *message;
		const char *field;
	} cases[] = {
	    {"[1,]", "invalid JSON: value expected, found ']' at byte 3 (line 1, column 4), in [1]",
	     "[1]"},
	    {"{\n  \"a\": 01}",
	     "invalid JSON: ',' or '}' expected after object member, found '1' at byte 10 "
	     "(line 2, column 9), in a",
	     "a"},
	    {"[\"\xc3\xa9\x01\"]",
	     "invalid JSON: control character in string (escape it), found byte 0x01 at byte 4 "
	     "(line 1, column 4), in [0]",
	     "[0]"},
	    {"\"\\uD800\"",
	     "invalid JSON: invalid \\u escape: high surrogate not followed by a low one at byte 1 "
	     "(line 1, column 2)",
	     ""},
	    {"[1.]",
	     "invalid JSON: invalid number: digit expected after '.', found ']' at byte 3 "
	     "(line 1, column 4), in [0]",
	     "[0]"},
	    {"", "invalid JSON: value expected, found end of input at byte 0 (line 1, column 1)",
	     ""},
	    {"\"abc", "invalid JSON: unterminated string at byte 4 (line 1, column 5)", ""},
	    {"[] x",
	     "invalid JSON: end of input expected after the value, found 'x' at byte 3 "
	     "(line 1, column 4)",
	     ""},
	    {"{\"messages\":[{\"role\":\"user\"},{\"content\":\"\xc3\x28\"}]}",
	     "invalid JSON: invalid UTF-8 in string, found byte 0xc3 at byte 41 (line 1, column "
	     "42), "
	     "in messages[1].content",
	     "messages[1].content"},
	    /* a key that is at fault, or not plain, is not named */
	    {"{\"ok\":{\"k\xff\":1}}",
	     "invalid JSON: invalid UTF-8 in string, found byte 0xff at byte 9 (line 1, column "
	     "10), "
	     "in ok",
	     "ok"},
	    {"{\"a\\nb\":[tru]}",
	     "invalid JSON: invalid literal at byte 9 (line 1, column 10), in ?[0]", "?[0]"},
	};
	struct json_doc doc = {0};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct mem_error err;
		ck_assert_int_eq(scan(cases[i].text, strlen(cases[i].text), &doc, &err), -1);
		ck_assert_str_eq(err.message, cases[i].message);
		ck_assert_str_eq(err.field, cases[i].field);
	}
	json_doc_release(&doc);
	json_doc_release(NULL);
}
END_TEST

START_TEST(nesting_limit)
{
	struct json_doc doc = {0};
	struct mem_error err;
	struct buf b = {0};
	for (int mixed = 0; mixed < 2; mixed++) {
		for (int depth = JSON_SCAN_MAX_DEPTH; depth <= JSON_SCAN_MAX_DEPTH + 1; depth++) {
			/* depth containers, alternately objects and arrays when mixed */
			size_t ntoks = 0;
			buf_reset(&b);
			for (int i = 0; i < depth; i++) {
				bool obj = mixed && i % 2 == 0 && i + 1 < depth;
				buf_puts(&b, obj ? "{\"k\":" : "[");
				ntoks += obj ? 2 : 1;
			}
			for (int i = depth - 1; i >= 0; i--)
				buf_putc(&b, mixed && i % 2 == 0 && i + 1 < depth ? '}' : ']');
			if (depth == JSON_SCAN_MAX_DEPTH) {
				ck_assert_int_eq(scan(b.data, b.len, &doc, &err), 0);
				ck_assert_uint_eq(doc.ntoks, ntoks);
				check_structure(&doc);
			} else {
				ck_assert_int_eq(scan(b.data, b.len, &doc, &err), -1);
				ck_assert_msg(strstr(err.message, "nesting deeper than 512"), "%s",
				              err.message);
			}
		}
	}
	/* far deeper than a recursive parser's C stack would survive */
	size_t big = 1000000;
	char *deep = malloc(big);
	memset(deep, '[', big);
	ck_assert_int_eq(scan(deep, big, &doc, &err), -1);
	free(deep);
	json_doc_release(&doc);
	buf_release(&b);
}
END_TEST

/* ---- token structure ---- */

START_TEST(token_structure)
{
	static const char text[] =
	    "{\"a\":[1,{\"b\":null}],\"c\":\"x\\ny\", \"d\":{}, \"e\":[true,false,-2.5e3]}";
	static const struct {
		int type;
		const char *raw;
		uint32_t size, next;
		uint8_t esc;
	} want[] = {
	    {JSON_TOK_OBJECT, text, 4, 16, 0},
	    {JSON_TOK_STRING, "\"a\"", 0, 2, 0},
	    {JSON_TOK_ARRAY, "[1,{\"b\":null}]", 2, 7, 0},
	    {JSON_TOK_NUMBER, "1", 0, 4, 0},
	    {JSON_TOK_OBJECT, "{\"b\":null}", 1, 7, 0},
	    {JSON_TOK_STRING, "\"b\"", 0, 6, 0},
	    {JSON_TOK_NULL, "null", 0, 7, 0},
	    {JSON_TOK_STRING, "\"c\"", 0, 8, 0},
	    {JSON_TOK_STRING, "\"x\\ny\"", 0, 9, 1},
	    {JSON_TOK_STRING, "\"d\"", 0, 10, 0},
	    {JSON_TOK_OBJECT, "{}", 0, 11, 0},
	    {JSON_TOK_STRING, "\"e\"", 0, 12, 0},
	    {JSON_TOK_ARRAY, "[true,false,-2.5e3]", 3, 16, 0},
	    {JSON_TOK_TRUE, "true", 0, 14, 0},
	    {JSON_TOK_FALSE, "false", 0, 15, 0},
	    {JSON_TOK_NUMBER, "-2.5e3", 0, 16, 0},
	};
	struct json_doc doc = {0};
	struct mem_error err;
	ck_assert_int_eq(scan(text, strlen(text), &doc, &err), 0);
	ck_assert_uint_eq(doc.ntoks, sizeof want / sizeof want[0]);
	check_structure(&doc);
	const char *from = text;
	for (size_t i = 0; i < doc.ntoks; i++) {
		const struct json_tok *t = &doc.toks[i];
		/* the raw text is found at the token's offsets, in document order */
		const char *at = strstr(from, want[i].raw);
		ck_assert_ptr_nonnull(at);
		ck_assert_uint_eq(t->start, (size_t)(at - text));
		ck_assert_uint_eq(t->end, t->start + strlen(want[i].raw));
		ck_assert_int_eq(t->type, want[i].type);
		ck_assert_uint_eq(t->size, want[i].size);
		ck_assert_uint_eq(t->next, want[i].next);
		ck_assert_uint_eq(t->has_escapes, want[i].esc);
		from = at + 1;
	}

	/* iterate the top object as the header shows, skipping values in O(1) */
	static const char *keys[] = {"a", "c", "d", "e"};
	size_t i = 1;
	for (uint32_t k = 0; k < doc.toks[0].size; k++, i = doc.toks[i + 1].next)
		ck_assert(json_doc_key_eq(&doc, i, keys[k]));
	ck_assert_uint_eq(i, doc.ntoks);

	size_t v;
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "e", &v), 0);
	ck_assert_uint_eq(v, 12);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "b", &v), -1); /* nested, not a member */
	ck_assert_int_eq(json_doc_object_get(&doc, 2, "a", &v), -1); /* not an object */
	ck_assert_int_eq(json_doc_object_get(&doc, 4, "b", &v), 0);
	ck_assert_uint_eq(v, 6);
	ck_assert_int_eq(json_doc_object_get(&doc, 10, "", &v), -1);
	ck_assert_int_eq(json_doc_has_duplicate_keys(&doc, 0), 0);
	ck_assert_int_eq(json_doc_has_duplicate_keys(&doc, 2), -1);

	/* rescanning reuses the doc */
	ck_assert_int_eq(scan(LIT("7"), &doc, &err), 0);
	ck_assert_uint_eq(doc.ntoks, 1);
	ck_assert_int_eq(doc.toks[0].type, JSON_TOK_NUMBER);
	json_doc_release(&doc);
	ck_assert_ptr_null(doc.toks);
	ck_assert_uint_eq(doc.ntoks, 0);
}
END_TEST

START_TEST(many_tokens)
{
	/* an array of 200000 numbers and objects: the token array grows */
	struct buf b = {0};
	buf_putc(&b, '[');
	for (int i = 0; i < 100000; i++)
		buf_printf(&b, "%s%d,{\"k%d\":[]}", i ? "," : "", i, i);
	buf_putc(&b, ']');
	struct json_doc doc = {0};
	struct mem_error err;
	REQUIRE(scan(b.data, b.len, &doc, &err) == 0);
	REQUIRE(doc.ntoks == 1 + 100000 * 4);
	REQUIRE(doc.toks[0].size == 200000);
	check_structure(&doc);
	size_t i = 1;
	for (uint32_t k = 0; k < doc.toks[0].size; k++, i = doc.toks[i].next) {
		long long v;
		if (k % 2 == 0) {
			REQUIRE(json_doc_int64(&doc, i, &v) == 0);
			REQUIRE(v == k / 2);
		} else {
			char key[16];
			snprintf(key, sizeof key, "k%u", k / 2);
			REQUIRE(json_doc_key_eq(&doc, i + 1, key));
		}
	}
	json_doc_release(&doc);
	buf_release(&b);
}
END_TEST

START_TEST(token_bound)
{
	/* never below what json_scan makes, at most one above a container's count */
	static const char *const docs[] = {"0",
	                                   "\"a,b:[{\"",
	                                   "[]",
	                                   "{}",
	                                   "[0,1,2]",
	                                   "{\"a\":1,\"b\":[true,null,{}]}",
	                                   "[[[[]]]]",
	                                   "{\"k\\\",:\":\"v,\\\\\",\"w\":[\"[\",\"{\"]}",
	                                   " [ 1 , { \"x\" : \"y\" } ] "};
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		struct json_doc doc = {0};
		struct mem_error err;
		size_t len = strlen(docs[d]);
		REQUIRE(scan(docs[d], len, &doc, &err) == 0);
		size_t bound = json_scan_token_bound(docs[d], len), containers = 0;
		for (size_t i = 0; i < doc.ntoks; i++)
			containers += doc.toks[i].type == JSON_TOK_OBJECT ||
			              doc.toks[i].type == JSON_TOK_ARRAY;
		ck_assert_msg(bound >= doc.ntoks && bound <= doc.ntoks + containers,
		              "%s: bound %zu for %zu tokens", docs[d], bound, doc.ntoks);
		json_doc_release(&doc);
	}
}
END_TEST

/* ---- strings ---- */

START_TEST(string_decoding)
{
	static const struct {
		const char *json;
		const char *decoded;
		size_t dlen;
		int nul;
	} cases[] = {
	    {"\"\"", LIT(""), 0},
	    {"\"plain\"", LIT("plain"), 0},
	    {"\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", LIT("\"\\/\b\f\n\r\t"), 0},
	    {"\"\\u0041\\u00e9\\u00E9\\u07ff\\u0800\\u20ac\\uFFFF\"",
	     LIT("A\xc3\xa9\xc3\xa9\xdf\xbf\xe0\xa0\x80\xe2\x82\xac\xef\xbf\xbf"), 0},
	    {"\"\\u0001\\u001f\\u007f\"", LIT("\x01\x1f\x7f"), 0},
	    {"\"\\uD834\\uDD1E\"", LIT("\xf0\x9d\x84\x9e"), 0},
	    {"\"\\uD800\\uDC00\\uDBFF\\uDFFF\"", LIT("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf"), 0},
	    {"\"\\ud83d\\ude00!\"", LIT("\xf0\x9f\x98\x80!"), 0},
	    {"\"a\\u0000b\"", LIT("a\0b"), 1},
	    {"\"\\u0000\"", LIT("\0"), 1},
	    {"\"raw \xc3\xa9 \xf0\x9f\x98\x80 and \\n escaped\"",
	     LIT("raw \xc3\xa9 \xf0\x9f\x98\x80 and \n escaped"), 0},
	    {"\"abcdefghijklmnop\\tqrstuvwxyz\"", LIT("abcdefghijklmnop\tqrstuvwxyz"), 0},
	    {"\"\\\\u0041\"", LIT("\\u0041"), 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct json_doc doc = {0};
		struct mem_error err;
		struct buf out = {0};
		buf_puts(&out, "pre:"); /* appends, keeps what was there */
		ck_assert_msg(scan(cases[i].json, strlen(cases[i].json), &doc, &err) == 0, "%s: %s",
		              cases[i].json, err.message);
		ck_assert_int_eq(json_doc_string(&doc, 0, &out), cases[i].nul);
		ck_assert_uint_eq(out.len, 4 + cases[i].dlen);
		ck_assert(memcmp(out.data, "pre:", 4) == 0);
		ck_assert(memcmp(out.data + 4, cases[i].decoded, cases[i].dlen) == 0);
		ck_assert_int_eq(out.data[out.len], '\0');

		const char *p;
		size_t n;
		if (doc.toks[0].has_escapes) {
			ck_assert_int_eq(json_doc_string_raw(&doc, 0, &p, &n), -1);
		} else {
			ck_assert_int_eq(json_doc_string_raw(&doc, 0, &p, &n), 0);
			ck_assert_uint_eq(n, cases[i].dlen);
			ck_assert(memcmp(p, cases[i].decoded, n) == 0);
			ck_assert_ptr_eq(p, cases[i].json + 1);
		}
		/* key_eq agrees, except that a C string cannot hold the NUL */
		ck_assert_int_eq(json_doc_key_eq(&doc, 0, cases[i].decoded), !cases[i].nul);
		buf_release(&out);
		json_doc_release(&doc);
	}

	/* not strings */
	struct json_doc doc = {0};
	struct mem_error err;
	struct buf out = {0};
	const char *p;
	size_t n;
	ck_assert_int_eq(scan(LIT("[1]"), &doc, &err), 0);
	ck_assert_int_eq(json_doc_string(&doc, 0, &out), -1);
	ck_assert_int_eq(json_doc_string(&doc, 1, &out), -1);
	ck_assert_int_eq(json_doc_string(&doc, 2, &out), -1); /* out of range */
	ck_assert_int_eq(json_doc_string_raw(&doc, 1, &p, &n), -1);
	ck_assert_int_eq(json_doc_key_eq(&doc, 1, "1"), 0);
	ck_assert_uint_eq(out.len, 0);
	json_doc_release(&doc);
	buf_release(&out);
}
END_TEST

START_TEST(keys_and_duplicates)
{
	struct json_doc doc = {0};
	struct mem_error err;
	size_t v;
	const char *t1 =
	    "{\"\\u0061\":1,\"b\\\"c\":2,\"\xc3\xa9\":3,\"\\u00e9t\\u00E9\":4,\"ab\":5}";
	ck_assert_int_eq(scan(t1, strlen(t1), &doc, &err), 0);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "a", &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "b\"c", &v), 0);
	ck_assert_uint_eq(v, 4);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "\xc3\xa9", &v), 0);
	ck_assert_uint_eq(v, 6);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "\xc3\xa9t\xc3\xa9", &v), 0);
	ck_assert_uint_eq(v, 8);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "ab", &v), 0);
	ck_assert_uint_eq(v, 10);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "\xc3\xa9t", &v), -1); /* prefix */
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "\xc3\xa9t\xc3\xa9x", &v), -1);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "b", &v), -1);
	ck_assert_int_eq(json_doc_object_get(&doc, 0, "", &v), -1);
	ck_assert_int_eq(json_doc_has_duplicate_keys(&doc, 0), 0);

	static const struct {
		const char *text;
		int dup;
	} cases[] = {
	    {"{}", 0},
	    {"{\"a\":1}", 0},
	    {"{\"a\":1,\"a\":2}", 1},
	    {"{\"a\":1,\"\\u0061\":2}", 1},
	    {"{\"\\u0061\":1,\"\\u0061\":2}", 1},
	    {"{\"a\":{\"x\":1,\"x\":2}}", 0}, /* nested duplicates are the nested object's */
	    {"{\"\\u00e9\":1,\"\xc3\xa9\":2}", 1},
	    {"{\"\\uD834\\uDD1E\":1,\"\xf0\x9d\x84\x9e\":2}", 1},
	    {"{\"a\\u0000\":1,\"a\":2}", 0},
	    {"{\"a\\u0000\":1,\"a\\u0000\":2}", 1},
	    {"{\"\\/\":1,\"/\":2}", 1},
	    {"{\"ab\":1,\"a\":2,\"b\":3}", 0},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		ck_assert_int_eq(scan(cases[i].text, strlen(cases[i].text), &doc, &err), 0);
		ck_assert_msg(json_doc_has_duplicate_keys(&doc, 0) == cases[i].dup, "%s",
		              cases[i].text);
	}

	/* more keys than the small-object path: sorted comparison */
	for (int dup = 0; dup < 3; dup++) {
		struct buf b = {0};
		buf_putc(&b, '{');
		for (int i = 0; i < 100; i++)
			buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
		if (dup == 1)
			buf_puts(&b, ",\"k57\":0");
		if (dup == 2)
			buf_puts(&b, ",\"\\u006b99\":0");
		buf_putc(&b, '}');
		ck_assert_int_eq(scan(b.data, b.len, &doc, &err), 0);
		ck_assert_int_eq(json_doc_has_duplicate_keys(&doc, 0), dup != 0);
		ck_assert_int_eq(json_doc_object_get(&doc, 0, "k99", &v), 0);
		ck_assert_uint_eq(v, 2 * 99 + 2);
		buf_release(&b);
	}
	json_doc_release(&doc);
}
END_TEST

START_TEST(int64_values)
{
	static const struct {
		const char *text;
		int ret;
		long long v;
	} cases[] = {
	    {"0", 0, 0},
	    {"-0", 0, 0},
	    {"7", 0, 7},
	    {"-42", 0, -42},
	    {"9223372036854775807", 0, LLONG_MAX},
	    {"-9223372036854775808", 0, LLONG_MIN},
	    {"9223372036854775808", -1, 0},
	    {"-9223372036854775809", -1, 0},
	    {"18446744073709551616", -1, 0},
	    {"99999999999999999999", -1, 0},
	    {"1.0", -1, 0},
	    {"1e3", -1, 0},
	    {"1E3", -1, 0},
	    {"-0.5", -1, 0},
	    {"\"1\"", -1, 0},
	    {"true", -1, 0},
	};
	struct json_doc doc = {0};
	struct mem_error err;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long long v = 12345;
		ck_assert_int_eq(scan(cases[i].text, strlen(cases[i].text), &doc, &err), 0);
		ck_assert_msg(json_doc_int64(&doc, 0, &v) == cases[i].ret, "%s", cases[i].text);
		if (cases[i].ret == 0)
			ck_assert_int_eq(v, cases[i].v);
		else
			ck_assert_int_eq(v, 12345);
	}
	json_doc_release(&doc);
}
END_TEST

/* ---- differential testing against jansson ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static unsigned below(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void gen_ws(struct buf *b)
{
	static const char ws[] = " \t\r\n";
	if (below(3))
		return;
	for (unsigned n = 1 + below(3); n; n--)
		buf_putc(b, ws[below(4)]);
}

static void put_hex4(struct buf *b, unsigned u)
{
	buf_printf(b, below(2) ? "\\u%04x" : "\\u%04X", u);
}

/* One code point, encoded in one of the ways JSON allows. */
static void gen_char(struct buf *b, unsigned long cp)
{
	static const char short_esc[] = {'"',  '"', '\\', '\\', '/',  '/', '\b', 'b',
	                                 '\f', 'f', '\n', 'n',  '\r', 'r', '\t', 't'};
	if (cp < 0x80 && below(8) == 0) {
		put_hex4(b, (unsigned)cp);
		return;
	}
	for (size_t i = 0; i < sizeof short_esc; i += 2) {
		if (cp == (unsigned char)short_esc[i] && (cp != '/' || below(2))) {
			buf_putc(b, '\\');
			buf_putc(b, short_esc[i + 1]);
			return;
		}
	}
	if (cp < 0x20) {
		put_hex4(b, (unsigned)cp);
	} else if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (below(4) == 0) {
		if (cp >= 0x10000) {
			put_hex4(b, (unsigned)(0xd800 + ((cp - 0x10000) >> 10)));
			put_hex4(b, (unsigned)(0xdc00 + ((cp - 0x10000) & 0x3ff)));
		} else {
			put_hex4(b, (unsigned)cp);
		}
	} else {
		char u[4];
		size_t n;
		if (cp < 0x800) {
			u[0] = (char)(0xc0 | cp >> 6);
			u[1] = (char)(0x80 | (cp & 0x3f));
			n = 2;
		} else if (cp < 0x10000) {
			u[0] = (char)(0xe0 | cp >> 12);
			u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
			u[2] = (char)(0x80 | (cp & 0x3f));
			n = 3;
		} else {
			u[0] = (char)(0xf0 | cp >> 18);
			u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
			u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
			u[3] = (char)(0x80 | (cp & 0x3f));
			n = 4;
		}
		buf_append(b, u, n);
	}
}

static unsigned long gen_cp(bool allow_nul)
{
	switch (below(10)) {
	case 0:
		return allow_nul ? below(0x20) : 1 + below(0x1f);
	case 1:
		return 0x80 + below(0x800 - 0x80);
	case 2: {
		unsigned long cp = 0x800 + below(0x10000 - 0x800 - 0x800);
		return cp >= 0xd800 ? cp + 0x800 : cp; /* skip the surrogates */
	}
	case 3:
		return 0x10000 + below(0x100000);
	case 4:
		return "\"\\/"[below(3)];
	default:
		return 0x20 + below(0x5f);
	}
}

static void gen_string(struct buf *b, bool allow_nul)
{
	buf_putc(b, '"');
	unsigned n = below(4) ? below(12) : below(100);
	if (below(10) == 0) {
		/* a base64-like run, to exercise the 8-byte loop */
		n = below(200);
		for (unsigned i = 0; i < n; i++)
			buf_putc(b,
			         "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
			             [below(64)]);
		n = below(3);
	}
	for (unsigned i = 0; i < n; i++)
		gen_char(b, gen_cp(allow_nul));
	buf_putc(b, '"');
}

/* Keys come partly from a small pool, spelt differently each time, so that
 * objects sometimes hold duplicates that only decoding reveals. */
static void gen_key(struct buf *b)
{
	static const char *pool[] = {"a", "b", "id", "\xc3\xa9", "x/y", "q\"", "\xf0\x9d\x84\x9e",
	                             ""};
	if (below(3)) {
		gen_string(b, false);
		return;
	}
	const char *k = pool[below(sizeof pool / sizeof pool[0])];
	buf_putc(b, '"');
	for (const unsigned char *p = (const unsigned char *)k; *p;) {
		unsigned long cp = *p++;
		if (cp >= 0xf0) {
			cp = (cp & 7) << 18 | (unsigned long)(p[0] & 0x3f) << 12 |
			     (unsigned long)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			p += 3;
		} else if (cp >= 0xc0) {
			cp = (cp & 0x1f) << 6 | (p[0] & 0x3f);
			p += 1;
		}
		gen_char(b, cp);
	}
	buf_putc(b, '"');
}

static void gen_digits(struct buf *b, unsigned n, bool nonzero_first)
{
	for (unsigned i = 0; i < n; i++)
		buf_putc(b, (char)('0' + (i == 0 && nonzero_first ? 1 + below(9) : below(10))));
}

static void gen_number(struct buf *b)
{
	if (below(2))
		buf_putc(b, '-');
	if (below(4) == 0)
		buf_putc(b, '0');
	else
		gen_digits(b, 1 + below(15), true); /* within int64 */
	if (below(3) == 0) {
		buf_putc(b, '.');
		gen_digits(b, 1 + below(6), false);
	}
	if (below(4) == 0) {
		buf_putc(b, "eE"[below(2)]);
		if (below(2))
			buf_putc(b, "+-"[below(2)]);
		gen_digits(b, 1 + below(2), false); /* |exponent| < 100: no overflow */
	}
}

static void gen_value(struct buf *b, int depth)
{
	unsigned kind = depth >= 6 ? 2 + below(6) : below(8);
	gen_ws(b);
	switch (kind) {
	case 0:
	case 1: {
		bool obj = kind == 0;
		unsigned n = below(6);
		buf_putc(b, obj ? '{' : '[');
		gen_ws(b);
		for (unsigned i = 0; i < n; i++) {
			if (i)
				buf_putc(b, ',');
			if (obj) {
				gen_ws(b);
				gen_key(b);
				gen_ws(b);
				buf_putc(b, ':');
			}
			gen_value(b, depth + 1);
		}
		buf_putc(b, obj ? '}' : ']');
		break;
	}
	case 2:
	case 3:
		gen_string(b, true);
		break;
	case 4:
	case 5:
		gen_number(b);
		break;
	case 6:
		buf_puts(b, below(2) ? "true" : "false");
		break;
	default:
		buf_puts(b, "null");
		break;
	}
	gen_ws(b);
}

static void gen_document(struct buf *b)
{
	buf_reset(b);
	/* mostly containers, like the bodies we parse */
	gen_value(b, below(4) ? 0 : 6); /* depth 6: a scalar */
}

/* Compare the value at token tok with jansson's. Returns the next token. */
static size_t compare_value(const struct json_doc *doc, size_t tok, json_t *v)
{
	const struct json_tok *t = &doc->toks[tok];
	const char *raw = doc->text + t->start;
	int rawlen = (int)(t->end - t->start);
	switch (t->type) {
	case JSON_TOK_OBJECT: {
		REQUIRE_MSG(json_is_object(v), "%.*s", rawlen, raw);
		int dup = json_doc_has_duplicate_keys(doc, tok);
		if (dup) {
			REQUIRE(json_object_size(v) < t->size);
			return t->next;
		}
		REQUIRE(json_object_size(v) == t->size);
		size_t i = tok + 1;
		for (uint32_t k = 0; k < t->size; k++) {
			struct buf key = {0};
			int nul = json_doc_string(doc, i, &key);
			json_t *m = json_object_getn(v, key.data, key.len);
			REQUIRE_MSG(m != NULL, "key '%s' not in jansson's object", key.data);
			if (!nul) {
				size_t at;
				REQUIRE(json_doc_object_get(doc, tok, key.data, &at) == 0);
				REQUIRE(at == i + 1);
			}
			buf_release(&key);
			i = compare_value(doc, i + 1, m);
		}
		REQUIRE(i == t->next);
		return i;
	}
	case JSON_TOK_ARRAY: {
		REQUIRE_MSG(json_is_array(v), "%.*s", rawlen, raw);
		REQUIRE(json_array_size(v) == t->size);
		size_t i = tok + 1;
		for (uint32_t k = 0; k < t->size; k++)
			i = compare_value(doc, i, json_array_get(v, k));
		REQUIRE(i == t->next);
		return i;
	}
	case JSON_TOK_STRING: {
		REQUIRE_MSG(json_is_string(v), "%.*s", rawlen, raw);
		struct buf s = {0};
		int nul = json_doc_string(doc, tok, &s);
		REQUIRE_MSG(s.len == json_string_length(v) &&
		                memcmp(s.data, json_string_value(v), s.len) == 0,
		            "string %.*s decodes differently", rawlen, raw);
		REQUIRE(nul == (memchr(s.data, '\0', s.len) != NULL));
		buf_release(&s);
		return tok + 1;
	}
	case JSON_TOK_NUMBER: {
		long long n;
		if (json_is_integer(v)) {
			REQUIRE(json_doc_int64(doc, tok, &n) == 0);
			REQUIRE(n == json_integer_value(v));
		} else {
			REQUIRE_MSG(json_is_real(v), "%.*s", rawlen, raw);
			REQUIRE(json_doc_int64(doc, tok, &n) == -1);
			char tmp[64];
			REQUIRE(rawlen < (int)sizeof tmp);
			memcpy(tmp, raw, (size_t)rawlen);
			tmp[rawlen] = '\0';
			REQUIRE(strtod(tmp, NULL) == json_real_value(v));
		}
		return tok + 1;
	}
	case JSON_TOK_TRUE:
		REQUIRE(json_is_true(v));
		return tok + 1;
	case JSON_TOK_FALSE:
		REQUIRE(json_is_false(v));
		return tok + 1;
	default:
		REQUIRE(json_is_null(v));
		return tok + 1;
	}
}

struct diff_stats {
	unsigned accepted, rejected, skipped;
};

static void differential(const char *text, size_t len, struct json_doc *doc, struct diff_stats *st)
{
	json_error_t je;
	struct mem_error err;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	int ours = scan(text, len, doc, &err);
	if (!j && (strstr(je.text, "too big") || strstr(je.text, "overflow") ||
	           strstr(je.text, "NUL byte in object key"))) {
		st->skipped++; /* jansson's limits, not JSON's */
		return;
	}
	REQUIRE_MSG((j != NULL) == (ours == 0), "disagree on <%s>: jansson %s, json_scan %s",
	            show(text, len), j ? "accepts" : je.text, ours ? err.message : "accepts");
	if (!j) {
		st->rejected++;
		return;
	}
	st->accepted++;
	check_structure(doc);
	REQUIRE(compare_value(doc, 0, j) == doc->ntoks);
	json_decref(j);

	/* duplicates anywhere: as jansson's JSON_REJECT_DUPLICATES sees them */
	int any_dup = 0;
	for (size_t i = 0; i < doc->ntoks; i++)
		if (doc->toks[i].type == JSON_TOK_OBJECT &&
		    json_doc_has_duplicate_keys(doc, i) == 1)
			any_dup = 1;
	j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	REQUIRE_MSG((j == NULL) == any_dup, "duplicates in <%s>: jansson %s", show(text, len),
	            j ? "none" : je.text);
	json_decref(j);
}

static void mutate(struct buf *b)
{
	static const char interesting[] =
	    "\"\\{}[],:0-+.eE u\x00\x1f\x7f\x80\xbf\xc0\xc3\xed\xf4\xff"
	    "tfnD";
	unsigned ops = 1 + below(3);
	for (unsigned k = 0; k < ops && b->len; k++) {
		size_t at = below((unsigned)b->len);
		char c = below(2) ? interesting[below(sizeof interesting - 1)] : (char)below(256);
		switch (below(5)) {
		case 0: /* replace a byte */
			b->data[at] = c;
			break;
		case 1: /* flip a bit */
			b->data[at] ^= (char)(1 << below(8));
			break;
		case 2: /* delete a byte */
			memmove(b->data + at, b->data + at + 1, b->len - at - 1);
			b->len--;
			break;
		case 3: /* insert a byte */
			buf_putc(b, '\0');
			memmove(b->data + at + 1, b->data + at, b->len - at - 1);
			b->data[at] = c;
			break;
		default: /* truncate */
			b->len = at;
			break;
		}
	}
}

/* Integers as JSON Schema counts them: any integral value, whatever the
 * notation (schemathesis sent limit 733.0, which a schema typed integer
 * allows, and memoryd answered 400). */
START_TEST(integer_values)
{
	static const struct {
		const char *text;
		int ret;
		long long v;
	} cases[] = {
	    {"7", 0, 7},
	    {"733.0", 0, 733},
	    {"7.33e2", 0, 733},
	    {"7.330E+2", 0, 733},
	    {"73300e-2", 0, 733},
	    {"1e3", 0, 1000},
	    {"-0.0", 0, 0},
	    {"0e5", 0, 0},
	    {"0.05e2", 0, 5},
	    {"-12.50e1", 0, -125},
	    {"9223372036854775807.0", 0, LLONG_MAX},
	    {"-9.223372036854775808e18", 0, LLONG_MIN},
	    {"9.223372036854775808e18", -1, 0},
	    {"1e19", -1, 0},
	    {"1e999999", -1, 0},
	    {"1e-999999", -1, 0},
	    {"7.5", -1, 0},
	    {"733.01", -1, 0},
	    {"7e-1", -1, 0},
	    {"\"7\"", -1, 0},
	    {"null", -1, 0},
	};
	struct json_doc doc = {0};
	struct mem_error err;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		long long v = 12345;
		ck_assert_int_eq(scan(cases[i].text, strlen(cases[i].text), &doc, &err), 0);
		int rc = json_doc_integer(&doc, 0, &v);
		ck_assert_msg(rc == cases[i].ret, "%s: %d", cases[i].text, rc);
		if (cases[i].ret == 0)
			ck_assert_msg(v == cases[i].v, "%s: %lld", cases[i].text, v);
	}
	json_doc_release(&doc);
}
END_TEST

START_TEST(differential_vs_jansson)
{
	struct buf b = {0};
	struct json_doc doc = {0};
	struct diff_stats valid = {0}, mutated = {0};
	rng_state = 20240611;
	for (int i = 0; i < 2000; i++) {
		gen_document(&b);
		differential(b.data, b.len, &doc, &valid);
	}
	for (int i = 0; i < 2000; i++) {
		gen_document(&b);
		mutate(&b);
		differential(b.len ? b.data : "", b.len, &doc, &mutated);
	}
	/* every generated document is valid and within jansson's limits */
	ck_assert_uint_eq(valid.accepted, 2000);
	/* mutations give both verdicts, and few hit jansson's limits */
	ck_assert_uint_gt(mutated.rejected, 1000);
	ck_assert_uint_gt(mutated.accepted, 100);
	ck_assert_uint_lt(mutated.skipped, 100);
	if (getenv("MEMORYD_SCAN_VERBOSE"))
		printf("mutations: %u accepted, %u rejected, %u skipped\n", mutated.accepted,
		       mutated.rejected, mutated.skipped);
	json_doc_release(&doc);
	buf_release(&b);
}
END_TEST

/* ---- benchmark (MEMORYD_SCAN_BENCH=1; printed, not asserted) ---- */

/* A POST /checkpoints body of about 14 KB: three ~4.5 KB base64 blobs. */
static void checkpoint_body(struct buf *b)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	buf_puts(b, "{\"thread_id\":\"thread-7f3a9c\",\"checkpoint_ns\":\"\","
	            "\"checkpoint_id\":\"1ef4f797-8335-6428-8001-8a1503f9b875\","
	            "\"parent_checkpoint_id\":\"1ef4f797-8335-6428-8000-8a1503f9b875\","
	            "\"checkpoint\":{\"v\":1,\"id\":\"1ef4f797-8335-6428-8001-8a1503f9b875\","
	            "\"ts\":\"2024-07-31T20:14:19.804150+00:00\",\"channel_versions\":{"
	            "\"__start__\":\"00000000000000000000000000000002.0.243798848838515\","
	            "\"messages\":\"00000000000000000000000000000003.0.7712637392212312\","
	            "\"branch:to:agent\":\"00000000000000000000000000000003.0.1234\"},"
	            "\"versions_seen\":{\"__input__\":{},\"__start__\":{\"__start__\":"
	            "\"00000000000000000000000000000001.0.5\"},\"agent\":{\"branch:to:agent\":"
	            "\"00000000000000000000000000000002.0.9\"}},\"pending_sends\":[]},"
	            "\"metadata\":{\"source\":\"loop\",\"step\":1,\"writes\":null,\"parents\":{},"
	            "\"user\":\"Jos\\u00e9\"},\"blobs\":[");
	for (int k = 0; k < 3; k++) {
		buf_printf(
		    b,
		    "%s{\"channel\":\"%s\",\"version\":\"0000000000000000000000000000000%d.0.77"
		    "\",\"type\":\"msgpack\",\"data\":\"",
		    k ? "," : "",
		    k == 0   ? "messages"
		    : k == 1 ? "__start__"
		             : "agent",
		    k + 1);
		for (int i = 0; i < 4500; i++)
			buf_putc(b, alphabet[(i * 7 + k * 13 + i / 64) % 64]);
		buf_puts(b, "==\"}");
	}
	buf_puts(b, "]}");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(benchmark)
{
	if (!getenv("MEMORYD_SCAN_BENCH"))
		return;
	struct buf body = {0};
	checkpoint_body(&body);
	struct json_doc doc = {0};
	struct mem_error err;
	json_error_t je;
	ck_assert_int_eq(scan(body.data, body.len, &doc, &err), 0);
	json_t *check = json_loadb(body.data, body.len, 0, &je);
	ck_assert_ptr_nonnull(check);
	json_decref(check);

	const int rounds = 20000;
	double t0 = now();
	for (int i = 0; i < rounds; i++)
		if (json_scan(body.data, body.len, &doc, &err))
			ck_abort();
	double t_scan = now() - t0;

	/* scan plus what a handler does: find the blobs and take their data */
	t0 = now();
	size_t total = 0;
	for (int i = 0; i < rounds; i++) {
		size_t blobs, d;
		const char *p;
		size_t n;
		if (json_scan(body.data, body.len, &doc, &err) ||
		    json_doc_object_get(&doc, 0, "blobs", &blobs))
			ck_abort();
		for (size_t e = blobs + 1, k = 0; k < doc.toks[blobs].size;
		     k++, e = doc.toks[e].next)
			if (!json_doc_object_get(&doc, e, "data", &d) &&
			    !json_doc_string_raw(&doc, d, &p, &n))
				total += n;
	}
	double t_use = now() - t0;
	ck_assert_uint_eq(total, (size_t)rounds * 3 * 4502);

	t0 = now();
	for (int i = 0; i < rounds / 10; i++)
		json_decref(json_loadb(body.data, body.len, JSON_REJECT_DUPLICATES, &je));
	double t_jansson = (now() - t0) * 10;

	double mb = (double)body.len * rounds / 1e6;
	printf("json_scan bench: %zu-byte body, %zu tokens\n", body.len, doc.ntoks);
	printf("  json_scan              %8.1f MB/s  %6.2f us/body\n", mb / t_scan,
	       t_scan / rounds * 1e6);
	printf("  json_scan + blob data  %8.1f MB/s  %6.2f us/body\n", mb / t_use,
	       t_use / rounds * 1e6);
	printf("  jansson json_loadb     %8.1f MB/s  %6.2f us/body\n", mb / t_jansson,
	       t_jansson / rounds * 1e6);
	printf("  speedup                %8.1fx\n", t_jansson / t_scan);
	json_doc_release(&doc);
	buf_release(&body);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("json_scan");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, accepts_valid);
	tcase_add_test(tc, rejects_invalid);
	tcase_add_test(tc, error_messages);
	tcase_add_test(tc, nesting_limit);
	tcase_add_test(tc, token_structure);
	tcase_add_test(tc, many_tokens);
	tcase_add_test(tc, token_bound);
	tcase_add_test(tc, string_decoding);
	tcase_add_test(tc, keys_and_duplicates);
	tcase_add_test(tc, int64_values);
	tcase_add_test(tc, integer_values);
	tcase_add_test(tc, differential_vs_jansson);
	tcase_add_test(tc, benchmark);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
