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
#include "memory_body.h"

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
 * Each reads its arguments from object obj of the body (api/memory_body.h),
 * runs, appends its answer to out and returns 0, or returns -1 with err.
 * in_batch: an entry of a batch, which sets no ETag header. */

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

static int op_put(struct request *r, struct body *b, size_t obj, bool in_batch, struct buf *out,
                  struct mem_error *err)
{
	struct mem_args a;
	struct mem_put p;
	struct mem_item it = {0};
	bool deletes;
	int ret = -1;

	const char *im =
	    in_batch ? NULL : MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match");
	if (mem_body_put(b, obj, im, in_batch, &a, &p, &deletes, err) < 0)
		goto out;
	if (deletes) { /* BaseStore: a put of null deletes */
		struct mem_ref ref = {.ns = p.ns, .key = p.key, .if_match = p.if_match};
		ret = run_delete(r, &ref, out, err);
		goto out;
	}
	if (service_memory_put(r->svc, r->tenant, &p, &it, err) < 0)
		goto out;
	append_item(out, p.ns.labels, p.ns.n, p.key, &it, false);
	if (!in_batch)
		set_etag(r, it.version);
	ret = 0;
out:
	mem_item_release(&it);
	mem_args_release(&a);
	return ret;
}

static int op_ref(struct request *r, struct body *b, size_t obj, bool is_delete, struct buf *out,
                  struct mem_error *err)
{
	struct mem_args a;
	struct mem_ref ref;
	int ret = -1;

	if (mem_body_ref(b, obj, is_delete, &a, &ref, err) < 0)
		goto out;
	if (is_delete) {
		ret = run_delete(r, &ref, out, err);
	} else {
		buf_puts(out, "{\"item\":");
		ret = run_get(r, &ref, false, true, out, err);
		buf_putc(out, '}');
	}
out:
	mem_args_release(&a);
	return ret;
}

/* bud: the batch's budget; NULL: the search's own. */
static int op_search(struct request *r, struct body *b, size_t obj, struct mem_budget *bud,
                     struct buf *out, struct mem_error *err)
{
	struct mem_args a;
	struct mem_search_result res = {0};
	struct mem_search s;
	int ret = -1;

	if (mem_body_search(b, obj, &a, &s, err) < 0)
		goto out;
	s.budget = bud;
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
	buf_printf(out, ",\"truncated\":%s}", res.truncated ? "true" : "false");
	ret = 0;
out:
	mem_search_result_release(&res);
	mem_args_release(&a);
	return ret;
}

static int op_cleanup(struct request *r, struct body *b, size_t obj, struct buf *out,
                      struct mem_error *err)
{
	struct mem_args a;
	struct mem_ns ns;
	long long deleted;
	int ret = -1;

	if (mem_body_cleanup(b, obj, &a, &ns, err) < 0 ||
	    service_memory_cleanup(r->svc, r->tenant, &ns, &deleted, err) < 0)
		goto out;
	buf_printf(out, "{\"deleted\":%lld}", deleted);
	ret = 0;
out:
	mem_args_release(&a);
	return ret;
}

static int op_namespaces(struct request *r, struct body *b, size_t obj, struct mem_budget *bud,
                         struct buf *out, struct mem_error *err)
{
	struct mem_args a;
	struct mem_ns_list res = {0};
	struct mem_list_ns l;
	int ret = -1;

	if (mem_body_namespaces(b, obj, &a, &l, err) < 0)
		goto out;
	l.budget = bud;
	if (service_memory_namespaces(r->svc, r->tenant, &l, &res, err) < 0)
		goto out;
	buf_puts(out, "{\"namespaces\":[");
	for (size_t i = 0; i < res.n; i++) {
		if (i)
			buf_putc(out, ',');
		append_ns(out, (const char *const *)res.v[i], res.depth[i]);
	}
	buf_puts(out, "]}");
	ret = 0;
out:
	mem_ns_list_release(&res);
	mem_args_release(&a);
	return ret;
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
	return op_put(r, b, obj, false, out, err);
}

enum MHD_Result h_memory_put(struct request *r)
{
	return run_body_op(r, op_put_single);
}

static int op_search_single(struct request *r, struct body *b, size_t obj, struct buf *out,
                            struct mem_error *err)
{
	return op_search(r, b, obj, NULL, out, err);
}

static int op_namespaces_single(struct request *r, struct body *b, size_t obj, struct buf *out,
                                struct mem_error *err)
{
	return op_namespaces(r, b, obj, NULL, out, err);
}

enum MHD_Result h_memory_search(struct request *r)
{
	return run_body_op(r, op_search_single);
}

enum MHD_Result h_memory_cleanup(struct request *r)
{
	return run_body_op(r, op_cleanup);
}

enum MHD_Result h_memory_namespaces(struct request *r)
{
	return run_body_op(r, op_namespaces_single);
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
	bool refresh = false;
	struct buf out = {0};
	enum MHD_Result ret;

	const char *im =
	    is_delete ? MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "If-Match") : NULL;
	if (query_ref(r, &ns_text, &labels, &n, &key, &err) < 0 ||
	    mem_body_if_match(im, &if_match, &err) < 0 ||
	    (!is_delete && query_bool(r, "refresh_ttl", &refresh, &err) < 0))
		goto fail;
	struct mem_ref ref = {.ns = {(const char *const *)labels, n},
	                      .key = key,
	                      .if_match = if_match,
	                      .refresh_ttl = refresh};
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
 * deletes, as BaseStore's does. The operations share one budget
 * (service_memory_budget): a search charges what it reads and the values it
 * answers, every other operation one unit of work and the bytes of its
 * answer; those that find it spent fail (413), and "truncated" says some
 * did.
 */
enum MHD_Result h_memory_batch(struct request *r)
{
	struct mem_error err = {0};
	struct body body;
	struct buf out = {0};
	enum MHD_Result ret;
	size_t ops, n;
	struct mem_budget bud = service_memory_budget(r->svc);
	bool spent = false;

	if (body_parse(&body, r->body.data, r->body.len, &err) < 0 ||
	    mem_body_batch(&body, &ops, &n, &err) < 0)
		goto fail;
	buf_puts(&out, "{\"results\":[");
	for (size_t i = 0, o = body_first(&body, ops); i < n; i++, o = body_next(&body, ops, o)) {
		const char *op = NULL;
		const struct body_field op_field[] = {
		    BODY_STRING("op", BODY_REQUIRED, &op),
		};
		struct mem_error oe = {0};
		size_t mark = out.len + (i ? 1 : 0);
		if (i)
			buf_putc(&out, ',');
		if (body_read(&body, o, op_field, BODY_NFIELDS(op_field), &oe) < 0)
			goto op_failed;
		if (bud.work <= 0 || bud.bytes <= 0) {
			mem_fail(&oe, MEM_ETOO_LARGE, NULL,
			         "the batch's budget (MEMORY_WORK_BUDGET, RESPONSE_MAX_BYTES) is "
			         "spent: send this operation and the ones after it in another "
			         "request");
			spent = true;
			goto op_failed;
		}
		bool scans = !strcmp(op, "search") || !strcmp(op, "list_namespaces");
		if (!scans)
			bud.work--;
		int rc = !strcmp(op, "put")       ? op_put(r, &body, o, true, &out, &oe)
		         : !strcmp(op, "get")     ? op_ref(r, &body, o, false, &out, &oe)
		         : !strcmp(op, "delete")  ? op_ref(r, &body, o, true, &out, &oe)
		         : !strcmp(op, "search")  ? op_search(r, &body, o, &bud, &out, &oe)
		         : !strcmp(op, "cleanup") ? op_cleanup(r, &body, o, &out, &oe)
		                                  : op_namespaces(r, &body, o, &bud, &out, &oe);
		if (rc == 0) {
			if (strcmp(op, "search")) /* a search charges its values itself */
				bud.bytes -= (long long)(out.len - mark);
			continue;
		}
		spent = spent || (scans && oe.code == MEM_ETOO_LARGE);
	op_failed:
		out.len = mark; /* drop what a failed op began */
		out.data[out.len] = '\0';
		append_error(&out, &oe);
	}
	buf_printf(&out, "],\"truncated\":%s}", spent ? "true" : "false");
	ret = respond_buf(r, &out);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	buf_release(&out);
	body_release(&body);
	return ret;
}
