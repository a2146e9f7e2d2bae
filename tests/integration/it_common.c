#define _POSIX_C_SOURCE 200809L
#include "it_common.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- environment ------------------------------------------------------ */

const char *it_require_env(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v != NULL && *v != '\0', "environment variable %s is not set", name);
	return v;
}

const char *it_key_prefix(void)
{
	const char *p = getenv("KEY_PREFIX");
	return (p && *p) ? p : "langgraph";
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return dflt;
	char *end;
	long n = strtol(v, &end, 10);
	ck_assert_msg(*end == '\0' && n > 0, "%s=%s is not a positive integer", name, v);
	return n;
}

long it_configured_ttl(void)
{
	return env_long("CHECKPOINT_TTL_SECONDS", 86400);
}

long it_max_body_bytes(void)
{
	return env_long("MAX_BODY_BYTES", 8388608);
}

/* ---- ids and keys ------------------------------------------------------- */

char *it_random_id(const char *prefix)
{
	unsigned char r[8];
	FILE *f = fopen("/dev/urandom", "rb");
	ck_assert_msg(f != NULL, "cannot open /dev/urandom");
	ck_assert_msg(fread(r, 1, sizeof r, f) == sizeof r, "short read from /dev/urandom");
	fclose(f);
	return it_strfmt("%s%02x%02x%02x%02x%02x%02x%02x%02x", prefix, r[0], r[1], r[2], r[3], r[4],
	                 r[5], r[6], r[7]);
}

char *it_cp_id(int n)
{
	return it_strfmt("1ef4f797-8335-6428-8001-%012d", n);
}

char *it_key_enc(const char *component)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(component);
	char *out = malloc(n * 3 + 1);
	ck_assert_msg(out != NULL, "out of memory");
	char *o = out;
	for (const unsigned char *p = (const unsigned char *)component; *p; p++) {
		if (strchr("%:{}*?[]\\ ", *p) != NULL) {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	return out;
}

char *it_tag(const char *tenant, const char *thread)
{
	char *a = it_key_enc(tenant), *b = it_key_enc(thread);
	char *t = it_strfmt("{%s:%s}", a, b);
	free(a);
	free(b);
	return t;
}

char *it_key_checkpoint(const char *tenant, const char *thread, const char *ns, const char *id)
{
	char *tag = it_tag(tenant, thread), *n = it_key_enc(ns), *i = it_key_enc(id);
	char *k = it_strfmt("%s:checkpoint:%s:%s:%s", it_key_prefix(), tag, n, i);
	free(tag);
	free(n);
	free(i);
	return k;
}

char *it_key_checkpoints(const char *tenant, const char *thread, const char *ns)
{
	char *tag = it_tag(tenant, thread), *n = it_key_enc(ns);
	char *k = it_strfmt("%s:checkpoints:%s:%s", it_key_prefix(), tag, n);
	free(tag);
	free(n);
	return k;
}

char *it_key_blob(const char *tenant, const char *thread, const char *ns, const char *channel,
                  const char *version)
{
	char *tag = it_tag(tenant, thread), *n = it_key_enc(ns), *c = it_key_enc(channel),
	     *v = it_key_enc(version);
	char *k = it_strfmt("%s:blob:%s:%s:%s:%s", it_key_prefix(), tag, n, c, v);
	free(tag);
	free(n);
	free(c);
	free(v);
	return k;
}

char *it_key_writes(const char *tenant, const char *thread, const char *ns, const char *id)
{
	char *tag = it_tag(tenant, thread), *n = it_key_enc(ns), *i = it_key_enc(id);
	char *k = it_strfmt("%s:writes:%s:%s:%s", it_key_prefix(), tag, n, i);
	free(tag);
	free(n);
	free(i);
	return k;
}

char *it_key_head(const char *tenant, const char *thread, const char *ns)
{
	char *tag = it_tag(tenant, thread), *n = it_key_enc(ns);
	char *k = it_strfmt("%s:head:%s:%s", it_key_prefix(), tag, n);
	free(tag);
	free(n);
	return k;
}

char *it_key_thread_keys(const char *tenant, const char *thread)
{
	char *tag = it_tag(tenant, thread);
	char *k = it_strfmt("%s:thread:%s:keys", it_key_prefix(), tag);
	free(tag);
	return k;
}

char *it_key_thread_ns(const char *tenant, const char *thread)
{
	char *tag = it_tag(tenant, thread);
	char *k = it_strfmt("%s:thread:%s:ns", it_key_prefix(), tag);
	free(tag);
	return k;
}

char *it_key_thread_indexed(const char *tenant, const char *thread)
{
	char *tag = it_tag(tenant, thread);
	char *k = it_strfmt("%s:thread:%s:indexed", it_key_prefix(), tag);
	free(tag);
	return k;
}

long long it_index_every_ms(void)
{
	return (long long)it_configured_ttl() * 100;
}

char *it_key_threads(const char *tenant)
{
	char *t = it_key_enc(tenant);
	char *k = it_strfmt("%s:threads:{%s}", it_key_prefix(), t);
	free(t);
	return k;
}

static uint16_t crc16_xmodem(const unsigned char *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc =
			    (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
	}
	return crc;
}

unsigned it_keyslot(const char *key, size_t len)
{
	const unsigned char *k = (const unsigned char *)key;
	size_t s;
	for (s = 0; s < len; s++)
		if (k[s] == '{')
			break;
	if (s < len) {
		size_t e;
		for (e = s + 1; e < len; e++)
			if (k[e] == '}')
				break;
		if (e < len && e != s + 1)
			return crc16_xmodem(k + s + 1, e - s - 1) & 16383u;
	}
	return crc16_xmodem(k, len) & 16383u;
}

/* ---- builders ------------------------------------------------------------ */

json_t *it_blob(const char *channel, json_t *version, const char *type, const void *data,
                size_t len)
{
	json_t *b = json_object();
	json_object_set_new(b, "channel", json_string(channel));
	json_object_set_new(b, "version", version);
	json_object_set_new(b, "type", json_string(type));
	if (data != NULL) {
		char *e = it_b64_encode(data, len);
		json_object_set_new(b, "data", json_string(e));
		free(e);
	}
	return b;
}

json_t *it_checkpoint(const char *id, json_t *channel_versions)
{
	json_t *c =
	    json_pack("{s:i, s:s, s:s, s:o, s:{s:{s:s}}, s:[]}", "v", 4, "id", id, "ts",
	              "2024-07-31T20:14:19.804150+00:00", "channel_versions", channel_versions,
	              "versions_seen", "__input__", "__start__", "00001.0", "pending_sends");
	ck_assert_msg(c != NULL, "json_pack(checkpoint) failed");
	return c;
}

json_t *it_put_body(const char *thread, const char *ns, const char *id, const char *parent,
                    json_t *checkpoint, json_t *metadata, json_t *blobs)
{
	json_t *b = json_object();
	json_object_set_new(b, "thread_id", json_string(thread));
	if (ns)
		json_object_set_new(b, "checkpoint_ns", json_string(ns));
	json_object_set_new(b, "checkpoint_id", json_string(id));
	if (parent)
		json_object_set_new(b, "parent_checkpoint_id", json_string(parent));
	json_object_set_new(b, "checkpoint", checkpoint);
	if (metadata)
		json_object_set_new(b, "metadata", metadata);
	if (blobs)
		json_object_set_new(b, "blobs", blobs);
	return b;
}

json_t *it_write(const char *channel, const char *type, const void *data, size_t len)
{
	char *e = it_b64_encode(data, len);
	json_t *w = json_pack("{s:s, s:s, s:s}", "channel", channel, "type", type, "data", e);
	free(e);
	return w;
}

json_t *it_writes_body(const char *ns, const char *cid, const char *task_id, const char *task_path,
                       json_t *writes)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:o}", "checkpoint_ns", ns, "checkpoint_id", cid,
	                 "task_id", task_id, "task_path", task_path, "writes", writes);
}

char *it_query(const char *k1, ...)
{
	char *q = strdup("");
	ck_assert_msg(q != NULL, "out of memory");
	va_list ap;
	va_start(ap, k1);
	for (const char *k = k1; k != NULL; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		char *ev = it_url_escape(v);
		char *nq = it_strfmt("%s%s%s=%s", q, *q ? "&" : "", k, ev);
		free(ev);
		free(q);
		q = nq;
	}
	va_end(ap);
	return q;
}

/* ---- API wrappers ---------------------------------------------------------- */

it_response *it_put(const char *tenant, json_t *body)
{
	it_response *r = it_json_request("POST", "/checkpoints", tenant, body);
	json_decref(body);
	return r;
}

void it_put_ok(const char *tenant, json_t *body)
{
	const char *thread = json_string_value(json_object_get(body, "thread_id"));
	const char *ns = json_string_value(json_object_get(body, "checkpoint_ns"));
	const char *id = json_string_value(json_object_get(body, "checkpoint_id"));
	char *t = strdup(thread), *n = strdup(ns ? ns : ""), *i = strdup(id);
	it_response *r = it_put(tenant, body);
	it_expect_status(r, 201);
	ck_assert_msg(r->json != NULL, "put: body is not JSON: %s", r->desc);
	it_expect_config(json_object_get(r->json, "config"), t, n, i);
	it_response_free(r);
	free(t);
	free(n);
	free(i);
}

static char *tuple_path(const char *thread, const char *ns, const char *id)
{
	char *et = it_url_escape(thread);
	char *q;
	if (ns && id)
		q = it_query("checkpoint_ns", ns, "checkpoint_id", id, NULL);
	else if (ns)
		q = it_query("checkpoint_ns", ns, NULL);
	else if (id)
		q = it_query("checkpoint_id", id, NULL);
	else
		q = strdup("");
	char *p = it_strfmt("/checkpoints/%s%s%s", et, *q ? "?" : "", q);
	free(et);
	free(q);
	return p;
}

it_response *it_get(const char *tenant, const char *thread, const char *ns, const char *id)
{
	char *p = tuple_path(thread, ns, id);
	it_response *r = it_json_request("GET", p, tenant, NULL);
	free(p);
	return r;
}

json_t *it_get_ok(const char *tenant, const char *thread, const char *ns, const char *id)
{
	it_response *r = it_get(tenant, thread, ns, id);
	it_expect_status(r, 200);
	ck_assert_msg(json_is_object(r->json), "get: body is not a JSON object: %s", r->desc);
	json_t *t = json_incref(r->json);
	it_response_free(r);
	return t;
}

it_response *it_list(const char *tenant, const char *query)
{
	char *p = it_strfmt("/checkpoints%s%s", (query && *query) ? "?" : "", query ? query : "");
	it_response *r = it_json_request("GET", p, tenant, NULL);
	free(p);
	return r;
}

json_t *it_list_ok(const char *tenant, const char *query)
{
	it_response *r = it_list(tenant, query);
	it_expect_status(r, 200);
	json_t *cps = json_object_get(r->json, "checkpoints");
	ck_assert_msg(json_is_array(cps), "list: no checkpoints array: %s", r->desc);
	ck_assert_msg(json_is_boolean(json_object_get(r->json, "truncated")),
	              "list: no boolean truncated: %s", r->desc);
	json_incref(cps);
	it_response_free(r);
	return cps;
}

it_response *it_put_writes(const char *tenant, const char *thread, json_t *body)
{
	char *et = it_url_escape(thread);
	char *p = it_strfmt("/checkpoints/%s/writes", et);
	it_response *r = it_json_request("POST", p, tenant, body);
	json_decref(body);
	free(et);
	free(p);
	return r;
}

void it_put_writes_ok(const char *tenant, const char *thread, json_t *body)
{
	size_t n = json_array_size(json_object_get(body, "writes"));
	it_response *r = it_put_writes(tenant, thread, body);
	it_expect_status(r, 200);
	json_t *stored = json_object_get(r->json, "stored");
	ck_assert_msg(json_is_integer(stored) && json_integer_value(stored) == (json_int_t)n,
	              "writes: expected {\"stored\": %zu}: %s", n, r->desc);
	it_response_free(r);
}

it_response *it_delete(const char *tenant, const char *thread)
{
	char *et = it_url_escape(thread);
	char *p = it_strfmt("/checkpoints/%s", et);
	it_response *r = it_json_request("DELETE", p, tenant, NULL);
	free(et);
	free(p);
	return r;
}

/* ---- assertions ---------------------------------------------------------- */

void it_expect_status(const it_response *r, long status)
{
	ck_assert_msg(r->status == status, "expected HTTP %ld, got: %s", status, r->desc);
}

void it_expect_request_id(const it_response *r, const char *sent)
{
	const char *rid = it_header_get(r, "X-Request-Id");
	ck_assert_msg(rid != NULL && *rid != '\0', "no X-Request-Id in response: %s", r->desc);
	if (sent != NULL)
		ck_assert_msg(strcmp(rid, sent) == 0,
		              "X-Request-Id not echoed: sent '%s', got '%s': %s", sent, rid,
		              r->desc);
}

void it_expect_error(const it_response *r, long status, const char *code, const char *field)
{
	it_expect_status(r, status);
	ck_assert_msg(json_is_object(r->json), "error body is not a JSON object: %s", r->desc);
	json_t *e = json_object_get(r->json, "error");
	ck_assert_msg(json_is_object(e), "error body has no \"error\" object: %s", r->desc);
	const char *got = json_string_value(json_object_get(e, "code"));
	ck_assert_msg(got != NULL && strcmp(got, code) == 0, "expected error.code %s: %s", code,
	              r->desc);
	const char *msg = json_string_value(json_object_get(e, "message"));
	ck_assert_msg(msg != NULL && *msg != '\0', "error.message missing or empty: %s", r->desc);
	const char *rid = json_string_value(json_object_get(e, "request_id"));
	const char *hdr = it_header_get(r, "X-Request-Id");
	ck_assert_msg(hdr != NULL, "no X-Request-Id header: %s", r->desc);
	ck_assert_msg(rid != NULL && strcmp(rid, hdr) == 0,
	              "error.request_id '%s' != X-Request-Id header '%s': %s", rid ? rid : "(none)",
	              hdr, r->desc);
	if (field != NULL) {
		const char *f = json_string_value(json_object_get(e, "field"));
		ck_assert_msg(f != NULL && strcmp(f, field) == 0, "expected error.field %s: %s",
		              field, r->desc);
	}
}

void it_expect_channel_value(const json_t *tuple, const char *channel, const char *type,
                             const void *data, size_t len)
{
	json_t *cv = json_object_get(tuple, "channel_values");
	ck_assert_msg(json_is_object(cv), "tuple has no channel_values object");
	json_t *v = json_object_get(cv, channel);
	char *dump = it_json_dump(cv);
	ck_assert_msg(json_is_object(v), "channel_values has no '%s': %s", channel, dump);
	const char *t = json_string_value(json_object_get(v, "type"));
	ck_assert_msg(t && strcmp(t, type) == 0, "channel_values.%s.type != %s: %s", channel, type,
	              dump);
	const char *d = json_string_value(json_object_get(v, "data"));
	ck_assert_msg(d != NULL, "channel_values.%s.data missing: %s", channel, dump);
	size_t n = 0;
	unsigned char *bytes = it_b64_decode(d, &n);
	ck_assert_msg(bytes != NULL, "channel_values.%s.data is not padded base64: %s", channel, d);
	ck_assert_msg(n == len && memcmp(bytes, data, len) == 0,
	              "channel_values.%s bytes differ (got %zu bytes, expected %zu): %s", channel,
	              n, len, dump);
	free(bytes);
	free(dump);
}

void it_expect_no_channel_value(const json_t *tuple, const char *channel)
{
	json_t *cv = json_object_get(tuple, "channel_values");
	ck_assert_msg(json_is_object(cv), "tuple has no channel_values object");
	char *dump = it_json_dump(cv);
	ck_assert_msg(json_object_get(cv, channel) == NULL,
	              "channel_values must not contain '%s': %s", channel, dump);
	free(dump);
}

void it_expect_config(const json_t *config, const char *thread, const char *ns, const char *id)
{
	json_t *want = json_pack("{s:s, s:s, s:s}", "thread_id", thread, "checkpoint_ns", ns,
	                         "checkpoint_id", id);
	char *w = it_json_dump(want);
	char *g = config ? it_json_dump(config) : strdup("(absent)");
	ck_assert_msg(config != NULL && json_equal(config, want), "config: expected %s, got %s", w,
	              g);
	free(w);
	free(g);
	json_decref(want);
}

const char *it_tuple_id(const json_t *tuple)
{
	const char *id =
	    json_string_value(json_object_get(json_object_get(tuple, "config"), "checkpoint_id"));
	ck_assert_msg(id != NULL, "tuple has no config.checkpoint_id");
	return id;
}
