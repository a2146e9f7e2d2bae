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

/* An operator object: an object with a member whose name starts with '$'. */
static bool is_operator_object(json_t *want)
{
	const char *k;
	json_t *x;
	if (!json_is_object(want))
		return false;
	json_object_foreach(want, k, x)
	{
		if (k[0] == '$')
			return true;
	}
	return false;
}

static bool is_scalar_ordered(json_t *x)
{
	return json_is_number(x) || json_is_string(x);
}

/* <0, 0, >0 as a is below, equal to or above b; *ok false when they do not
 * compare (a number and a string, or not a number nor a string). */
static int order_of(json_t *a, json_t *b, bool *ok)
{
	*ok = true;
	if (json_is_integer(a) && json_is_integer(b)) {
		json_int_t x = json_integer_value(a), y = json_integer_value(b);
		return (x > y) - (x < y);
	}
	if (json_is_number(a) && json_is_number(b)) {
		double x = json_number_value(a), y = json_number_value(b);
		return (x > y) - (x < y);
	}
	if (json_is_string(a) && json_is_string(b)) {
		size_t la = json_string_length(a), lb = json_string_length(b);
		int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
		return c ? c : (la > lb) - (la < lb);
	}
	*ok = false;
	return 0;
}

static bool in_array(json_t *got, json_t *arr)
{
	size_t i;
	json_t *x;
	json_array_foreach(arr, i, x)
	{
		if (got && json_equal(got, x))
			return true;
	}
	return false;
}

/* One operator of a field (got NULL: the value has no such member), as
 * LangGraph's stores compare: ordering only between numbers or strings. */
static bool op_matches(const char *op, json_t *got, json_t *arg)
{
	bool ok;
	if (!strcmp(op, "$eq"))
		return got && json_equal(got, arg);
	if (!strcmp(op, "$ne"))
		return !got || !json_equal(got, arg);
	if (!strcmp(op, "$in"))
		return in_array(got, arg);
	if (!strcmp(op, "$nin"))
		return !in_array(got, arg);
	if (!strcmp(op, "$exists"))
		return (got != NULL) == json_is_true(arg);
	if (!got)
		return false;
	int c = order_of(got, arg, &ok);
	if (!ok)
		return false;
	if (!strcmp(op, "$gt"))
		return c > 0;
	if (!strcmp(op, "$gte"))
		return c >= 0;
	if (!strcmp(op, "$lt"))
		return c < 0;
	if (!strcmp(op, "$lte"))
		return c <= 0;
	return false;
}

int mem_filter_check(const char *filter_json, struct mem_error *err)
{
	static const char *const ops[] = {"$eq",  "$ne", "$gt",  "$gte",   "$lt",
	                                  "$lte", "$in", "$nin", "$exists"};
	json_error_t je;
	json_t *f = json_loads(filter_json, JSON_ALLOW_NUL, &je);
	const char *k, *op;
	json_t *want, *arg;
	int ret = 0;
	if (!f)
		return 0; /* what jansson cannot hold matches nothing, as before */
	json_object_foreach(f, k, want)
	{
		if (!is_operator_object(want))
			continue;
		json_object_foreach(want, op, arg)
		{
			size_t i = 0;
			while (i < sizeof(ops) / sizeof(*ops) && strcmp(op, ops[i]))
				i++;
			if (i == sizeof(ops) / sizeof(*ops))
				ret = mem_fail(
				    err, MEM_EINVALID_FIELD, "filter",
				    "filter.%s: unknown operator %s (memoryd evaluates $eq, "
				    "$ne, $gt, $gte, $lt, $lte, $in, $nin, $exists)",
				    k, op);
			else if ((!strcmp(op, "$in") || !strcmp(op, "$nin")) && !json_is_array(arg))
				ret = mem_fail(err, MEM_EINVALID_FIELD, "filter",
				               "filter.%s: %s takes an array", k, op);
			else if (!strcmp(op, "$exists") && !json_is_boolean(arg))
				ret = mem_fail(err, MEM_EINVALID_FIELD, "filter",
				               "filter.%s: $exists takes true or false", k);
			else if (op[1] == 'g' || op[1] == 'l') {
				if (!is_scalar_ordered(arg))
					ret = mem_fail(err, MEM_EINVALID_FIELD, "filter",
					               "filter.%s: %s takes a number or a string",
					               k, op);
			}
			if (ret < 0)
				break;
		}
		if (ret < 0)
			break;
	}
	json_decref(f);
	return ret;
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
	const char *k, *op;
	json_t *want, *arg;
	if (ok)
		json_object_foreach(f, k, want)
		{
			json_t *got = json_object_get(v, k);
			if (is_operator_object(want)) {
				json_object_foreach(want, op, arg)
				{
					if (!op_matches(op, got, arg)) {
						ok = false;
						break;
					}
				}
			} else if (!got || !json_equal(got, want)) {
				ok = false;
			}
			if (!ok)
				break;
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
