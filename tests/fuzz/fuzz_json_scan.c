/*
 * fuzz_json_scan: common/json_scan.h on arbitrary bytes.
 *
 * Invariants:
 *  - a rejected text leaves no tokens and an error naming a byte inside it;
 *    scanning the same text again with the same doc gives the same verdict,
 *    tokens and message (the doc is reusable);
 *  - an accepted text is covered exactly by its tokens: every byte between
 *    tokens is whitespace or the one ',' or ':' the grammar puts there, spans
 *    nest, sizes and next indices agree, object keys are strings;
 *  - every string decodes to valid UTF-8 that is the raw text when it has no
 *    escapes, json_doc_string's NUL flag is right, and json_doc_key_eq,
 *    json_doc_object_get (first match) and json_doc_has_duplicate_keys agree
 *    with a naive comparison of the decoded keys;
 *  - json_doc_int64 agrees with strtoll;
 *  - jansson accepts exactly what json_scan accepts (apart from jansson's
 *    own limits: integers beyond int64, real overflow, NUL in keys, and our
 *    512-level nesting limit) and reads the same values.
 */
#include <errno.h>
#include <jansson.h>
#include <limits.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/json_scan.h"
#include "fuzz.h"

/* Objects with more members than this skip the O(n^2) duplicate check. */
#define NAIVE_MAX_MEMBERS 256

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* text[from, to) is whitespace around exactly one sep (or none when sep is 0). */
static bool gap_is(const char *text, size_t from, size_t to, char sep)
{
	bool seen = sep == 0;
	if (from > to)
		return false;
	for (size_t i = from; i < to; i++) {
		if (is_ws(text[i]))
			continue;
		if (text[i] != sep || seen)
			return false;
		seen = true;
	}
	return seen;
}

static bool decoded_eq(const struct buf *a, const struct buf *b)
{
	return same_bytes(a->data, a->len, b->data, b->len);
}

static void check_string(const struct json_doc *d, size_t tok)
{
	const struct json_tok *t = &d->toks[tok];
	const char *raw = d->text + t->start + 1;
	size_t rawlen = t->end - t->start - 2;
	struct buf s = {0};

	CHECK(t->end - t->start >= 2 && d->text[t->start] == '"' && d->text[t->end - 1] == '"',
	      "string token %zu [%u,%u) is not quoted", tok, t->start, t->end);
	CHECK(t->has_escapes == (memchr(raw, '\\', rawlen) != NULL),
	      "string token %zu: has_escapes %d is wrong", tok, t->has_escapes);
	for (size_t i = 0; i < rawlen; i++)
		CHECK((unsigned char)raw[i] >= 0x20, "raw control byte 0x%02x in string token %zu",
		      (unsigned char)raw[i], tok);
	CHECK(utf8_valid(raw, rawlen), "string token %zu holds invalid UTF-8", tok);

	int nul = json_doc_string(d, tok, &s);
	CHECK(nul == 0 || nul == 1, "json_doc_string returned %d", nul);
	CHECK(s.len <= rawlen, "decoding lengthened %zu to %zu bytes", rawlen, s.len);
	CHECK((nul == 1) == (s.len && memchr(s.data, '\0', s.len) != NULL),
	      "json_doc_string's NUL flag %d is wrong", nul);
	CHECK(utf8_valid(s.data ? s.data : "", s.len), "string token %zu decodes to bad UTF-8",
	      tok);

	const char *p = NULL;
	size_t n = 0;
	int rc = json_doc_string_raw(d, tok, &p, &n);
	if (t->has_escapes) {
		CHECK(rc == -1, "json_doc_string_raw accepted an escaped string");
	} else {
		CHECK(rc == 0 && p == raw && n == rawlen, "json_doc_string_raw is wrong");
		CHECK(same_bytes(s.data, s.len, raw, rawlen),
		      "unescaped string decoded differently");
	}
	if (!nul)
		CHECK(json_doc_key_eq(d, tok, s.data ? s.data : "") == 1,
		      "json_doc_key_eq(token %zu, its own decoding) is false", tok);
	buf_release(&s);
}

static void check_number(const struct json_doc *d, size_t tok)
{
	const struct json_tok *t = &d->toks[tok];
	size_t n = t->end - t->start;
	char *s = malloc(n + 1);
	long long mine = 0;
	CHECK(s != NULL, "out of memory");
	memcpy(s, d->text + t->start, n);
	s[n] = '\0';
	int rc = json_doc_int64(d, tok, &mine);
	if (strpbrk(s, ".eE")) {
		CHECK(rc == -1, "json_doc_int64 accepted the non-integer %s", s);
	} else {
		char *end;
		errno = 0;
		long long v = strtoll(s, &end, 10);
		CHECK(*end == '\0', "number token %zu is not all digits: %s", tok, s);
		if (errno == ERANGE)
			CHECK(rc == -1, "json_doc_int64 accepted the out-of-range %s", s);
		else
			CHECK(rc == 0 && mine == v, "json_doc_int64(%s) gave rc %d, %lld", s, rc,
			      mine);
	}
	free(s);
}

static void check_object_keys(const struct json_doc *d, size_t obj)
{
	size_t n = d->toks[obj].size;
	if (n > NAIVE_MAX_MEMBERS)
		return;
	struct buf *keys = calloc(n + 1, sizeof(*keys));
	size_t *ktok = calloc(n + 1, sizeof(*ktok));
	bool dup = false;
	CHECK(keys && ktok, "out of memory");
	for (size_t k = 0, i = obj + 1; k < n; k++, i = d->toks[i + 1].next) {
		ktok[k] = i;
		(void)json_doc_string(d, i, &keys[k]);
	}
	for (size_t k = 0; k < n; k++) {
		size_t first = k;
		for (size_t j = 0; j < n; j++) {
			if (j != k && decoded_eq(&keys[j], &keys[k])) {
				dup = true;
				if (j < first)
					first = j;
			}
		}
		bool has_nul = keys[k].len && memchr(keys[k].data, '\0', keys[k].len);
		if (has_nul)
			continue; /* not expressible as a C string key */
		size_t at = 0;
		int rc = json_doc_object_get(d, obj, keys[k].data ? keys[k].data : "", &at);
		CHECK(rc == 0 && at == ktok[first] + 1,
		      "json_doc_object_get(\"%s\") gave rc %d, token %zu, not %zu", keys[k].data,
		      rc, at, ktok[first] + 1);
	}
	CHECK(json_doc_has_duplicate_keys(d, obj) == (int)dup,
	      "json_doc_has_duplicate_keys(object token %zu) is not %d", obj, dup);
	for (size_t k = 0; k < n; k++)
		buf_release(&keys[k]);
	free(keys);
	free(ktok);
}

/* Readers given the wrong kind of token must refuse without touching out. */
static void check_wrong_type(const struct json_doc *d, size_t tok)
{
	const struct json_tok *t = tok < d->ntoks ? &d->toks[tok] : NULL;
	struct buf s = {0};
	const char *p;
	size_t n, at;
	long long v;
	if (!t || t->type != JSON_TOK_STRING) {
		CHECK(json_doc_string(d, tok, &s) == -1 && s.len == 0,
		      "json_doc_string read token %zu, not a string", tok);
		CHECK(json_doc_string_raw(d, tok, &p, &n) == -1, "string_raw read a non-string");
		CHECK(json_doc_key_eq(d, tok, "") == 0, "key_eq matched a non-string");
	}
	if (!t || t->type != JSON_TOK_OBJECT) {
		CHECK(json_doc_object_get(d, tok, "", &at) == -1, "object_get on a non-object");
		CHECK(json_doc_has_duplicate_keys(d, tok) == -1, "dup check on a non-object");
	}
	if (!t || t->type != JSON_TOK_NUMBER)
		CHECK(json_doc_int64(d, tok, &v) == -1, "int64 read a non-number");
	buf_release(&s);
}

/* Check the value at tok, which must lie within [lo, hi); the next token. */
static size_t check_value(const struct json_doc *d, size_t tok, size_t lo, size_t hi)
{
	CHECK(tok < d->ntoks, "token %zu of %zu", tok, d->ntoks);
	const struct json_tok *t = &d->toks[tok];
	const char *s = d->text;
	CHECK(t->start >= lo && t->start < t->end && t->end <= hi,
	      "token %zu [%u,%u) is outside [%zu,%zu)", tok, t->start, t->end, lo, hi);
	check_wrong_type(d, tok);
	switch (t->type) {
	case JSON_TOK_OBJECT:
	case JSON_TOK_ARRAY: {
		bool obj = t->type == JSON_TOK_OBJECT;
		CHECK(s[t->start] == (obj ? '{' : '[') && s[t->end - 1] == (obj ? '}' : ']'),
		      "container token %zu is not bracketed", tok);
		size_t i = tok + 1, pos = t->start + 1;
		for (uint32_t k = 0; k < t->size; k++) {
			CHECK(i < d->ntoks && gap_is(s, pos, d->toks[i].start, k ? ',' : 0),
			      "bad bytes before member %u of token %zu", k, tok);
			if (obj) {
				CHECK(d->toks[i].type == JSON_TOK_STRING,
				      "key token %zu is not a string", i);
				size_t key = i;
				i = check_value(d, key, pos, t->end - 1);
				pos = d->toks[key].end;
				CHECK(i < d->ntoks && gap_is(s, pos, d->toks[i].start, ':'),
				      "bad bytes between key and value at token %zu", i);
			}
			size_t val = i;
			i = check_value(d, val, pos, t->end - 1);
			pos = d->toks[val].end;
		}
		CHECK(gap_is(s, pos, t->end - 1, 0), "bad bytes before the end of token %zu", tok);
		CHECK(t->next == i, "container token %zu: next %u, children end at %zu", tok,
		      t->next, i);
		if (obj)
			check_object_keys(d, tok);
		return i;
	}
	case JSON_TOK_STRING:
		check_string(d, tok);
		break;
	case JSON_TOK_NUMBER:
		check_number(d, tok);
		break;
	case JSON_TOK_TRUE:
		CHECK(same_bytes(s + t->start, t->end - t->start, "true", 4), "bad true");
		break;
	case JSON_TOK_FALSE:
		CHECK(same_bytes(s + t->start, t->end - t->start, "false", 5), "bad false");
		break;
	case JSON_TOK_NULL:
		CHECK(same_bytes(s + t->start, t->end - t->start, "null", 4), "bad null");
		break;
	default:
		CHECK(0, "token %zu has type %d", tok, t->type);
	}
	CHECK(t->size == 0 && t->next == tok + 1, "scalar token %zu: size %u next %u", tok, t->size,
	      t->next);
	return tok + 1;
}

/* Compare the value at tok with jansson's reading; the next token. */
static size_t compare_jansson(const struct json_doc *d, size_t tok, json_t *v)
{
	const struct json_tok *t = &d->toks[tok];
	switch (t->type) {
	case JSON_TOK_OBJECT: {
		CHECK(json_is_object(v), "token %zu: jansson has no object", tok);
		if (json_doc_has_duplicate_keys(d, tok) == 1) {
			CHECK(json_object_size(v) < t->size, "duplicates not merged by jansson");
			return t->next;
		}
		CHECK(json_object_size(v) == t->size, "object token %zu: %zu members, jansson %zu",
		      tok, (size_t)t->size, json_object_size(v));
		size_t i = tok + 1;
		for (uint32_t k = 0; k < t->size; k++) {
			struct buf key = {0};
			(void)json_doc_string(d, i, &key);
			json_t *m = json_object_getn(v, key.data ? key.data : "", key.len);
			CHECK(m != NULL, "key token %zu is not in jansson's object", i);
			buf_release(&key);
			i = compare_jansson(d, i + 1, m);
		}
		return i;
	}
	case JSON_TOK_ARRAY: {
		CHECK(json_is_array(v), "token %zu: jansson has no array", tok);
		CHECK(json_array_size(v) == t->size, "array token %zu: size differs", tok);
		size_t i = tok + 1;
		for (uint32_t k = 0; k < t->size; k++)
			i = compare_jansson(d, i, json_array_get(v, k));
		return i;
	}
	case JSON_TOK_STRING: {
		struct buf s = {0};
		CHECK(json_is_string(v), "token %zu: jansson has no string", tok);
		(void)json_doc_string(d, tok, &s);
		CHECK(same_bytes(s.data, s.len, json_string_value(v), json_string_length(v)),
		      "string token %zu decodes unlike jansson", tok);
		buf_release(&s);
		return tok + 1;
	}
	case JSON_TOK_NUMBER: {
		long long n;
		if (json_is_integer(v)) {
			CHECK(json_doc_int64(d, tok, &n) == 0 && n == json_integer_value(v),
			      "integer token %zu reads unlike jansson", tok);
		} else {
			CHECK(json_is_real(v), "token %zu: jansson has no number", tok);
			CHECK(json_doc_int64(d, tok, &n) == -1, "jansson's real is our integer");
		}
		return tok + 1;
	}
	case JSON_TOK_TRUE:
		CHECK(json_is_true(v), "token %zu: jansson has no true", tok);
		return tok + 1;
	case JSON_TOK_FALSE:
		CHECK(json_is_false(v), "token %zu: jansson has no false", tok);
		return tok + 1;
	default:
		CHECK(json_is_null(v), "token %zu: jansson has no null", tok);
		return tok + 1;
	}
}

/* jansson 2.14 skips a NUL byte right after a number or a literal: it
 * accepts "0\0", "false\0" and "[0\0]". The fault is jansson's; json_scan
 * rightly refuses. */
static bool jansson_nul_quirk(const char *text, size_t len, const struct mem_error *err)
{
	const char *m = strstr(err->message, " at byte ");
	size_t at;
	return m && sscanf(m, " at byte %zu", &at) == 1 && at > 0 && at < len && text[at] == '\0' &&
	       text[at - 1] && strchr("0123456789el", text[at - 1]);
}

static void check_jansson(const struct json_doc *d, const char *text, size_t len, int ours,
                          const struct mem_error *err)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	if (!j) {
		bool jansson_limit = strstr(je.text, "too big") || strstr(je.text, "overflow") ||
		                     strstr(je.text, "NUL byte in object key");
		CHECK(ours < 0 || jansson_limit, "json_scan accepts what jansson rejects: %s",
		      je.text);
		return;
	}
	if (ours < 0) {
		json_decref(j);
		CHECK(strstr(err->message, "nesting deeper") || jansson_nul_quirk(text, len, err),
		      "json_scan rejects what jansson accepts: %s", err->message);
		return;
	}
	CHECK(compare_jansson(d, 0, j) == d->ntoks, "jansson's value has fewer tokens");
	json_decref(j);

	bool any_dup = false;
	for (size_t i = 0; i < d->ntoks; i++)
		if (d->toks[i].type == JSON_TOK_OBJECT && json_doc_has_duplicate_keys(d, i) == 1)
			any_dup = true;
	j = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	CHECK((j == NULL) == any_dup, "duplicate keys: json_scan %d, jansson %s", any_dup,
	      j ? "none" : je.text);
	json_decref(j);
}

static bool same_tokens(const struct json_tok *a, const struct json_tok *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i].start != b[i].start || a[i].end != b[i].end || a[i].size != b[i].size ||
		    a[i].next != b[i].next || a[i].type != b[i].type ||
		    a[i].has_escapes != b[i].has_escapes)
			return false;
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct json_doc doc = {0};
	struct mem_error err = {0}, err2 = {0};

	int rc = json_scan(text, size, &doc, &err);
	CHECK(rc == 0 || rc == -1, "json_scan returned %d", rc);
	if (rc < 0) {
		size_t at = SIZE_MAX;
		const char *m = strstr(err.message, " at byte ");
		CHECK(doc.ntoks == 0, "a rejected text left %zu tokens", doc.ntoks);
		CHECK(err.code == MEM_EINVALID_JSON && err.message[0], "no error for a rejection");
		CHECK(m && sscanf(m, " at byte %zu", &at) == 1 && at <= size,
		      "the error names no byte of the text: %s", err.message);
		CHECK(json_scan(text, size, &doc, &err2) == -1 &&
		          !strcmp(err.message, err2.message),
		      "a second scan disagrees: %s / %s", err.message, err2.message);
	} else {
		CHECK(doc.ntoks > 0 && doc.text == text && doc.len == size, "doc is not filled");
		CHECK(gap_is(text, 0, doc.toks[0].start, 0) &&
		          gap_is(text, doc.toks[0].end, size, 0),
		      "bytes other than whitespace around the value");
		CHECK(check_value(&doc, 0, 0, size) == doc.ntoks, "tokens left after the value");
		check_wrong_type(&doc, doc.ntoks);

		size_t n = doc.ntoks;
		struct json_tok *copy = malloc(n * sizeof(*copy));
		CHECK(copy != NULL, "out of memory");
		memcpy(copy, doc.toks, n * sizeof(*copy));
		CHECK(json_scan(text, size, &doc, &err2) == 0 && doc.ntoks == n &&
		          same_tokens(copy, doc.toks, n),
		      "a second scan with the same doc disagrees");
		free(copy);
	}
	check_jansson(&doc, text, size, rc, &err);
	json_doc_release(&doc);
	CHECK(doc.toks == NULL && doc.ntoks == 0 && doc.cap == 0, "release left the doc dirty");
	json_doc_release(NULL);
	return 0;
}
