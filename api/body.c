#include "body.h"

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

static int member(struct body *b, size_t obj, const char *key, const char *field, bool required,
                  enum json_tok_type type, const char *what, size_t *out, struct mem_error *err)
{
	*out = body_get(b, obj, key);
	if (*out == BODY_ABSENT) {
		if (required)
			return mem_fail(err, MEM_EMISSING_FIELD, field, "%s is required", field);
		return 0;
	}
	if (b->doc.toks[*out].type != type)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must be %s", field, what);
	return 0;
}

int body_tok_string(struct body *b, size_t tok, const char *field, const char **out,
                    struct mem_error *err)
{
	const struct json_tok *t = &b->doc.toks[tok];
	if (t->type != JSON_TOK_STRING)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must be a string", field);
	struct buf s = {0};
	buf_reserve(&s, t->end - t->start);
	if (json_doc_string(&b->doc, tok, &s) != 0) {
		buf_release(&s);
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must not contain NUL", field);
	}
	char *p = buf_detach(&s, NULL);
	own(b, p);
	*out = p;
	return 0;
}

int body_string(struct body *b, size_t obj, const char *key, const char *field, bool required,
                const char **out, struct mem_error *err)
{
	size_t v;
	*out = NULL;
	if (member(b, obj, key, field, required, JSON_TOK_STRING, "a string", &v, err) < 0)
		return -1;
	return v == BODY_ABSENT ? 0 : body_tok_string(b, v, field, out, err);
}

int body_object(struct body *b, size_t obj, const char *key, const char *field, bool required,
                size_t *out, struct mem_error *err)
{
	return member(b, obj, key, field, required, JSON_TOK_OBJECT, "a JSON object", out, err);
}

int body_array(struct body *b, size_t obj, const char *key, const char *field, bool required,
               size_t *out, struct mem_error *err)
{
	return member(b, obj, key, field, required, JSON_TOK_ARRAY, "an array", out, err);
}

int body_tok_base64(struct body *b, size_t tok, const char *field, const unsigned char **data,
                    size_t *len, struct mem_error *err)
{
	const char *p;
	size_t n;
	struct buf s = {0};
	if (b->doc.toks[tok].type != JSON_TOK_STRING)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must be a base64 string",
		                field);
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
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s is not valid base64", field);
	own(b, bytes);
	*data = bytes;
	return 0;
}

int body_tok_version(struct body *b, size_t tok, const char *field, const char **out,
                     struct mem_error *err)
{
	const struct json_tok *t = &b->doc.toks[tok];
	long long v;
	if (t->type == JSON_TOK_STRING)
		return body_tok_string(b, tok, field, out, err);
	if (t->type == JSON_TOK_NUMBER && json_doc_integer(&b->doc, tok, &v) == 0) {
		char *s = xasprintf("%lld", v);
		own(b, s);
		*out = s;
		return 0;
	}
	return mem_fail(err, MEM_EINVALID_FIELD, field, "%s must be a string or an integer", field);
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
