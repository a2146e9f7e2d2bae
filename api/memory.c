/*
 * /memory: key-value memory per tenant (service/memory.h), LangGraph's
 * BaseStore over REST.
 *
 *   PUT    /memory/items        put {namespace, key, value, ttl_seconds}; If-Match
 *   GET    /memory/items        get ?namespace=<JSON array>&key=
 *   DELETE /memory/items        delete ?namespace=&key=; If-Match
 *   POST   /memory/search       {namespace_prefix, filter, limit, offset, cursor}
 *   POST   /memory/cleanup      {namespace_prefix}: delete everything under it
 *   POST   /memory/namespaces   {prefix, suffix, max_depth, limit, offset}
 *   POST   /memory/batch        {operations: [{op, ...}]}: several in one round trip
 *
 * Values are JSON of any type, kept as the compact text received, and
 * returned as they are. Every item answer carries its version, which is its
 * ETag.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/log.h"
#include "../common/xalloc.h"
#include "../service/service.h"
#include "body.h"

/* A namespace read from a request: labels borrowed from the body. */
struct ns_arg {
	const char *labels[MEM_NS_MAX_DEPTH];
	size_t n;
};

static struct mem_ns ns_of(const struct ns_arg *a)
{
	return (struct mem_ns){a->labels, a->n};
}

/* ---------- reading ---------- */

static int read_ns(struct body *b, size_t obj, const char *key, bool required, struct ns_arg *out,
                   struct mem_error *err)
{
	size_t arr;
	out->n = 0;
	if (body_array(b, obj, key, key, required, &arr, err) < 0)
		return -1;
	if (arr == BODY_ABSENT)
		return 0;
	size_t n = b->doc.toks[arr].size;
	if (n > MEM_NS_MAX_DEPTH)
		return mem_fail(err, MEM_EINVALID_FIELD, key, "%s has %zu labels; at most %d", key,
		                n, MEM_NS_MAX_DEPTH);
	for (size_t i = 0, t = body_first(b, arr); i < n; i++, t = body_next(b, arr, t))
		if (body_tok_string(b, t, key, &out->labels[i], err) < 0)
			return -1;
	out->n = n;
	return 0;
}

/* An integer member in [min, max]; *present false when absent or null. */
static int read_int(struct body *b, size_t obj, const char *key, long long min, long long max,
                    long long *out, bool *present, struct mem_error *err)
{
	size_t t = body_get(b, obj, key);
	*present = t != BODY_ABSENT;
	if (!*present)
		return 0;
	if (json_doc_int64(&b->doc, t, out) < 0 || *out < min || *out > max)
		return mem_fail(err, MEM_EINVALID_FIELD, key, "%s must be an integer %lld..%lld",
		                key, min, max);
	return 0;
}

static int read_size(struct body *b, size_t obj, const char *key, long long max, size_t def,
                     size_t *out, struct mem_error *err)
{
	long long v;
	bool present;
	if (read_int(b, obj, key, 0, max, &v, &present, err) < 0)
		return -1;
	*out = present ? (size_t)v : def;
	return 0;
}

static int if_match_of(const char *raw, char **out, struct mem_error *err)
{
	*out = NULL;
	if (!raw)
		return 0;
	*out = mem_if_match_parse(raw, err);
	return *out ? 0 : -1;
}

/* ---------- writing ---------- */

static void append_ns(struct buf *b, const char *const *labels, size_t n)
{
	buf_putc(b, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf_putc(b, ',');
		json_escape(b, labels[i], strlen(labels[i]));
	}
	buf_putc(b, ']');
}

/* RFC 3339 UTC with milliseconds, or null for 0. */
static void append_time(struct buf *b, long long ms)
{
	if (ms <= 0) {
		buf_puts(b, "null");
		return;
	}
	time_t sec = (time_t)(ms / 1000);
	struct tm tm;
	char text[32];
	gmtime_r(&sec, &tm);
	strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
	buf_printf(b, "\"%s.%03lldZ\"", text, ms % 1000);
}

/* The item's fields; the value only when with_value. */
static void append_item(struct buf *b, const char *const *ns, size_t nns, const char *key,
                        const struct mem_item *it, bool with_value)
{
	buf_puts(b, "{\"namespace\":");
	append_ns(b, ns, nns);
	buf_puts(b, ",\"key\":");
	json_escape(b, key, strlen(key));
	if (with_value) {
		buf_puts(b, ",\"value\":");
		buf_append(b, it->value_json, it->value_len);
	}
	buf_puts(b, ",\"version\":");
	json_escape(b, it->version, strlen(it->version));
	buf_puts(b, ",\"created_at\":");
	append_time(b, it->created_ms);
	buf_puts(b, ",\"updated_at\":");
	append_time(b, it->updated_ms);
	buf_puts(b, ",\"expires_at\":");
	append_time(b, it->expires_ms);
	buf_putc(b, '}');
}

static void append_error(struct buf *b, const struct mem_error *err)
{
	buf_puts(b, "{\"error\":{\"code\":");
	const char *code = mem_errcode_name(err->code);
	json_escape(b, code, strlen(code));
	buf_puts(b, ",\"message\":");
	json_escape(b, err->message, strlen(err->message));
	if (err->field[0]) {
		buf_puts(b, ",\"field\":");
		json_escape(b, err->field, strlen(err->field));
	}
	buf_puts(b, "}}");
}

static void set_etag(struct request *r, const char *version)
{
	if (r && version && *version)
		snprintf(r->etag, sizeof(r->etag), "\"%.36s\"", version);
}

/* ---------- operations ----------
 * Each reads its arguments from object obj of the body, runs, appends its
 * answer to out and returns 0, or returns -1 with err. etag: set the ETag
 * header (single requests, not batches). */

static int op_put(struct request *r, struct body *b, size_t obj, bool etag, bool null_deletes,
                  struct buf *out, struct mem_error *err)
{
	struct ns_arg ns;
	struct buf value = {0};
	struct mem_item it = {0};
	char *if_match = NULL;
	long long ttl = -1;
	bool has_ttl;
	int ret = -1;
	struct mem_put p = {0};

	if (read_ns(b, obj, "namespace", true, &ns, err) < 0 ||
	    body_string(b, obj, "key", "key", true, &p.key, err) < 0 ||
	    read_int(b, obj, "ttl_seconds", 0, MEM_TTL_MAX, &ttl, &has_ttl, err) < 0)
		goto out;
	const char *im =
	    etag ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match") : NULL;
	if (!etag && body_string(b, obj, "if_match", "if_match", false, &im, err) < 0)
		goto out;
	if (if_match_of(im, &if_match, err) < 0)
		goto out;
	size_t v = body_get(b, obj, "value");
	if (v == BODY_ABSENT && null_deletes) { /* BaseStore: a put of null deletes */
		struct mem_ref ref = {ns_of(&ns), p.key, if_match};
		bool deleted;
		if (service_memory_delete(r->svc, r->tenant, &ref, &deleted, err) < 0)
			goto out;
		buf_printf(out, "{\"deleted\":%s}", deleted ? "true" : "false");
		ret = 0;
		goto out;
	}
	if (v == BODY_ABSENT) {
		mem_fail(err, MEM_EMISSING_FIELD, "value", "value is required (any JSON but null)");
		goto out;
	}
	body_compact(b, v, NULL, &value);
	p.ns = ns_of(&ns);
	p.value_json = value.data;
	p.value_len = value.len;
	p.ttl_seconds = has_ttl ? (long)ttl : -1;
	p.if_match = if_match;
	if (service_memory_put(r->svc, r->tenant, &p, &it, err) < 0)
		goto out;
	append_item(out, ns.labels, ns.n, p.key, &it, false);
	if (etag)
		set_etag(r, it.version);
	ret = 0;
out:
	mem_item_release(&it);
	buf_release(&value);
	free(if_match);
	return ret;
}

/* get and delete: by (namespace, key) */
static int run_get(struct request *r, const struct mem_ref *ref, bool etag, bool missing_is_null,
                   struct buf *out, struct mem_error *err)
{
	struct mem_item it = {0};
	if (service_memory_get(r->svc, r->tenant, ref, &it, err) < 0) {
		if (err->code == MEM_ENOT_FOUND && missing_is_null) {
			buf_puts(out, "null");
			return 0;
		}
		return -1;
	}
	append_item(out, ref->ns.labels, ref->ns.n, ref->key, &it, true);
	if (etag)
		set_etag(r, it.version);
	mem_item_release(&it);
	return 0;
}

static int run_delete(struct request *r, const struct mem_ref *ref, struct buf *out,
                      struct mem_error *err)
{
	bool deleted;
	if (service_memory_delete(r->svc, r->tenant, ref, &deleted, err) < 0)
		return -1;
	buf_printf(out, "{\"deleted\":%s}", deleted ? "true" : "false");
	return 0;
}

static int op_ref(struct request *r, struct body *b, size_t obj, bool is_delete, struct buf *out,
                  struct mem_error *err)
{
	struct ns_arg ns;
	const char *key, *im = NULL;
	char *if_match = NULL;
	int ret = -1;

	if (read_ns(b, obj, "namespace", true, &ns, err) < 0 ||
	    body_string(b, obj, "key", "key", true, &key, err) < 0 ||
	    (is_delete && body_string(b, obj, "if_match", "if_match", false, &im, err) < 0) ||
	    if_match_of(im, &if_match, err) < 0)
		goto out;
	struct mem_ref ref = {ns_of(&ns), key, if_match};
	if (is_delete) {
		ret = run_delete(r, &ref, out, err);
	} else {
		buf_puts(out, "{\"item\":");
		ret = run_get(r, &ref, false, true, out, err);
		buf_putc(out, '}');
	}
out:
	free(if_match);
	return ret;
}

static int op_search(struct request *r, struct body *b, size_t obj, struct buf *out,
                     struct mem_error *err)
{
	struct ns_arg prefix;
	struct buf filter = {0};
	struct mem_search_result res = {0};
	struct mem_search s = {0};
	size_t f;
	int ret = -1;

	if (body_get(b, obj, "query") != BODY_ABSENT) {
		mem_fail(err, MEM_EINVALID_FIELD, "query",
		         "semantic search (query) is not offered: memoryd keeps no embeddings; "
		         "search by namespace_prefix and filter");
		goto out;
	}
	if (read_ns(b, obj, "namespace_prefix", false, &prefix, err) < 0 ||
	    body_object(b, obj, "filter", "filter", false, &f, err) < 0 ||
	    read_size(b, obj, "limit", MEM_SEARCH_LIMIT_MAX, MEM_SEARCH_LIMIT_DEF, &s.limit, err) <
	        0 ||
	    read_size(b, obj, "offset", MEM_OFFSET_MAX, 0, &s.offset, err) < 0 ||
	    body_string(b, obj, "cursor", "cursor", false, &s.cursor, err) < 0)
		goto out;
	if (f != BODY_ABSENT && b->doc.toks[f].size) {
		body_compact(b, f, NULL, &filter);
		s.filter_json = filter.data;
	}
	s.prefix = ns_of(&prefix);
	if (service_memory_search(r->svc, r->tenant, &s, &res, err) < 0)
		goto out;
	buf_puts(out, "{\"items\":[");
	for (size_t i = 0; i < res.items.n; i++) {
		const struct mem_item *it = &res.items.v[i];
		if (i)
			buf_putc(out, ',');
		append_item(out, (const char *const *)it->ns, it->nns, it->key, it, true);
	}
	buf_puts(out, "],\"next_cursor\":");
	if (res.next_cursor)
		json_escape(out, res.next_cursor, strlen(res.next_cursor));
	else
		buf_puts(out, "null");
	buf_putc(out, '}');
	ret = 0;
out:
	mem_search_result_release(&res);
	buf_release(&filter);
	return ret;
}

static int op_cleanup(struct request *r, struct body *b, size_t obj, struct buf *out,
                      struct mem_error *err)
{
	struct ns_arg prefix;
	long long deleted;
	if (read_ns(b, obj, "namespace_prefix", true, &prefix, err) < 0)
		return -1;
	struct mem_ns ns = ns_of(&prefix);
	if (service_memory_cleanup(r->svc, r->tenant, &ns, &deleted, err) < 0)
		return -1;
	buf_printf(out, "{\"deleted\":%lld}", deleted);
	return 0;
}

static int op_namespaces(struct request *r, struct body *b, size_t obj, struct buf *out,
                         struct mem_error *err)
{
	struct ns_arg prefix, suffix;
	struct mem_ns_list res = {0};
	struct mem_list_ns l = {0};

	if (read_ns(b, obj, "prefix", false, &prefix, err) < 0 ||
	    read_ns(b, obj, "suffix", false, &suffix, err) < 0 ||
	    read_size(b, obj, "max_depth", MEM_NS_MAX_DEPTH, 0, &l.max_depth, err) < 0 ||
	    read_size(b, obj, "limit", MEM_SEARCH_LIMIT_MAX, 100, &l.limit, err) < 0 ||
	    read_size(b, obj, "offset", MEM_OFFSET_MAX, 0, &l.offset, err) < 0)
		return -1;
	l.prefix = ns_of(&prefix);
	l.suffix = ns_of(&suffix);
	if (service_memory_namespaces(r->svc, r->tenant, &l, &res, err) < 0)
		return -1;
	buf_puts(out, "{\"namespaces\":[");
	for (size_t i = 0; i < res.n; i++) {
		if (i)
			buf_putc(out, ',');
		append_ns(out, (const char *const *)res.v[i], res.depth[i]);
	}
	buf_puts(out, "]}");
	mem_ns_list_release(&res);
	return 0;
}

/* ---------- handlers ---------- */

/* Answer 200 with the JSON text built in out (taken). */
static enum MHD_Result respond_buf(struct request *r, struct buf *out)
{
	size_t len;
	char *text = buf_detach(out, &len);
	return respond_raw(r, 200, text, len);
}

typedef int (*body_op)(struct request *r, struct body *b, size_t obj, struct buf *out,
                       struct mem_error *err);

/* A single operation whose arguments are the whole body. */
static enum MHD_Result run_body_op(struct request *r, body_op op)
{
	struct mem_error err = {0};
	struct body body;
	struct buf out = {0};
	enum MHD_Result ret;

	if (body_parse(&body, r->body.data, r->body.len, &err) < 0 ||
	    op(r, &body, 0, &out, &err) < 0) {
		ret = respond_error(r, &err);
		buf_release(&out);
	} else {
		ret = respond_buf(r, &out);
	}
	body_release(&body);
	return ret;
}

static int op_put_single(struct request *r, struct body *b, size_t obj, struct buf *out,
                         struct mem_error *err)
{
	return op_put(r, b, obj, true, false, out, err);
}

enum MHD_Result h_memory_put(struct request *r)
{
	return run_body_op(r, op_put_single);
}

enum MHD_Result h_memory_search(struct request *r)
{
	return run_body_op(r, op_search);
}

enum MHD_Result h_memory_cleanup(struct request *r)
{
	return run_body_op(r, op_cleanup);
}

enum MHD_Result h_memory_namespaces(struct request *r)
{
	return run_body_op(r, op_namespaces);
}

/* (namespace, key) from the query string: namespace is a JSON array. */
static int query_ref(struct request *r, char **ns_text, char ***labels, size_t *n, char **key,
                     struct mem_error *err)
{
	*labels = NULL;
	*n = 0;
	if (query_param(r, "namespace", ns_text, err) < 0 || query_param(r, "key", key, err) < 0)
		return -1;
	if (!*ns_text)
		return mem_fail(err, MEM_EMISSING_FIELD, "namespace",
		                "namespace is required: a URL-encoded JSON array of labels");
	if (!*key)
		return mem_fail(err, MEM_EMISSING_FIELD, "key", "key is required");
	return mem_ns_from_json(*ns_text, labels, n, "namespace", err);
}

static enum MHD_Result get_or_delete(struct request *r, bool is_delete)
{
	struct mem_error err = {0};
	char *ns_text = NULL, *key = NULL, *if_match = NULL, **labels = NULL;
	size_t n = 0;
	struct buf out = {0};
	enum MHD_Result ret;

	const char *im =
	    is_delete ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match") : NULL;
	if (query_ref(r, &ns_text, &labels, &n, &key, &err) < 0 ||
	    if_match_of(im, &if_match, &err) < 0)
		goto fail;
	struct mem_ref ref = {{(const char *const *)labels, n}, key, if_match};
	if (is_delete) {
		bool deleted;
		if (service_memory_delete(r->svc, r->tenant, &ref, &deleted, &err) < 0)
			goto fail;
		ret = respond_raw(r, 204, NULL, 0);
		goto out;
	}
	if (run_get(r, &ref, true, false, &out, &err) < 0)
		goto fail;
	ret = respond_buf(r, &out);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	buf_release(&out);
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
	free(ns_text);
	free(key);
	free(if_match);
	return ret;
}

enum MHD_Result h_memory_get(struct request *r)
{
	return get_or_delete(r, false);
}

enum MHD_Result h_memory_delete(struct request *r)
{
	return get_or_delete(r, true);
}

/*
 * Batch: {"operations": [{"op": "get"|"put"|"delete"|"search"|
 * "list_namespaces"|"cleanup", ...the fields of that operation}]}, run in
 * order; {"results": [...]} holds one answer per operation, or {"error":
 * {...}} for one that failed (the others still run). A put with a null value
 * deletes, as BaseStore's does.
 */
enum MHD_Result h_memory_batch(struct request *r)
{
	struct mem_error err = {0};
	struct body body;
	struct buf out = {0};
	enum MHD_Result ret;
	size_t ops;
	char field[48];

	if (body_parse(&body, r->body.data, r->body.len, &err) < 0 ||
	    body_array(&body, 0, "operations", "operations", true, &ops, &err) < 0)
		goto fail;
	size_t n = body.doc.toks[ops].size;
	if (n > MEM_BATCH_MAX_OPS) {
		mem_fail(&err, MEM_EINVALID_FIELD, "operations",
		         "operations has %zu entries; at most %d", n, MEM_BATCH_MAX_OPS);
		goto fail;
	}
	/* Every operation must name a known op before any runs. */
	for (size_t i = 0, o = body_first(&body, ops); i < n; i++, o = body_next(&body, ops, o)) {
		const char *op;
		snprintf(field, sizeof(field), "operations[%zu].op", i);
		if (body.doc.toks[o].type != JSON_TOK_OBJECT) {
			mem_fail(&err, MEM_EINVALID_FIELD, field,
			         "operations[%zu] must be an object", i);
			goto fail;
		}
		if (body_string(&body, o, "op", field, true, &op, &err) < 0)
			goto fail;
		if (strcmp(op, "get") && strcmp(op, "put") && strcmp(op, "delete") &&
		    strcmp(op, "search") && strcmp(op, "list_namespaces") &&
		    strcmp(op, "cleanup")) {
			mem_fail(&err, MEM_EINVALID_FIELD, field,
			         "%s must be get, put, delete, search, list_namespaces or cleanup",
			         field);
			goto fail;
		}
	}
	buf_puts(&out, "{\"results\":[");
	for (size_t i = 0, o = body_first(&body, ops); i < n; i++, o = body_next(&body, ops, o)) {
		const char *op = NULL;
		struct mem_error oe = {0};
		size_t mark = out.len + (i ? 1 : 0);
		if (i)
			buf_putc(&out, ',');
		if (body_string(&body, o, "op", "op", true, &op, &oe) < 0)
			goto op_failed;
		int rc = !strcmp(op, "put")       ? op_put(r, &body, o, false, true, &out, &oe)
		         : !strcmp(op, "get")     ? op_ref(r, &body, o, false, &out, &oe)
		         : !strcmp(op, "delete")  ? op_ref(r, &body, o, true, &out, &oe)
		         : !strcmp(op, "search")  ? op_search(r, &body, o, &out, &oe)
		         : !strcmp(op, "cleanup") ? op_cleanup(r, &body, o, &out, &oe)
		                                  : op_namespaces(r, &body, o, &out, &oe);
		if (rc == 0)
			continue;
	op_failed:
		out.len = mark; /* drop what a failed op began */
		out.data[out.len] = '\0';
		append_error(&out, &oe);
	}
	buf_puts(&out, "]}");
	ret = respond_buf(r, &out);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	buf_release(&out);
	body_release(&body);
	return ret;
}
