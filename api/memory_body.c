#include "memory_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A namespace member of obj into labels (borrowed from the body); *n 0 when
 * absent and not required. */
static int read_ns(struct body *b, size_t obj, const char *key, bool required, const char **labels,
                   struct mem_ns *out, struct mem_error *err)
{
	size_t arr;
	out->labels = labels;
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
		if (body_tok_string(b, t, key, &labels[i], err) < 0)
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
	if (json_doc_integer(&b->doc, t, out) < 0 || *out < min || *out > max)
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

int mem_body_if_match(const char *raw, char **out, struct mem_error *err)
{
	*out = NULL;
	if (!raw)
		return 0;
	*out = mem_if_match_parse(raw, err);
	return *out ? 0 : -1;
}

int mem_body_put(struct body *b, size_t obj, const char *if_match_header, bool in_batch,
                 struct mem_args *a, struct mem_put *out, bool *deletes, struct mem_error *err)
{
	long long ttl = -1;
	bool has_ttl;
	const char *im = in_batch ? NULL : if_match_header;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	out->ttl_seconds = -1;
	*deletes = false;
	if (read_ns(b, obj, "namespace", true, a->labels, &out->ns, err) < 0 ||
	    body_string(b, obj, "key", "key", true, &out->key, err) < 0 ||
	    read_int(b, obj, "ttl_seconds", 0, MEM_TTL_MAX, &ttl, &has_ttl, err) < 0)
		return -1;
	if (in_batch && body_string(b, obj, "if_match", "if_match", false, &im, err) < 0)
		return -1;
	if (mem_body_if_match(im, &a->if_match, err) < 0)
		return -1;
	out->if_match = a->if_match;
	size_t v = body_get(b, obj, "value");
	if (v == BODY_ABSENT && in_batch) {
		*deletes = true;
		return 0;
	}
	if (v == BODY_ABSENT)
		return mem_fail(err, MEM_EMISSING_FIELD, "value",
		                "value is required (any JSON but null)");
	body_compact(b, v, NULL, &a->json);
	out->value_json = a->json.data;
	out->value_len = a->json.len;
	out->ttl_seconds = has_ttl ? (long)ttl : -1;
	return 0;
}

int mem_body_ref(struct body *b, size_t obj, bool is_delete, struct mem_args *a,
                 struct mem_ref *out, struct mem_error *err)
{
	const char *im = NULL;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	if (read_ns(b, obj, "namespace", true, a->labels, &out->ns, err) < 0 ||
	    body_string(b, obj, "key", "key", true, &out->key, err) < 0 ||
	    (is_delete && body_string(b, obj, "if_match", "if_match", false, &im, err) < 0) ||
	    mem_body_if_match(im, &a->if_match, err) < 0)
		return -1;
	out->if_match = a->if_match;
	return 0;
}

int mem_body_search(struct body *b, size_t obj, struct mem_args *a, struct mem_search *out,
                    struct mem_error *err)
{
	size_t f;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	if (body_get(b, obj, "query") != BODY_ABSENT)
		return mem_fail(err, MEM_EINVALID_FIELD, "query",
		                "semantic search (query) is not offered: memoryd keeps no "
		                "embeddings; search by namespace_prefix and filter");
	if (read_ns(b, obj, "namespace_prefix", false, a->labels, &out->prefix, err) < 0 ||
	    body_object(b, obj, "filter", "filter", false, &f, err) < 0 ||
	    read_size(b, obj, "limit", MEM_SEARCH_LIMIT_MAX, MEM_SEARCH_LIMIT_DEF, &out->limit,
	              err) < 0 ||
	    read_size(b, obj, "offset", MEM_OFFSET_MAX, 0, &out->offset, err) < 0 ||
	    body_string(b, obj, "cursor", "cursor", false, &out->cursor, err) < 0)
		return -1;
	if (f != BODY_ABSENT && b->doc.toks[f].size) {
		body_compact(b, f, NULL, &a->json);
		out->filter_json = a->json.data;
		if (mem_filter_check(out->filter_json, err) < 0)
			return -1;
	}
	return 0;
}

int mem_body_cleanup(struct body *b, size_t obj, struct mem_args *a, struct mem_ns *out,
                     struct mem_error *err)
{
	memset(a, 0, sizeof(*a));
	return read_ns(b, obj, "namespace_prefix", true, a->labels, out, err);
}

int mem_body_namespaces(struct body *b, size_t obj, struct mem_args *a, struct mem_list_ns *out,
                        struct mem_error *err)
{
	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	if (read_ns(b, obj, "prefix", false, a->labels, &out->prefix, err) < 0 ||
	    read_ns(b, obj, "suffix", false, a->labels2, &out->suffix, err) < 0 ||
	    read_size(b, obj, "max_depth", MEM_NS_MAX_DEPTH, 0, &out->max_depth, err) < 0 ||
	    read_size(b, obj, "limit", MEM_SEARCH_LIMIT_MAX, 100, &out->limit, err) < 0 ||
	    read_size(b, obj, "offset", MEM_OFFSET_MAX, 0, &out->offset, err) < 0)
		return -1;
	return 0;
}

int mem_body_batch(struct body *b, size_t *ops, size_t *n, struct mem_error *err)
{
	char field[48];

	*n = 0;
	if (body_array(b, 0, "operations", "operations", true, ops, err) < 0)
		return -1;
	size_t count = b->doc.toks[*ops].size;
	if (count > MEM_BATCH_MAX_OPS)
		return mem_fail(err, MEM_EINVALID_FIELD, "operations",
		                "operations has %zu entries; at most %d", count, MEM_BATCH_MAX_OPS);
	/* Every operation must name a known op before any runs. */
	for (size_t i = 0, o = body_first(b, *ops); i < count; i++, o = body_next(b, *ops, o)) {
		const char *op;
		snprintf(field, sizeof(field), "operations[%zu].op", i);
		if (b->doc.toks[o].type != JSON_TOK_OBJECT)
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "operations[%zu] must be an object", i);
		if (body_string(b, o, "op", field, true, &op, err) < 0)
			return -1;
		if (strcmp(op, "get") && strcmp(op, "put") && strcmp(op, "delete") &&
		    strcmp(op, "search") && strcmp(op, "list_namespaces") && strcmp(op, "cleanup"))
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "%s must be get, put, delete, search, list_namespaces or "
			                "cleanup",
			                field);
	}
	*n = count;
	return 0;
}

void mem_args_release(struct mem_args *a)
{
	if (!a)
		return;
	free(a->if_match);
	buf_release(&a->json);
	memset(a, 0, sizeof(*a));
}
