#include "memory_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A namespace field: its labels (borrowed from the body) into the args'
 * array items, their count into n. */
#define BODY_NS(k, req, items, n) BODY_LABELS(k, req, MEM_NS_MAX_DEPTH, items, n)

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
	long long ttl;
	const char *im = in_batch ? NULL : if_match_header;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	out->ttl_seconds = -1;
	out->ns.labels = a->labels;
	*deletes = false;
	const struct body_field fields[] = {
	    BODY_NS("namespace", BODY_REQUIRED, a->labels, &out->ns.n),
	    BODY_STRING("key", BODY_REQUIRED, &out->key),
	    BODY_INT("ttl_seconds", 0, MEM_TTL_MAX, -1, &ttl),
	    BODY_STRING("if_match", BODY_OPTIONAL, &im), /* last: read in a batch only */
	};
	if (body_read(b, obj, fields, BODY_NFIELDS(fields) - !in_batch, err) < 0 ||
	    mem_body_if_match(im, &a->if_match, err) < 0)
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
	out->ttl_seconds = (long)ttl;
	return 0;
}

int mem_body_ref(struct body *b, size_t obj, bool is_delete, struct mem_args *a,
                 struct mem_ref *out, struct mem_error *err)
{
	const char *im = NULL;
	int refresh = -1;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	out->ns.labels = a->labels;
	const struct body_field fields[] = {
	    BODY_NS("namespace", BODY_REQUIRED, a->labels, &out->ns.n),
	    BODY_STRING("key", BODY_REQUIRED, &out->key),
	    /* the last one is the operation's own */
	    is_delete ? (struct body_field)BODY_STRING("if_match", BODY_OPTIONAL, &im)
	              : (struct body_field)BODY_BOOL("refresh_ttl", &refresh),
	};
	if (body_read(b, obj, fields, BODY_NFIELDS(fields), err) < 0 ||
	    mem_body_if_match(im, &a->if_match, err) < 0)
		return -1;
	out->if_match = a->if_match;
	out->refresh_ttl = refresh == 1;
	return 0;
}

int mem_body_search(struct body *b, size_t obj, struct mem_args *a, struct mem_search *out,
                    struct mem_error *err)
{
	size_t f;
	int refresh = -1;

	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	out->prefix.labels = a->labels;
	if (body_get(b, obj, "query") != BODY_ABSENT)
		return mem_fail(err, MEM_EINVALID_FIELD, "query",
		                "semantic search (query) is not offered: memoryd keeps no "
		                "embeddings; search by namespace_prefix and filter");
	const struct body_field fields[] = {
	    BODY_NS("namespace_prefix", BODY_OPTIONAL, a->labels, &out->prefix.n),
	    BODY_OBJECT("filter", BODY_OPTIONAL, &f),
	    BODY_SIZE("limit", MEM_SEARCH_LIMIT_MAX, MEM_SEARCH_LIMIT_DEF, &out->limit),
	    BODY_SIZE("offset", MEM_OFFSET_MAX, 0, &out->offset),
	    BODY_STRING("cursor", BODY_OPTIONAL, &out->cursor),
	    BODY_BOOL("refresh_ttl", &refresh),
	};
	if (body_read(b, obj, fields, BODY_NFIELDS(fields), err) < 0)
		return -1;
	out->refresh_ttl = refresh == 1;
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
	out->labels = a->labels;
	out->n = 0;
	const struct body_field fields[] = {
	    BODY_NS("namespace_prefix", BODY_REQUIRED, a->labels, &out->n),
	};
	return body_read(b, obj, fields, BODY_NFIELDS(fields), err);
}

int mem_body_namespaces(struct body *b, size_t obj, struct mem_args *a, struct mem_list_ns *out,
                        struct mem_error *err)
{
	memset(a, 0, sizeof(*a));
	memset(out, 0, sizeof(*out));
	out->prefix.labels = a->labels;
	out->suffix.labels = a->labels2;
	const struct body_field fields[] = {
	    BODY_NS("prefix", BODY_OPTIONAL, a->labels, &out->prefix.n),
	    BODY_NS("suffix", BODY_OPTIONAL, a->labels2, &out->suffix.n),
	    BODY_SIZE("max_depth", MEM_NS_MAX_DEPTH, 0, &out->max_depth),
	    BODY_SIZE("limit", MEM_SEARCH_LIMIT_MAX, 100, &out->limit),
	    BODY_SIZE("offset", MEM_OFFSET_MAX, 0, &out->offset),
	};
	return body_read(b, obj, fields, BODY_NFIELDS(fields), err);
}

int mem_body_batch(struct body *b, size_t *ops, size_t *n, struct mem_error *err)
{
	const struct body_field fields[] = {
	    BODY_ARRAY("operations", BODY_REQUIRED, ops),
	};
	char entry[32], field[40];

	*n = 0;
	if (body_read(b, 0, fields, BODY_NFIELDS(fields), err) < 0)
		return -1;
	size_t count = b->doc.toks[*ops].size;
	if (count > MEM_BATCH_MAX_OPS)
		return mem_fail(err, MEM_EINVALID_FIELD, "operations",
		                "operations has %zu entries; at most %d", count, MEM_BATCH_MAX_OPS);
	/* Every operation must name a known op before any runs. */
	for (size_t i = 0, o = body_first(b, *ops); i < count; i++, o = body_next(b, *ops, o)) {
		const char *op;
		const struct body_field op_field[] = {
		    BODY_STRING("op", BODY_REQUIRED, &op),
		};
		snprintf(entry, sizeof(entry), "operations[%zu]", i);
		snprintf(field, sizeof(field), "%s.op", entry);
		/* an entry that is no object is refused naming its op */
		if (b->doc.toks[o].type != JSON_TOK_OBJECT)
			return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must be an object",
			                entry);
		if (body_read_in(b, o, entry, op_field, 1, err) < 0)
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
