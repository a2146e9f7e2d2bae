#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/config.h"
#include "check_main.h"

static void clear_env(void)
{
	static const char *vars[] = {"PORT",
	                             "HTTP_THREADS",
	                             "REDIS_URL",
	                             "KEY_PREFIX",
	                             "LOG_LEVEL",
	                             "CHECKPOINT_TTL_SECONDS",
	                             "DATABASE_URL",
	                             "MAX_BODY_BYTES",
	                             "CONV_STORE_PRIMARY",
	                             "DATABASE_STATEMENT_TIMEOUT_MS",
	                             "DATABASE_CONNECT_TIMEOUT_MS",
	                             "DATABASE_SWEEP_INTERVAL_SECONDS",
	                             "CONV_TTL_SECONDS",
	                             "ARCHIVE_AFTER_SECONDS",
	                             "ARCHIVE_INTERVAL_SECONDS",
	                             "ARCHIVE_TIMEZONE",
	                             "ARCHIVE_SHARD",
	                             "ARCHIVE_RETENTION_DAYS",
	                             "ARCHIVE_RETRY_ATTEMPTS",
	                             "ARCHIVE_RETRY_DELAY_SECONDS",
	                             "ARCHIVER_HEALTH_FILE",
	                             "API_TOKENS",
	                             "ADMIN_TOKEN"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

START_TEST(defaults)
{
	clear_env();
	struct config c;
	struct mem_error err = {0};
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_int_eq(c.port, 8080);
	ck_assert_int_eq(c.checkpoint_ttl_seconds, 86400);
	ck_assert_int_eq(c.max_reconnect_attempts, 10);
	ck_assert_str_eq(c.key_prefix, "langgraph");
	ck_assert_str_eq(c.redis_url, "redis://127.0.0.1:6379/0");
	ck_assert_ptr_null(c.database_url);
	ck_assert_str_eq(c.store_primary, "redis");
	ck_assert_int_eq(c.database_statement_timeout_ms, 2000);
	ck_assert_int_eq(c.database_connect_timeout_ms, 2000);
	ck_assert_int_eq(c.database_sweep_interval_seconds, 60);
	config_release(&c);
}
END_TEST

START_TEST(archive_settings)
{
	struct config c;
	struct mem_error err = {0};
	clear_env();
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_int_eq(c.archive_after_seconds, 82800);
	ck_assert_int_eq(c.archive_interval_seconds, 3600);
	ck_assert_str_eq(c.archive_timezone, "Europe/Madrid");
	ck_assert_int_eq(c.archive_retry_attempts, 2);
	ck_assert_int_eq(c.archive_retry_delay_seconds, 5);
	ck_assert_str_eq(c.archiver_health_file, "/tmp/archiver_health.json");
	ck_assert_int_eq(c.archive_shard_index, 0);
	ck_assert_int_eq(c.archive_shard_count, 1);
	ck_assert_int_eq(c.archive_retention_days, 180);
	/* 82800 + 3600 is not below the 86400 of CHECKPOINT_TTL_SECONDS */
	ck_assert_int_eq(config_check_archive(&c, &err), -1);
	ck_assert_str_eq(err.field, "ARCHIVE_AFTER_SECONDS");
	ck_assert_ptr_nonnull(strstr(err.message, "is not below CHECKPOINT_TTL_SECONDS (86400)"));
	ck_assert_ptr_nonnull(strstr(err.message, "at most 82799"));
	config_release(&c);

	setenv("ARCHIVE_AFTER_SECONDS", "79200", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_int_eq(config_check_archive(&c, &err), 0);
	config_release(&c);
	setenv("CONV_TTL_SECONDS", "80000", 1); /* the shorter TTL counts */
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_int_eq(config_check_archive(&c, &err), -1);
	ck_assert_ptr_nonnull(strstr(err.message, "CONV_TTL_SECONDS (80000)"));
	config_release(&c);
	unsetenv("CONV_TTL_SECONDS");

	setenv("ARCHIVE_SHARD", "2/3", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_int_eq(c.archive_shard_index, 2);
	ck_assert_int_eq(c.archive_shard_count, 3);
	config_release(&c);
	static const char *bad_shards[] = {"3/3", "-1/2", "1/0",  "1",     "1/",
	                                   "/2",  "a/b",  "1/2x", "0/1025"};
	for (size_t i = 0; i < sizeof(bad_shards) / sizeof(bad_shards[0]); i++) {
		setenv("ARCHIVE_SHARD", bad_shards[i], 1);
		ck_assert_msg(config_load(&c, &err) == -1, "ARCHIVE_SHARD=%s accepted",
		              bad_shards[i]);
		ck_assert_str_eq(err.field, "ARCHIVE_SHARD");
		config_release(&c);
	}
	unsetenv("ARCHIVE_SHARD");
	static const char *bad_zones[] = {"Mars/Olympus", "../etc/passwd", "/etc/localtime", "",
	                                  "Europe/Madrid "};
	for (size_t i = 0; i < sizeof(bad_zones) / sizeof(bad_zones[0]); i++) {
		setenv("ARCHIVE_TIMEZONE", bad_zones[i], 1);
		ck_assert_msg(config_load(&c, &err) == -1, "ARCHIVE_TIMEZONE=%s accepted",
		              bad_zones[i]);
		ck_assert_str_eq(err.field, "ARCHIVE_TIMEZONE");
		config_release(&c);
	}
	setenv("ARCHIVE_TIMEZONE", "America/New_York", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	config_release(&c);
	clear_env();
}
END_TEST

START_TEST(store_primary)
{
	struct config c;
	struct mem_error err = {0};
	clear_env();
	setenv("DATABASE_URL", "postgresql://u@h:5432/db?sslmode=require", 1);
	setenv("CONV_STORE_PRIMARY", "postgres", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.store_primary, "postgres");
	config_release(&c);
	/* the old runbook's name */
	setenv("CONV_STORE_PRIMARY", "mongo", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.store_primary, "postgres");
	config_release(&c);
	setenv("CONV_STORE_PRIMARY", "redis", 1);
	ck_assert_int_eq(config_load(&c, &err), 0);
	ck_assert_str_eq(c.store_primary, "redis");
	config_release(&c);
	/* unknown: one line naming the variable and what it accepts */
	setenv("CONV_STORE_PRIMARY", "Postgres", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "CONV_STORE_PRIMARY");
	ck_assert_ptr_nonnull(strstr(err.message, "redis or postgres"));
	ck_assert_ptr_null(strchr(err.message, '\n'));
	config_release(&c);
	/* postgres without DATABASE_URL */
	unsetenv("DATABASE_URL");
	setenv("CONV_STORE_PRIMARY", "mongo", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "DATABASE_URL");
	ck_assert_ptr_nonnull(
	    strstr(err.message, "CONV_STORE_PRIMARY=postgres needs DATABASE_URL"));
	config_release(&c);
	setenv("CONV_STORE_PRIMARY", "redis", 1);
	setenv("DATABASE_STATEMENT_TIMEOUT_MS", "0", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "DATABASE_STATEMENT_TIMEOUT_MS");
	config_release(&c);
	clear_env();
}
END_TEST

START_TEST(bad_int_names_variable)
{
	clear_env();
	setenv("PORT", "70000", 1);
	struct config c;
	struct mem_error err = {0};
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "PORT");
	ck_assert_ptr_nonnull(strstr(err.message, "PORT=70000"));
	ck_assert_ptr_nonnull(strstr(err.message, "1 to 65535"));
	config_release(&c);
	setenv("PORT", "12ab", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	config_release(&c);
	clear_env();
}
END_TEST

START_TEST(bad_url_and_prefix)
{
	clear_env();
	struct config c;
	struct mem_error err = {0};
	setenv("REDIS_URL", "http://x", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "REDIS_URL");
	config_release(&c);
	clear_env();
	setenv("KEY_PREFIX", "a{b}", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "KEY_PREFIX");
	config_release(&c);
	clear_env();
	setenv("LOG_LEVEL", "loud", 1);
	ck_assert_int_eq(config_load(&c, &err), -1);
	ck_assert_str_eq(err.field, "LOG_LEVEL");
	config_release(&c);
	clear_env();
}
END_TEST

START_TEST(markdown_lists_every_variable)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	config_print_markdown(f);
	fclose(f);
	static const char *must[] = {"PORT",
	                             "BIND_ADDRESS",
	                             "HTTP_THREADS",
	                             "REDIS_URL",
	                             "REDIS_PASSWORD",
	                             "REDIS_CONNECT_TIMEOUT_MS",
	                             "REDIS_SOCKET_TIMEOUT_MS",
	                             "MEMORY_MAX_RECONNECT_ATTEMPTS",
	                             "DATABASE_URL",
	                             "CONV_STORE_PRIMARY",
	                             "DATABASE_STATEMENT_TIMEOUT_MS",
	                             "DATABASE_CONNECT_TIMEOUT_MS",
	                             "DATABASE_SWEEP_INTERVAL_SECONDS",
	                             "CHECKPOINT_TTL_SECONDS",
	                             "KEY_PREFIX",
	                             "MAX_BODY_BYTES",
	                             "LOG_LEVEL"};
	for (size_t i = 0; i < sizeof(must) / sizeof(must[0]); i++) {
		char pat[64];
		snprintf(pat, sizeof(pat), "| `%s` |", must[i]);
		ck_assert_msg(strstr(text, pat), "missing %s", must[i]);
	}
	free(text);
}
END_TEST

/* Tokens that protect nothing stop start-up, in one line naming the variable
 * and never quoting the token. */
START_TEST(weak_tokens_refused)
{
	static const struct {
		const char *var, *value, *why;
	} bad[] = {
	    {"ADMIN_TOKEN", "", "empty or blank"},
	    {"ADMIN_TOKEN", "   ", "empty or blank"},
	    {"ADMIN_TOKEN", "adm-secret", "shorter than 16 bytes"},
	    {"ADMIN_TOKEN", "CHANGE_ME-admin-token", "placeholder"},
	    {"API_TOKENS", "", "empty or blank"},
	    {"API_TOKENS", " ; ", "empty or blank"},
	    {"API_TOKENS", "tok-acme:acme", "entry 1 is shorter than 16 bytes"},
	    {"API_TOKENS", "tok-acme-0123456789:acme;tok-ops:*",
	     "entry 2 is shorter than 16 bytes"},
	    {"API_TOKENS", "CHANGE_ME-client-token:default", "entry 1 is a placeholder"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		clear_env();
		setenv(bad[i].var, bad[i].value, 1);
		struct config c;
		struct mem_error err = {0};
		ck_assert_msg(config_load(&c, &err) == -1, "%s=%s accepted", bad[i].var,
		              bad[i].value);
		ck_assert_str_eq(err.field, bad[i].var);
		ck_assert_msg(strstr(err.message, bad[i].var) && strstr(err.message, bad[i].why),
		              "%s=%s: %s", bad[i].var, bad[i].value, err.message);
		ck_assert_msg(!strchr(err.message, '\n'), "not one line: %s", err.message);
		ck_assert_msg(!*bad[i].value || !strstr(err.message, bad[i].value) ||
		                  !strcmp(bad[i].value, "   ") || !strcmp(bad[i].value, " ; "),
		              "the token is quoted: %s", err.message);
		config_release(&c);
	}
	clear_env();
	setenv("ADMIN_TOKEN", "adm-0123456789abcdef", 1);
	setenv("API_TOKENS", "tok-acme-0123456789:acme;tok-ops-0123456789:*", 1);
	struct config c;
	struct mem_error err = {0};
	ck_assert_msg(config_load(&c, &err) == 0, "%s", err.message);
	config_release(&c);
	clear_env();
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, bad_int_names_variable);
	tcase_add_test(tc, bad_url_and_prefix);
	tcase_add_test(tc, store_primary);
	tcase_add_test(tc, archive_settings);
	tcase_add_test(tc, markdown_lists_every_variable);
	tcase_add_test(tc, weak_tokens_refused);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
