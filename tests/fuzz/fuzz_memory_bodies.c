/*
 * fuzz_memory_bodies: what /memory reads from outside, without HTTP or a
 * store: the bodies of PUT /memory/items, POST /memory/search,
 * /memory/cleanup, /memory/namespaces and /memory/batch (api/memory_body.c,
 * as api/memory.c reads them, each entry of a batch with the reader of its
 * op, then the service's namespace rules in mem_ns_check), the namespace
 * query parameter of GET and DELETE /memory/items (mem_ns_from_json) and
 * the If-Match header (mem_if_match_parse). Every input is read as all of
 * them.
 *
 * Invariants:
 *  - a refusal is a client error (400) with a message, naming a field for
 *    field errors (If-Match and namespace for the header and the query);
 *  - an accepted read gives namespaces of at most MEM_NS_MAX_DEPTH UTF-8
 *    labels without NUL, a key, limits and offsets in their bounds (or their
 *    defaults), a TTL in 0..MEM_TTL_MAX or -1, an If-Match that is * or a
 *    decimal version, a value that is compact JSON meaning what was sent,
 *    and a filter that is a non-empty compact object which an item holding
 *    that very object matches;
 *  - an accepted batch has at most MEM_BATCH_MAX_OPS entries, each an
 *    object with a known op;
 *  - the query namespace is accepted exactly when it is a JSON array of at
 *    most MEM_NS_MAX_DEPTH strings without NUL, and its labels are those
 *    strings (json_scan as the oracle); labels written back as a JSON array
 *    read back the same;
 *  - an If-Match that parses reads back the same from "<it>" and W/"<it>".
 */
#include <jansson.h>

#include "../../api/memory_body.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "fuzz.h"

static void check_error(const struct mem_error *err)
{
	CHECK(err->code == MEM_EINVALID_JSON || err->code == MEM_EINVALID_FIELD ||
	          err->code == MEM_EMISSING_FIELD,
	      "error code %d is not a client error", err->code);
	CHECK(err->message[0], "an error without a message");
	if (err->code != MEM_EINVALID_JSON)
		CHECK(err->field[0], "a field error without a field: %s", err->message);
}

/* No whitespace outside strings. */
static bool compact(const char *s, size_t n)
{
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			return false;
		}
	}
	return true;
}

/* text (len bytes) is compact JSON meaning what token tok of the body says,
 * wherever jansson can hold both. */
static void check_json_text(const struct body *b, size_t tok, const char *text, size_t len)
{
	CHECK(text && strlen(text) == len, "JSON text length");
	CHECK(mem_json_valid(text, len), "not JSON: %s", text);
	CHECK(compact(text, len), "not compact: %s", text);
	const struct json_tok *t = &b->doc.toks[tok];
	json_error_t je;
	json_t *sent = json_loadb(b->doc.text + t->start, t->end - t->start,
	                          JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	json_t *kept = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	CHECK(!sent == !kept, "jansson reads only one of what was sent and %s", text);
	if (sent)
		CHECK(json_equal(sent, kept), "%s does not mean what was sent", text);
	json_decref(sent);
	json_decref(kept);
}

static void check_ns(const struct mem_ns *ns, bool is_prefix, const char *field)
{
	struct mem_error err = {0};
	CHECK(ns->n <= MEM_NS_MAX_DEPTH, "%s has %zu labels", field, ns->n);
	CHECK(ns->n == 0 || ns->labels, "%s without labels", field);
	for (size_t i = 0; i < ns->n; i++) {
		CHECK(ns->labels[i], "%s[%zu] is NULL", field, i);
		CHECK(utf8_valid(ns->labels[i], strlen(ns->labels[i])), "%s[%zu] is not UTF-8",
		      field, i);
	}
	if (mem_ns_check(ns, is_prefix, field, &err) < 0) {
		check_error(&err);
		CHECK(!strcmp(err.field, field), "%s refused as %s", field, err.field);
	} else {
		CHECK(is_prefix || ns->n >= 1, "an empty %s passed the check", field);
	}
}

static void check_if_match(const char *im)
{
	if (!im)
		return;
	size_t n = strlen(im);
	bool digits = n >= 1 && n <= 20;
	for (size_t i = 0; digits && i < n; i++)
		digits = im[i] >= '0' && im[i] <= '9';
	CHECK(!strcmp(im, "*") || digits, "If-Match read as '%s'", im);
}

static void check_put(struct body *b, size_t obj, const char *header, bool in_batch)
{
	struct mem_args a;
	struct mem_put p;
	struct mem_error err = {0};
	bool deletes;
	if (mem_body_put(b, obj, header, in_batch, &a, &p, &deletes, &err) < 0) {
		check_error(&err);
		mem_args_release(&a);
		return;
	}
	check_ns(&p.ns, false, "namespace");
	CHECK(p.key, "a put without a key");
	check_if_match(p.if_match);
	if (!in_batch && header)
		CHECK(p.if_match, "the If-Match header was lost");
	CHECK(!deletes || in_batch, "a single put that deletes");
	if (deletes) {
		CHECK(!p.value_json, "a delete with a value");
	} else {
		check_json_text(b, body_get(b, obj, "value"), p.value_json, p.value_len);
		CHECK(p.ttl_seconds == -1 || (p.ttl_seconds >= 0 && p.ttl_seconds <= MEM_TTL_MAX),
		      "ttl_seconds %ld", p.ttl_seconds);
	}
	mem_args_release(&a);
}

static void check_ref(struct body *b, size_t obj, bool is_delete)
{
	struct mem_args a;
	struct mem_ref ref;
	struct mem_error err = {0};
	if (mem_body_ref(b, obj, is_delete, &a, &ref, &err) < 0) {
		check_error(&err);
	} else {
		check_ns(&ref.ns, false, "namespace");
		CHECK(ref.key, "no key");
		CHECK(is_delete || !ref.if_match, "a get with If-Match");
		check_if_match(ref.if_match);
	}
	mem_args_release(&a);
}

static void check_search(struct body *b, size_t obj)
{
	struct mem_args a;
	struct mem_search s;
	struct mem_error err = {0};
	if (mem_body_search(b, obj, &a, &s, &err) < 0) {
		check_error(&err);
		mem_args_release(&a);
		return;
	}
	check_ns(&s.prefix, true, "namespace_prefix");
	CHECK(s.limit <= MEM_SEARCH_LIMIT_MAX, "limit %zu", s.limit);
	CHECK(s.offset <= MEM_OFFSET_MAX, "offset %zu", s.offset);
	if (body_get(b, obj, "limit") == BODY_ABSENT)
		CHECK(s.limit == MEM_SEARCH_LIMIT_DEF, "default limit %zu", s.limit);
	if (s.filter_json) {
		size_t len = strlen(s.filter_json);
		check_json_text(b, body_get(b, obj, "filter"), s.filter_json, len);
		CHECK(s.filter_json[0] == '{' && strcmp(s.filter_json, "{}"),
		      "filter %s is not a non-empty object", s.filter_json);
		/* an item whose value is the filter itself matches it, wherever
		 * jansson can hold the value at all (and the filter names no
		 * operator: {"n": {"$gt": 1}} is not matched by itself) */
		json_error_t je;
		json_t *v = json_loadb(s.filter_json, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (v && !strstr(s.filter_json, "\"$"))
			CHECK(mem_value_matches(s.filter_json, len, s.filter_json),
			      "an item holding %s does not match it as a filter", s.filter_json);
		json_decref(v);
	}
	mem_args_release(&a);
}

static void check_cleanup(struct body *b, size_t obj)
{
	struct mem_args a;
	struct mem_ns ns;
	struct mem_error err = {0};
	if (mem_body_cleanup(b, obj, &a, &ns, &err) < 0)
		check_error(&err);
	else
		check_ns(&ns, true, "namespace_prefix");
	mem_args_release(&a);
}

static void check_namespaces(struct body *b, size_t obj)
{
	struct mem_args a;
	struct mem_list_ns l;
	struct mem_error err = {0};
	if (mem_body_namespaces(b, obj, &a, &l, &err) < 0) {
		check_error(&err);
	} else {
		check_ns(&l.prefix, true, "prefix");
		check_ns(&l.suffix, true, "suffix");
		CHECK(l.max_depth <= MEM_NS_MAX_DEPTH, "max_depth %zu", l.max_depth);
		CHECK(l.limit <= MEM_SEARCH_LIMIT_MAX, "limit %zu", l.limit);
		CHECK(l.offset <= MEM_OFFSET_MAX, "offset %zu", l.offset);
	}
	mem_args_release(&a);
}

/* Every reader on object obj, as a body of its own or as a batch entry. */
static void check_all(struct body *b, size_t obj)
{
	check_put(b, obj, NULL, false);
	check_put(b, obj, "W/\"42\"", false);
	check_put(b, obj, NULL, true);
	check_ref(b, obj, false);
	check_ref(b, obj, true);
	check_search(b, obj);
	check_cleanup(b, obj);
	check_namespaces(b, obj);
}

static void fuzz_body(const char *data, size_t size)
{
	struct body b;
	struct mem_error err = {0};
	size_t ops, n;
	if (body_parse(&b, data, size, &err) < 0) {
		CHECK(err.code == MEM_EINVALID_JSON, "body_parse error %d", err.code);
		check_error(&err);
		body_release(&b);
		return;
	}
	check_all(&b, 0);
	if (mem_body_batch(&b, &ops, &n, &err) < 0) {
		check_error(&err);
		body_release(&b);
		return;
	}
	CHECK(n <= MEM_BATCH_MAX_OPS && n == b.doc.toks[ops].size, "%zu operations", n);
	for (size_t i = 0, o = body_first(&b, ops); i < n; i++, o = body_next(&b, ops, o)) {
		const char *op;
		const struct body_field op_field[] = {BODY_STRING("op", BODY_REQUIRED, &op)};
		CHECK(b.doc.toks[o].type == JSON_TOK_OBJECT, "operations[%zu] is no object", i);
		CHECK(body_read(&b, o, op_field, 1, &err) == 0, "operations[%zu].op", i);
		/* as api/memory.c runs them */
		if (!strcmp(op, "put"))
			check_put(&b, o, NULL, true);
		else if (!strcmp(op, "get"))
			check_ref(&b, o, false);
		else if (!strcmp(op, "delete"))
			check_ref(&b, o, true);
		else if (!strcmp(op, "search"))
			check_search(&b, o);
		else if (!strcmp(op, "cleanup"))
			check_cleanup(&b, o);
		else if (!strcmp(op, "list_namespaces"))
			check_namespaces(&b, o);
		else
			CHECK(false, "unknown op %s passed", op);
	}
	body_release(&b);
}

static void fuzz_if_match(const char *text)
{
	struct mem_error err = {0};
	char *im = mem_if_match_parse(text, &err);
	if (!im) {
		check_error(&err);
		CHECK(!strcmp(err.field, "If-Match"), "If-Match refused as %s", err.field);
		return;
	}
	check_if_match(im);
	CHECK(strstr(text, im), "If-Match '%s' is not in the header", im);
	if (strcmp(im, "*")) {
		char quoted[64];
		const char *forms[] = {"\"%s\"", "W/\"%s\"", " %s\t"};
		for (size_t i = 0; i < sizeof(forms) / sizeof(*forms); i++) {
			snprintf(quoted, sizeof(quoted), forms[i], im);
			char *again = mem_if_match_parse(quoted, &err);
			CHECK(again && !strcmp(again, im), "%s reads back as %s", quoted,
			      again ? again : "an error");
			free(again);
		}
	}
	free(im);
}

/* What json_scan says the query namespace is: 1 and the labels when it is
 * an array of at most MEM_NS_MAX_DEPTH strings without NUL, else 0. */
static int scan_ns(const char *text, struct buf *labels, size_t *n)
{
	struct json_doc doc = {0};
	struct mem_error err = {0};
	int ok = 0;
	*n = 0;
	if (json_scan(text, strlen(text), &doc, &err) < 0 || doc.toks[0].type != JSON_TOK_ARRAY ||
	    doc.toks[0].size > MEM_NS_MAX_DEPTH)
		goto out;
	for (size_t i = 1, k = 0; k < doc.toks[0].size; k++, i = doc.toks[i].next) {
		if (doc.toks[i].type != JSON_TOK_STRING ||
		    json_doc_string(&doc, i, &labels[k]) != 0)
			goto out;
		buf_putc(&labels[k], '\0');
		(*n)++;
	}
	ok = 1;
out:
	json_doc_release(&doc);
	return ok;
}

static void fuzz_query_ns(const char *text)
{
	struct mem_error err = {0};
	char **labels = NULL;
	size_t n = 0, sn;
	struct buf want[MEM_NS_MAX_DEPTH] = {0};
	int ok = mem_ns_from_json(text, &labels, &n, "namespace", &err) == 0;
	int scanned = scan_ns(text, want, &sn);
	if (!ok) {
		check_error(&err);
		CHECK(!strcmp(err.field, "namespace"), "namespace refused as %s", err.field);
		CHECK(!labels && !n, "labels from a refused namespace");
	}
	CHECK(ok == scanned, "the query namespace is %s, json_scan says %s",
	      ok ? "accepted" : err.message, scanned ? "it is one" : "it is not");
	if (ok) {
		struct mem_ns ns = {(const char *const *)labels, n};
		struct buf again = {0};
		char **labels2 = NULL;
		size_t n2 = 0;
		CHECK(n == sn, "%zu labels, json_scan says %zu", n, sn);
		for (size_t i = 0; i < n; i++)
			CHECK(!strcmp(labels[i], want[i].data), "label %zu differs", i);
		check_ns(&ns, false, "namespace");
		buf_putc(&again, '[');
		for (size_t i = 0; i < n; i++) {
			if (i)
				buf_putc(&again, ',');
			json_escape(&again, labels[i], strlen(labels[i]));
		}
		buf_puts(&again, "]");
		CHECK(mem_ns_from_json(again.data, &labels2, &n2, "namespace", &err) == 0 &&
		          n2 == n,
		      "labels written as %s do not read back", again.data);
		for (size_t i = 0; i < n; i++)
			CHECK(!strcmp(labels[i], labels2[i]), "label %zu does not read back", i);
		for (size_t i = 0; i < n2; i++)
			free(labels2[i]);
		free(labels2);
		buf_release(&again);
	}
	for (size_t i = 0; i < n; i++)
		free(labels[i]);
	free(labels);
	for (size_t i = 0; i < MEM_NS_MAX_DEPTH; i++)
		buf_release(&want[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	fuzz_body((const char *)data, size);
	fuzz_if_match(text);
	fuzz_query_ns(text);
	free(text);
	return 0;
}
