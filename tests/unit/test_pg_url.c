/* service/pg/url.h: DATABASE_URL checked by libpq's rules and described for
 * the logs without its password. */
#include <string.h>

#include "../../common/buf.h"
#include "../../service/pg/url.h"
#include "check_main.h"

static void expect_description(const char *url, const char *want)
{
	struct buf d = {0};
	struct mem_error err = {0};
	ck_assert_msg(pg_url_describe(url, &d, &err) == 0, "%s refused: %s", url, err.message);
	ck_assert_str_eq(d.data ? d.data : "", want);
	buf_release(&d);
}

START_TEST(urls_and_key_value_strings_are_described_without_password)
{
	expect_description(
	    "postgresql://app:s3cret@db.internal:5433/memoryd?sslmode=verify-full",
	    "host=db.internal port=5433 dbname=memoryd user=app sslmode=verify-full");
	expect_description("postgres://localhost/memoryd", "host=localhost dbname=memoryd");
	expect_description("host=h port=1 dbname=d user=u password=pw application_name=x",
	                   "host=h port=1 dbname=d user=u");
	/* values libpq's key=value syntax must quote stay readable, unambiguous */
	expect_description("host='a b' user='o\\'neil'", "host='a b' user='o\\'neil'");
	expect_description("", "");
}
END_TEST

START_TEST(refusals_name_the_variable_and_never_quote_it)
{
	static const char *bad[] = {
	    "postgresql://u:%zzsecret@h/d", /* bad percent-escape inside the password */
	    "postgresql://h/d?nosuchparam=1",
	    "host=h password",
	    "host='unterminated",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf d = {0};
		struct mem_error err = {0};
		ck_assert_msg(pg_url_describe(bad[i], &d, &err) == -1, "%s accepted", bad[i]);
		ck_assert_str_eq(err.field, "DATABASE_URL");
		ck_assert_ptr_null(strstr(err.message, "secret"));
		ck_assert_ptr_null(strstr(err.message, "nosuchparam"));
		ck_assert_ptr_null(d.data);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pg_url");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, urls_and_key_value_strings_are_described_without_password);
	tcase_add_test(tc, refusals_name_the_variable_and_never_quote_it);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
