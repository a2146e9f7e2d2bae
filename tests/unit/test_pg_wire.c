/* The PostgreSQL store's pure parts: binary array parameters (array_recv's
 * format), binary integers, migration names. */
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../service/pg/conn.h"
#include "../../service/pg/migrate.h"
#include "check_main.h"

static void expect_bytes(const struct buf *b, const unsigned char *want, size_t n)
{
	ck_assert_uint_eq(b->len, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg((unsigned char)b->data[i] == want[i], "byte %zu: %02x, want %02x", i,
		              (unsigned char)b->data[i], want[i]);
}

START_TEST(text_array)
{
	struct pg_array a;
	struct buf b = {0};
	pg_array_init(&a, PG_OID_TEXT);
	pg_array_add_text(&a, "ab");
	pg_array_add_text(&a, "");
	pg_array_encode(&a, &b);
	static const unsigned char want[] = {
	    0, 0, 0, 1,  /* one dimension */
	    0, 0, 0, 0,  /* no NULLs */
	    0, 0, 0, 25, /* text */
	    0, 0, 0, 2,  /* two elements */
	    0, 0, 0, 1,  /* from index 1 */
	    0, 0, 0, 2,  'a', 'b', 0, 0, 0, 0,
	};
	expect_bytes(&b, want, sizeof want);
	buf_release(&b);
	pg_array_release(&a);
}
END_TEST

START_TEST(empty_and_binary_arrays)
{
	struct pg_array a;
	struct buf b = {0};
	pg_array_init(&a, PG_OID_BYTEA);
	pg_array_encode(&a, &b);
	static const unsigned char empty[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 17};
	expect_bytes(&b, empty, sizeof empty);
	buf_release(&b);
	const unsigned char bin[] = {0, 0xff, 0};
	pg_array_add(&a, bin, sizeof bin);
	pg_array_encode(&a, &b);
	ck_assert_uint_eq(b.len, 20 + 4 + 3);
	ck_assert(!memcmp(b.data + 24, bin, 3));
	buf_release(&b);
	pg_array_release(&a);

	pg_array_init(&a, PG_OID_INT8);
	pg_array_add_int8(&a, -4);
	pg_array_encode(&a, &b);
	static const unsigned char i8[] = {0,  0, 0,    1,    0,    0,    0,    0,    0,    0,   0,
	                                   20, 0, 0,    0,    1,    0,    0,    0,    1,    0,   0,
	                                   0,  8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfc};
	expect_bytes(&b, i8, sizeof i8);
	buf_release(&b);
	pg_array_release(&a);
}
END_TEST

START_TEST(integers)
{
	static const char four[] = {(char)0xff, (char)0xff, (char)0xff, (char)0xfe};
	static const char eight[] = {0, 0, 0, 1, 0, 0, 0, 2};
	ck_assert_int_eq(pg_decode_int(four, 4), -2);
	ck_assert_int_eq(pg_decode_int(eight, 8), (1LL << 32) + 2);
	ck_assert_int_eq(pg_decode_int(eight, 3), 0);
}
END_TEST

START_TEST(params)
{
	struct pg_params p = {0};
	pg_params_text(&p, "x");
	pg_params_text(&p, NULL);
	pg_params_int8(&p, 258);
	pg_params_bool(&p, true);
	ck_assert_int_eq(p.n, 4);
	ck_assert_ptr_null(p.values[1]);
	ck_assert_int_eq(p.lengths[0], 1);
	ck_assert_int_eq(p.lengths[2], 8);
	ck_assert_int_eq(pg_decode_int(p.values[2], 8), 258);
	ck_assert_int_eq(p.values[3][0], 1);
	for (int i = 0; i < p.n; i++)
		ck_assert_int_eq(p.formats[i], 1);
	pg_params_release(&p);
	ck_assert_int_eq(p.n, 0);
}
END_TEST

START_TEST(migration_names)
{
	ck_assert_int_eq(pg_migration_version("0001_checkpoints"), 1);
	ck_assert_int_eq(pg_migration_version("0120_x"), 120);
	ck_assert_int_eq(pg_migration_version("0000_zero"), -1);
	ck_assert_int_eq(pg_migration_version("001_short"), -1);
	ck_assert_int_eq(pg_migration_version("0001-dash"), -1);
	ck_assert_int_eq(pg_migration_version("0001_"), -1);
	ck_assert_int_eq(pg_migration_version(NULL), -1);
	struct mem_error err = {0};
	ck_assert_msg(pg_migrations_check(&err) == 0, "embedded migrations: %s", err.message);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pg_wire");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, text_array);
	tcase_add_test(tc, empty_and_binary_arrays);
	tcase_add_test(tc, integers);
	tcase_add_test(tc, params);
	tcase_add_test(tc, migration_names);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
