/* api/body.c's field tables: the messages they give, and that a refusal
 * writes nothing. */
#include <limits.h>
#include <string.h>

#include "../../api/body.h"
#include "check_main.h"

static void parse(struct body *b, const char *text)
{
	struct mem_error err = {0};
	ck_assert_int_eq(body_parse(b, text, strlen(text), &err), 0);
}

static void refused(int rc, const struct mem_error *err, enum mem_errcode code, const char *field,
                    const char *message)
{
	ck_assert_int_eq(rc, -1);
	ck_assert_int_eq(err->code, code);
	ck_assert_str_eq(err->field, field);
	ck_assert_str_eq(err->message, message);
}

START_TEST(reads_each_type_and_defaults)
{
	struct body b;
	struct mem_error err = {0};
	const char *s = NULL, *ns = NULL, *v = NULL, *labels[4];
	size_t obj = 0, size = 0, nlabels = 9;
	long long num = 0;
	int flag = 0;
	const unsigned char *data = NULL;
	size_t len = 0;
	const struct body_field fields[] = {
	    BODY_STRING("s", BODY_REQUIRED, &s),
	    BODY_STRING_OR("ns", "", &ns),
	    BODY_VERSION("v", BODY_REQUIRED, &v),
	    BODY_OBJECT("o", BODY_OPTIONAL, &obj),
	    BODY_INT("n", 0, LLONG_MAX, -1, &num),
	    BODY_SIZE("z", 100, 7, &size),
	    BODY_BOOL("f", &flag),
	    BODY_BASE64("d", BODY_REQUIRED, &data, &len),
	    BODY_LABELS("l", BODY_OPTIONAL, 4, labels, &nlabels),
	};
	parse(&b, "{\"s\":\"a\\u0062\",\"ns\":null,\"v\":3,\"n\":2e0,\"f\":false,\"d\":\"aGk=\","
	          "\"l\":[\"x\",\"y\"]}");
	ck_assert_int_eq(body_read(&b, 0, fields, BODY_NFIELDS(fields), &err), 0);
	ck_assert_str_eq(s, "ab");
	ck_assert_str_eq(ns, "");
	ck_assert_str_eq(v, "3");
	ck_assert_uint_eq(obj, BODY_ABSENT);
	ck_assert_int_eq(num, 2);
	ck_assert_uint_eq(size, 7);
	ck_assert_int_eq(flag, 0);
	ck_assert_uint_eq(len, 2);
	ck_assert(memcmp(data, "hi", 2) == 0);
	ck_assert_uint_eq(nlabels, 2);
	ck_assert_str_eq(labels[1], "y");
	body_release(&b);
}
END_TEST

START_TEST(refusals_name_the_field)
{
	struct body b;
	struct mem_error err = {0};
	const char *s;
	long long num;
	size_t size, n;
	const char *labels[2];
	const struct body_field str[] = {BODY_STRING("s", BODY_REQUIRED, &s)};
	const struct body_field nonneg[] = {BODY_INT("n", 0, LLONG_MAX, -1, &num)};
	const struct body_field range[] = {BODY_SIZE("z", 100, 0, &size)};
	const struct body_field ns[] = {BODY_LABELS("l", BODY_REQUIRED, 2, labels, &n)};

	parse(&b, "{\"s\":1,\"n\":-1,\"z\":101,\"l\":[\"a\",\"b\",\"c\"],\"e\":[1]}");
	refused(body_read(&b, 0, str, 1, &err), &err, MEM_EINVALID_FIELD, "s",
	        "s must be a string");
	refused(body_read_in(&b, 0, "x[2]", str, 1, &err), &err, MEM_EINVALID_FIELD, "x[2].s",
	        "x[2].s must be a string");
	refused(body_read(&b, 0, nonneg, 1, &err), &err, MEM_EINVALID_FIELD, "n",
	        "n must be an integer >= 0");
	refused(body_read(&b, 0, range, 1, &err), &err, MEM_EINVALID_FIELD, "z",
	        "z must be an integer 0..100");
	refused(body_read(&b, 0, ns, 1, &err), &err, MEM_EINVALID_FIELD, "l",
	        "l has 3 labels; at most 2");
	refused(body_read_item(&b, body_first(&b, body_get(&b, 0, "e")), "e[0]", str, 1, &err),
	        &err, MEM_EINVALID_FIELD, "e[0]", "e[0] must be an object");
	const struct body_field missing[] = {BODY_STRING("gone", BODY_REQUIRED, &s)};
	refused(body_read(&b, 0, missing, 1, &err), &err, MEM_EMISSING_FIELD, "gone",
	        "gone is required");
	body_release(&b);
}
END_TEST

START_TEST(a_refusal_writes_nothing)
{
	struct body b;
	struct mem_error err = {0};
	const char *s = "before";
	size_t o = 42;
	const struct body_field fields[] = {
	    BODY_STRING("s", BODY_REQUIRED, &s),
	    BODY_OBJECT("o", BODY_OPTIONAL, &o),
	    BODY_ARRAY("a", BODY_REQUIRED, &o),
	};
	parse(&b, "{\"s\":\"read\",\"o\":{},\"a\":{}}");
	refused(body_read(&b, 0, fields, BODY_NFIELDS(fields), &err), &err, MEM_EINVALID_FIELD, "a",
	        "a must be an array");
	ck_assert_str_eq(s, "before");
	ck_assert_uint_eq(o, 42);
	body_release(&b);
}
END_TEST

START_TEST(a_closed_table_refuses_other_members)
{
	struct body b;
	struct mem_error err = {0};
	const char *p = "before";
	int flag = 5;
	const struct body_field fields[] = {
	    BODY_STRING("primary", BODY_OPTIONAL, &p),
	    BODY_BOOL("dual_write", &flag),
	};
	parse(&b, "{\"dual_write\":true,\"extra\":1}");
	refused(body_read_closed(&b, 0, fields, BODY_NFIELDS(fields), &err), &err,
	        MEM_EINVALID_FIELD, "body",
	        "unknown member: the body takes primary and dual_write only");
	ck_assert_str_eq(p, "before");
	ck_assert_int_eq(flag, 5);
	body_release(&b);
	/* a field's own refusal comes first */
	parse(&b, "{\"dual_write\":1,\"extra\":1}");
	refused(body_read_closed(&b, 0, fields, BODY_NFIELDS(fields), &err), &err,
	        MEM_EINVALID_FIELD, "dual_write", "dual_write must be true or false");
	body_release(&b);
	parse(&b, "{\"dual_write\":true}");
	ck_assert_int_eq(body_read_closed(&b, 0, fields, BODY_NFIELDS(fields), &err), 0);
	ck_assert_ptr_null(p);
	ck_assert_int_eq(flag, 1);
	body_release(&b);
}
END_TEST

static Suite *body_suite(void)
{
	Suite *s = suite_create("body");
	TCase *tc = tcase_create("field_tables");
	tcase_add_test(tc, reads_each_type_and_defaults);
	tcase_add_test(tc, refusals_name_the_field);
	tcase_add_test(tc, a_refusal_writes_nothing);
	tcase_add_test(tc, a_closed_table_refuses_other_members);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(body_suite)
