#include "memory.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/json_scan.h"
#include "../common/xalloc.h"

void mem_item_release(struct mem_item *it)
{
	if (!it)
		return;
	for (size_t i = 0; i < it->nns; i++)
		free(it->ns[i]);
	free(it->ns);
	free(it->key);
	free(it->value_json);
	free(it->version);
	free(it->store_key);
	memset(it, 0, sizeof(*it));
}

void mem_items_release(struct mem_items *items)
{
	if (!items)
		return;
	for (size_t i = 0; i < items->n; i++)
		mem_item_release(&items->v[i]);
	free(items->v);
	memset(items, 0, sizeof(*items));
}

void mem_search_result_release(struct mem_search_result *r)
{
	if (!r)
		return;
	mem_items_release(&r->items);
	free(r->next_cursor);
	r->next_cursor = NULL;
}

void mem_ns_list_release(struct mem_ns_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		for (size_t k = 0; k < l->depth[i]; k++)
			free(l->v[i][k]);
		free(l->v[i]);
	}
	free(l->v);
	free(l->depth);
	memset(l, 0, sizeof(*l));
}

void mem_ns_list_add(struct mem_ns_list *l, const char *const *labels, size_t n)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	l->depth = xrealloc(l->depth, (l->n + 1) * sizeof(*l->depth));
	l->v[l->n] = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		l->v[l->n][i] = xstrdup(labels[i]);
	l->depth[l->n] = n;
	l->n++;
}

int mem_ns_check(const struct mem_ns *ns, bool is_prefix, const char *field, struct mem_error *err)
{
	if (!is_prefix && !ns->n)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must have at least one label",
		                field);
	if (ns->n > MEM_NS_MAX_DEPTH)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s has %zu labels; at most %d",
		                field, ns->n, MEM_NS_MAX_DEPTH);
	for (size_t i = 0; i < ns->n; i++)
		if (id_check(ns->labels[i], strlen(ns->labels[i]), ID_MAX_BYTES, false, field,
		             err) < 0)
			return -1;
	return 0;
}

bool mem_json_valid(const char *text, size_t len)
{
	struct json_doc doc = {0};
	struct mem_error err = {0};
	bool ok = len && json_scan(text, len, &doc, &err) == 0;
	json_doc_release(&doc);
	return ok;
}

bool mem_value_matches(const char *value_json, size_t len, const char *filter_json)
{
	if (!filter_json)
		return true;
	json_error_t je;
	/* \u0000 is read alike on both sides, or a filter naming a value with
	 * one would match nothing, not even that value */
	json_t *f = json_loads(filter_json, JSON_ALLOW_NUL, &je);
	json_t *v = json_loadb(value_json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	bool ok = json_is_object(f) && json_is_object(v);
	const char *k;
	json_t *want;
	if (ok)
		json_object_foreach(f, k, want)
		{
			json_t *got = json_object_get(v, k);
			if (!got || !json_equal(got, want)) {
				ok = false;
				break;
			}
		}
	json_decref(f);
	json_decref(v);
	return ok;
}

char *mem_if_match_parse(const char *h, struct mem_error *err)
{
	while (*h == ' ' || *h == '\t')
		h++;
	size_t n = strlen(h);
	while (n && (h[n - 1] == ' ' || h[n - 1] == '\t'))
		n--;
	if (n == 1 && *h == '*')
		return xstrdup("*");
	if (n >= 2 && h[0] == 'W' && h[1] == '/')
		h += 2, n -= 2;
	if (n >= 2 && h[0] == '"' && h[n - 1] == '"')
		h++, n -= 2;
	bool ok = n > 0 && n <= 20;
	for (size_t i = 0; ok && i < n; i++)
		ok = h[i] >= '0' && h[i] <= '9';
	if (!ok) {
		mem_fail(err, MEM_EINVALID_FIELD, "If-Match",
		         "If-Match must be * or one ETag as memoryd returns it (\"<version>\")");
		return NULL;
	}
	return xstrndup(h, n);
}

int mem_ns_from_json(const char *text, char ***labels, size_t *n, const char *field,
                     struct mem_error *err)
{
	json_error_t je;
	*labels = NULL;
	*n = 0;
	json_t *a = json_loads(text, 0, &je);
	if (!json_is_array(a)) {
		json_decref(a);
		return mem_fail(err, MEM_EINVALID_FIELD, field,
		                "%s must be a JSON array of strings, e.g. [\"users\",\"u1\"]",
		                field);
	}
	size_t na = json_array_size(a);
	if (na > MEM_NS_MAX_DEPTH) {
		json_decref(a);
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s has %zu labels; at most %d",
		                field, na, MEM_NS_MAX_DEPTH);
	}
	char **v = xcalloc(na + 1, sizeof(*v));
	for (size_t i = 0; i < na; i++) {
		json_t *s = json_array_get(a, i);
		if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
			for (size_t k = 0; k < i; k++)
				free(v[k]);
			free(v);
			json_decref(a);
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "%s[%zu] must be a string without NUL", field, i);
		}
		v[i] = xstrdup(json_string_value(s));
	}
	json_decref(a);
	*labels = v;
	*n = na;
	return 0;
}
