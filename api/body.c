#include "body.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/b64.h"
#include "../common/xalloc.h"

static void own(struct body *b, void *p)
{
	if (b->nowned == b->capowned) {
		b->capowned = b->capowned ? b->capowned * 2 : 16;
		b->owned = xrealloc(b->owned, b->capowned * sizeof(*b->owned));
	}
	b->owned[b->nowned++] = p;
}

static size_t max_tokens;

void body_set_max_tokens(size_t max)
{
	max_tokens = max;
}

int body_parse(struct body *b, const char *text, size_t len, struct mem_error *err)
{
	memset(b, 0, sizeof(*b));
	if (!len)
		return mem_fail(err, MEM_EINVALID_JSON, NULL,
		                "the request body is empty: send a JSON object");
	/* 20 bytes a token: an 8 MB body of [0,0,...] would make 80 MB of them */
	if (max_tokens && json_scan_token_bound(text, len) > max_tokens)
		return mem_fail(
		    err, MEM_ETOO_LARGE, NULL,
		    "the body holds more than MAX_JSON_TOKENS (%zu) JSON values and keys",
		    max_tokens);
	if (json_scan(text, len, &b->doc, err) < 0)
		return -1;
	if (b->doc.toks[0].type != JSON_TOK_OBJECT)
		return mem_fail(err, MEM_EINVALID_JSON, NULL, "the body must be a JSON object");
	/* Duplicate keys make a document mean what each reader decides: refuse
	 * them at every depth, as stored free-form JSON is read back by others. */
	for (size_t i = 0; i < b->doc.ntoks; i++)
		if (b->doc.toks[i].type == JSON_TOK_OBJECT &&
		    json_doc_has_duplicate_keys(&b->doc, i) == 1)
			return mem_fail(err, MEM_EINVALID_JSON, NULL,
			                "the body has a duplicate key in the object at byte %u",
			                (unsigned)b->doc.toks[i].start);
	return 0;
}

void body_release(struct body *b)
{
	if (!b)
		return;
	json_doc_release(&b->doc);
	for (size_t i = 0; i < b->nowned; i++)
		free(b->owned[i]);
	free(b->owned);
	memset(b, 0, sizeof(*b));
}

size_t body_get(const struct body *b, size_t obj, const char *key)
{
	size_t v;
	if (json_doc_object_get(&b->doc, obj, key, &v) < 0 || b->doc.toks[v].type == JSON_TOK_NULL)
		return BODY_ABSENT;
	return v;
}

size_t body_first(const struct body *b, size_t container)
{
	(void)b;
	return container + 1;
}

size_t body_next(const struct body *b, size_t container, size_t k)
{
	const struct json_tok *t = b->doc.toks;
	return t[container].type == JSON_TOK_OBJECT ? t[k + 1].next : t[k].next;
}

/*
 * The token readers say what is wrong as the tail of a message ("must be a
 * string"), or NULL when all is well; the caller names the field. A field of a
 * table is named only when it is refused, so a message of 1,000 entries costs
 * no formatting.
 */
static const char *tok_string(struct body *b, size_t tok, const char **out)
{
	const struct json_tok *t = &b->doc.toks[tok];
	if (t->type != JSON_TOK_STRING)
		return "must be a string";
	struct buf s = {0};
	buf_reserve(&s, t->end - t->start);
	if (json_doc_string(&b->doc, tok, &s) != 0) {
		buf_release(&s);
		return "must not contain NUL";
	}
	char *p = buf_detach(&s, NULL);
	own(b, p);
	*out = p;
	return NULL;
}

static const char *tok_base64(struct body *b, size_t tok, const unsigned char **data, size_t *len)
{
	const char *p;
	size_t n;
	struct buf s = {0};
	if (b->doc.toks[tok].type != JSON_TOK_STRING)
		return "must be a base64 string";
	if (json_doc_string_raw(&b->doc, tok, &p, &n) < 0) {
		/* escaped characters in base64 are odd but legal JSON */
		(void)json_doc_string(&b->doc, tok, &s);
		p = s.data ? s.data : "";
		n = s.len;
	}
	unsigned char *bytes;
	int rc = b64_decode(p, n, &bytes, len);
	buf_release(&s);
	if (rc < 0)
		return "is not valid base64";
	own(b, bytes);
	*data = bytes;
	return NULL;
}

static const char *tok_version(struct body *b, size_t tok, const char **out)
{
	const struct json_tok *t = &b->doc.toks[tok];
	long long v;
	if (t->type == JSON_TOK_STRING)
		return tok_string(b, tok, out);
	if (t->type == JSON_TOK_NUMBER && json_doc_integer(&b->doc, tok, &v) == 0) {
		char *s = xasprintf("%lld", v);
		own(b, s);
		*out = s;
		return NULL;
	}
	return "must be a string or an integer";
}

/* Refuse field (prefix.key, or key when prefix is NULL) with "<name> <what>". */
static int field_fail(struct mem_error *err, enum mem_errcode code, const char *prefix,
                      const char *key, const char *what)
{
	char name[64];
	if (prefix) {
		snprintf(name, sizeof(name), "%s.%s", prefix, key);
		key = name;
	}
	return mem_fail(err, code, key, "%s %s", key, what);
}

int body_tok_string(struct body *b, size_t tok, const char *field, const char **out,
                    struct mem_error *err)
{
	const char *bad = tok_string(b, tok, out);
	return bad ? field_fail(err, MEM_EINVALID_FIELD, NULL, field, bad) : 0;
}

int body_tok_base64(struct body *b, size_t tok, const char *field, const unsigned char **data,
                    size_t *len, struct mem_error *err)
{
	const char *bad = tok_base64(b, tok, data, len);
	return bad ? field_fail(err, MEM_EINVALID_FIELD, NULL, field, bad) : 0;
}

int body_tok_version(struct body *b, size_t tok, const char *field, const char **out,
                     struct mem_error *err)
{
	const char *bad = tok_version(b, tok, out);
	return bad ? field_fail(err, MEM_EINVALID_FIELD, NULL, field, bad) : 0;
}

/* A field's value between reading and writing it to its destination. */
union field_value {
	const char *str;
	size_t tok;
	struct {
		const unsigned char *data;
		size_t len;
	} b64;
	long long num; /* INT, SIZE, BOOL, LABELS' count */
};

static void absent_value(const struct body_field *f, union field_value *v)
{
	switch (f->type) {
	case BODY_T_STRING:
	case BODY_T_VERSION:
		v->str = f->str_default;
		break;
	case BODY_T_OBJECT:
	case BODY_T_ARRAY:
		v->tok = BODY_ABSENT;
		break;
	case BODY_T_BASE64:
		v->b64.data = NULL;
		v->b64.len = 0;
		break;
	case BODY_T_INT:
	case BODY_T_SIZE:
		v->num = f->num_default;
		break;
	case BODY_T_BOOL:
		v->num = -1;
		break;
	case BODY_T_LABELS:
		v->num = 0;
		break;
	}
}

static void write_value(const struct body_field *f, const union field_value *v)
{
	switch (f->type) {
	case BODY_T_STRING:
	case BODY_T_VERSION:
		*f->str = v->str;
		break;
	case BODY_T_OBJECT:
	case BODY_T_ARRAY:
		*f->tok = v->tok;
		break;
	case BODY_T_BASE64:
		*f->b64.data = v->b64.data;
		*f->b64.len = v->b64.len;
		break;
	case BODY_T_INT:
		*f->num = v->num;
		break;
	case BODY_T_SIZE:
		*f->size = (size_t)v->num;
		break;
	case BODY_T_BOOL:
		*f->flag = (int)v->num;
		break;
	case BODY_T_LABELS:
		*f->labels.n = (size_t)v->num;
		break;
	}
}

/* The labels of array tok into f's items; the count in v. */
static int read_labels(struct body *b, size_t tok, const char *prefix, const struct body_field *f,
                       union field_value *v, struct mem_error *err)
{
	const char *bad = NULL;
	size_t n = b->doc.toks[tok].size;
	if (b->doc.toks[tok].type != JSON_TOK_ARRAY)
		return field_fail(err, MEM_EINVALID_FIELD, prefix, f->key, "must be an array");
	if (n > (unsigned long long)f->max) {
		char what[64];
		snprintf(what, sizeof(what), "has %zu labels; at most %lld", n, f->max);
		return field_fail(err, MEM_EINVALID_FIELD, prefix, f->key, what);
	}
	for (size_t i = 0, t = body_first(b, tok); i < n && !bad; i++, t = body_next(b, tok, t))
		bad = tok_string(b, t, &f->labels.items[i]);
	if (bad)
		return field_fail(err, MEM_EINVALID_FIELD, prefix, f->key, bad);
	v->num = (long long)n;
	return 0;
}

/* Read field f of object obj into v, or refuse it. */
static int read_field(struct body *b, size_t obj, const char *prefix, const struct body_field *f,
                      union field_value *v, struct mem_error *err)
{
	size_t t = body_get(b, obj, f->key);
	uint8_t type;
	const char *bad = NULL;
	char what[80];

	if (t == BODY_ABSENT) {
		if (f->required)
			return field_fail(err, MEM_EMISSING_FIELD, prefix, f->key, "is required");
		absent_value(f, v);
		return 0;
	}
	type = b->doc.toks[t].type;
	switch (f->type) {
	case BODY_T_STRING:
		bad = tok_string(b, t, &v->str);
		break;
	case BODY_T_VERSION:
		bad = tok_version(b, t, &v->str);
		break;
	case BODY_T_OBJECT:
		v->tok = t;
		if (type != JSON_TOK_OBJECT)
			bad = "must be a JSON object";
		break;
	case BODY_T_ARRAY:
		v->tok = t;
		if (type != JSON_TOK_ARRAY)
			bad = "must be an array";
		break;
	case BODY_T_BASE64:
		bad = tok_base64(b, t, &v->b64.data, &v->b64.len);
		break;
	case BODY_T_INT:
	case BODY_T_SIZE:
		if (json_doc_integer(&b->doc, t, &v->num) < 0 || v->num < f->min ||
		    v->num > f->max) {
			if (f->max == LLONG_MAX)
				snprintf(what, sizeof(what), "must be an integer >= %lld", f->min);
			else
				snprintf(what, sizeof(what), "must be an integer %lld..%lld",
				         f->min, f->max);
			bad = what;
		}
		break;
	case BODY_T_BOOL:
		v->num = type == JSON_TOK_TRUE;
		if (type != JSON_TOK_TRUE && type != JSON_TOK_FALSE)
			bad = "must be true or false";
		break;
	case BODY_T_LABELS:
		return read_labels(b, t, prefix, f, v, err);
	}
	return bad ? field_fail(err, MEM_EINVALID_FIELD, prefix, f->key, bad) : 0;
}

static bool in_table(const struct body *b, size_t key, const struct body_field *fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (json_doc_key_eq(&b->doc, key, fields[i].key))
			return true;
	return false;
}

/* "unknown member: the body takes a, b and c only" when obj has a member
 * the table does not name. */
static int refuse_unknown(const struct body *b, size_t obj, const struct body_field *fields,
                          size_t n, struct mem_error *err)
{
	size_t k = body_first(b, obj);
	for (uint32_t i = 0; i < b->doc.toks[obj].size; i++, k = body_next(b, obj, k)) {
		if (in_table(b, k, fields, n))
			continue;
		struct buf names = {0};
		for (size_t j = 0; j < n; j++) {
			if (j)
				buf_puts(&names, j + 1 == n ? " and " : ", ");
			buf_puts(&names, fields[j].key);
		}
		mem_fail(err, MEM_EINVALID_FIELD, "body", "unknown member: the body takes %s only",
		         names.data);
		buf_release(&names);
		return -1;
	}
	return 0;
}

static int read_table(struct body *b, size_t obj, const char *prefix, bool closed,
                      const struct body_field *fields, size_t n, struct mem_error *err)
{
	union field_value v[BODY_MAX_FIELDS];

	if (n > BODY_MAX_FIELDS)
		abort(); /* a table's shape is fixed: the first call finds it */
	for (size_t i = 0; i < n; i++)
		if (read_field(b, obj, prefix, &fields[i], &v[i], err) < 0)
			return -1;
	if (closed && refuse_unknown(b, obj, fields, n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		write_value(&fields[i], &v[i]);
	return 0;
}

int body_read(struct body *b, size_t obj, const struct body_field *fields, size_t n,
              struct mem_error *err)
{
	return read_table(b, obj, NULL, false, fields, n, err);
}

int body_read_closed(struct body *b, size_t obj, const struct body_field *fields, size_t n,
                     struct mem_error *err)
{
	return read_table(b, obj, NULL, true, fields, n, err);
}

int body_read_in(struct body *b, size_t obj, const char *prefix, const struct body_field *fields,
                 size_t n, struct mem_error *err)
{
	return read_table(b, obj, prefix, false, fields, n, err);
}

int body_read_item(struct body *b, size_t tok, const char *prefix, const struct body_field *fields,
                   size_t n, struct mem_error *err)
{
	if (b->doc.toks[tok].type != JSON_TOK_OBJECT)
		return mem_fail(err, MEM_EINVALID_FIELD, prefix, "%s must be an object", prefix);
	return read_table(b, tok, prefix, false, fields, n, err);
}

/* Copy text[start, end) leaving out whitespace outside strings. */
static void compact_span(const char *text, size_t start, size_t end, struct buf *out)
{
	buf_reserve(out, end - start);
	bool in_str = false;
	size_t run = start;
	for (size_t i = start; i < end; i++) {
		char c = text[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			continue;
		}
		if (c == '"') {
			in_str = true;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			buf_append(out, text + run, i - run);
			run = i + 1;
		}
	}
	buf_append(out, text + run, end - run);
}

void body_compact(const struct body *b, size_t tok, const char *skip_key, struct buf *out)
{
	const struct json_tok *t = b->doc.toks;
	if (t[tok].type != JSON_TOK_OBJECT || !skip_key) {
		compact_span(b->doc.text, t[tok].start, t[tok].end, out);
		return;
	}
	buf_putc(out, '{');
	bool first = true;
	size_t k = tok + 1;
	for (size_t n = 0; n < t[tok].size; n++, k = t[k + 1].next) {
		if (json_doc_key_eq(&b->doc, k, skip_key))
			continue;
		if (!first)
			buf_putc(out, ',');
		first = false;
		compact_span(b->doc.text, t[k].start, t[k].end, out);
		buf_putc(out, ':');
		compact_span(b->doc.text, t[k + 1].start, t[k + 1].end, out);
	}
	buf_putc(out, '}');
}
