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
	                             "DATABASE_SWEEP_INTERVAL_SECONDS"};
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

static Suite *suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, bad_int_names_variable);
	tcase_add_test(tc, bad_url_and_prefix);
	tcase_add_test(tc, store_primary);
	tcase_add_test(tc, markdown_lists_every_variable);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
