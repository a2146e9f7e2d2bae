/*
 * json_scan: a strict, validating, non-allocating-per-value JSON scanner for
 * hot paths (jsmn-like: one flat token array, no tree of objects).
 *
 * json_scan() accepts exactly RFC 8259 JSON: one value of any type, whitespace
 * only space/tab/CR/LF, valid UTF-8 everywhere (no overlongs, no UTF-8-encoded
 * surrogates, nothing above U+10FFFF), no raw control characters in strings,
 * only the nine escapes, \u surrogates properly paired, the exact number
 * grammar, and nesting at most JSON_SCAN_MAX_DEPTH containers deep (an
 * explicit stack: no recursion). \u0000 is accepted; json_doc_string() says
 * when a decoded string holds a NUL. Duplicate object keys are accepted; ask
 * json_doc_has_duplicate_keys() where they matter. Numbers of any magnitude are
 * accepted (1e400, 2^70); json_doc_int64() says whether one fits.
 *
 * Ownership: the doc borrows text (the caller keeps it alive and unchanged
 * while the doc is used) and owns its token array. Zero-initialise a doc
 * (struct json_doc d = {0}); json_scan() may be called again on the same doc,
 * reusing its token array; release with json_doc_release().
 *
 * Tokens are indices into doc->toks; token 0 is the top-level value. The
 * children of a container start at its index + 1:
 *
 *	for (size_t i = arr + 1, k = 0; k < doc->toks[arr].size; k++, i = doc->toks[i].next)
 *		... element i ...
 *	for (size_t i = obj + 1, k = 0; k < doc->toks[obj].size; k++, i = doc->toks[i + 1].next)
 *		... key i (a STRING), value i + 1 ...
 */
#ifndef MEMORYD_JSON_SCAN_H
#define MEMORYD_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "error.h"

/* The deepest nesting of arrays and objects json_scan() accepts. */
#define JSON_SCAN_MAX_DEPTH 512

/* Prefixed JSON_TOK_ so as not to clash with jansson's JSON_OBJECT etc. */
enum json_tok_type {
	JSON_TOK_OBJECT = 1,
	JSON_TOK_ARRAY,
	JSON_TOK_STRING,
	JSON_TOK_NUMBER,
	JSON_TOK_TRUE,
	JSON_TOK_FALSE,
	JSON_TOK_NULL,
};

struct json_tok {
	uint32_t start;      /* byte offset of the value's first byte (a string's opening quote) */
	uint32_t end;        /* one past its last byte (past a string's closing quote) */
	uint32_t size;       /* members of an object, elements of an array, else 0 */
	uint32_t next;       /* index of the first token after this value and its descendants */
	uint8_t type;        /* enum json_tok_type */
	uint8_t has_escapes; /* STRING: contains a backslash, so raw bytes != decoded bytes */
};

struct json_doc {
	const char *text; /* borrowed */
	size_t len;
	struct json_tok *toks; /* owned */
	size_t ntoks;
	size_t cap;
};

/*
 * Scan and validate text (len bytes; need not be NUL-terminated; at most
 * UINT32_MAX - 1 bytes) into doc. 0 on success. On invalid JSON, -1 with err
 * set to MEM_EINVALID_JSON and a message naming the fault and its 0-based
 * byte offset, line and column; doc then holds no tokens.
 */
int json_scan(const char *text, size_t len, struct json_doc *doc,
              struct mem_error *err) MEM_MUST_CHECK;
/*
 * At least as many tokens as json_scan() would make of text, in one cheap
 * pass that allocates nothing (1 + the commas, colons and opening brackets
 * outside strings; exact give or take one per container): to refuse a body
 * that would make too many before scanning it.
 */
size_t json_scan_token_bound(const char *text, size_t len);
/* Free the token array; doc is left zeroed, ready for reuse. NULL-safe. */
void json_doc_release(struct json_doc *doc);

/*
 * Append the decoded (unescaped, UTF-8) value of STRING token tok to out.
 * 1 if the decoded value contains a NUL byte (from \u0000), 0 if not, -1 if
 * tok is not a STRING (nothing appended).
 */
int json_doc_string(const struct json_doc *doc, size_t tok, struct buf *out);
/*
 * Fast path: when STRING token tok has no escapes, point *p at its bytes in
 * the text (borrowed, not NUL-terminated) and set *n; 0. -1 when tok has
 * escapes or is not a STRING (use json_doc_string()).
 */
int json_doc_string_raw(const struct json_doc *doc, size_t tok, const char **p,
                        size_t *n) MEM_MUST_CHECK;
/* 1 if STRING token tok decodes to exactly the NUL-terminated lit, else 0. */
int json_doc_key_eq(const struct json_doc *doc, size_t tok, const char *lit);
/*
 * Find key in OBJECT token obj: 0 and *out = the index of the value token of
 * the first member whose decoded key equals key; -1 if there is none or obj
 * is not an object.
 */
int json_doc_object_get(const struct json_doc *doc, size_t obj, const char *key,
                        size_t *out) MEM_MUST_CHECK;
/*
 * 1 if two members of OBJECT token obj have equal decoded keys ("a" and
 * "\u0061" are equal), 0 if not, -1 if obj is not an object. Only obj's own
 * members are compared, not those of nested objects. O(n log n).
 */
int json_doc_has_duplicate_keys(const struct json_doc *doc, size_t obj) MEM_MUST_CHECK;
/*
 * NUMBER token tok as an integer: 0 and *out set when it is written as an
 * integer (no fraction, no exponent; "-0" is 0) within long long's range; -1
 * otherwise (1.0, 1e3, 9223372036854775808, not a NUMBER).
 */
int json_doc_int64(const struct json_doc *doc, size_t tok, long long *out) MEM_MUST_CHECK;
/*
 * NUMBER token tok as an integer in JSON Schema's sense (and OpenAPI's): any
 * number whose value is integral, whatever its notation (7, 7.0, 0.7e1,
 * 700e-2), within long long's range; -1 otherwise (7.5, 1e19). Request
 * members typed integer are read with it.
 */
int json_doc_integer(const struct json_doc *doc, size_t tok, long long *out) MEM_MUST_CHECK;

#endif
