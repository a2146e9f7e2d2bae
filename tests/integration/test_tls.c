/* memoryd against a TLS Redis (rediss://). hiredis 0.14 has no TLS, so Redis
 * is inspected with `redis-cli --tls --cacert`.
 *
 * Environment: MEMORYD_URL, REDIS_URL (rediss://..., the URL memoryd uses),
 * REDIS_TLS_CA_FILE, optional KEY_PREFIX / CHECKPOINT_TTL_SECONDS / REDIS_PASSWORD.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"

static char *tenant;

static const unsigned char BIN[] = {0x00, 0xff, 0x10, 0x00, 0x80, 'x', 0xfe, 0x00};

static void setup(void)
{
	const char *url = it_require_env("REDIS_URL");
	ck_assert_msg(
	    strncmp(url, "rediss://", 9) == 0,
	    "test_tls needs REDIS_URL=rediss://... (got %s); run it via run-with-redis-url.sh "
	    "REDIS_TLS_URL",
	    url);
	it_require_env("REDIS_TLS_CA_FILE");
	tenant = it_random_id("it-tls-");
}

static void teardown(void)
{
	free(tenant);
	tenant = NULL;
}

/* Runs redis-cli against REDIS_URL over TLS with the given command words;
 * returns its stdout (malloc'd). Fails the test when redis-cli fails. */
static char *rcli(const char *const *words)
{
	const char *argv[32];
	int n = 0;
	argv[n++] = "redis-cli";
	argv[n++] = "-u";
	argv[n++] = getenv("REDIS_URL");
	argv[n++] = "--tls";
	argv[n++] = "--cacert";
	argv[n++] = getenv("REDIS_TLS_CA_FILE");
	argv[n++] = "--no-auth-warning";
	const char *pw = getenv("REDIS_PASSWORD");
	if (pw && *pw) {
		argv[n++] = "-a";
		argv[n++] = pw;
	}
	argv[n++] = "--raw";
	for (size_t i = 0; words[i]; i++) {
		ck_assert_msg(n < 31, "too many redis-cli arguments");
		argv[n++] = words[i];
	}
	argv[n] = NULL;

	int fds[2];
	ck_assert_msg(pipe(fds) == 0, "pipe: %s", strerror(errno));
	pid_t pid = fork();
	ck_assert_msg(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execvp("redis-cli", (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	ck_assert(out != NULL);
	for (;;) {
		if (len + 1024 > cap) {
			cap *= 2;
			out = realloc(out, cap);
			ck_assert(out != NULL);
		}
		ssize_t k = read(fds[0], out + len, cap - len - 1);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		len += (size_t)k;
	}
	out[len] = '\0';
	close(fds[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "redis-cli %s failed (status %d): %s",
	              words[0], st, out);
	ck_assert_msg(strncmp(out, "ERR", 3) != 0 && strstr(out, "Could not connect") == NULL,
	              "redis-cli %s: %s", words[0], out);
	return out;
}

/* Keys of the tenant (one per line of the --scan output), newline-separated. */
static size_t tenant_keys(char ***out)
{
	char *et = it_key_enc(tenant);
	char *pat = it_strfmt("*{%s*", et);
	const char *w[] = {"--scan", "--pattern", pat, NULL};
	char *s = rcli(w);
	size_t n = 0;
	char **v = NULL;
	for (char *line = strtok(s, "\n"); line; line = strtok(NULL, "\n")) {
		if (*line == '\0')
			continue;
		v = realloc(v, (n + 1) * sizeof *v);
		ck_assert(v != NULL);
		v[n++] = strdup(line);
	}
	free(s);
	free(pat);
	free(et);
	*out = v;
	return n;
}

static void free_keys(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void put_two_and_writes(const char *thread)
{
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	it_put_ok(
	    tenant,
	    it_put_body(thread, "", id1, NULL,
	                it_checkpoint(id1, json_pack("{s:s,s:s}", "a", "1", "b", "1")),
	                json_pack("{s:i}", "step", 0),
	                json_pack("[o,o]", it_blob("a", json_string("1"), "bytes", BIN, sizeof BIN),
	                          it_blob("b", json_string("1"), "json", "b1", 2))));
	it_put_ok(tenant,
	          it_put_body(thread, "", id2, id1,
	                      it_checkpoint(id2, json_pack("{s:s,s:s}", "a", "1", "b", "2")),
	                      json_pack("{s:i}", "step", 1),
	                      json_pack("[o]", it_blob("b", json_integer(2), "json", "b2", 2))));
	json_t *w = json_pack("[o,o]", it_write("x", "json", "wx", 2),
	                      it_write("__interrupt__", "json", "wi", 2));
	it_put_writes_ok(tenant, thread, it_writes_body("", id2, "task-1", "", w));
	free(id1);
	free(id2);
}

START_TEST(test_readyz_reports_tls_redis_reachable)
{
	it_response *r = it_json_request("GET", "/readyz", NULL, NULL);
	it_expect_status(r, 200);
	json_t *redis = json_object_get(json_object_get(r->json, "stores"), "redis");
	ck_assert_msg(json_is_true(json_object_get(redis, "reachable")),
	              "stores.redis.reachable != true over TLS: %s", r->desc);
	it_response_free(r);
}
END_TEST

START_TEST(test_round_trip_over_tls)
{
	put_two_and_writes("tls-thread");
	json_t *t = it_get_ok(tenant, "tls-thread", NULL, NULL);
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	it_expect_config(json_object_get(t, "config"), "tls-thread", "", id2);
	it_expect_config(json_object_get(t, "parent_config"), "tls-thread", "", id1);
	it_expect_channel_value(t, "a", "bytes", BIN, sizeof BIN); /* from the parent's blob */
	it_expect_channel_value(t, "b", "json", "b2", 2);
	json_t *pw = json_object_get(t, "pending_writes");
	ck_assert_msg(json_array_size(pw) == 2, "expected 2 pending writes");
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(pw, 0), "idx")), -3);
	ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(pw, 1), "idx")), 0);
	json_decref(t);

	json_t *cps = it_list_ok(tenant, "thread_id=tls-thread");
	ck_assert_msg(json_array_size(cps) == 2, "list should return 2 checkpoints");
	ck_assert_str_eq(it_tuple_id(json_array_get(cps, 0)), id2);
	ck_assert_str_eq(it_tuple_id(json_array_get(cps, 1)), id1);
	json_decref(cps);
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_keys_written_over_tls_have_prefix_ttl_and_layout)
{
	put_two_and_writes("tls-keys");
	char **keys;
	size_t n = tenant_keys(&keys);
	ck_assert_msg(n >= 8, "expected >= 8 keys for the tenant in the TLS Redis, found %zu", n);
	char *pc = it_strfmt("%s:", it_key_prefix());
	/* the tenant's thread index: the TTL and the refresh interval (TTL / 10)
	 * of its entries; the thread's namespace set and namespace index: the
	 * TTL and two intervals; every other key: the TTL */
	char *kt = it_key_threads(tenant), *kn = it_key_thread_ns(tenant, "tls-keys"),
	     *kx = it_key_checkpoints(tenant, "tls-keys", "");
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(strncmp(keys[i], pc, strlen(pc)) == 0,
		              "key %s does not start with %s", keys[i], pc);
		long want = it_configured_ttl();
		if (!strcmp(keys[i], kt))
			want += (long)(it_index_every_ms() / 1000);
		else if (!strcmp(keys[i], kn) || !strcmp(keys[i], kx))
			want += (long)(2 * it_index_every_ms() / 1000);
		const char *w[] = {"TTL", keys[i], NULL};
		char *s = rcli(w);
		long ttl = strtol(s, NULL, 10);
		ck_assert_msg(ttl > 0 && ttl <= want && ttl >= want - 60,
		              "key %s: TTL %ld, expected close to %ld", keys[i], ttl, want);
		free(s);
	}
	free(kt);
	free(kn);
	free(kx);
	char *id2 = it_cp_id(2);
	char *expect[] = {it_key_checkpoint(tenant, "tls-keys", "", id2),
	                  it_key_checkpoints(tenant, "tls-keys", ""),
	                  it_key_blob(tenant, "tls-keys", "", "a", "1"),
	                  it_key_blob(tenant, "tls-keys", "", "b", "2"),
	                  it_key_writes(tenant, "tls-keys", "", id2),
	                  it_key_thread_keys(tenant, "tls-keys"),
	                  it_key_thread_ns(tenant, "tls-keys"),
	                  it_key_thread_indexed(tenant, "tls-keys"),
	                  it_key_threads(tenant)};
	for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
		int found = 0;
		for (size_t j = 0; j < n; j++)
			found |= strcmp(keys[j], expect[i]) == 0;
		ck_assert_msg(found, "expected key %s not found in the TLS Redis", expect[i]);
		free(expect[i]);
	}
	free(id2);
	free(pc);
	free_keys(keys, n);
}
END_TEST

START_TEST(test_delete_over_tls_removes_thread_keys)
{
	put_two_and_writes("tls-del");
	put_two_and_writes("tls-stay");
	it_response *r = it_delete(tenant, "tls-del");
	it_expect_status(r, 204);
	it_response_free(r);
	char **keys;
	size_t n = tenant_keys(&keys);
	char *tag = it_tag(tenant, "tls-del");
	char *stay = it_tag(tenant, "tls-stay");
	size_t stay_n = 0;
	for (size_t i = 0; i < n; i++) {
		ck_assert_msg(strstr(keys[i], tag) == NULL, "key %s of the deleted thread remains",
		              keys[i]);
		stay_n += strstr(keys[i], stay) != NULL;
	}
	ck_assert_msg(stay_n >= 7, "the other thread lost keys (%zu left)", stay_n);
	r = it_get(tenant, "tls-del", NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	free(tag);
	free(stay);
	free_keys(keys, n);
}
END_TEST

START_TEST(test_rejected_request_writes_nothing_over_tls)
{
	const char *hdrs[] = {NULL, NULL};
	char *th = it_strfmt("X-Tenant-Id: %s", tenant);
	hdrs[0] = th;
	it_response *r = it_request("POST", "/checkpoints", hdrs, "{\"thread_id\":", 13);
	it_expect_error(r, 400, "invalid_json", NULL);
	it_response_free(r);
	char **keys;
	size_t n = tenant_keys(&keys);
	ck_assert_msg(n == 0, "a rejected request left %zu key(s)", n);
	free_keys(keys, n);
	free(th);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memoryd_tls");
	TCase *t = tcase_create("tls");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, 60);
	tcase_add_test(t, test_readyz_reports_tls_redis_reachable);
	tcase_add_test(t, test_round_trip_over_tls);
	tcase_add_test(t, test_keys_written_over_tls_have_prefix_ttl_and_layout);
	tcase_add_test(t, test_delete_over_tls_removes_thread_keys);
	tcase_add_test(t, test_rejected_request_writes_nothing_over_tls);
	suite_add_tcase(s, t);
	return it_run_suite(s);
}
