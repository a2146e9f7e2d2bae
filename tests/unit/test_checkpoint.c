#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* Which channel versions a put carries the blob of: right whatever the
 * order, and linear (it was a channels x blobs scan: 60,000 of each took
 * seconds; now milliseconds). */
START_TEST(blobs_written_linear)
{
	enum { N = 60000 };
	struct cp_channel_version *v = xcalloc(N, sizeof(*v));
	struct cp_blob *b = xcalloc(N, sizeof(*b));
	char(*names)[16] = xcalloc(N, sizeof(*names));
	bool *written = xcalloc(N, sizeof(*written));
	size_t nb = 0;
	for (size_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "c%zu", i);
		v[i].channel = names[i];
		v[i].version = i % 3 ? "2" : "1";
	}
	/* every other channel's blob, in reverse order, and one of another version */
	for (size_t i = N; i-- > 0;)
		if (i % 2 == 0)
			b[nb++] = (struct cp_blob){.channel = names[i], .version = v[i].version};
	b[nb++] = (struct cp_blob){.channel = names[1], .version = "9"};
	struct cp_put p = {.versions = v, .nversions = N, .blobs = b, .nblobs = nb};
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	cp_put_blobs_written(&p, written);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	for (size_t i = 0; i < N; i++)
		ck_assert_msg(written[i] == (i % 2 == 0), "channel %zu", i);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_msg(s < 0.5, "%d channels took %.2f s", (int)N, s);
	free(v);
	free(b);
	free(names);
	free(written);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("checkpoint");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, writes_idx_map);
	tcase_add_test(tc, metadata_filter);
	tcase_add_test(tc, writes_sorted);
	tcase_add_test(tc, blobs_written_linear);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
