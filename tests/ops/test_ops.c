/*
 * Operating memoryd: bearer tokens, /health/memory and /metrics, HEAD, the
 * admin tools, against a running memoryd (tests/with-memoryd.sh) on the Redis
 * in REDIS_URL. The token cases expect API_TOKENS="tok-acme-for-tests:acme;tok-ops-for-tests:*",
 * the admin and health cases ADMIN_TOKEN=adm-secret-for-tests (see CMakeLists.txt;
 * the health case sends it for the store details of /health/memory). CK_RUN_CASE
 * picks the cases for each server setting.
 */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <hiredis/hiredis.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"
#include "redis_inspect.h"

static it_response *get_as(const char *path, const char *tenant, const char *auth)
{
	char th[128], ah[128];
	const char *h[3] = {NULL, NULL, NULL};
	int n = 0;
	if (tenant) {
		snprintf(th, sizeof(th), "X-Tenant-Id: %s", tenant);
		h[n++] = th;
	}
	if (auth) {
		snprintf(ah, sizeof(ah), "Authorization: %s", auth);
		h[n++] = ah;
	}
	return it_request("GET", path, h, NULL, 0);
}

static void expect_error(it_response *r, long status, const char *code)
{
	ck_assert_msg(r->status == status, "want %ld: %s", status, r->desc);
	json_t *e = json_object_get(r->json, "error");
	ck_assert_msg(e && !strcmp(json_string_value(json_object_get(e, "code")), code),
	              "want error code %s: %s", code, r->desc);
}

/* A 405 that names the methods the path takes. */
static void expect_405(const char *method, const char *path, const char *allow)
{
	it_response *r = it_request(method, path, NULL, NULL, 0);
	it_expect_error(r, 405, "method_not_allowed", NULL);
	const char *got = it_header_get(r, "Allow");
	ck_assert_msg(got && !strcmp(got, allow), "want Allow: %s, got %s: %s", allow,
	              got ? got : "(none)", r->desc);
	json_t *e = json_object_get(r->json, "error");
	ck_assert_msg(strstr(json_string_value(json_object_get(e, "message")), method),
	              "the message should name the method: %s", r->body);
	it_response_free(r);
}

/* The HEAD answer carries what GET's does (Date aside), header for header,
 * and no body. */
static void expect_head_like_get(const it_response *head, const it_response *get)
{
	ck_assert_msg(head->status == get->status, "HEAD %ld, GET %ld: %s", head->status,
	              get->status, get->desc);
	ck_assert_msg(head->body_len == 0, "HEAD with a body: %s", head->desc);
	ck_assert_msg(head->n_headers == get->n_headers, "HEAD sent %zu headers, GET %zu: %s",
	              head->n_headers, get->n_headers, get->desc);
	for (size_t i = 0; i < get->n_headers; i++) {
		const char *name = get->headers[i].name;
		const char *hv = it_header_get(head, name);
		ck_assert_msg(hv, "HEAD lacks %s: %s", name, get->desc);
		if (strcasecmp(name, "Date"))
			ck_assert_msg(!strcmp(hv, get->headers[i].value), "%s: HEAD '%s', GET '%s'",
			              name, hv, get->headers[i].value);
	}
	const char *cl = it_header_get(get, "Content-Length");
	ck_assert_msg(cl && strtoul(cl, NULL, 10) == get->body_len, "GET Content-Length %s for %zu",
	              cl ? cl : "(none)", get->body_len);
}

/* HEAD over a raw connection (curl never reads a HEAD body): the bytes after
 * the header block must be none. */
static void expect_head_sends_no_body(const char *path, const char *tenant)
{
	const char *url = it_base_url();
	ck_assert_msg(!strncmp(url, "http://", 7), "MEMORYD_URL %s", url);
	char host[256];
	snprintf(host, sizeof(host), "%s", url + 7);
	char *colon = strrchr(host, ':');
	ck_assert_msg(colon, "no port in MEMORYD_URL %s", url);
	*colon = '\0';
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai;
	ck_assert_msg(getaddrinfo(host, colon + 1, &hints, &ai) == 0, "resolve %s", url);
	int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	ck_assert_msg(fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0, "connect %s", url);
	freeaddrinfo(ai);
	char *req = it_strfmt("HEAD %s HTTP/1.1\r\nHost: %s\r\nX-Tenant-Id: %s\r\n"
	                      "Connection: close\r\n\r\n",
	                      path, host, tenant);
	ck_assert(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
	free(req);
	char got[8192];
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(got) - 1 && (k = read(fd, got + n, sizeof(got) - 1 - n)) > 0)
		n += (size_t)k;
	close(fd);
	got[n] = '\0';
	const char *end = strstr(got, "\r\n\r\n");
	ck_assert_msg(end, "no header block in the HEAD answer: %s", got);
	ck_assert_msg(end + 4 == got + n, "HEAD %s sent %zu body bytes: %s", path,
	              (size_t)(got + n - (end + 4)), end + 4);
}

static void put_cp(const char *tenant, const char *thread, int n)
{
	char *id = it_cp_id(n);
	it_put_ok(tenant, it_put_body(thread, NULL, id, NULL, it_checkpoint(id, json_object()),
	                              NULL, NULL));
	free(id);
}

START_TEST(test_missing_token_is_401_with_challenge)
{
	it_response *r = get_as("/checkpoints/t1", "acme", NULL);
	expect_error(r, 401, "unauthorized");
	ck_assert_msg(it_header_get(r, "WWW-Authenticate"), "401 without WWW-Authenticate");
	it_response_free(r);
	r = get_as("/checkpoints/t1", "acme", "Bearer not-a-token");
	expect_error(r, 401, "unauthorized");
	ck_assert_msg(!strstr(r->body, "not-a-token"), "a token was echoed: %s", r->body);
	it_response_free(r);
}
END_TEST

START_TEST(test_head_without_token_is_401_with_challenge)
{
	const char *paths[] = {"/checkpoints/t1", "/checkpoints?limit=5"};
	for (size_t i = 0; i < 2; i++) {
		const char *h[] = {"X-Tenant-Id: acme", "X-Request-Id: head-401", NULL};
		it_response *get = it_request("GET", paths[i], h, NULL, 0);
		it_response *head = it_request("HEAD", paths[i], h, NULL, 0);
		expect_error(get, 401, "unauthorized");
		ck_assert_str_eq(it_header_get(head, "WWW-Authenticate"),
		                 "Bearer realm=\"memoryd\"");
		expect_head_like_get(head, get);
		it_response_free(get);
		it_response_free(head);
	}
}
END_TEST

/* The whole of memoryd's log (MEMORYD_LOG) as one string; caller frees. */
static char *read_log(void)
{
	FILE *f = fopen(it_require_env("MEMORYD_LOG"), "r");
	ck_assert(f != NULL);
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	size_t got;
	while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
		n += got;
		if (cap - n < 2)
			buf = realloc(buf, cap *= 2);
	}
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Each request is logged as one JSON line with its request id and the
 * fields an operator greps for; no token ever reaches the log. */
START_TEST(test_access_log_names_the_request_never_the_token)
{
	const char *h[] = {"X-Tenant-Id: acme", "X-Request-Id: ops-log-rid-7f3a",
	                   "Authorization: Bearer tok-acme-for-tests", NULL};
	it_response *r = it_request("GET", "/checkpoints/t-log", h, NULL, 0);
	expect_error(r, 404, "not_found");
	ck_assert_str_eq(it_header_get(r, "X-Request-Id"), "ops-log-rid-7f3a");
	it_response_free(r);
	const char *bad[] = {"X-Tenant-Id: acme", "Authorization: Bearer tok-not-known-9", NULL};
	r = it_request("GET", "/checkpoints/t-log", bad, NULL, 0);
	expect_error(r, 401, "unauthorized");
	it_response_free(r);
	char *line = NULL;
	for (int i = 0; i < 50 && !line; i++) {
		char *log = read_log();
		char *at = strstr(log, "\"request_id\":\"ops-log-rid-7f3a\"");
		if (at) {
			char *start = at, *end = strchr(at, '\n');
			while (start > log && start[-1] != '\n')
				start--;
			line = strndup(start, end ? (size_t)(end - start) : strlen(start));
		}
		ck_assert_msg(!strstr(log, "tok-acme-for-tests") &&
		                  !strstr(log, "tok-ops-for-tests") &&
		                  !strstr(log, "tok-not-known-9"),
		              "a token reached the log");
		free(log);
		if (!line) {
			struct timespec ts = {0, 40 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	ck_assert_msg(line != NULL, "no log line carries the request id");
	json_t *j = json_loads(line, 0, NULL);
	ck_assert_msg(j != NULL, "the log line is not JSON: %s", line);
	static const char *const fields[] = {"ts",    "level",  "msg",         "pid",   "method",
	                                     "route", "status", "duration_ms", "store", "tenant"};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		ck_assert_msg(json_object_get(j, fields[i]) != NULL, "no %s in %s", fields[i],
		              line);
	ck_assert_str_eq(json_string_value(json_object_get(j, "route")),
	                 "/checkpoints/{thread_id}");
	ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "GET");
	ck_assert_str_eq(json_string_value(json_object_get(j, "tenant")), "acme");
	ck_assert_int_eq(json_integer_value(json_object_get(j, "status")), 404);
	json_decref(j);
	free(line);
}
END_TEST

START_TEST(test_token_for_another_tenant_is_403)
{
	it_response *r = get_as("/checkpoints/t1", "globex", "Bearer tok-acme-for-tests");
	expect_error(r, 403, "forbidden");
	it_response_free(r);
}
END_TEST

START_TEST(test_token_for_its_tenant_and_wildcard_pass)
{
	it_response *r = get_as("/checkpoints/t1", "acme", "Bearer tok-acme-for-tests");
	expect_error(r, 404, "not_found"); /* authorised: the thread just does not exist */
	it_response_free(r);
	r = get_as("/checkpoints/t1", "anyone", "bearer tok-ops-for-tests");
	expect_error(r, 404, "not_found");
	it_response_free(r);
}
END_TEST

START_TEST(test_probes_and_metrics_need_no_token)
{
	const char *paths[] = {"/healthz", "/readyz", "/health/memory", "/metrics"};
	for (size_t i = 0; i < 4; i++) {
		it_response *r = get_as(paths[i], NULL, NULL);
		ck_assert_msg(r->status == 200, "%s", r->desc);
		it_response_free(r);
	}
}
END_TEST

#define ADMIN_AUTH "Bearer adm-secret-for-tests"

START_TEST(test_health_memory_reports_redis)
{
	it_response *r = get_as("/health/memory", NULL, ADMIN_AUTH);
	ck_assert_msg(r->status == 200 && r->json, "%s", r->desc);
	json_t *j = r->json;
	ck_assert(json_is_true(json_object_get(j, "healthy")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "connectionState")), "connected");
	ck_assert(json_is_integer(json_object_get(j, "reconnectAttempts")));
	ck_assert(json_is_number(json_object_get(j, "latencyMs")));
	ck_assert_str_eq(json_string_value(json_object_get(j, "primary")), "redis");
	ck_assert(json_is_false(json_object_get(j, "dual_write")));
	json_t *redis = json_object_get(j, "redis");
	ck_assert_msg(json_integer_value(json_object_get(redis, "used_memory")) > 0, "%s", r->body);
	ck_assert(json_is_string(json_object_get(redis, "maxmemory_policy")));
	ck_assert(json_is_integer(json_object_get(redis, "evicted_keys")));
	ck_assert(json_is_boolean(json_object_get(redis, "aof_enabled")));
	ck_assert(json_is_true(
	    json_object_get(json_object_get(json_object_get(j, "stores"), "redis"), "reachable")));
	it_response_free(r);
}
END_TEST

START_TEST(test_health_memory_warns_on_allkeys_eviction)
{
	redisContext *rc = it_redis_connect();
	redisReply *old = redisCommand(rc, "CONFIG GET maxmemory-policy");
	ck_assert(old && old->type == REDIS_REPLY_ARRAY && old->elements == 2);
	char *was = strdup(old->element[1]->str);
	freeReplyObject(old);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory-policy allkeys-lru"));
	it_response *r = get_as("/health/memory", NULL, ADMIN_AUTH);
	freeReplyObject(redisCommand(rc, "CONFIG SET maxmemory-policy %s", was));
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_is_true(json_object_get(r->json, "healthy")), "warnings keep healthy");
	json_t *w = json_object_get(r->json, "warnings");
	ck_assert_msg(json_array_size(w) >= 1 &&
	                  strstr(json_string_value(json_array_get(w, 0)), "allkeys-lru"),
	              "no eviction warning: %s", r->body);
	it_response_free(r);
	r = get_as("/health/memory", NULL, ADMIN_AUTH);
	ck_assert_msg(json_array_size(json_object_get(r->json, "warnings")) == 0,
	              "warning stays after the policy was restored: %s", r->body);
	it_response_free(r);
	free(was);
	redisFree(rc);
}
END_TEST

/* Without the admin token /readyz and /health/memory say what a probe needs:
 * no Redis figures, warnings, archiver, error messages or routing history
 * (issue 15). A wrong token gets the same, not a 401. */
START_TEST(test_probes_hide_store_details_without_admin_token)
{
	const char *who[] = {NULL, "Bearer not-the-admin-token-at-all", ADMIN_AUTH};
	for (int i = 0; i < 3; i++) {
		int details = i == 2;
		it_response *r = get_as("/health/memory", NULL, who[i]);
		ck_assert_msg(r->status == 200, "%s", r->desc);
		ck_assert(json_is_true(json_object_get(r->json, "healthy")));
		ck_assert_str_eq(json_string_value(json_object_get(r->json, "connectionState")),
		                 "connected");
		ck_assert_msg((json_object_get(r->json, "redis") != NULL) == details &&
		                  (json_object_get(r->json, "warnings") != NULL) == details &&
		                  (json_object_get(r->json, "archiver") != NULL) == details,
		              "%s: %s", who[i] ? who[i] : "no token", r->body);
		ck_assert_msg(details || !strstr(r->body, "used_memory"), "%s", r->body);
		it_response_free(r);
		r = get_as("/readyz", NULL, who[i]);
		ck_assert_msg(r->status == 200, "%s", r->desc);
		json_t *routing = json_object_get(r->json, "routing");
		ck_assert_str_eq(json_string_value(json_object_get(routing, "primary")), "redis");
		ck_assert_msg((json_object_get(routing, "changed_by") != NULL) == details &&
		                  (json_object_get(routing, "since") != NULL) == details,
		              "%s: %s", who[i] ? who[i] : "no token", r->body);
		it_response_free(r);
	}
}
END_TEST

START_TEST(test_metrics_count_requests_by_route_template)
{
	char *t = it_random_id("ops-");
	for (int i = 0; i < 3; i++) {
		it_response *r = get_as("/checkpoints/some-raw-thread-id", t, NULL);
		it_response_free(r);
	}
	it_response *m = get_as("/metrics", NULL, NULL);
	ck_assert_msg(m->status == 200, "%s", m->desc);
	ck_assert_msg(strstr(it_header_get(m, "Content-Type"), "text/plain"), "content type");
	ck_assert_msg(strstr(m->body, "http_requests_total{route=\"/checkpoints/{thread_id}\","
	                              "method=\"GET\",code=\"404\"}"),
	              "no per-route counter:\n%s", m->body);
	ck_assert_msg(!strstr(m->body, "some-raw-thread-id"), "a raw id became a label");
	const char *families[] = {"redis_up 1",
	                          "redis_latency_p95_ms",
	                          "redis_reconnects_total",
	                          "store_primary{store=\"redis\"} 1",
	                          "dual_write_enabled 0",
	                          "checkpoints_written_total",
	                          "memoryd_build_info{version=",
	                          "http_request_duration_seconds_bucket"};
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
		ck_assert_msg(strstr(m->body, families[i]), "missing %s", families[i]);
	it_response_free(m);
	free(t);
}
END_TEST

START_TEST(test_probes_and_metrics_answer_405_with_allow)
{
	expect_405("POST", "/health/memory", "GET, HEAD");
	expect_405("DELETE", "/health/memory", "GET, HEAD");
	expect_405("PUT", "/metrics", "GET, HEAD");
	expect_405("POST", "/metrics", "GET, HEAD");
}
END_TEST

START_TEST(test_head_checkpoint_tuple_is_get_without_body)
{
	char *t = it_random_id("head-"), *id1 = it_cp_id(1);
	put_cp(t, "th", 1);
	char th[128];
	snprintf(th, sizeof(th), "X-Tenant-Id: %s", t);
	const char *paths[] = {"/checkpoints/th",
	                       "/checkpoints/th?checkpoint_ns=", "/checkpoints/nope",
	                       "/checkpoints/th?checkpoint_id=missing"};
	const long want[] = {200, 200, 404, 404};
	for (size_t i = 0; i < 4; i++) {
		const char *h[] = {th, "X-Request-Id: head-tuple", NULL};
		it_response *get = it_request("GET", paths[i], h, NULL, 0);
		it_response *head = it_request("HEAD", paths[i], h, NULL, 0);
		ck_assert_msg(get->status == want[i], "%s", get->desc);
		if (want[i] == 200)
			it_expect_config(json_object_get(get->json, "config"), "th", "", id1);
		else
			it_expect_error(get, 404, "not_found", NULL);
		ck_assert_str_eq(it_header_get(head, "X-Request-Id"), "head-tuple");
		ck_assert_msg(strstr(it_header_get(head, "Content-Type"), "application/json"), "%s",
		              head->desc);
		expect_head_like_get(head, get);
		it_response_free(get);
		it_response_free(head);
	}
	expect_head_sends_no_body("/checkpoints/th", t);
	expect_head_sends_no_body("/checkpoints/nope", t);
	free(id1);
	free(t);
}
END_TEST

START_TEST(test_head_checkpoint_list_is_get_without_body)
{
	char *t = it_random_id("head-");
	put_cp(t, "th", 1);
	put_cp(t, "th", 2);
	char th[128];
	snprintf(th, sizeof(th), "X-Tenant-Id: %s", t);
	const char *paths[] = {"/checkpoints", "/checkpoints?thread_id=th&limit=1",
	                       "/checkpoints?limit=0", "/checkpoints?limit=x",
	                       "/checkpoints?filter=%7Bnot-json"};
	const long want[] = {200, 200, 400, 400, 400};
	for (size_t i = 0; i < 5; i++) {
		const char *h[] = {th, "X-Request-Id: head-list", NULL};
		it_response *get = it_request("GET", paths[i], h, NULL, 0);
		it_response *head = it_request("HEAD", paths[i], h, NULL, 0);
		ck_assert_msg(get->status == want[i], "%s", get->desc);
		if (want[i] == 200)
			ck_assert_msg(json_array_size(json_object_get(get->json, "checkpoints")) ==
			                  (i == 0 ? 2u : 1u),
			              "%s", get->desc);
		else
			ck_assert_msg(json_object_get(json_object_get(get->json, "error"), "field"),
			              "a 400 should name the field: %s", get->body);
		expect_head_like_get(head, get);
		it_response_free(get);
		it_response_free(head);
	}
	expect_head_sends_no_body("/checkpoints?thread_id=th", t);
	expect_head_sends_no_body("/checkpoints?limit=0", t);
	free(t);
}
END_TEST

/* ---- admin tools: the server runs with ADMIN_TOKEN=adm-secret-for-tests ---- */

static it_response *admin(const char *method, const char *path, const char *tenant)
{
	char th[128];
	const char *h[3] = {"Authorization: Bearer adm-secret-for-tests", NULL, NULL};
	if (tenant) {
		snprintf(th, sizeof(th), "X-Tenant-Id: %s", tenant);
		h[1] = th;
	}
	return it_request(method, path, h, NULL, 0);
}

/* Every admin route, as method and path. */
static const char *const admin_routes[][2] = {
    {"POST", "/admin/backup"},           {"POST", "/admin/ttl-repair"},
    {"GET", "/admin/threads/x"},         {"DELETE", "/admin/threads/x/checkpoints/c"},
    {"DELETE", "/admin/tenants/nobody"}, {"POST", "/admin/archive"},
};
#define N_ADMIN_ROUTES (sizeof(admin_routes) / sizeof(admin_routes[0]))

START_TEST(test_admin_without_admin_token_configured_is_403)
{
	it_response *r = get_as("/admin/threads/x", NULL, "Bearer anything");
	expect_error(r, 403, "forbidden");
	ck_assert_msg(strstr(r->body, "ADMIN_TOKEN"), "should say why: %s", r->body);
	it_response_free(r);
	const char *h[] = {"Authorization: Bearer adm-secret-for-tests", NULL};
	for (size_t i = 0; i < N_ADMIN_ROUTES; i++) {
		for (int with_token = 0; with_token < 2; with_token++) {
			r = it_request(admin_routes[i][0], admin_routes[i][1],
			               with_token ? h : NULL, NULL, 0);
			it_expect_error(r, 403, "forbidden", NULL);
			ck_assert_msg(strstr(r->body, "ADMIN_TOKEN is not set"), "%s", r->desc);
			ck_assert_msg(!it_header_get(r, "WWW-Authenticate"), "no token helps: %s",
			              r->desc);
			it_response_free(r);
		}
	}
}
END_TEST

START_TEST(test_admin_needs_the_admin_token)
{
	it_response *r = it_request("POST", "/admin/backup", NULL, NULL, 0);
	expect_error(r, 401, "unauthorized");
	it_response_free(r);
	const char *h[] = {"Authorization: Bearer wrong", NULL};
	r = it_request("POST", "/admin/backup", h, NULL, 0);
	expect_error(r, 403, "forbidden");
	it_response_free(r);
	const char *basic[] = {"Authorization: Basic YWRtOmFkbS1zZWNyZXQ=", NULL};
	const char *wrong[] = {"Authorization: Bearer adm-secret-for-tests-not", NULL};
	for (size_t i = 0; i < N_ADMIN_ROUTES; i++) {
		const char *m = admin_routes[i][0], *p = admin_routes[i][1];
		r = it_request(m, p, NULL, NULL, 0);
		it_expect_error(r, 401, "unauthorized", "Authorization");
		const char *challenge = it_header_get(r, "WWW-Authenticate");
		ck_assert_msg(challenge && !strcmp(challenge, "Bearer realm=\"memoryd\""),
		              "401 without the challenge: %s", r->desc);
		it_response_free(r);
		r = it_request(m, p, basic, NULL, 0);
		it_expect_error(r, 401, "unauthorized", "Authorization");
		it_response_free(r);
		r = it_request(m, p, wrong, NULL, 0);
		it_expect_error(r, 403, "forbidden", "Authorization");
		ck_assert_msg(!strstr(r->body, "adm-secret-for-tests"), "a token was echoed: %s",
		              r->body);
		ck_assert_msg(!it_header_get(r, "WWW-Authenticate"), "%s", r->desc);
		it_response_free(r);
	}
}
END_TEST

START_TEST(test_admin_rejects_bad_ids_with_400)
{
	char *t = it_random_id("adm-");
	put_cp(t, "th", 1);
	char *id1 = it_cp_id(1);
	const char *cases[][3] = {
	    /* method, path, the field named */
	    {"GET", "/admin/threads/bad%01id", "thread_id"},
	    {"GET", "/admin/threads/bad%7Fid", "thread_id"},
	    {"GET", "/admin/threads/bad%00id", "path"},
	    {"DELETE", "/admin/threads/th/checkpoints/c%01", "checkpoint_id"},
	    {"DELETE", "/admin/threads/t%0Ah/checkpoints/c", "thread_id"},
	    {"DELETE", "/admin/threads/th/checkpoints/c?checkpoint_ns=%01", "checkpoint_ns"},
	    {"DELETE", "/admin/tenants/a%01b", "tenant"},
	    {"DELETE", "/admin/tenants/%FF", "tenant"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		it_response *r = admin(cases[i][0], cases[i][1], t);
		it_expect_error(r, 400, "invalid_field", cases[i][2]);
		it_response_free(r);
	}
	/* a tenant name too long for the path parameter */
	char *path = it_strfmt("/admin/tenants/%065d", 7);
	it_response *r = admin("DELETE", path, NULL);
	it_expect_error(r, 400, "invalid_field", "tenant");
	it_response_free(r);
	free(path);
	/* nothing was removed on the way */
	json_t *latest = it_get_ok(t, "th", NULL, NULL);
	it_expect_config(json_object_get(latest, "config"), "th", "", id1);
	json_decref(latest);
	free(id1);
	free(t);
}
END_TEST

START_TEST(test_admin_unknown_thread_and_checkpoint_are_404)
{
	char *t = it_random_id("adm-");
	it_response *r = admin("GET", "/admin/threads/never-written", t);
	it_expect_error(r, 404, "not_found", NULL);
	ck_assert_msg(strstr(r->body, "never-written"), "should name the thread: %s", r->body);
	it_response_free(r);
	r = admin("DELETE", "/admin/threads/never-written/checkpoints/c1", t);
	it_expect_error(r, 404, "not_found", NULL);
	ck_assert_msg(strstr(r->body, "c1"), "should name the checkpoint: %s", r->body);
	it_response_free(r);
	/* the same thread in another tenant is not this one */
	put_cp(t, "th", 1);
	char *other = it_random_id("adm-");
	r = admin("GET", "/admin/threads/th", other);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	/* forgetting a tenant that holds nothing is not an error */
	char *path = it_strfmt("/admin/tenants/%s", other);
	r = admin("DELETE", path, NULL);
	it_expect_status(r, 200);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "tenant")), other);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "deleted")) == 0 &&
	                  json_integer_value(json_object_get(r->json, "scanned")) == 0,
	              "%s", r->body);
	it_response_free(r);
	free(path);
	free(other);
	free(t);
}
END_TEST

START_TEST(test_admin_wrong_method_is_405_with_allow)
{
	expect_405("GET", "/admin/backup", "POST");
	expect_405("DELETE", "/admin/ttl-repair", "POST");
	expect_405("POST", "/admin/threads/x", "GET, HEAD");
	expect_405("DELETE", "/admin/threads/x", "GET, HEAD");
	expect_405("GET", "/admin/threads/x/checkpoints/c", "DELETE");
	expect_405("GET", "/admin/tenants/x", "DELETE");
	expect_405("POST", "/admin/tenants/x", "DELETE");
}
END_TEST

START_TEST(test_admin_ttl_repair_fixes_keys_without_ttl)
{
	redisContext *rc = it_redis_connect();
	char *k1 = it_strfmt("%s:checkpoint:{hand-made:%s}::1", it_key_prefix(), "t");
	char *k2 = it_strfmt("%s:blob:{hand-made:%s}::c:1", it_key_prefix(), "t");
	freeReplyObject(redisCommand(rc, "SET %s x", k1));
	freeReplyObject(redisCommand(rc, "SET %s y", k2));
	freeReplyObject(redisCommand(rc, "SET not-ours-%s z", k1));
	/* a /memory item written by hand gets MEMORY_DEFAULT_TTL_SECONDS */
	char *k3 = it_strfmt("%s:memory:{hand-made}:ns:k", it_key_prefix());
	freeReplyObject(redisCommand(rc, "HSET %s v 1", k3));
	ck_assert(it_redis_ttl(rc, k1) == -1);
	it_response *r = admin("POST", "/admin/ttl-repair", NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "fixed")) >= 2, "%s", r->body);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "scanned")) >=
	                  json_integer_value(json_object_get(r->json, "fixed")),
	              "%s", r->body);
	ck_assert(it_redis_ttl(rc, k1) > 0 && it_redis_ttl(rc, k2) > 0);
	redisReply *other = redisCommand(rc, "TTL not-ours-%s", k1);
	ck_assert_msg(other->integer == -1, "a key outside the prefix was touched");
	freeReplyObject(other);
	freeReplyObject(redisCommand(rc, "DEL not-ours-%s", k1));
	long long t3 = it_redis_ttl(rc, k3);
	ck_assert_msg(t3 > 0 && t3 <= 7200, "memory key TTL %lld, want MEMORY_DEFAULT_TTL_SECONDS",
	              t3);
	freeReplyObject(redisCommand(rc, "DEL %s", k3));
	free(k3);
	it_response_free(r);
	free(k1);
	free(k2);
	redisFree(rc);
}
END_TEST

START_TEST(test_admin_backup_returns_lastsave)
{
	it_response *r = admin("POST", "/admin/backup", NULL);
	if (it_redis_is_cluster()) { /* one BGSAVE cannot back up a cluster: 400 */
		it_expect_error(r, 400, "invalid_field", NULL);
		ck_assert_msg(strstr(r->body, "back up each primary"), "%s", r->body);
		it_response_free(r);
		return;
	}
	ck_assert_msg(r->status == 200, "%s", r->desc);
	long long last = json_integer_value(json_object_get(r->json, "last_save"));
	ck_assert_msg(last > (long long)time(NULL) - 120, "stale LASTSAVE: %s", r->body);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "store")), "redis");
	char iso[32];
	time_t lt = (time_t)last;
	struct tm tm;
	gmtime_r(&lt, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "last_save_at")), iso);
	it_response_free(r);
}
END_TEST

START_TEST(test_admin_thread_inspect_and_one_checkpoint_delete)
{
	char *t = it_random_id("adm-");
	put_cp(t, "th", 1);
	put_cp(t, "th", 2);
	it_response *r = admin("GET", "/admin/threads/th", t);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "checkpoints")) == 2, "%s",
	              r->body);
	json_t *keys = json_object_get(r->json, "keys");
	for (size_t i = 0; i < json_array_size(keys); i++) {
		json_t *k = json_array_get(keys, i);
		ck_assert_msg(json_integer_value(json_object_get(k, "ttl_ms")) > 0, "no TTL: %s",
		              r->body);
		ck_assert_msg(json_integer_value(json_object_get(k, "bytes")) > 0, "no size");
	}
	it_response_free(r);

	char *id2 = it_cp_id(2), *id1 = it_cp_id(1);
	char *path = it_strfmt("/admin/threads/th/checkpoints/%s", id2);
	r = admin("DELETE", path, t);
	ck_assert_msg(r->status == 204, "%s", r->desc);
	it_response_free(r);
	json_t *latest = it_get_ok(t, "th", NULL, NULL);
	it_expect_config(json_object_get(latest, "config"), "th", "", id1);
	json_decref(latest);
	r = admin("DELETE", path, t);
	expect_error(r, 404, "not_found");
	it_response_free(r);
	free(path);
	free(id1);
	free(id2);
	free(t);
}
END_TEST

START_TEST(test_admin_tenant_delete_forgets_only_that_tenant)
{
	char *t = it_random_id("gone-"), *keep = it_random_id("kept-");
	put_cp(t, "a", 1);
	put_cp(t, "b:{x}", 1);
	put_cp(keep, "a", 1);
	/* its conversations and /memory too */
	const char *const tenants[] = {t, keep};
	for (int i = 0; i < 2; i++) {
		json_t *m =
		    json_pack("{s:[{s:s, s:s}]}", "messages", "role", "user", "content", "hi");
		it_response *a =
		    it_json_request("POST", "/conversations/c1/messages", tenants[i], m);
		ck_assert_msg(a->status == 201, "%s", a->desc);
		it_response_free(a);
		json_decref(m);
		json_t *item =
		    json_pack("{s:[s], s:s, s:i}", "namespace", "facts", "key", "k", "value", 1);
		a = it_json_request("PUT", "/memory/items", tenants[i], item);
		ck_assert_msg(a->status == 200, "%s", a->desc);
		it_response_free(a);
		json_decref(item);
	}
	char *path = it_strfmt("/admin/tenants/%s", t);
	it_response *r = admin("DELETE", path, NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_msg(json_integer_value(json_object_get(r->json, "deleted")) >= 10, "%s", r->body);
	it_response_free(r);
	redisContext *rc = it_redis_connect();
	it_redis_expect_tenant_empty(rc, t, "tenant delete");
	it_strlist kept = {0};
	it_redis_tenant_keys(rc, keep, &kept);
	ck_assert_msg(kept.n >= 5 + 2 + 4, "the other tenant lost keys (%zu left)", kept.n);
	r = it_json_request("GET", "/memory/items?namespace=%5B%22facts%22%5D&key=k", t, NULL);
	ck_assert_msg(r->status == 404, "%s", r->desc);
	it_response_free(r);
	r = it_json_request("GET", "/memory/items?namespace=%5B%22facts%22%5D&key=k", keep, NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	it_response_free(r);
	r = it_json_request("GET", "/conversations/c1/messages", t, NULL);
	ck_assert_msg(r->status == 404, "%s", r->desc);
	it_response_free(r);
	it_strlist_free(&kept);
	redisFree(rc);
	free(path);
	free(t);
	free(keep);
}
END_TEST

/* The admin case runs with the default archive settings, which the safety
 * rule refuses: ARCHIVE_AFTER_SECONDS 82800 + ARCHIVE_INTERVAL_SECONDS 3600
 * is not below CHECKPOINT_TTL_SECONDS 86400. */
START_TEST(test_admin_archive_refuses_unsafe_settings)
{
	it_response *r = admin("POST", "/admin/archive", NULL);
	it_expect_error(r, 409, "conflict", "ARCHIVE_AFTER_SECONDS");
	ck_assert_msg(strstr(r->body, "is not below CHECKPOINT_TTL_SECONDS"), "%s", r->body);
	it_response_free(r);
}
END_TEST

/* ---- archive: ADMIN_TOKEN=adm-secret-for-tests, ARCHIVE_AFTER_SECONDS=3600 and a
 * CONV_KEY_PREFIX and KEY_PREFIX of its own (see CMakeLists.txt): a pass
 * takes every tenant's idle data, so other tests' is kept out of its reach
 * (a key whose TTL was set shorter than the configured one counts as idle) */

START_TEST(test_admin_archive_moves_idle_conversations_to_postgres)
{
	char *tenant = it_random_id("arch"), *idle = it_random_id("idle"),
	     *busy = it_random_id("busy");
	const char *const ids[2] = {idle, busy};
	for (int i = 0; i < 2; i++) {
		json_t *body = json_pack("{s:[{s:s, s:s}, {s:s, s:s}]}", "messages", "role", "user",
		                         "content", "hello", "role", "assistant", "content", "hi");
		char *path = it_strfmt("/conversations/%s/messages", ids[i]);
		it_response *r = it_json_request("POST", path, tenant, body);
		ck_assert_msg(r->status == 200 || r->status == 201, "%s", r->desc);
		it_response_free(r);
		free(path);
		json_decref(body);
	}
	/* idle is what every write refreshes, the TTL: two hours off it is two
	 * hours idle (CONV_TTL_SECONDS is the default 30 days) */
	redisContext *rc = it_redis_connect();
	char *enc_t = it_key_enc(tenant), *enc_i = it_key_enc(idle), *enc_b = it_key_enc(busy);
	char *meta = it_strfmt("opsarch:meta:{%s:%s}", enc_t, enc_i);
	char *busy_meta = it_strfmt("opsarch:meta:{%s:%s}", enc_t, enc_b);
	freeReplyObject(redisCommand(rc, "PEXPIRE %s %lld", meta, (2592000LL - 7200) * 1000));
	it_response *r = admin("POST", "/admin/archive", NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	ck_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "healthy");
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "checkpoints_archived")), 1);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "messages_archived")), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(r->json, "errors")), 0);
	char *last_run = strdup(json_string_value(json_object_get(r->json, "last_run")));
	it_response_free(r);
	ck_assert_msg(!it_redis_exists(rc, meta), "the archived conversation is still in Redis");
	ck_assert_msg(it_redis_exists(rc, busy_meta), "the active conversation left Redis");
	/* read back from the archive, in order */
	char *path = it_strfmt("/conversations/%s/messages", idle);
	r = get_as(path, tenant, NULL);
	ck_assert_msg(r->status == 200, "%s", r->desc);
	json_t *msgs = json_object_get(r->json, "messages");
	ck_assert_int_eq(json_array_size(msgs), 2);
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(msgs, 1), "content")),
	                 "hi");
	it_response_free(r);
	r = get_as("/health/memory", NULL, "Bearer adm-secret-for-tests");
	json_t *arch = json_object_get(r->json, "archiver");
	ck_assert_msg(json_is_object(arch), "no archiver in /health/memory: %s", r->body);
	ck_assert_str_eq(json_string_value(json_object_get(arch, "last_run")), last_run);
	it_response_free(r);
	r = get_as("/metrics", NULL, NULL);
	ck_assert_msg(strstr(r->body, "\narchiver_runs_total{status=\"healthy\"} 1\n") &&
	                  strstr(r->body, "\narchiver_messages_archived_total 2\n"),
	              "archiver metrics missing: %s", r->body);
	it_response_free(r);
	/* leave nothing for a later run's pass */
	for (int i = 0; i < 2; i++) {
		char *p = it_strfmt("/conversations/%s", ids[i]);
		const char *th[] = {NULL, NULL};
		char *h = it_strfmt("X-Tenant-Id: %s", tenant);
		th[0] = h;
		it_response_free(it_request("DELETE", p, th, NULL, 0));
		free(h);
		free(p);
	}
	redisFree(rc);
	free(last_run);
	free(path);
	free(meta);
	free(busy_meta);
	free(enc_t);
	free(enc_i);
	free(enc_b);
	free(tenant);
	free(idle);
	free(busy);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ops");
	TCase *tokens = tcase_create("tokens");
	tcase_add_test(tokens, test_missing_token_is_401_with_challenge);
	tcase_add_test(tokens, test_token_for_another_tenant_is_403);
	tcase_add_test(tokens, test_token_for_its_tenant_and_wildcard_pass);
	tcase_add_test(tokens, test_probes_and_metrics_need_no_token);
	tcase_add_test(tokens, test_head_without_token_is_401_with_challenge);
	tcase_add_test(tokens, test_access_log_names_the_request_never_the_token);
	suite_add_tcase(s, tokens);
	TCase *health = tcase_create("health");
	tcase_add_test(health, test_health_memory_reports_redis);
	tcase_add_test(health, test_health_memory_warns_on_allkeys_eviction);
	tcase_add_test(health, test_probes_hide_store_details_without_admin_token);
	tcase_add_test(health, test_metrics_count_requests_by_route_template);
	tcase_add_test(health, test_probes_and_metrics_answer_405_with_allow);
	tcase_add_test(health, test_head_checkpoint_tuple_is_get_without_body);
	tcase_add_test(health, test_head_checkpoint_list_is_get_without_body);
	suite_add_tcase(s, health);
	TCase *off = tcase_create("admin_off");
	tcase_add_test(off, test_admin_without_admin_token_configured_is_403);
	suite_add_tcase(s, off);
	TCase *adm = tcase_create("admin");
	tcase_set_timeout(adm, 120);
	tcase_add_test(adm, test_admin_needs_the_admin_token);
	tcase_add_test(adm, test_admin_rejects_bad_ids_with_400);
	tcase_add_test(adm, test_admin_unknown_thread_and_checkpoint_are_404);
	tcase_add_test(adm, test_admin_wrong_method_is_405_with_allow);
	tcase_add_test(adm, test_admin_ttl_repair_fixes_keys_without_ttl);
	tcase_add_test(adm, test_admin_backup_returns_lastsave);
	tcase_add_test(adm, test_admin_thread_inspect_and_one_checkpoint_delete);
	tcase_add_test(adm, test_admin_tenant_delete_forgets_only_that_tenant);
	tcase_add_test(adm, test_admin_archive_refuses_unsafe_settings);
	suite_add_tcase(s, adm);
	TCase *arch = tcase_create("archive");
	tcase_add_test(arch, test_admin_archive_moves_idle_conversations_to_postgres);
	suite_add_tcase(s, arch);
	return it_run_suite(s);
}
