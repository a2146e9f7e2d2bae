/* Integration tests for memoryd's checkpoint API against a real server and a
 * real Redis (plain TCP; see test_tls.c for rediss://).
 *
 * Environment: MEMORYD_URL (set by tests/with-memoryd.sh), REDIS_URL (the
 * Redis memoryd uses), KEY_PREFIX / CHECKPOINT_TTL_SECONDS / MAX_BODY_BYTES
 * when memoryd runs with non-default values. Each test uses a fresh random
 * tenant, so tests never see each other's data.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <jansson.h>

#include "http.h"
#include "it_common.h"
#include "it_main.h"
#include "redis_inspect.h"

static redisContext *rc;
static char *tenant;

/* Binary payload: NULs, high bytes, invalid UTF-8. */
static const unsigned char BIN[] = {0x00, 0x01, 0xff, 0xfe, 'h',  'i',  0x00, 0x80,
                                    0x7f, 0xc3, 0x28, 0x00, 0xf0, 0x9f, 0x98, 0x80};

static void setup(void)
{
	rc = it_redis_connect();
	tenant = it_random_id("it-");
}

static void teardown(void)
{
	if (rc)
		redisFree(rc);
	rc = NULL;
	free(tenant);
	tenant = NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Put a checkpoint whose channels are given as (channel, version, data)
 * triples; every blob has type "json". */
static void put_simple(const char *t, const char *thread, const char *ns, int n, int parent,
                       json_t *metadata)
{
	char *id = it_cp_id(n);
	char *pid = parent > 0 ? it_cp_id(parent) : NULL;
	char *data = it_strfmt("{\"n\":%d}", n);
	char *ver = it_strfmt("%05d", n);
	json_t *cv = json_pack("{s:s}", "state", ver);
	json_t *blobs =
	    json_pack("[o]", it_blob("state", json_string(ver), "json", data, strlen(data)));
	it_put_ok(t, it_put_body(thread, ns, id, pid, it_checkpoint(id, cv),
	                         metadata ? metadata : json_object(), blobs));
	free(id);
	free(pid);
	free(data);
	free(ver);
}

static void expect_ids(const json_t *cps, const int *want, size_t n, const char *what)
{
	char *dump = it_json_dump(cps);
	ck_assert_msg(json_array_size(cps) == n, "%s: expected %zu checkpoints, got %zu: %.600s",
	              what, n, json_array_size(cps), dump);
	for (size_t i = 0; i < n; i++) {
		char *id = it_cp_id(want[i]);
		const char *got = it_tuple_id(json_array_get(cps, i));
		ck_assert_msg(strcmp(got, id) == 0, "%s: position %zu: expected %s, got %s", what,
		              i, id, got);
		free(id);
	}
	free(dump);
}

static long long ttl_settled(const char *key)
{
	long long t = it_redis_ttl(rc, key);
	if (t == -1) { /* data and EXPIRE may be pipelined; look again once */
		sleep_ms(300);
		t = it_redis_ttl(rc, key);
	}
	return t;
}

/* ===================================================================== */
/* health                                                                 */
/* ===================================================================== */

START_TEST(test_healthz_returns_ok)
{
	it_response *r = it_json_request("GET", "/healthz", NULL, NULL);
	it_expect_status(r, 200);
	json_t *want = json_pack("{s:s}", "status", "ok");
	ck_assert_msg(r->json && json_equal(r->json, want), "healthz body: %s", r->desc);
	it_expect_request_id(r, NULL);
	json_decref(want);
	it_response_free(r);
}
END_TEST

START_TEST(test_readyz_reports_redis_reachable)
{
	it_response *r = it_json_request("GET", "/readyz", NULL, NULL);
	it_expect_status(r, 200);
	ck_assert_msg(json_is_object(r->json), "readyz body not JSON: %s", r->desc);
	const char *st = json_string_value(json_object_get(r->json, "status"));
	ck_assert_msg(st && strcmp(st, "ready") == 0, "readyz status != ready: %s", r->desc);
	json_t *redis = json_object_get(json_object_get(r->json, "stores"), "redis");
	ck_assert_msg(json_is_true(json_object_get(redis, "reachable")),
	              "stores.redis.reachable != true: %s", r->desc);
	json_t *lat = json_object_get(redis, "latency_ms");
	ck_assert_msg(json_is_number(lat) && json_number_value(lat) >= 0,
	              "stores.redis.latency_ms not a number >= 0: %s", r->desc);
	it_response_free(r);
}
END_TEST

/* ===================================================================== */
/* round trip                                                             */
/* ===================================================================== */

START_TEST(test_put_then_get_latest_and_by_id_round_trip)
{
	const char *thread = "thread-rt";
	char *id = it_cp_id(1);
	json_t *cp =
	    it_checkpoint(id, json_pack("{s:s, s:i}", "messages", "00001.0", "counter", 7));
	json_t *expected_cp = json_deep_copy(cp);
	/* channel_values inside the checkpoint must be ignored / stripped. */
	json_object_set_new(cp, "channel_values",
	                    json_pack("{s:s}", "messages", "should be stripped"));
	json_t *meta =
	    json_pack("{s:s, s:i, s:{}, s:{s:[i,n,b,s]}, s:f}", "source", "input", "step", -1,
	              "parents", "nested", "list", 1, 1, "\xc3\xa9t\xc3\xa9", "ratio", 1.5);
	json_t *blobs = json_pack(
	    "[o,o]", it_blob("messages", json_string("00001.0"), "msgpack", BIN, sizeof BIN),
	    it_blob("counter", json_integer(7), "json", "7", 1));
	it_put_ok(tenant, it_put_body(thread, "", id, NULL, cp, json_incref(meta), blobs));

	json_t *latest = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_config(json_object_get(latest, "config"), thread, "", id);
	char *got_cp = it_json_dump(json_object_get(latest, "checkpoint"));
	char *want_cp = it_json_dump(expected_cp);
	ck_assert_msg(json_equal(json_object_get(latest, "checkpoint"), expected_cp),
	              "checkpoint differs:\n got  %s\n want %s", got_cp, want_cp);
	char *got_meta = it_json_dump(json_object_get(latest, "metadata"));
	ck_assert_msg(json_equal(json_object_get(latest, "metadata"), meta), "metadata differs: %s",
	              got_meta);
	it_expect_channel_value(latest, "messages", "msgpack", BIN, sizeof BIN);
	it_expect_channel_value(latest, "counter", "json", "7", 1);
	ck_assert_msg(json_object_size(json_object_get(latest, "channel_values")) == 2,
	              "channel_values should have exactly 2 channels");
	ck_assert_msg(json_object_get(latest, "parent_config") == NULL,
	              "root checkpoint must have no parent_config");
	json_t *pw = json_object_get(latest, "pending_writes");
	ck_assert_msg(json_is_array(pw) && json_array_size(pw) == 0,
	              "pending_writes should be an empty array");

	json_t *by_id = it_get_ok(tenant, thread, "", id);
	char *a = it_json_dump(latest), *b = it_json_dump(by_id);
	ck_assert_msg(json_equal(latest, by_id), "get-by-id differs from get-latest:\n %s\n %s", b,
	              a);

	/* Redis: the documented keys exist with the documented types. */
	char *kc = it_key_checkpoint(tenant, thread, "", id);
	char *type = it_redis_type(rc, kc);
	ck_assert_msg(strcmp(type, "hash") == 0, "%s: type %s, expected hash", kc, type);
	it_strlist fields = {0};
	it_redis_hkeys(rc, kc, &fields);
	ck_assert_msg(it_strlist_contains(&fields, "checkpoint") &&
	                  it_strlist_contains(&fields, "metadata"),
	              "%s lacks fields checkpoint/metadata", kc);
	size_t mlen = 0;
	char *mraw = it_redis_hget(rc, kc, "metadata", &mlen);
	json_t *mstored = mraw ? json_loadb(mraw, mlen, 0, NULL) : NULL;
	ck_assert_msg(mstored && json_equal(mstored, meta), "%s metadata field: %s", kc,
	              mraw ? mraw : "(none)");
	char *kz = it_key_checkpoints(tenant, thread, "");
	double score = -1;
	ck_assert_msg(it_redis_zscore(rc, kz, id, &score) == 0 && score == 0,
	              "%s does not hold %s with score 0", kz, id);
	char *kb1 = it_key_blob(tenant, thread, "", "messages", "00001.0");
	char *kb2 = it_key_blob(tenant, thread, "", "counter", "7");
	ck_assert_msg(it_redis_exists(rc, kb1), "missing blob key %s", kb1);
	ck_assert_msg(it_redis_exists(rc, kb2), "missing blob key %s (integer version -> \"7\")",
	              kb2);
	char *kk = it_key_thread_keys(tenant, thread);
	it_strlist members = {0};
	it_redis_smembers(rc, kk, &members);
	ck_assert_msg(it_strlist_contains(&members, kc) && it_strlist_contains(&members, kz) &&
	                  it_strlist_contains(&members, kb1) && it_strlist_contains(&members, kb2),
	              "%s does not list all keys of the thread (%zu members)", kk, members.n);
	char *kn = it_key_thread_ns(tenant, thread);
	ck_assert_msg(it_redis_card(rc, "SCARD", kn) == 1, "%s should hold 1 namespace", kn);
	char *kt = it_key_threads(tenant);
	ck_assert_msg(it_redis_card(rc, "ZCARD", kt) == 1, "%s should hold 1 thread", kt);
	char *ki = it_key_thread_indexed(tenant, thread);
	char *itype = it_redis_type(rc, ki);
	ck_assert_msg(strcmp(itype, "string") == 0, "%s: type %s, expected string", ki, itype);
	ck_assert_msg(it_strlist_contains(&members, ki), "%s does not list %s", kk, ki);
	free(itype);
	free(ki);

	it_strlist_free(&fields);
	it_strlist_free(&members);
	free(mraw);
	json_decref(mstored);
	free(kc);
	free(type);
	free(kz);
	free(kb1);
	free(kb2);
	free(kk);
	free(kn);
	free(kt);
	free(a);
	free(b);
	free(got_cp);
	free(want_cp);
	free(got_meta);
	json_decref(by_id);
	json_decref(latest);
	json_decref(expected_cp);
	json_decref(meta);
	free(id);
}
END_TEST

START_TEST(test_parent_config_present_for_child_absent_for_root)
{
	const char *thread = "thread-parent";
	put_simple(tenant, thread, "", 1, 0, NULL);
	put_simple(tenant, thread, "", 2, 1, NULL);
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);

	json_t *child = it_get_ok(tenant, thread, "", id2);
	it_expect_config(json_object_get(child, "parent_config"), thread, "", id1);
	json_t *root = it_get_ok(tenant, thread, "", id1);
	ck_assert_msg(json_object_get(root, "parent_config") == NULL,
	              "root checkpoint must have no parent_config");
	json_t *latest = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_config(json_object_get(latest, "config"), thread, "", id2);

	json_decref(child);
	json_decref(root);
	json_decref(latest);
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_null_parent_and_missing_metadata_mean_root_and_empty_object)
{
	const char *thread = "thread-null-parent";
	char *id = it_cp_id(1);
	json_t *body =
	    it_put_body(thread, NULL, id, NULL, it_checkpoint(id, json_object()), NULL, NULL);
	json_object_set_new(body, "parent_checkpoint_id", json_null());
	it_put_ok(tenant, body);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_msg(json_object_get(t, "parent_config") == NULL, "null parent must be a root");
	json_t *m = json_object_get(t, "metadata");
	ck_assert_msg(json_is_object(m) && json_object_size(m) == 0,
	              "metadata should default to {}");
	json_t *cv = json_object_get(t, "channel_values");
	ck_assert_msg(json_is_object(cv) && json_object_size(cv) == 0,
	              "channel_values should be {} for a checkpoint without channels");
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_put_same_id_again_overwrites)
{
	const char *thread = "thread-upsert";
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 1));
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 99));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	json_t *want = json_pack("{s:i}", "step", 99);
	ck_assert_msg(json_equal(json_object_get(t, "metadata"), want),
	              "second put of the same id must overwrite the metadata");
	json_t *list = it_list_ok(tenant, "thread_id=thread-upsert");
	ck_assert_msg(json_array_size(list) == 1, "upsert must not duplicate the checkpoint");
	json_decref(list);
	json_decref(want);
	json_decref(t);
}
END_TEST

START_TEST(test_versions_canonicalised_integer_and_string_match)
{
	const char *thread = "thread-versions";
	char *id = it_cp_id(1);
	/* channel_versions says "2" (string), the blob says 2 (integer): same version. */
	json_t *cv = json_pack("{s:s, s:I}", "a", "2", "b", (json_int_t)12345678901LL);
	json_t *blobs = json_pack("[o,o]", it_blob("a", json_integer(2), "json", "\"A\"", 3),
	                          it_blob("b", json_string("12345678901"), "json", "\"B\"", 3));
	it_put_ok(tenant, it_put_body(thread, "", id, NULL, it_checkpoint(id, cv), NULL, blobs));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_channel_value(t, "a", "json", "\"A\"", 3);
	it_expect_channel_value(t, "b", "json", "\"B\"", 3);
	char *ka = it_key_blob(tenant, thread, "", "a", "2");
	char *kb = it_key_blob(tenant, thread, "", "b", "12345678901");
	ck_assert_msg(it_redis_exists(rc, ka), "missing %s", ka);
	ck_assert_msg(it_redis_exists(rc, kb), "missing %s", kb);
	free(ka);
	free(kb);
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_large_binary_blob_round_trip)
{
	const char *thread = "thread-large";
	size_t n = 1024 * 1024 + 7;
	unsigned char *data = malloc(n);
	ck_assert(data != NULL);
	uint32_t x = 2463534242u;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		data[i] = (unsigned char)x;
	}
	char *id = it_cp_id(1);
	json_t *blobs = json_pack("[o]", it_blob("big", json_string("1"), "bytes", data, n));
	it_put_ok(tenant,
	          it_put_body(thread, "", id, NULL,
	                      it_checkpoint(id, json_pack("{s:s}", "big", "1")), NULL, blobs));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_channel_value(t, "big", "bytes", data, n);
	json_decref(t);
	free(data);
	free(id);
}
END_TEST

START_TEST(test_get_unknown_thread_and_unknown_id_404)
{
	it_response *r = it_get(tenant, "no-such-thread", NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);

	put_simple(tenant, "thread-404", "", 1, 0, NULL);
	char *missing = it_cp_id(2);
	r = it_get(tenant, "thread-404", "", missing);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	r = it_get(tenant, "thread-404", "other-ns", NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	free(missing);
}
END_TEST

START_TEST(test_namespaces_are_separate)
{
	const char *thread = "thread-ns";
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:s}", "ns", "root"));
	put_simple(tenant, thread, "sub:graph|1", 5, 0, json_pack("{s:s}", "ns", "sub"));
	char *id1 = it_cp_id(1), *id5 = it_cp_id(5);
	json_t *a = it_get_ok(tenant, thread, NULL, NULL); /* ns absent = "" */
	it_expect_config(json_object_get(a, "config"), thread, "", id1);
	json_t *b = it_get_ok(tenant, thread, "sub:graph|1", NULL);
	it_expect_config(json_object_get(b, "config"), thread, "sub:graph|1", id5);
	char *k = it_key_checkpoint(tenant, thread, "sub:graph|1", id5);
	ck_assert_msg(it_redis_exists(rc, k), "missing %s", k);
	char *kn = it_key_thread_ns(tenant, thread);
	ck_assert_msg(it_redis_card(rc, "SCARD", kn) == 2, "%s should hold 2 namespaces", kn);
	free(k);
	free(kn);
	json_decref(a);
	json_decref(b);
	free(id1);
	free(id5);
}
END_TEST

/* ===================================================================== */
/* channel values                                                         */
/* ===================================================================== */

START_TEST(test_unchanged_channel_value_comes_from_parent_blob)
{
	const char *thread = "thread-inherit";
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	json_t *blobs1 = json_pack("[o,o]", it_blob("a", json_string("1"), "json", "a-v1", 4),
	                           it_blob("b", json_string("1"), "bytes", BIN, sizeof BIN));
	it_put_ok(tenant,
	          it_put_body(thread, "", id1, NULL,
	                      it_checkpoint(id1, json_pack("{s:s,s:s}", "a", "1", "b", "1")), NULL,
	                      blobs1));
	/* c2 changes a only; b stays at version 1 and gets no new blob. */
	json_t *blobs2 = json_pack("[o]", it_blob("a", json_string("2"), "json", "a-v2", 4));
	it_put_ok(tenant,
	          it_put_body(thread, "", id2, id1,
	                      it_checkpoint(id2, json_pack("{s:s,s:s}", "a", "2", "b", "1")), NULL,
	                      blobs2));
	json_t *t2 = it_get_ok(tenant, thread, "", id2);
	it_expect_channel_value(t2, "a", "json", "a-v2", 4);
	it_expect_channel_value(t2, "b", "bytes", BIN, sizeof BIN);
	json_t *t1 = it_get_ok(tenant, thread, "", id1);
	it_expect_channel_value(t1, "a", "json", "a-v1", 4);
	it_expect_channel_value(t1, "b", "bytes", BIN, sizeof BIN);
	json_decref(t1);
	json_decref(t2);
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_channel_dropped_from_channel_versions_is_absent)
{
	const char *thread = "thread-drop";
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	json_t *blobs1 = json_pack("[o,o]", it_blob("a", json_string("1"), "json", "a1", 2),
	                           it_blob("b", json_string("1"), "json", "b1", 2));
	it_put_ok(tenant,
	          it_put_body(thread, "", id1, NULL,
	                      it_checkpoint(id1, json_pack("{s:s,s:s}", "a", "1", "b", "1")), NULL,
	                      blobs1));
	json_t *blobs2 = json_pack("[o]", it_blob("a", json_string("2"), "json", "a2", 2));
	it_put_ok(tenant,
	          it_put_body(thread, "", id2, id1,
	                      it_checkpoint(id2, json_pack("{s:s}", "a", "2")), NULL, blobs2));
	json_t *t2 = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_channel_value(t2, "a", "json", "a2", 2);
	it_expect_no_channel_value(t2, "b");
	json_decref(t2);
	free(id1);
	free(id2);
}
END_TEST

START_TEST(test_empty_blobs_are_omitted_from_channel_values)
{
	const char *thread = "thread-empty";
	char *id1 = it_cp_id(1), *id2 = it_cp_id(2);
	json_t *blobs1 = json_pack("[o,o,o]", it_blob("a", json_string("1"), "json", "a1", 2),
	                           it_blob("e", json_string("1"), "empty", NULL, 0),
	                           it_blob("f", json_string("1"), "json", "f1", 2));
	it_put_ok(tenant, it_put_body(thread, "", id1, NULL,
	                              it_checkpoint(id1, json_pack("{s:s,s:s,s:s}", "a", "1", "e",
	                                                           "1", "f", "1")),
	                              NULL, blobs1));
	json_t *t1 = it_get_ok(tenant, thread, "", id1);
	it_expect_channel_value(t1, "a", "json", "a1", 2);
	it_expect_channel_value(t1, "f", "json", "f1", 2);
	it_expect_no_channel_value(t1, "e");
	/* f becomes empty in c2: omitted there, still present in c1. */
	json_t *blobs2 = json_pack("[o]", it_blob("f", json_string("2"), "empty", NULL, 0));
	it_put_ok(tenant, it_put_body(thread, "", id2, id1,
	                              it_checkpoint(id2, json_pack("{s:s,s:s,s:s}", "a", "1", "e",
	                                                           "1", "f", "2")),
	                              NULL, blobs2));
	json_t *t2 = it_get_ok(tenant, thread, "", id2);
	it_expect_channel_value(t2, "a", "json", "a1", 2);
	it_expect_no_channel_value(t2, "f");
	it_expect_no_channel_value(t2, "e");
	json_decref(t1);
	json_t *t1b = it_get_ok(tenant, thread, "", id1);
	it_expect_channel_value(t1b, "f", "json", "f1", 2);
	json_decref(t1b);
	json_decref(t2);
	free(id1);
	free(id2);
}
END_TEST

/* ===================================================================== */
/* latest and list                                                        */
/* ===================================================================== */

START_TEST(test_latest_is_largest_checkpoint_id_not_last_put)
{
	const char *thread = "thread-latest";
	put_simple(tenant, thread, "", 10, 0, NULL);
	put_simple(tenant, thread, "", 2, 0, NULL);
	put_simple(tenant, thread, "", 7, 0, NULL);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	char *id10 = it_cp_id(10);
	it_expect_config(json_object_get(t, "config"), thread, "", id10);
	free(id10);
	json_decref(t);

	/* Byte order, not length or numeric order: "b" > "a-very-long-id". */
	const char *th2 = "thread-latest-bytes";
	it_put_ok(tenant,
	          it_put_body(th2, "", "b", NULL, it_checkpoint("b", json_object()), NULL, NULL));
	it_put_ok(tenant, it_put_body(th2, "", "a-very-long-id", NULL,
	                              it_checkpoint("a-very-long-id", json_object()), NULL, NULL));
	t = it_get_ok(tenant, th2, NULL, NULL);
	it_expect_config(json_object_get(t, "config"), th2, "", "b");
	json_decref(t);
}
END_TEST

START_TEST(test_list_newest_first_with_full_tuples)
{
	const char *thread = "thread-list";
	put_simple(tenant, thread, "", 2, 0, NULL);
	put_simple(tenant, thread, "", 1, 0, NULL);
	put_simple(tenant, thread, "", 3, 2, NULL);
	json_t *cps = it_list_ok(tenant, "thread_id=thread-list");
	int want[] = {3, 2, 1};
	expect_ids(cps, want, 3, "list");
	json_t *first = json_array_get(cps, 0);
	ck_assert_msg(json_is_object(json_object_get(first, "checkpoint")) &&
	                  json_is_object(json_object_get(first, "metadata")) &&
	                  json_is_object(json_object_get(first, "channel_values")) &&
	                  json_is_array(json_object_get(first, "pending_writes")),
	              "list entries must be full tuples");
	it_expect_channel_value(first, "state", "json", "{\"n\":3}", 7);
	char *id2 = it_cp_id(2);
	it_expect_config(json_object_get(first, "parent_config"), thread, "", id2);
	free(id2);
	json_decref(cps);
}
END_TEST

START_TEST(test_list_before_and_limit)
{
	const char *thread = "thread-before";
	for (int i = 1; i <= 5; i++)
		put_simple(tenant, thread, "", i, i - 1, NULL);
	char *id4 = it_cp_id(4);
	char *q = it_query("thread_id", thread, "before", id4, NULL);
	json_t *cps = it_list_ok(tenant, q);
	int want_before[] = {3, 2, 1};
	expect_ids(cps, want_before, 3, "before=4");
	json_decref(cps);
	free(q);

	q = it_query("thread_id", thread, "limit", "2", NULL);
	cps = it_list_ok(tenant, q);
	int want_limit[] = {5, 4};
	expect_ids(cps, want_limit, 2, "limit=2");
	json_decref(cps);
	free(q);

	q = it_query("thread_id", thread, "before", id4, "limit", "1", NULL);
	cps = it_list_ok(tenant, q);
	int want_both[] = {3};
	expect_ids(cps, want_both, 1, "before=4&limit=1");
	json_decref(cps);
	free(q);

	q = it_query("thread_id", thread, "limit", "1000", NULL);
	cps = it_list_ok(tenant, q);
	int want_all[] = {5, 4, 3, 2, 1};
	expect_ids(cps, want_all, 5, "limit=1000");
	json_decref(cps);
	free(q);
	free(id4);
}
END_TEST

START_TEST(test_list_filter_requires_every_key_to_match)
{
	const char *thread = "thread-filter";
	put_simple(
	    tenant, thread, "", 1, 0,
	    json_pack("{s:s, s:i, s:{s:[i,i]}}", "source", "loop", "step", 1, "extra", "a", 1, 2));
	put_simple(tenant, thread, "", 2, 0, json_pack("{s:s, s:i}", "source", "loop", "step", 2));
	put_simple(tenant, thread, "", 3, 0, json_pack("{s:s, s:i}", "source", "input", "step", 1));

	struct {
		const char *filter;
		int want[3];
		size_t n;
	} cases[] = {
	    {"{\"source\":\"loop\",\"step\":1}", {1}, 1},
	    {"{\"source\":\"loop\"}", {2, 1}, 2},
	    {"{\"step\":1}", {3, 1}, 2},
	    {"{\"extra\":{\"a\":[1,2]}}", {1}, 1},
	    {"{\"extra\":{\"a\":[2,1]}}", {0}, 0},
	    {"{\"source\":\"loop\",\"missing\":1}", {0}, 0},
	    {"{\"source\":\"input\",\"step\":2}", {0}, 0},
	    {"{\"step\":\"1\"}", {0}, 0},
	    {"{}", {3, 2, 1}, 3},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *q = it_query("thread_id", thread, "filter", cases[i].filter, NULL);
		json_t *cps = it_list_ok(tenant, q);
		char *what = it_strfmt("filter=%s", cases[i].filter);
		expect_ids(cps, cases[i].want, cases[i].n, what);
		free(what);
		json_decref(cps);
		free(q);
	}
}
END_TEST

START_TEST(test_list_without_checkpoint_ns_covers_every_namespace)
{
	const char *thread = "thread-list-ns";
	put_simple(tenant, thread, "", 1, 0, NULL);
	put_simple(tenant, thread, "child:1", 2, 0, NULL);
	put_simple(tenant, thread, "", 3, 1, NULL);
	json_t *cps = it_list_ok(tenant, "thread_id=thread-list-ns");
	int all[] = {3, 2, 1};
	expect_ids(cps, all, 3, "no checkpoint_ns");
	const char *ns2 = json_string_value(
	    json_object_get(json_object_get(json_array_get(cps, 1), "config"), "checkpoint_ns"));
	ck_assert_msg(ns2 && strcmp(ns2, "child:1") == 0, "entry 2 should be in ns child:1");
	json_decref(cps);

	cps = it_list_ok(tenant, "thread_id=thread-list-ns&checkpoint_ns=");
	int root[] = {3, 1};
	expect_ids(cps, root, 2, "checkpoint_ns=\"\"");
	json_decref(cps);

	char *q = it_query("thread_id", thread, "checkpoint_ns", "child:1", NULL);
	cps = it_list_ok(tenant, q);
	int child[] = {2};
	expect_ids(cps, child, 1, "checkpoint_ns=child:1");
	json_decref(cps);
	free(q);
}
END_TEST

START_TEST(test_list_without_thread_id_covers_all_threads_of_tenant)
{
	put_simple(tenant, "thread-x", "", 1, 0, NULL);
	put_simple(tenant, "thread-y", "", 2, 0, NULL);
	put_simple(tenant, "thread-x", "sub", 3, 0, NULL);
	put_simple(tenant, "thread-y", "", 4, 2, NULL);
	json_t *cps = it_list_ok(tenant, NULL);
	int want[] = {4, 3, 2, 1};
	expect_ids(cps, want, 4, "no thread_id");
	json_decref(cps);

	cps = it_list_ok(tenant, "filter=%7B%22n%22%3A1%7D"); /* {"n":1}: matches nothing */
	ck_assert_msg(json_array_size(cps) == 0, "filter without thread_id should match nothing");
	json_decref(cps);

	cps = it_list_ok(tenant, "limit=3");
	int want3[] = {4, 3, 2};
	expect_ids(cps, want3, 3, "no thread_id, limit=3");
	json_decref(cps);
}
END_TEST

START_TEST(test_list_rejects_bad_limit_and_filter)
{
	const char *bad[] = {"limit=0", "limit=1001", "limit=abc", "limit=-1"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		it_response *r = it_list(tenant, bad[i]);
		it_expect_error(r, 400, "invalid_field", "limit");
		it_response_free(r);
	}
	const char *badf[] = {"filter=%7Bnot-json", "filter=%5B1%2C2%5D" /* [1,2] */};
	for (size_t i = 0; i < sizeof badf / sizeof badf[0]; i++) {
		it_response *r = it_list(tenant, badf[i]);
		ck_assert_msg(r->status == 400, "expected 400 for %s: %s", badf[i], r->desc);
		const char *code =
		    json_string_value(json_object_get(json_object_get(r->json, "error"), "code"));
		ck_assert_msg(code && (strcmp(code, "invalid_field") == 0 ||
		                       strcmp(code, "invalid_json") == 0),
		              "bad filter: expected invalid_field or invalid_json: %s", r->desc);
		it_response_free(r);
	}
}
END_TEST

/* ===================================================================== */
/* tenants                                                                */
/* ===================================================================== */

START_TEST(test_tenant_isolation_for_get_list_and_delete)
{
	const char *thread = "shared-thread-name";
	put_simple(tenant, thread, "", 1, 0, NULL);
	put_simple(tenant, thread, "ns", 2, 0, NULL);
	char *other = it_random_id("it-other-");

	it_response *r = it_get(other, thread, NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	char *id1 = it_cp_id(1);
	r = it_get(other, thread, "", id1);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);

	json_t *cps = it_list_ok(other, NULL);
	ck_assert_msg(json_array_size(cps) == 0, "other tenant's list (all threads) must be empty");
	json_decref(cps);
	cps = it_list_ok(other, "thread_id=shared-thread-name");
	ck_assert_msg(json_array_size(cps) == 0, "other tenant's list (thread) must be empty");
	json_decref(cps);

	r = it_delete(other, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL); /* still there */
	json_decref(t);
	cps = it_list_ok(tenant, NULL);
	ck_assert_msg(json_array_size(cps) == 2, "owner still sees both checkpoints");
	json_decref(cps);
	it_redis_expect_tenant_empty(rc, other, "another tenant only read and deleted");
	free(other);
	free(id1);
}
END_TEST

START_TEST(test_missing_tenant_header_means_default_tenant)
{
	char *thread = it_random_id("default-tenant-thread-");
	put_simple(NULL, thread, "", 1, 0, NULL);
	json_t *t = it_get_ok("default", thread, NULL, NULL);
	json_decref(t);
	it_response *r = it_get(tenant, thread, NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	char *k = it_key_checkpoints("default", thread, "");
	ck_assert_msg(it_redis_exists(rc, k), "missing %s", k);
	r = it_delete(NULL, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	ck_assert_msg(!it_redis_exists(rc, k), "%s survived delete", k);
	free(k);
	free(thread);
}
END_TEST

/* ===================================================================== */
/* writes                                                                 */
/* ===================================================================== */

typedef struct {
	const char *task_path;
	const char *task_id;
	int idx;
	const char *channel;
	const char *data;
} want_write;

static void expect_pending(const json_t *tuple, const want_write *w, size_t n)
{
	json_t *pw = json_object_get(tuple, "pending_writes");
	char *dump = it_json_dump(pw ? pw : json_null());
	ck_assert_msg(json_is_array(pw), "pending_writes is not an array");
	ck_assert_msg(json_array_size(pw) == n, "expected %zu pending writes, got %zu: %.800s", n,
	              json_array_size(pw), dump);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(pw, i);
		const char *tp = json_string_value(json_object_get(e, "task_path"));
		const char *ti = json_string_value(json_object_get(e, "task_id"));
		const char *ch = json_string_value(json_object_get(e, "channel"));
		json_t *idx = json_object_get(e, "idx");
		const char *ty = json_string_value(json_object_get(e, "type"));
		const char *d = json_string_value(json_object_get(e, "data"));
		ck_assert_msg(tp && ti && ch && ty && d && json_is_integer(idx),
		              "pending write %zu lacks fields: %.800s", i, dump);
		size_t len = 0;
		unsigned char *bytes = it_b64_decode(d, &len);
		ck_assert_msg(
		    strcmp(tp, w[i].task_path) == 0 && strcmp(ti, w[i].task_id) == 0 &&
		        strcmp(ch, w[i].channel) == 0 && json_integer_value(idx) == w[i].idx &&
		        bytes && len == strlen(w[i].data) && memcmp(bytes, w[i].data, len) == 0,
		    "pending write %zu: expected (%s,%s,%d,%s,%s): %.800s", i, w[i].task_path,
		    w[i].task_id, w[i].idx, w[i].channel, w[i].data, dump);
		free(bytes);
	}
	free(dump);
}

static json_t *writes_of(const char *const *channels, const char *const *datas, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, it_write(channels[i], "json", datas[i], strlen(datas[i])));
	return a;
}

START_TEST(test_writes_idx_for_normal_and_special_channels)
{
	const char *thread = "thread-writes";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	const char *ch[] = {"a", "__interrupt__", "b", "__error__", "__scheduled__", "__resume__"};
	const char *da[] = {"A", "I", "B", "E", "S", "R"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, da, 6)));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {
	    {"", "task-1", -4, "__resume__", "R"},
	    {"", "task-1", -3, "__interrupt__", "I"},
	    {"", "task-1", -2, "__scheduled__", "S"},
	    {"", "task-1", -1, "__error__", "E"},
	    {"", "task-1", 0, "a", "A"},
	    {"", "task-1", 2, "b", "B"},
	};
	expect_pending(t, w, 6);
	char *kw = it_key_writes(tenant, thread, "", id);
	char *type = it_redis_type(rc, kw);
	ck_assert_msg(strcmp(type, "hash") == 0, "%s: type %s, expected hash", kw, type);
	char *kk = it_key_thread_keys(tenant, thread);
	it_strlist m = {0};
	it_redis_smembers(rc, kk, &m);
	ck_assert_msg(it_strlist_contains(&m, kw), "%s does not list %s", kk, kw);
	it_strlist_free(&m);
	free(kk);
	free(type);
	free(kw);
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_repeated_write_is_ignored)
{
	const char *thread = "thread-writes-repeat";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	const char *ch[] = {"a", "b"};
	const char *d1[] = {"first-a", "first-b"};
	const char *d2[] = {"second-a", "second-b"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, d1, 2)));
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, d2, 2)));
	/* a different task with the same idx is a different write */
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-2", "", writes_of(ch, d2, 1)));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {
	    {"", "task-1", 0, "a", "first-a"},
	    {"", "task-1", 1, "b", "first-b"},
	    {"", "task-2", 0, "a", "second-a"},
	};
	expect_pending(t, w, 3);
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_all_special_writes_overwrite)
{
	const char *thread = "thread-writes-special";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	const char *ch[] = {"__interrupt__", "__error__"};
	const char *d1[] = {"i1", "e1"};
	const char *d2[] = {"i2", "e2"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, d1, 2)));
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, d2, 2)));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {
	    {"", "task-1", -3, "__interrupt__", "i2"},
	    {"", "task-1", -1, "__error__", "e2"},
	};
	expect_pending(t, w, 2);
	json_decref(t);

	/* Mixed batch: not all special -> existing (task, idx) entries are kept. */
	const char *ch3[] = {"__interrupt__", "x"};
	const char *d3[] = {"i3", "x3"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch3, d3, 2)));
	t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w2[] = {
	    {"", "task-1", -3, "__interrupt__", "i2"},
	    {"", "task-1", -1, "__error__", "e2"},
	    {"", "task-1", 1, "x", "x3"},
	};
	expect_pending(t, w2, 3);
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_writes_before_checkpoint_survive_later_put)
{
	const char *thread = "thread-writes-early";
	char *id = it_cp_id(1);
	const char *ch[] = {"a"};
	const char *da[] = {"early"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id, "task-1", "", writes_of(ch, da, 1)));
	char *kw = it_key_writes(tenant, thread, "", id);
	ck_assert_msg(it_redis_exists(rc, kw), "writes before the checkpoint not stored at %s", kw);
	put_simple(tenant, thread, "", 1, 0, NULL);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {{"", "task-1", 0, "a", "early"}};
	expect_pending(t, w, 1);
	json_decref(t);
	free(kw);
	free(id);
}
END_TEST

START_TEST(test_pending_writes_ordered_by_task_path_task_id_idx)
{
	const char *thread = "thread-writes-order";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	const char *ch2[] = {"c0", "c1"};
	const char *d[] = {"x", "y"};
	/* (task_id, idx) identifies a write, so every task id here is distinct. */
	it_put_writes_ok(tenant, thread, it_writes_body("", id, "t1", "b", writes_of(ch2, d, 2)));
	it_put_writes_ok(tenant, thread, it_writes_body("", id, "t3", "a", writes_of(ch2, d, 2)));
	it_put_writes_ok(tenant, thread, it_writes_body("", id, "t2", "a", writes_of(ch2, d, 1)));
	const char *chs[] = {"__error__"};
	it_put_writes_ok(tenant, thread, it_writes_body("", id, "t9", "", writes_of(chs, d, 1)));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {
	    {"", "t9", -1, "__error__", "x"}, {"a", "t2", 0, "c0", "x"}, {"a", "t3", 0, "c0", "x"},
	    {"a", "t3", 1, "c1", "y"},        {"b", "t1", 0, "c0", "x"}, {"b", "t1", 1, "c1", "y"},
	};
	expect_pending(t, w, 6);
	json_decref(t);
	free(id);
}
END_TEST

START_TEST(test_writes_belong_to_their_checkpoint_and_namespace)
{
	const char *thread = "thread-writes-scope";
	put_simple(tenant, thread, "", 1, 0, NULL);
	put_simple(tenant, thread, "", 2, 1, NULL);
	put_simple(tenant, thread, "sub", 3, 0, NULL);
	char *id1 = it_cp_id(1), *id3 = it_cp_id(3);
	const char *ch[] = {"a"};
	const char *d1[] = {"for-1"};
	const char *d3[] = {"for-3"};
	it_put_writes_ok(tenant, thread, it_writes_body("", id1, "t", "", writes_of(ch, d1, 1)));
	it_put_writes_ok(tenant, thread, it_writes_body("sub", id3, "t", "", writes_of(ch, d3, 1)));
	json_t *t2 = it_get_ok(tenant, thread, NULL, NULL);
	expect_pending(t2, NULL, 0);
	json_t *t1 = it_get_ok(tenant, thread, "", id1);
	want_write w1[] = {{"", "t", 0, "a", "for-1"}};
	expect_pending(t1, w1, 1);
	json_t *t3 = it_get_ok(tenant, thread, "sub", NULL);
	want_write w3[] = {{"", "t", 0, "a", "for-3"}};
	expect_pending(t3, w3, 1);
	json_decref(t1);
	json_decref(t2);
	json_decref(t3);
	free(id1);
	free(id3);
}
END_TEST

/* ===================================================================== */
/* delete                                                                 */
/* ===================================================================== */

/* The latest tuple is served from memoryd's cache only while the thread's
 * head in Redis still holds the version it was cached at: every change, made
 * here or by another replica, shows at once. */
START_TEST(test_cached_latest_follows_every_change)
{
	const char *thread = "thread-cache";
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 1));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL); /* fills the cache */
	json_decref(t);
	t = it_get_ok(tenant, thread, NULL, NULL); /* served from it */
	json_t *want = json_pack("{s:i}", "step", 1);
	ck_assert_msg(json_equal(json_object_get(t, "metadata"), want), "first read");
	json_decref(want);
	json_decref(t);

	/* a write to the latest checkpoint */
	char *id1 = it_cp_id(1);
	const char *ch[] = {"a"};
	const char *d[] = {"w1"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id1, "task-1", "", writes_of(ch, d, 1)));
	t = it_get_ok(tenant, thread, NULL, NULL);
	want_write w[] = {{"", "task-1", 0, "a", "w1"}};
	expect_pending(t, w, 1);
	json_decref(t);

	/* an upsert of the same checkpoint */
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 7));
	t = it_get_ok(tenant, thread, NULL, NULL);
	want = json_pack("{s:i}", "step", 7);
	ck_assert_msg(json_equal(json_object_get(t, "metadata"), want), "upsert not seen");
	json_decref(want);
	json_decref(t);

	/* another replica changes the checkpoint in Redis and moves the head */
	char *ck = it_key_checkpoint(tenant, thread, "", id1);
	char *hk = it_key_head(tenant, thread, "");
	redisReply *r = redisCommand(rc, "HSET %s metadata {\"step\":42}", ck);
	freeReplyObject(r);
	r = redisCommand(rc, "SET %s 99999999999999999|%s KEEPTTL", hk, id1);
	freeReplyObject(r);
	t = it_get_ok(tenant, thread, NULL, NULL);
	want = json_pack("{s:i}", "step", 42);
	ck_assert_msg(json_equal(json_object_get(t, "metadata"), want),
	              "a change behind memoryd's back must be seen once the head moves");
	json_decref(want);
	json_decref(t);

	/* a newer checkpoint; writes to the older one leave the latest alone */
	put_simple(tenant, thread, "", 2, 1, json_pack("{s:i}", "step", 2));
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id1, "task-9", "", writes_of(ch, d, 1)));
	t = it_get_ok(tenant, thread, NULL, NULL);
	char *id2 = it_cp_id(2);
	it_expect_config(json_object_get(t, "config"), thread, "", id2);
	ck_assert_msg(json_array_size(json_object_get(t, "pending_writes")) == 0,
	              "writes of checkpoint 1 must not appear on checkpoint 2");
	json_decref(t);

	/* deleted: the head goes with the thread, the cache is not consulted */
	it_response *del = it_delete(tenant, thread);
	it_expect_status(del, 204);
	it_response_free(del);
	it_response *g = it_get(tenant, thread, NULL, NULL);
	it_expect_status(g, 404);
	it_response_free(g);
	free(ck);
	free(hk);
	free(id1);
	free(id2);
}
END_TEST

/* DELETE of the thread answers 204 and leaves none of its keys in Redis. */
static void delete_leaves_no_key(const char *t, const char *thread)
{
	it_response *r = it_delete(t, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	it_redis_expect_thread_empty(rc, t, thread, "its DELETE");
}

/* A put sends its new blobs as plain SETs ahead of its script, in the same
 * round trip (redis_checkpoint_put). When the script then fails, here because
 * the checkpoint's key is held by a string, the put fails, its checkpoint is
 * nowhere, and the blobs it wrote are registered with the thread and expire
 * with the TTL; the retry stores each once, and a delete takes them all. */
START_TEST(test_failed_put_script_leaves_its_blobs_registered_and_expiring)
{
	const char *thread = "thread-script-fails";
	char *id = it_cp_id(1);
	char *kc = it_key_checkpoint(tenant, thread, "", id);
	char *kb = it_key_blob(tenant, thread, "", "a", "1");
	char *kk = it_key_thread_keys(tenant, thread);
	redisReply *rr = it_redis_command(rc, "SET %s %s EX %d", kc, "in-the-way", 600);
	ck_assert_msg(rr && rr->type == REDIS_REPLY_STATUS, "SET of %s failed", kc);
	freeReplyObject(rr);

	json_t *cv = json_pack("{s:s}", "a", "1");
	json_t *body =
	    it_put_body(thread, "", id, NULL, it_checkpoint(id, cv), NULL,
	                json_pack("[o]", it_blob("a", json_string("1"), "json", "A1", 2)));
	it_response *r = it_put(tenant, json_incref(body));
	it_expect_error(r, 500, "internal", NULL);
	it_response_free(r);
	it_response *g = it_get(tenant, thread, NULL, NULL);
	it_expect_status(g, 404);
	it_response_free(g);
	ck_assert_msg(it_redis_exists(rc, kb), "the failed put's blob %s is not there", kb);
	long long tb = ttl_settled(kb), tk = ttl_settled(kk);
	ck_assert_msg(tb > 0 && tb <= it_configured_ttl(), "%s: TTL %lld", kb, tb);
	ck_assert_msg(tk > 0 && tk <= it_configured_ttl(), "%s: TTL %lld", kk, tk);
	it_strlist members = {0};
	it_redis_smembers(rc, kk, &members);
	ck_assert_msg(members.n == 1 && it_strlist_contains(&members, kb),
	              "%s should list the blob alone (%zu members)", kk, members.n);
	it_strlist_free(&members);

	/* the obstacle gone, the retry stores the checkpoint and the blob once */
	rr = it_redis_command(rc, "DEL %s", kc);
	freeReplyObject(rr);
	it_put_ok(tenant, body);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_channel_value(t, "a", "json", "A1", 2);
	json_decref(t);
	it_redis_smembers(rc, kk, &members);
	size_t blobs = 0;
	for (size_t i = 0; i < members.n; i++)
		blobs += strcmp(members.v[i], kb) == 0;
	ck_assert_msg(blobs == 1 && it_strlist_contains(&members, kc),
	              "%s should list the blob once and the checkpoint", kk);
	it_strlist_free(&members);

	delete_leaves_no_key(tenant, thread);
	free(id);
	free(kc);
	free(kb);
	free(kk);
}
END_TEST

START_TEST(test_delete_thread_removes_every_key_in_every_namespace)
{
	const char *victim = "thread-del";
	const char *keep = "thread-keep";
	put_simple(tenant, victim, "", 1, 0, NULL);
	put_simple(tenant, victim, "", 2, 1, NULL);
	put_simple(tenant, victim, "sub:1", 3, 0, NULL);
	put_simple(tenant, keep, "", 4, 0, NULL);
	char *id2 = it_cp_id(2), *id3 = it_cp_id(3), *id9 = it_cp_id(9);
	const char *ch[] = {"a", "__error__"};
	const char *d[] = {"x", "y"};
	it_put_writes_ok(tenant, victim, it_writes_body("", id2, "t", "", writes_of(ch, d, 2)));
	it_put_writes_ok(tenant, victim,
	                 it_writes_body("sub:1", id3, "t", "p", writes_of(ch, d, 2)));
	it_put_writes_ok(tenant, victim, it_writes_body("", id9, "t", "", writes_of(ch, d, 1)));

	it_strlist before = {0}, kept_before = {0};
	it_redis_thread_keys(rc, tenant, victim, &before);
	ck_assert_msg(before.n >= 8, "expected >= 8 keys for the thread before delete, found %zu",
	              before.n);
	char *ki = it_key_thread_indexed(tenant, victim);
	ck_assert_msg(it_strlist_contains(&before, ki), "%s missing before delete", ki);
	it_redis_thread_keys(rc, tenant, keep, &kept_before);

	it_response *r = it_delete(tenant, victim);
	it_expect_status(r, 204);
	ck_assert_msg(r->body_len == 0, "204 must have no body: %s", r->desc);
	it_expect_request_id(r, NULL);
	it_response_free(r);

	it_strlist after = {0};
	it_redis_thread_keys(rc, tenant, victim, &after);
	ck_assert_msg(after.n == 0, "%zu key(s) of the deleted thread remain, e.g. %s", after.n,
	              after.n ? after.v[0] : "");
	ck_assert_msg(!it_redis_exists(rc, ki), "%s survived the delete", ki);
	free(ki);
	it_strlist kept_after = {0};
	it_redis_thread_keys(rc, tenant, keep, &kept_after);
	ck_assert_msg(kept_after.n == kept_before.n && kept_after.n > 0,
	              "other thread's keys changed: %zu before, %zu after", kept_before.n,
	              kept_after.n);

	r = it_get(tenant, victim, NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	r = it_get(tenant, victim, "sub:1", NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);
	json_t *cps = it_list_ok(tenant, "thread_id=thread-del");
	ck_assert_msg(json_array_size(cps) == 0, "deleted thread still listed");
	json_decref(cps);
	cps = it_list_ok(tenant, NULL);
	int want[] = {4};
	expect_ids(cps, want, 1, "list after delete");
	json_decref(cps);
	json_t *t = it_get_ok(tenant, keep, NULL, NULL);
	json_decref(t);

	/* The deleted thread leaves the tenant's thread index. */
	char *kt = it_key_threads(tenant);
	ck_assert_msg(it_redis_card(rc, "ZCARD", kt) == 1,
	              "%s should hold only the remaining thread after delete", kt);
	free(kt);

	it_strlist_free(&before);
	it_strlist_free(&after);
	it_strlist_free(&kept_before);
	it_strlist_free(&kept_after);
	free(id2);
	free(id3);
	free(id9);
}
END_TEST

START_TEST(test_delete_unknown_thread_is_204)
{
	it_response *r = it_delete(tenant, "never-existed");
	it_expect_status(r, 204);
	ck_assert_msg(r->body_len == 0, "204 must have no body: %s", r->desc);
	it_response_free(r);
	it_redis_expect_tenant_empty(rc, tenant, "DELETE of an unknown thread");
}
END_TEST

/* A thread of 600 keys goes in several bounded script calls (about 500
 * keys each), and goes whole. */
START_TEST(test_delete_of_a_large_thread_is_done_in_bounded_steps)
{
	if (it_redis_is_cluster())
		return; /* MONITOR sees one node of a cluster: not run there */
	const char *thread = "thread-large";
	for (int n = 1; n <= 300; n++)
		put_simple(tenant, thread, "", n, 0, NULL);
	it_strlist keys = {0};
	it_redis_thread_keys(rc, tenant, thread, &keys);
	ck_assert_msg(keys.n > 600, "only %zu keys", keys.n);
	it_strlist_free(&keys);
	char *reg = it_key_thread_keys(tenant, thread);
	char *idx = it_key_threads(tenant);
	redisContext *m = it_redis_monitor();
	it_response *r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	const char *step[] = {"\"EVALSHA\"", reg, NULL};
	const char *end[] = {"\"ZREM\"", idx, NULL};
	long steps = it_redis_monitor_count(m, step, end);
	redisFree(m);
	ck_assert_msg(steps >= 2, "%ld script call(s) deleted 600 keys", steps);
	it_redis_expect_tenant_empty(rc, tenant, "DELETE of a large thread");
	free(reg);
	free(idx);
}
END_TEST

/* RESPONSE_MAX_BYTES=65536 (integration_response_bytes): ten small puts
 * naming one 25000-byte blob list two a page, truncated, and the pages
 * together give all ten, newest first. */
START_TEST(test_list_pages_end_at_response_max_bytes)
{
	const char *max = getenv("RESPONSE_MAX_BYTES");
	if (!max || strcmp(max, "65536"))
		return; /* run at that setting */
	const char *thread = "thread-bytes";
	char *big = malloc(25000);
	memset(big, 'b', 25000);
	for (int n = 1; n <= 10; n++) {
		char *id = it_cp_id(n);
		json_t *blobs = n == 1 ? json_pack("[o]", it_blob("state", json_string("00001"),
		                                                  "bytes", big, 25000))
		                       : json_array();
		it_put_ok(tenant,
		          it_put_body(thread, "", id, NULL,
		                      it_checkpoint(id, json_pack("{s:s}", "state", "00001")),
		                      json_object(), blobs));
		free(id);
	}
	int seen = 10;
	char *before = NULL;
	for (int page = 0; seen > 0; page++) {
		char *q = before ? it_strfmt("thread_id=%s&limit=10&before=%s", thread, before)
		                 : it_strfmt("thread_id=%s&limit=10", thread);
		it_response *r = it_list(tenant, q);
		it_expect_status(r, 200);
		ck_assert_msg(r->body_len < 3 * 65536, "page %d: %zu bytes", page, r->body_len);
		json_t *cps = json_object_get(r->json, "checkpoints");
		ck_assert_msg(json_array_size(cps) == 2, "page %d: %s", page, r->desc);
		for (size_t i = 0; i < 2; i++) {
			json_t *t = json_array_get(cps, i);
			char *want = it_cp_id(seen--);
			ck_assert_str_eq(it_tuple_id(t), want);
			it_expect_channel_value(t, "state", "bytes", big, 25000);
			free(want);
		}
		ck_assert_msg(json_is_true(json_object_get(r->json, "truncated")) == (seen > 0),
		              "page %d: %s", page, r->desc);
		free(before);
		before = strdup(it_tuple_id(json_array_get(cps, 1)));
		it_response_free(r);
		free(q);
	}
	free(before);
	free(big);
}
END_TEST

/* Head reads (top-level GETs of the namespace's head, not the script's own)
 * Redis runs for what the test sends next, up to an ECHO of marker. */
static long head_reads(redisContext *m, const char *head, const char *marker)
{
	redisReply *r = it_redis_command(rc, "ECHO %s", marker);
	freeReplyObject(r);
	char get[256], echo[128];
	snprintf(get, sizeof(get), "\"GET\" \"%s\"", head);
	snprintf(echo, sizeof(echo), "\"ECHO\" \"%s\"", marker);
	const char *needles[] = {"127.0.0.1:", get, NULL}; /* a script's lines say "lua" */
	const char *until[] = {echo, NULL};
	return it_redis_monitor_count(m, needles, until);
}

/* The cached latest tuple is checked against the head only when there is
 * one: after this replica wrote to the namespace it has none, and the next
 * get-latest is one round trip to Redis (the script), not two. */
START_TEST(test_get_after_this_replicas_write_reads_no_head)
{
	if (it_redis_is_cluster())
		return; /* MONITOR sees one node of a cluster: not run there */
	const char *thread = "thread-cache-skip";
	char *head = it_key_head(tenant, thread, "");
	put_simple(tenant, thread, "", 1, 0, json_pack("{s:i}", "step", 1));
	redisContext *m = it_redis_monitor();
	json_decref(it_get_ok(tenant, thread, NULL, NULL)); /* nothing cached yet */
	ck_assert_int_eq(head_reads(m, head, "first-read"), 0);
	json_decref(it_get_ok(tenant, thread, NULL, NULL)); /* cached: checked */
	ck_assert_int_eq(head_reads(m, head, "cached-read"), 1);

	put_simple(tenant, thread, "", 2, 1, json_pack("{s:i}", "step", 2));
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_int_eq(head_reads(m, head, "read-after-put"), 0);
	char *id2 = it_cp_id(2);
	it_expect_config(json_object_get(t, "config"), thread, "", id2);
	json_decref(t);

	const char *ch[] = {"a"};
	const char *d[] = {"w2"};
	it_put_writes_ok(tenant, thread,
	                 it_writes_body("", id2, "task-2", "", writes_of(ch, d, 1)));
	t = it_get_ok(tenant, thread, NULL, NULL);
	ck_assert_int_eq(head_reads(m, head, "read-after-writes"), 0);
	want_write w[] = {{"", "task-2", 0, "a", "w2"}};
	expect_pending(t, w, 1);
	json_decref(t);
	json_decref(it_get_ok(tenant, thread, NULL, NULL));
	ck_assert_int_eq(head_reads(m, head, "cached-again"), 1);
	redisFree(m);
	free(id2);
	free(head);
}
END_TEST

/* A list reads no more ids from a namespace's index than its page can hold
 * (and one more, to say it is truncated). */
START_TEST(test_list_reads_a_bounded_range_of_the_index)
{
	if (it_redis_is_cluster())
		return; /* MONITOR sees one node of a cluster: not run there */
	const char *thread = "thread-index";
	for (int n = 1; n <= 5; n++)
		put_simple(tenant, thread, "", n, 0, NULL);
	char *idx = it_key_checkpoints(tenant, thread, "");
	redisContext *m = it_redis_monitor();
	json_t *cps = it_list_ok(tenant, "thread_id=thread-index&limit=2");
	int want[] = {5, 4};
	expect_ids(cps, want, 2, "list of 2");
	json_decref(cps);
	const char *read[] = {"\"ZREVRANGEBYLEX\"", idx, "\"LIMIT\" \"0\" \"3\"", NULL};
	const char *any_read[] = {"\"ZREVRANGEBYLEX\"", idx, NULL};
	ck_assert_int_eq(it_redis_monitor_count(m, read, any_read), 1);
	redisFree(m);
	free(idx);
}
END_TEST

START_TEST(test_put_after_delete_starts_fresh)
{
	const char *thread = "thread-reuse";
	put_simple(tenant, thread, "", 5, 0, NULL);
	it_response *r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	put_simple(tenant, thread, "", 1, 0, NULL);
	json_t *cps = it_list_ok(tenant, "thread_id=thread-reuse");
	int want[] = {1};
	expect_ids(cps, want, 1, "list after delete and re-put");
	json_decref(cps);
	/* the delete took the thread's index marker too: the new put indexed
	 * the thread again, so a list across threads finds it */
	cps = it_list_ok(tenant, NULL);
	expect_ids(cps, want, 1, "list without thread_id after delete and re-put");
	json_decref(cps);
}
END_TEST

/* ===================================================================== */
/* the tenant's thread index                                              */
/* ===================================================================== */

/* The thread's index marker as a number; -1 when absent. */
static long long marker_of(const char *t, const char *thread)
{
	char *ki = it_key_thread_indexed(t, thread);
	redisReply *r = redisCommand(rc, "GET %s", ki);
	ck_assert_msg(r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_NIL), "GET %s",
	              ki);
	long long v = r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : -1;
	freeReplyObject(r);
	free(ki);
	return v;
}

static double index_score(const char *t, const char *thread)
{
	char *kt = it_key_threads(t);
	double score = -1;
	if (it_redis_zscore(rc, kt, thread, &score) != 0)
		score = -1;
	free(kt);
	return score;
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A put writes the thread's index entry when the thread's marker says it is
 * due (new, or index_every_ms old), and only then; the marker then holds the
 * entry's score. */
START_TEST(test_thread_index_entry_is_refreshed_only_when_due)
{
	const char *thread = "thread-due";
	/* a namespace whose key part is escaped: the put script names the other
	 * namespaces' indexes itself, escaping as memoryd does */
	const char *SUB_NS = "sub:{g} *%1";
	long long t0 = wall_ms();
	put_simple(tenant, thread, "", 1, 0, NULL);
	double s1 = index_score(tenant, thread);
	long long m1 = marker_of(tenant, thread);
	ck_assert_msg(s1 >= (double)t0 - 1000, "first put: index score %.0f, put at %lld", s1, t0);
	ck_assert_msg((double)m1 == s1, "first put: marker %lld, index score %.0f", m1, s1);

	sleep_ms(20);
	put_simple(tenant, thread, "", 2, 1, NULL);
	put_simple(tenant, thread, SUB_NS, 3, 0, NULL);
	ck_assert_msg(index_score(tenant, thread) == s1 && marker_of(tenant, thread) == m1,
	              "puts within the interval rewrote the index entry (%.0f, marker %lld)",
	              index_score(tenant, thread), marker_of(tenant, thread));

	/* the namespace set and the namespace indexes get their TTL with a new
	 * namespace or a due put, not with every put */
	char *kx = it_key_checkpoints(tenant, thread, ""),
	     *ks = it_key_checkpoints(tenant, thread, SUB_NS),
	     *kn = it_key_thread_ns(tenant, thread);
	const char *kept[] = {kx, ks, kn};
	long long keep = it_configured_ttl() + 2 * it_index_every_ms() / 1000;
	for (size_t i = 0; i < 3; i++) {
		long long t = ttl_settled(kept[i]);
		ck_assert_msg(t > keep - 60 && t <= keep, "%s: TTL %lld, expected %lld", kept[i], t,
		              keep);
		redisReply *e = redisCommand(rc, "EXPIRE %s 1000", kept[i]);
		ck_assert_msg(e && e->type == REDIS_REPLY_INTEGER && e->integer == 1, "EXPIRE %s",
		              kept[i]);
		freeReplyObject(e);
	}
	put_simple(tenant, thread, SUB_NS, 5, 3, NULL);
	for (size_t i = 0; i < 3; i++) {
		long long t = ttl_settled(kept[i]);
		ck_assert_msg(t > 0 && t <= 1000, "%s: TTL %lld after a put that was not due",
		              kept[i], t);
	}

	/* as if the last refresh was one interval ago: the next put is due */
	char *ki = it_key_thread_indexed(tenant, thread);
	long long old = wall_ms() - it_index_every_ms() - 1;
	redisReply *r = redisCommand(rc, "SET %s %lld XX KEEPTTL", ki, old);
	ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "SET %s", ki);
	freeReplyObject(r);
	long long t1 = wall_ms();
	put_simple(tenant, thread, "", 4, 2, NULL);
	double s2 = index_score(tenant, thread);
	long long m2 = marker_of(tenant, thread);
	ck_assert_msg(s2 >= (double)t1 - 1000 && s2 > s1,
	              "due put: index score %.0f, before %.0f, put at %lld", s2, s1, t1);
	ck_assert_msg((double)m2 == s2, "due put: marker %lld, index score %.0f", m2, s2);
	long long ttl = ttl_settled(ki);
	ck_assert_msg(ttl > it_configured_ttl() - 60 && ttl <= it_configured_ttl(), "%s: TTL %lld",
	              ki, ttl);
	/* the due put (to "") gave every namespace's index and the set theirs */
	for (size_t i = 0; i < 3; i++) {
		long long t = ttl_settled(kept[i]);
		ck_assert_msg(t > keep - 60 && t <= keep,
		              "%s: TTL %lld after a due put, expected %lld", kept[i], t, keep);
	}
	free(kx);
	free(ks);
	free(kn);
	free(ki);
}
END_TEST

/* A thread whose entry is up to one refresh interval older than the TTL
 * (its last puts were not due) is still listed; one older than that is
 * pruned. */
START_TEST(test_list_across_threads_allows_for_the_refresh_interval)
{
	put_simple(tenant, "thread-active", "", 1, 0, NULL);
	put_simple(tenant, "thread-gone", "", 2, 0, NULL);
	char *kt = it_key_threads(tenant);
	long long ttl_ms = (long long)it_configured_ttl() * 1000, every = it_index_every_ms();
	redisReply *r =
	    redisCommand(rc, "ZADD %s %lld thread-active %lld thread-gone", kt,
	                 wall_ms() - ttl_ms - every / 2, wall_ms() - ttl_ms - every - 60000);
	ck_assert_msg(r && r->type == REDIS_REPLY_INTEGER, "ZADD %s", kt);
	freeReplyObject(r);
	json_t *cps = it_list_ok(tenant, NULL);
	int want[] = {1};
	expect_ids(cps, want, 1, "list without thread_id");
	json_decref(cps);
	ck_assert_msg(index_score(tenant, "thread-active") > 0, "the active thread was pruned");
	ck_assert_msg(index_score(tenant, "thread-gone") < 0, "the stale entry was not pruned");
	free(kt);
}
END_TEST

/* When the index write fails, the put fails and the marker stays as it was:
 * the next put writes the index. */
START_TEST(test_failed_index_write_leaves_the_marker_due)
{
	const char *thread = "thread-fail";
	char *kt = it_key_threads(tenant);
	/* a string where the index should be: ZADD answers WRONGTYPE */
	redisReply *r = redisCommand(rc, "SET %s x EX 60", kt);
	freeReplyObject(r);
	char *id = it_cp_id(1);
	json_t *cv = json_pack("{s:s}", "state", "00001");
	json_t *blobs = json_pack("[o]", it_blob("state", json_string("00001"), "json", "1", 1));
	it_response *resp = it_put(
	    tenant, it_put_body(thread, "", id, NULL, it_checkpoint(id, cv), json_object(), blobs));
	ck_assert_msg(resp->status >= 500, "put with a broken index: %s", resp->desc);
	it_response_free(resp);
	ck_assert_msg(marker_of(tenant, thread) == 0, "marker %lld after a failed index write",
	              marker_of(tenant, thread));

	r = redisCommand(rc, "DEL %s", kt);
	freeReplyObject(r);
	put_simple(tenant, thread, "", 2, 0, NULL);
	double s = index_score(tenant, thread);
	ck_assert_msg(s > 0 && (double)marker_of(tenant, thread) == s,
	              "after the index came back: score %.0f, marker %lld", s,
	              marker_of(tenant, thread));
	json_t *cps = it_list_ok(tenant, NULL);
	int want[] = {2, 1};
	expect_ids(cps, want, 2, "list without thread_id");
	json_decref(cps);
	free(id);
	free(kt);
}
END_TEST

/* ===================================================================== */
/* Redis hygiene                                                          */
/* ===================================================================== */

static void batch_for_thread(const char *t, const char *thread)
{
	put_simple(t, thread, "", 1, 0, json_pack("{s:s}", "source", "input"));
	put_simple(t, thread, "", 2, 1, json_pack("{s:s}", "source", "loop"));
	put_simple(t, thread, "inner:ns [1]", 3, 0, NULL);
	char *id2 = it_cp_id(2), *id3 = it_cp_id(3), *id7 = it_cp_id(7);
	const char *ch[] = {"a", "__interrupt__"};
	const char *d[] = {"x", "y"};
	it_put_writes_ok(t, thread, it_writes_body("", id2, "task", "", writes_of(ch, d, 2)));
	it_put_writes_ok(t, thread,
	                 it_writes_body("inner:ns [1]", id3, "task", "p", writes_of(ch, d, 1)));
	it_put_writes_ok(t, thread, it_writes_body("", id7, "task", "", writes_of(ch, d, 1)));
	json_t *cps = it_list_ok(t, NULL);
	json_decref(cps);
	free(id2);
	free(id3);
	free(id7);
}

static int count_char(const char *s, char c)
{
	int n = 0;
	for (; *s; s++)
		n += *s == c;
	return n;
}

START_TEST(test_keys_prefixed_have_ttl_and_share_hash_slot_per_thread)
{
	const char *threads[] = {"plain-thread",
	                         "we:ird {thread} *?[x] \\ %41 \xc3\xa9\xf0\x9f\x98\x80"};
	for (size_t i = 0; i < 2; i++)
		batch_for_thread(tenant, threads[i]);
	put_simple(tenant, "deleted-thread", "", 1, 0, NULL);
	it_response *r = it_delete(tenant, "deleted-thread");
	it_expect_status(r, 204);
	it_response_free(r);

	const char *prefix = it_key_prefix();
	char *pc = it_strfmt("%s:", prefix);
	it_strlist keys = {0};
	it_redis_tenant_keys(rc, tenant, &keys);
	ck_assert_msg(keys.n >= 16, "expected at least 16 keys for the tenant, found %zu", keys.n);
	for (size_t i = 0; i < keys.n; i++) {
		const char *k = keys.v[i];
		ck_assert_msg(strncmp(k, pc, strlen(pc)) == 0, "key %s does not start with %s", k,
		              pc);
		long long ttl = ttl_settled(k);
		ck_assert_msg(ttl > 0, "key %s has TTL %lld", k, ttl);
		/* Encoded components: the only braces are the hash tag's. */
		if (strchr(prefix, '{') == NULL && strchr(prefix, '}') == NULL)
			ck_assert_msg(count_char(k, '{') == 1 && count_char(k, '}') == 1,
			              "key %s has raw braces besides its hash tag", k);
	}

	for (size_t t = 0; t < 2; t++) {
		it_strlist tk = {0};
		it_redis_thread_keys(rc, tenant, threads[t], &tk);
		ck_assert_msg(tk.n >= 8, "thread '%s': expected >= 8 keys, found %zu", threads[t],
		              tk.n);
		char *tag = it_tag(tenant, threads[t]);
		char *inner = it_strfmt("%.*s", (int)strlen(tag) - 2, tag + 1);
		unsigned want = it_keyslot(inner, strlen(inner));
		char *kk = it_key_thread_keys(tenant, threads[t]);
		it_strlist members = {0};
		it_redis_smembers(rc, kk, &members);
		for (size_t i = 0; i < tk.n; i++) {
			unsigned slot = it_keyslot(tk.v[i], strlen(tk.v[i]));
			ck_assert_msg(slot == want,
			              "key %s is in slot %u, thread tag %s is in slot %u", tk.v[i],
			              slot, tag, want);
			const char *k = tk.v[i] + strlen(pc);
			size_t kl = strlen(k);
			int data_key = strncmp(k, "checkpoint:", 11) == 0 ||
			               strncmp(k, "checkpoints:", 12) == 0 ||
			               strncmp(k, "blob:", 5) == 0 ||
			               strncmp(k, "writes:", 7) == 0 ||
			               (kl > 8 && strcmp(k + kl - 8, ":indexed") == 0);
			if (data_key)
				ck_assert_msg(it_strlist_contains(&members, tk.v[i]),
				              "%s is not listed in %s", tk.v[i], kk);
		}
		/* Members may name keys not created yet (e.g. writes of a checkpoint
		 * without writes), but only keys of this thread. */
		for (size_t i = 0; i < members.n; i++)
			ck_assert_msg(strstr(members.v[i], tag) != NULL &&
			                  strncmp(members.v[i], pc, strlen(pc)) == 0,
			              "%s lists %s, which is not a key of this thread", kk,
			              members.v[i]);
		it_strlist_free(&members);
		it_strlist_free(&tk);
		free(kk);
		free(inner);
		free(tag);
	}

	/* Whole database: every memoryd key (our prefix) carries a TTL. Other
	 * suites' keys are here too, some about to expire: TTL answers 0 for a
	 * key with under half a second left, and -2 for one gone since SCAN;
	 * only -1 is a key without a TTL. */
	it_strlist all = {0};
	char *pat = it_strfmt("%s:*", prefix);
	it_redis_scan(rc, pat, &all);
	for (size_t i = 0; i < all.n; i++) {
		long long ttl = ttl_settled(all.v[i]);
		ck_assert_msg(ttl != -1, "key %s has no TTL", all.v[i]);
	}
	it_strlist_free(&all);
	free(pat);
	it_strlist_free(&keys);
	free(pc);
}
END_TEST

START_TEST(test_special_characters_are_encoded_in_keys)
{
	char *t = it_strfmt("%s {t}:*?[x]\\ %% \xc3\xa9", tenant);
	const char *thread = "th:{1}*?[a] b\\c%d \xc3\xa9\xf0\x9f\x98\x80";
	const char *ns = "ns:[x] {y}";
	const char *id = "cp:1 {z}";
	const char *channel = "ch:{c}*";
	const char *version = "v 1:[2]";
	json_t *blobs =
	    json_pack("[o]", it_blob(channel, json_string(version), "bytes", BIN, sizeof BIN));
	json_t *cv = json_object();
	json_object_set_new(cv, channel, json_string(version));
	it_put_ok(t, it_put_body(thread, ns, id, NULL, it_checkpoint(id, cv), NULL, blobs));
	const char *ch[] = {"w:{1}"};
	const char *d[] = {"w"};
	it_put_writes_ok(t, thread,
	                 it_writes_body(ns, id, "task:{1}", "path [x]", writes_of(ch, d, 1)));

	json_t *tuple = it_get_ok(t, thread, ns, id);
	it_expect_config(json_object_get(tuple, "config"), thread, ns, id);
	it_expect_channel_value(tuple, channel, "bytes", BIN, sizeof BIN);
	want_write w[] = {{"path [x]", "task:{1}", 0, "w:{1}", "w"}};
	expect_pending(tuple, w, 1);
	json_decref(tuple);
	json_t *cps = it_list_ok(t, NULL);
	ck_assert_msg(json_array_size(cps) == 1, "list should find the checkpoint");
	it_expect_config(json_object_get(json_array_get(cps, 0), "config"), thread, ns, id);
	json_decref(cps);

	char *want[] = {
	    it_key_checkpoint(t, thread, ns, id),
	    it_key_checkpoints(t, thread, ns),
	    it_key_blob(t, thread, ns, channel, version),
	    it_key_writes(t, thread, ns, id),
	    it_key_thread_keys(t, thread),
	    it_key_thread_ns(t, thread),
	    it_key_head(t, thread, ns),
	    it_key_thread_indexed(t, thread),
	    it_key_threads(t),
	};
	for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_msg(it_redis_exists(rc, want[i]), "expected key %s does not exist",
		              want[i]);
		free(want[i]);
	}
	it_strlist keys = {0};
	it_redis_tenant_keys(rc, t, &keys);
	ck_assert_msg(keys.n == 9, "expected exactly 9 keys for the tenant, found %zu", keys.n);
	it_strlist_free(&keys);

	delete_leaves_no_key(t, thread);
	free(t);
}
END_TEST

START_TEST(test_colon_in_ids_cannot_collide)
{
	/* tenant "X:a" thread "b" vs tenant "X" thread "a:b" */
	char *t1 = it_strfmt("%s:a", tenant);
	const char *th1 = "b";
	const char *th2 = "a:b";
	put_simple(t1, th1, "", 1, 0, json_pack("{s:s}", "who", "tenant-with-colon"));
	put_simple(tenant, th2, "", 2, 0, json_pack("{s:s}", "who", "thread-with-colon"));

	json_t *a = it_get_ok(t1, th1, NULL, NULL);
	json_t *b = it_get_ok(tenant, th2, NULL, NULL);
	const char *wa = json_string_value(json_object_get(json_object_get(a, "metadata"), "who"));
	const char *wb = json_string_value(json_object_get(json_object_get(b, "metadata"), "who"));
	ck_assert_msg(wa && strcmp(wa, "tenant-with-colon") == 0,
	              "tenant 'X:a' thread 'b' mixed up");
	ck_assert_msg(wb && strcmp(wb, "thread-with-colon") == 0,
	              "tenant 'X' thread 'a:b' mixed up");
	json_decref(a);
	json_decref(b);

	json_t *l1 = it_list_ok(t1, NULL), *l2 = it_list_ok(tenant, NULL);
	ck_assert_msg(json_array_size(l1) == 1 && json_array_size(l2) == 1,
	              "each tenant must list exactly its own checkpoint (%zu, %zu)",
	              json_array_size(l1), json_array_size(l2));
	json_decref(l1);
	json_decref(l2);
	it_response *r = it_get(t1, "a:b", NULL, NULL);
	it_expect_error(r, 404, "not_found", NULL);
	it_response_free(r);

	/* ns "x:y" + id "z" vs ns "x" + id "y:z" in one thread */
	it_put_ok(tenant, it_put_body("t", "x:y", "z", NULL, it_checkpoint("z", json_object()),
	                              json_pack("{s:i}", "k", 1), NULL));
	it_put_ok(tenant, it_put_body("t", "x", "y:z", NULL, it_checkpoint("y:z", json_object()),
	                              json_pack("{s:i}", "k", 2), NULL));
	json_t *c1 = it_get_ok(tenant, "t", "x:y", "z");
	json_t *c2 = it_get_ok(tenant, "t", "x", "y:z");
	ck_assert_msg(json_integer_value(json_object_get(json_object_get(c1, "metadata"), "k")) ==
	                  1,
	              "ns x:y id z mixed up");
	ck_assert_msg(json_integer_value(json_object_get(json_object_get(c2, "metadata"), "k")) ==
	                  2,
	              "ns x id y:z mixed up");
	json_decref(c1);
	json_decref(c2);

	/* deleting tenant "X:a"'s thread does not touch tenant "X" */
	r = it_delete(t1, th1);
	it_expect_status(r, 204);
	it_response_free(r);
	json_t *still = it_get_ok(tenant, th2, NULL, NULL);
	json_decref(still);
	free(t1);
}
END_TEST

START_TEST(test_slash_in_thread_id_round_trips_through_path)
{
	const char *thread = "a/b c?d#e";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	json_t *t = it_get_ok(tenant, thread, NULL, NULL);
	it_expect_config(json_object_get(t, "config"), thread, "", id);
	json_decref(t);
	const char *ch[] = {"a"};
	const char *d[] = {"x"};
	it_put_writes_ok(tenant, thread, it_writes_body("", id, "task", "", writes_of(ch, d, 1)));
	it_response *r = it_delete(tenant, thread);
	it_expect_status(r, 204);
	it_response_free(r);
	it_redis_expect_tenant_empty(rc, tenant, "deleting thread 'a/b c?d#e'");
	free(id);
}
END_TEST

START_TEST(test_keyslot_function_matches_redis_cluster)
{
	/* Reference values from CLUSTER KEYSLOT. */
	ck_assert_uint_eq(it_keyslot("foo", 3), 12182);
	ck_assert_uint_eq(it_keyslot("somekey", 7), 11058);
	ck_assert_uint_eq(it_keyslot("{user1000}.following", 21),
	                  it_keyslot("{user1000}.followers", 21));
	ck_assert_uint_eq(it_keyslot("{user1000}.following", 21), it_keyslot("user1000", 8));
	ck_assert_uint_eq(it_keyslot("foo{}{bar}", 10), it_keyslot("foo{}{bar}", 10));
	ck_assert_uint_ne(it_keyslot("foo{}{bar}", 10), it_keyslot("bar", 3));
	ck_assert_uint_eq(it_keyslot("foo{{bar}}zap", 13), it_keyslot("{bar", 4));
}
END_TEST

/* ===================================================================== */
/* TTL                                                                    */
/* ===================================================================== */

START_TEST(test_ttl_matches_checkpoint_ttl_seconds)
{
	long want = it_configured_ttl();
	batch_for_thread(tenant, "thread-ttl");
	it_strlist keys = {0};
	it_redis_tenant_keys(rc, tenant, &keys);
	ck_assert_msg(keys.n >= 8, "expected >= 8 keys, found %zu", keys.n);
	/* the tenant's thread index outlives its entries' last refresh by the
	 * TTL and the refresh interval (TTL / 10); a thread's namespace set and
	 * namespace indexes, refreshed only with a new namespace or a due
	 * index entry, by the TTL and two intervals; every other key the TTL */
	char *kt = it_key_threads(tenant);
	bool seen_index = false, seen_ns = false, seen_ns_index = false;
	for (size_t i = 0; i < keys.n; i++) {
		long long ttl = ttl_settled(keys.v[i]);
		long w = want;
		const char *k = keys.v[i];
		size_t kl = strlen(k);
		if (!strcmp(k, kt)) {
			w = want + (long)(it_index_every_ms() / 1000);
			seen_index = true;
		} else if (strstr(k, ":checkpoints:{") || (kl > 3 && !strcmp(k + kl - 3, ":ns"))) {
			w = want + (long)(2 * it_index_every_ms() / 1000);
			if (strstr(k, ":checkpoints:{"))
				seen_ns_index = true;
			else
				seen_ns = true;
		}
		ck_assert_msg(
		    ttl <= w && ttl >= w - 60,
		    "key %s: TTL %lld, expected close to %ld (CHECKPOINT_TTL_SECONDS=%ld)",
		    keys.v[i], ttl, w, want);
	}
	ck_assert_msg(seen_index, "no %s", kt);
	ck_assert_msg(seen_ns && seen_ns_index, "no namespace set (%d) or index (%d)", seen_ns,
	              seen_ns_index);
	free(kt);
	it_strlist_free(&keys);
}
END_TEST

/* ===================================================================== */
/* bad input                                                              */
/* ===================================================================== */

static it_response *post_raw(const char *path, const char *t, const char *ctype, const char *body,
                             size_t len)
{
	char *th = it_strfmt("X-Tenant-Id: %s", t);
	char *ct = ctype ? it_strfmt("Content-Type: %s", ctype) : NULL;
	const char *hdrs[] = {th, ct, NULL};
	it_response *r = it_request("POST", path, hdrs, body, len);
	free(th);
	free(ct);
	return r;
}

static json_t *valid_body(void)
{
	char *id = it_cp_id(1);
	json_t *b =
	    it_put_body("thread-bad", "", id, NULL, it_checkpoint(id, json_pack("{s:s}", "a", "1")),
	                json_pack("{s:i}", "step", 1),
	                json_pack("[o]", it_blob("a", json_string("1"), "json", "1", 1)));
	free(id);
	return b;
}

/* Sets body[field] = value (stolen). checkpoint.id mirrors checkpoint_id, so
 * only the field under test is at fault. */
static void set_field(json_t *body, const char *field, json_t *value)
{
	if (strcmp(field, "checkpoint_id") == 0)
		json_object_set(json_object_get(body, "checkpoint"), "id", value);
	json_object_set_new(body, field, value);
}

/* Posts `body` (stolen) to /checkpoints and expects a 400 with code/field. */
static void expect_put_rejected(json_t *body, const char *code, const char *field)
{
	it_response *r = it_put(tenant, body);
	it_expect_error(r, 400, code, field);
	it_response_free(r);
	it_redis_expect_tenant_empty(rc, tenant, "a rejected put");
}

START_TEST(test_malformed_json_is_400_invalid_json)
{
	const char *bodies[] = {"{", "{\"thread_id\": \"t\",}", "not json", "{\"a\":1} trailing"};
	for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
		it_response *r = post_raw("/checkpoints", tenant, "application/json", bodies[i],
		                          strlen(bodies[i]));
		it_expect_error(r, 400, "invalid_json", NULL);
		it_response_free(r);
		r = post_raw("/checkpoints/t/writes", tenant, "application/json", bodies[i],
		             strlen(bodies[i]));
		it_expect_error(r, 400, "invalid_json", NULL);
		it_response_free(r);
	}
	it_redis_expect_tenant_empty(rc, tenant, "malformed JSON");
}
END_TEST

START_TEST(test_missing_required_fields_are_400_missing_field)
{
	const char *fields[] = {"thread_id", "checkpoint_id", "checkpoint"};
	for (size_t i = 0; i < 3; i++) {
		json_t *b = valid_body();
		json_object_del(b, fields[i]);
		expect_put_rejected(b, "missing_field", fields[i]);
	}
	const char *wfields[] = {"checkpoint_id", "task_id", "writes"};
	for (size_t i = 0; i < 3; i++) {
		const char *ch[] = {"a"};
		const char *d[] = {"x"};
		json_t *b = it_writes_body("", "cp", "task", "", writes_of(ch, d, 1));
		json_object_del(b, wfields[i]);
		it_response *r = it_put_writes(tenant, "thread-bad", b);
		it_expect_error(r, 400, "missing_field", wfields[i]);
		it_response_free(r);
	}
	it_redis_expect_tenant_empty(rc, tenant, "requests with missing fields");
}
END_TEST

START_TEST(test_wrong_types_are_400_invalid_field_naming_the_field)
{
	struct {
		const char *field;
		json_t *value;
	} cases[] = {
	    {"thread_id", json_integer(42)},
	    {"thread_id", json_string("")},
	    {"checkpoint_id", json_true()},
	    {"checkpoint_id", json_string("")},
	    {"checkpoint_ns", json_integer(1)},
	    {"checkpoint", json_array()},
	    {"checkpoint", json_string("{}")},
	    {"metadata", json_string("x")},
	    {"parent_checkpoint_id", json_integer(5)},
	    {"blobs", json_object()},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		json_t *b = valid_body();
		set_field(b, cases[i].field, cases[i].value);
		expect_put_rejected(b, "invalid_field", cases[i].field);
	}
}
END_TEST

START_TEST(test_control_characters_in_ids_are_rejected)
{
	const char *bad[] = {"a\x01\x62", "tab\there", "del\x7f", "nl\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *b = valid_body();
		json_object_set_new(b, "thread_id", json_string(bad[i]));
		expect_put_rejected(b, "invalid_field", "thread_id");
		b = valid_body();
		set_field(b, "checkpoint_id", json_string(bad[i]));
		expect_put_rejected(b, "invalid_field", "checkpoint_id");
		b = valid_body();
		json_object_set_new(b, "checkpoint_ns", json_string(bad[i]));
		expect_put_rejected(b, "invalid_field", "checkpoint_ns");
	}
	/* thread id with a control character in the path */
	it_response *r = it_json_request("GET", "/checkpoints/a%01b", tenant, NULL);
	it_expect_error(r, 400, "invalid_field", NULL);
	it_response_free(r);
	/* invalid UTF-8 in the path */
	r = it_json_request("GET", "/checkpoints/a%FFb", tenant, NULL);
	it_expect_error(r, 400, "invalid_field", NULL);
	it_response_free(r);
	/* tenant header with a control character */
	const char *hdrs[] = {"X-Tenant-Id: te\x01nant", NULL};
	r = it_request("GET", "/checkpoints", hdrs, NULL, 0);
	it_expect_error(r, 400, "invalid_field", NULL);
	it_response_free(r);
}
END_TEST

START_TEST(test_overlong_ids_are_rejected_and_limits_are_inclusive)
{
	char id256[257], id257[258];
	memset(id256, 'i', 256);
	id256[256] = '\0';
	memset(id257, 'i', 257);
	id257[257] = '\0';
	const char *fields[] = {"thread_id", "checkpoint_id", "checkpoint_ns"};
	for (size_t i = 0; i < 3; i++) {
		json_t *b = valid_body();
		set_field(b, fields[i], json_string(id257));
		expect_put_rejected(b, "invalid_field", fields[i]);
	}
	/* 256 bytes is accepted */
	it_put_ok(tenant, it_put_body(id256, id256, id256, NULL,
	                              it_checkpoint(id256, json_object()), NULL, NULL));
	json_t *t = it_get_ok(tenant, id256, id256, id256);
	json_decref(t);
	it_response *r = it_delete(tenant, id256);
	it_expect_status(r, 204);
	it_response_free(r);

	/* tenant: 64 ok, 65 rejected */
	char t64[65], t65[66];
	memset(t64, 'T', 64);
	t64[64] = '\0';
	memcpy(t64, tenant, strlen(tenant));
	memset(t65, 'T', 65);
	t65[65] = '\0';
	memcpy(t65, tenant, strlen(tenant));
	r = it_list(t65, NULL);
	it_expect_error(r, 400, "invalid_field", NULL);
	it_response_free(r);
	r = it_put(t65, valid_body());
	it_expect_error(r, 400, "invalid_field", NULL);
	it_response_free(r);
	it_redis_expect_tenant_empty(rc, t65, "a put with a 65-byte tenant");
	it_put_ok(t64, valid_body());
	r = it_delete(t64, "thread-bad");
	it_expect_status(r, 204);
	it_response_free(r);
	/* empty tenant header */
	const char *hdrs[] = {"X-Tenant-Id;", NULL}; /* curl: send it empty */
	r = it_request("GET", "/checkpoints", hdrs, NULL, 0);
	ck_assert_msg(r->status == 400 || r->status == 200,
	              "empty X-Tenant-Id: expected 400 (or default tenant): %s", r->desc);
	it_response_free(r);
}
END_TEST

/* Writes per call are bounded (LangGraph sends tens), and a body near the
 * limit is read in time linear in its size. */
START_TEST(test_writes_per_call_are_bounded)
{
	const char *thread = "thread-many-writes";
	put_simple(tenant, thread, "", 1, 0, NULL);
	char *id = it_cp_id(1);
	for (int n = 4096; n <= 4097; n++) {
		json_t *ws = json_array();
		for (int i = 0; i < n; i++)
			json_array_append_new(ws, it_write("c", "json", "1", 1));
		char *path = it_strfmt("/checkpoints/%s/writes", thread);
		json_t *body = it_writes_body("", id, "t", "", ws);
		it_response *r = it_json_request("POST", path, tenant, body);
		json_decref(body);
		if (n == 4096) {
			it_expect_status(r, 200);
		} else {
			it_expect_status(r, 400);
			ck_assert_msg(!strcmp(json_string_value(json_object_get(
			                          json_object_get(r->json, "error"), "field")),
			                      "writes"),
			              "the error must name writes: %s", r->desc);
		}
		it_response_free(r);
		free(path);
	}
	free(id);
}
END_TEST

START_TEST(test_invalid_base64_is_400)
{
	const char *bad[] = {"!!!!", "YQ", "YQ=", "Y Q==", "YWJj\n"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		json_t *b = valid_body();
		json_t *blob = json_array_get(json_object_get(b, "blobs"), 0);
		json_object_set_new(blob, "data", json_string(bad[i]));
		it_response *r = it_put(tenant, b);
		it_expect_error(r, 400, "invalid_field", NULL);
		ck_assert_msg(
		    json_is_string(json_object_get(json_object_get(r->json, "error"), "field")),
		    "invalid base64 error should name the field: %s", r->desc);
		it_response_free(r);

		const char *ch[] = {"a"};
		const char *d[] = {"x"};
		json_t *wb = it_writes_body("", "cp", "task", "", writes_of(ch, d, 1));
		json_object_set_new(json_array_get(json_object_get(wb, "writes"), 0), "data",
		                    json_string(bad[i]));
		r = it_put_writes(tenant, "thread-bad", wb);
		it_expect_error(r, 400, "invalid_field", NULL);
		it_response_free(r);
	}
	it_redis_expect_tenant_empty(rc, tenant, "invalid base64");
}
END_TEST

START_TEST(test_unknown_path_is_404)
{
	const char *paths[] = {"/nope", "/checkpoints/t/writes/extra", "/checkpoints/t/other", "/"};
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
		it_response *r = it_json_request("GET", paths[i], tenant, NULL);
		it_expect_error(r, 404, "not_found", NULL);
		it_response_free(r);
	}
}
END_TEST

static void expect_405(const char *method, const char *path, const char *const *allowed)
{
	it_response *r = it_json_request(method, path, tenant, NULL);
	it_expect_error(r, 405, "method_not_allowed", NULL);
	const char *allow = it_header_get(r, "Allow");
	ck_assert_msg(allow != NULL, "405 without Allow header: %s", r->desc);
	for (size_t i = 0; allowed[i]; i++)
		ck_assert_msg(strstr(allow, allowed[i]) != NULL, "%s %s: Allow '%s' lacks %s",
		              method, path, allow, allowed[i]);
	it_response_free(r);
}

START_TEST(test_wrong_method_is_405_with_allow_header)
{
	const char *get_post[] = {"GET", "POST", NULL};
	const char *get_delete[] = {"GET", "DELETE", NULL};
	const char *post[] = {"POST", NULL};
	const char *get[] = {"GET", NULL};
	expect_405("PUT", "/checkpoints", get_post);
	expect_405("DELETE", "/checkpoints", get_post);
	expect_405("POST", "/checkpoints/t1", get_delete);
	expect_405("PATCH", "/checkpoints/t1", get_delete);
	expect_405("GET", "/checkpoints/t1/writes", post);
	expect_405("DELETE", "/healthz", get);
	expect_405("POST", "/readyz", get);
	it_redis_expect_tenant_empty(rc, tenant, "405 responses");
}
END_TEST

START_TEST(test_body_over_max_body_bytes_is_413)
{
	size_t limit = (size_t)it_max_body_bytes();
	size_t n = limit + 1024 * 1024;
	const char *head =
	    "{\"thread_id\":\"thread-big\",\"checkpoint_id\":\"c1\",\"checkpoint\":{},"
	    "\"blobs\":[{\"channel\":\"a\",\"version\":\"1\",\"type\":\"bytes\",\"data\":\"";
	const char *tail = "\"}]}";
	char *body = malloc(n + 1);
	ck_assert(body != NULL);
	size_t hl = strlen(head), tl = strlen(tail);
	memcpy(body, head, hl);
	size_t data_len = (n - hl - tl) / 4 * 4;
	memset(body + hl, 'A', data_len);
	memcpy(body + hl + data_len, tail, tl);
	size_t len = hl + data_len + tl;
	body[len] = '\0';
	ck_assert_msg(len > limit, "test body (%zu) must exceed MAX_BODY_BYTES (%zu)", len, limit);
	it_response *r = post_raw("/checkpoints", tenant, "application/json", body, len);
	it_expect_error(r, 413, "payload_too_large", NULL);
	it_response_free(r);
	free(body);
	it_redis_expect_tenant_empty(rc, tenant, "a 413");
	/* the server still works afterwards */
	r = it_json_request("GET", "/healthz", NULL, NULL);
	it_expect_status(r, 200);
	it_response_free(r);
}
END_TEST

START_TEST(test_non_json_content_type_is_415_and_charset_is_allowed)
{
	json_t *vb = valid_body();
	char *body = it_json_dump(vb);
	json_decref(vb);
	const char *bad[] = {"text/plain", "application/x-www-form-urlencoded",
	                     "application/jsonx"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		it_response *r = post_raw("/checkpoints", tenant, bad[i], body, strlen(body));
		it_expect_error(r, 415, "unsupported_media_type", NULL);
		it_response_free(r);
	}
	it_response *r = post_raw("/checkpoints/thread-bad/writes", tenant, "text/plain", "{}", 2);
	it_expect_error(r, 415, "unsupported_media_type", NULL);
	it_response_free(r);
	it_redis_expect_tenant_empty(rc, tenant, "415 responses");

	r = post_raw("/checkpoints", tenant, "application/json; charset=utf-8", body, strlen(body));
	it_expect_status(r, 201);
	it_response_free(r);
	free(body);
}
END_TEST

/* ===================================================================== */
/* request ids                                                            */
/* ===================================================================== */

static int is_hex32(const char *s)
{
	if (s == NULL || strlen(s) != 32)
		return 0;
	for (; *s; s++)
		if (!strchr("0123456789abcdefABCDEF", *s))
			return 0;
	return 1;
}

START_TEST(test_request_id_is_echoed_in_header_and_error_body)
{
	char *rid = it_random_id("it-req-");
	char *h = it_strfmt("X-Request-Id: %s", rid);
	char *th = it_strfmt("X-Tenant-Id: %s", tenant);
	const char *hdrs[] = {h, th, NULL};
	it_response *r = it_request("GET", "/healthz", hdrs, NULL, 0);
	it_expect_status(r, 200);
	it_expect_request_id(r, rid);
	it_response_free(r);
	r = it_request("GET", "/checkpoints/nothing-here", hdrs, NULL, 0);
	it_expect_error(r, 404, "not_found", NULL);
	it_expect_request_id(r, rid);
	it_response_free(r);
	r = it_request("POST", "/checkpoints", hdrs, "{", 1);
	it_expect_error(r, 400, "invalid_json", NULL);
	it_expect_request_id(r, rid);
	it_response_free(r);
	free(h);
	free(th);
	free(rid);
}
END_TEST

START_TEST(test_request_id_generated_when_absent_or_invalid)
{
	it_response *r = it_json_request("GET", "/healthz", NULL, NULL);
	const char *got = it_header_get(r, "X-Request-Id");
	ck_assert_msg(is_hex32(got), "generated X-Request-Id should be 32 hex chars, got '%s'",
	              got ? got : "(none)");
	char first[40];
	snprintf(first, sizeof first, "%s", got);
	it_response_free(r);
	r = it_json_request("GET", "/healthz", NULL, NULL);
	got = it_header_get(r, "X-Request-Id");
	ck_assert_msg(got && strcmp(got, first) != 0, "generated request ids must differ");
	it_response_free(r);

	char longid[130];
	memset(longid, 'r', 129);
	longid[129] = '\0';
	char *h = it_strfmt("X-Request-Id: %s", longid);
	const char *hdrs[] = {h, NULL};
	r = it_request("GET", "/nope", hdrs, NULL, 0);
	it_expect_error(r, 404, "not_found", NULL);
	got = it_header_get(r, "X-Request-Id");
	ck_assert_msg(is_hex32(got),
	              "a 129-char X-Request-Id must be replaced by a generated one: %s",
	              got ? got : "(none)");
	it_response_free(r);
	free(h);

	char okid[129];
	memset(okid, 'k', 128);
	okid[128] = '\0';
	h = it_strfmt("X-Request-Id: %s", okid);
	const char *hdrs2[] = {h, NULL};
	r = it_request("GET", "/healthz", hdrs2, NULL, 0);
	it_expect_request_id(r, okid);
	it_response_free(r);
	free(h);
}
END_TEST

/* ===================================================================== */
/* concurrency                                                            */
/* ===================================================================== */

enum { N_WORKERS = 8, PUTS_PER_WORKER = 12 };

typedef struct {
	int idx;
	const char *tenant;
	int failures;
	char first_failure[600];
} worker_t;

static void *put_worker(void *p)
{
	worker_t *w = p;
	char *own = it_strfmt("own-%d", w->idx);
	for (int j = 0; j < PUTS_PER_WORKER; j++) {
		const char *thread = (w->idx % 2 == 0) ? "shared" : own;
		char *id = it_cp_id(w->idx * 1000 + j);
		char *data = it_strfmt("w%d-%d", w->idx, j);
		json_t *blobs =
		    json_pack("[o]", it_blob("c", json_string(id), "json", data, strlen(data)));
		it_response *r =
		    it_put(w->tenant, it_put_body(thread, "", id, NULL,
		                                  it_checkpoint(id, json_pack("{s:s}", "c", id)),
		                                  json_pack("{s:i}", "worker", w->idx), blobs));
		if (r->status != 201 && w->failures++ == 0)
			snprintf(w->first_failure, sizeof w->first_failure, "%s", r->desc);
		it_response_free(r);
		json_t *wr = json_pack("[o]", it_write("c", "json", data, strlen(data)));
		r = it_put_writes(w->tenant, thread, it_writes_body("", id, "task", "", wr));
		if (r->status != 200 && w->failures++ == 0)
			snprintf(w->first_failure, sizeof w->first_failure, "%s", r->desc);
		it_response_free(r);
		free(id);
		free(data);
	}
	free(own);
	return NULL;
}

START_TEST(test_concurrent_puts_and_writes_are_all_stored)
{
	pthread_t th[N_WORKERS];
	worker_t w[N_WORKERS];
	for (int i = 0; i < N_WORKERS; i++) {
		w[i] = (worker_t){.idx = i, .tenant = tenant};
		ck_assert_int_eq(pthread_create(&th[i], NULL, put_worker, &w[i]), 0);
	}
	for (int i = 0; i < N_WORKERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_WORKERS; i++)
		ck_assert_msg(w[i].failures == 0, "worker %d: %d failed request(s), first: %s", i,
		              w[i].failures, w[i].first_failure);

	json_t *all = it_list_ok(tenant, NULL);
	ck_assert_msg(json_array_size(all) == N_WORKERS * PUTS_PER_WORKER,
	              "expected %d checkpoints, listed %zu", N_WORKERS * PUTS_PER_WORKER,
	              json_array_size(all));
	for (size_t i = 1; i < json_array_size(all); i++)
		ck_assert_msg(strcmp(it_tuple_id(json_array_get(all, i - 1)),
		                     it_tuple_id(json_array_get(all, i))) > 0,
		              "list not strictly newest first at position %zu", i);
	for (size_t i = 0; i < json_array_size(all); i++) {
		json_t *t = json_array_get(all, i);
		const char *id = it_tuple_id(t);
		int n = atoi(id + strlen("1ef4f797-8335-6428-8001-"));
		char *data = it_strfmt("w%d-%d", n / 1000, n % 1000);
		it_expect_channel_value(t, "c", "json", data, strlen(data));
		json_t *pw = json_object_get(t, "pending_writes");
		ck_assert_msg(json_array_size(pw) == 1, "checkpoint %s: expected 1 pending write",
		              id);
		free(data);
	}
	json_decref(all);
	json_t *shared = it_list_ok(tenant, "thread_id=shared");
	ck_assert_msg(json_array_size(shared) == (N_WORKERS / 2) * PUTS_PER_WORKER,
	              "thread 'shared': expected %d checkpoints, listed %zu",
	              (N_WORKERS / 2) * PUTS_PER_WORKER, json_array_size(shared));
	json_decref(shared);
	char *kt = it_key_threads(tenant);
	ck_assert_msg(it_redis_card(rc, "ZCARD", kt) == 1 + N_WORKERS / 2,
	              "%s should hold %d threads", kt, 1 + N_WORKERS / 2);
	free(kt);
}
END_TEST

/* ===================================================================== */

static TCase *tc(Suite *s, const char *name, int timeout)
{
	TCase *t = tcase_create(name);
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_set_timeout(t, timeout);
	suite_add_tcase(s, t);
	return t;
}

int main(void)
{
	Suite *s = suite_create("memoryd_checkpoints");
	TCase *t;

	t = tc(s, "health", 30);
	tcase_add_test(t, test_healthz_returns_ok);
	tcase_add_test(t, test_readyz_reports_redis_reachable);

	t = tc(s, "roundtrip", 60);
	tcase_add_test(t, test_put_then_get_latest_and_by_id_round_trip);
	tcase_add_test(t, test_failed_put_script_leaves_its_blobs_registered_and_expiring);
	tcase_add_test(t, test_parent_config_present_for_child_absent_for_root);
	tcase_add_test(t, test_null_parent_and_missing_metadata_mean_root_and_empty_object);
	tcase_add_test(t, test_put_same_id_again_overwrites);
	tcase_add_test(t, test_cached_latest_follows_every_change);
	tcase_add_test(t, test_get_after_this_replicas_write_reads_no_head);
	tcase_add_test(t, test_versions_canonicalised_integer_and_string_match);
	tcase_add_test(t, test_large_binary_blob_round_trip);
	tcase_add_test(t, test_get_unknown_thread_and_unknown_id_404);
	tcase_add_test(t, test_namespaces_are_separate);

	t = tc(s, "channels", 30);
	tcase_add_test(t, test_unchanged_channel_value_comes_from_parent_blob);
	tcase_add_test(t, test_channel_dropped_from_channel_versions_is_absent);
	tcase_add_test(t, test_empty_blobs_are_omitted_from_channel_values);

	t = tc(s, "list", 60);
	tcase_add_test(t, test_latest_is_largest_checkpoint_id_not_last_put);
	tcase_add_test(t, test_list_newest_first_with_full_tuples);
	tcase_add_test(t, test_list_before_and_limit);
	tcase_add_test(t, test_list_filter_requires_every_key_to_match);
	tcase_add_test(t, test_list_without_checkpoint_ns_covers_every_namespace);
	tcase_add_test(t, test_list_without_thread_id_covers_all_threads_of_tenant);
	tcase_add_test(t, test_list_rejects_bad_limit_and_filter);

	t = tc(s, "tenants", 30);
	tcase_add_test(t, test_tenant_isolation_for_get_list_and_delete);
	tcase_add_test(t, test_missing_tenant_header_means_default_tenant);

	t = tc(s, "writes", 30);
	tcase_add_test(t, test_writes_idx_for_normal_and_special_channels);
	tcase_add_test(t, test_repeated_write_is_ignored);
	tcase_add_test(t, test_all_special_writes_overwrite);
	tcase_add_test(t, test_writes_before_checkpoint_survive_later_put);
	tcase_add_test(t, test_pending_writes_ordered_by_task_path_task_id_idx);
	tcase_add_test(t, test_writes_belong_to_their_checkpoint_and_namespace);
	tcase_add_test(t, test_writes_per_call_are_bounded);

	t = tc(s, "bytes", 60);
	tcase_add_test(t, test_list_pages_end_at_response_max_bytes);
	t = tc(s, "delete", 30);
	tcase_add_test(t, test_delete_thread_removes_every_key_in_every_namespace);
	tcase_add_test(t, test_delete_unknown_thread_is_204);
	tcase_add_test(t, test_put_after_delete_starts_fresh);
	tcase_add_test(t, test_delete_of_a_large_thread_is_done_in_bounded_steps);
	tcase_add_test(t, test_list_reads_a_bounded_range_of_the_index);

	t = tc(s, "thread_index", 30);
	tcase_add_test(t, test_thread_index_entry_is_refreshed_only_when_due);
	tcase_add_test(t, test_list_across_threads_allows_for_the_refresh_interval);
	tcase_add_test(t, test_failed_index_write_leaves_the_marker_due);

	t = tc(s, "hygiene", 60);
	tcase_add_test(t, test_keys_prefixed_have_ttl_and_share_hash_slot_per_thread);
	tcase_add_test(t, test_special_characters_are_encoded_in_keys);
	tcase_add_test(t, test_colon_in_ids_cannot_collide);
	tcase_add_test(t, test_slash_in_thread_id_round_trips_through_path);
	tcase_add_test(t, test_keyslot_function_matches_redis_cluster);

	t = tc(s, "ttl", 30);
	tcase_add_test(t, test_ttl_matches_checkpoint_ttl_seconds);

	t = tc(s, "bad_input", 120);
	tcase_add_test(t, test_malformed_json_is_400_invalid_json);
	tcase_add_test(t, test_missing_required_fields_are_400_missing_field);
	tcase_add_test(t, test_wrong_types_are_400_invalid_field_naming_the_field);
	tcase_add_test(t, test_control_characters_in_ids_are_rejected);
	tcase_add_test(t, test_overlong_ids_are_rejected_and_limits_are_inclusive);
	tcase_add_test(t, test_invalid_base64_is_400);
	tcase_add_test(t, test_unknown_path_is_404);
	tcase_add_test(t, test_wrong_method_is_405_with_allow_header);
	tcase_add_test(t, test_body_over_max_body_bytes_is_413);
	tcase_add_test(t, test_non_json_content_type_is_415_and_charset_is_allowed);

	t = tc(s, "concurrency", 120);
	tcase_add_test(t, test_concurrent_puts_and_writes_are_all_stored);

	t = tc(s, "request_id", 30);
	tcase_add_test(t, test_request_id_is_echoed_in_header_and_error_body);
	tcase_add_test(t, test_request_id_generated_when_absent_or_invalid);

	return it_run_suite(s);
}
