/* The archiver's pure parts: its clock (ISO 8601 with the zone's offset, the
 * next scheduled run in local time) and its shards. The passes themselves run
 * against real servers in tests/archive. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../service/archive.h"
#include "check_main.h"

static void zone(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

START_TEST(iso_time_carries_the_offset)
{
	char s[40];
	zone("Europe/Madrid");
	archive_iso_time(1761660000, s); /* 2025-10-28T14:00:00Z: winter time */
	ck_assert_str_eq(s, "2025-10-28T15:00:00+01:00");
	archive_iso_time(1751374800, s); /* 2025-07-01T13:00:00Z: summer time */
	ck_assert_str_eq(s, "2025-07-01T15:00:00+02:00");
	zone("America/St_Johns");
	archive_iso_time(1761660000, s);
	ck_assert_str_eq(s, "2025-10-28T11:30:00-02:30");
	zone("UTC");
	archive_iso_time(0, s);
	ck_assert_str_eq(s, "1970-01-01T00:00:00+00:00");
}
END_TEST

START_TEST(next_run_is_on_the_local_hour)
{
	zone("Europe/Madrid");
	/* 14:59:59 local (13:59:59Z) -> 15:00:00 local */
	ck_assert_int_eq(archive_next_run(1761659999 - 3600, 3600), 1761660000 - 3600);
	/* exactly on the hour: the next hour, not now */
	ck_assert_int_eq(archive_next_run(1761660000, 3600), 1761663600);
	/* daily: local midnight, not UTC midnight (2025-10-28 23:00Z) */
	ck_assert_int_eq(archive_next_run(1761660000, 86400), 1761692400);
	/* the zone's half-hour offset is honoured */
	zone("Asia/Kolkata"); /* +05:30: the local hour starts at :30 UTC */
	ck_assert_int_eq(archive_next_run(1761660000, 3600), 1761660000 + 1800);
	/* an interval of a second: the next second */
	ck_assert_int_eq(archive_next_run(1761660000, 1), 1761660001);
}
END_TEST

START_TEST(shards_split_without_overlap)
{
	unsigned seen[4] = {0};
	char id[32];
	for (int i = 0; i < 4000; i++) {
		snprintf(id, sizeof(id), "conv-%d", i);
		unsigned s = archive_shard_of("acme", id, 4);
		ck_assert_uint_lt(s, 4);
		ck_assert_uint_eq(s, archive_shard_of("acme", id, 4)); /* stable */
		seen[s]++;
		ck_assert_uint_eq(archive_shard_of("acme", id, 1), 0);
	}
	for (int s = 0; s < 4; s++)
		ck_assert_msg(seen[s] > 800 && seen[s] < 1200, "shard %d holds %u of 4000", s,
		              seen[s]);
	/* the tenant is part of the key: "a" + "bc" is not "ab" + "c" */
	int differ = 0;
	for (int i = 0; i < 64; i++) {
		snprintf(id, sizeof(id), "%dbc", i);
		char t[32], id2[32];
		snprintf(t, sizeof(t), "a%d", i);
		snprintf(id2, sizeof(id2), "bc");
		differ += archive_shard_of("a", id, 1024) != archive_shard_of(t, id2, 1024);
	}
	ck_assert_int_gt(differ, 32);
}
END_TEST

/* The health file's duration_seconds has three decimals ("0.123", not
 * "0.12299999999999999"), and reads back. */
START_TEST(health_file_duration_three_decimals)
{
	const char *dir = getenv("TMPDIR");
	char buf[512];
	snprintf(buf, sizeof(buf), "%s/unit-archive-health.%ld.json", dir && *dir ? dir : "/tmp",
	         (long)getpid());
	double cases[] = {0.1234567, 2.5, 0.0004, 12.3456};
	const char *want[] = {"\"duration_seconds\":0.123}", "\"duration_seconds\":2.500}",
	                      "\"duration_seconds\":0.000}", "\"duration_seconds\":12.346}"};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct archive_report r = {.last_run = "2026-12-07T05:00:00+01:00",
		                           .healthy = true,
		                           .duration_s = cases[i]};
		struct mem_error err = {0};
		ck_assert_msg(archive_health_write(buf, &r, &err) == 0, "%s", err.message);
		FILE *f = fopen(buf, "r");
		ck_assert_ptr_nonnull(f);
		char text[512] = {0};
		size_t n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
		ck_assert_msg(n > 0 && strstr(text, want[i]), "%s has no %s", text, want[i]);
		struct archive_report back;
		ck_assert_int_eq(archive_health_read(buf, &back), 0);
		ck_assert_msg(back.duration_s > cases[i] - 0.0006 &&
		                  back.duration_s < cases[i] + 0.0006,
		              "read back %f", back.duration_s);
	}
	unlink(buf);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("archive");
	TCase *tc = tcase_create("archive");
	tcase_add_test(tc, iso_time_carries_the_offset);
	tcase_add_test(tc, next_run_is_on_the_local_hour);
	tcase_add_test(tc, shards_split_without_overlap);
	tcase_add_test(tc, health_file_duration_three_decimals);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
