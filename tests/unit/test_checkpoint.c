#include <stdlib.h>
#include <string.h>

#include "../../common/xalloc.h"
#include "../../service/checkpoint.h"
#include "check_main.h"

START_TEST(writes_idx_map)
{
	bool special;
	ck_assert_int_eq(cp_write_idx("__error__", 5, &special), -1);
	ck_assert(special);
	ck_assert_int_eq(cp_write_idx("__scheduled__", 0, &special), -2);
	ck_assert_int_eq(cp_write_idx("__interrupt__", 0, &special), -3);
	ck_assert_int_eq(cp_write_idx("__resume__", 0, &special), -4);
	ck_assert_int_eq(cp_write_idx("messages", 3, &special), 3);
	ck_assert(!special);
}
END_TEST

START_TEST(metadata_filter)
{
	const char *md = "{\"source\":\"loop\",\"step\":2,\"tags\":[1,2],\"x\":{\"a\":1}}";
	ck_assert(cp_metadata_matches(md, NULL));
	ck_assert(cp_metadata_matches(md, "{}"));
	ck_assert(cp_metadata_matches(md, "{\"source\":\"loop\",\"step\":2}"));
	ck_assert(!cp_metadata_matches(md, "{\"source\":\"loop\",\"step\":3}"));
	ck_assert(!cp_metadata_matches(md, "{\"missing\":null}"));
	ck_assert(cp_metadata_matches(md, "{\"x\":{\"a\":1},\"tags\":[1,2]}"));
	ck_assert(!cp_metadata_matches(md, "{\"tags\":[2,1]}"));
}
END_TEST

START_TEST(writes_sorted)
{
	struct cp_tuple t = {0};
	t.nwrites = 3;
	t.writes = xcalloc(3, sizeof(*t.writes));
	const char *paths[] = {"b", "a", "a"}, *tasks[] = {"t1", "t2", "t1"};
	long idx[] = {0, 1, -1};
	for (int i = 0; i < 3; i++) {
		t.writes[i].task_path = xstrdup(paths[i]);
		t.writes[i].task_id = xstrdup(tasks[i]);
		t.writes[i].channel = xstrdup("c");
		t.writes[i].idx = idx[i];
		t.writes[i].value.type = xstrdup("json");
		t.writes[i].value.data = xmalloc(1);
	}
	cp_sort_writes(&t);
	ck_assert_str_eq(t.writes[0].task_id, "t1");
	ck_assert_str_eq(t.writes[0].task_path, "a");
	ck_assert_str_eq(t.writes[1].task_id, "t2");
	ck_assert_str_eq(t.writes[2].task_path, "b");
	cp_tuple_release(&t);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, writes_idx_map);
	tcase_add_test(tc, metadata_filter);
	tcase_add_test(tc, writes_sorted);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
