/*
 * body: reading a JSON request body on the hot path.
 *
 * The body is scanned once by json_scan (common/json_scan.h): validated and
 * tokenised, with no tree of values. Fields are then read by name; strings are
 * decoded into NUL-terminated copies and base64 into bytes, all owned by the
 * struct body and freed by body_release. The JSON of free-form values
 * (a checkpoint, metadata) is kept as compact text, exactly as sent apart from
 * whitespace, so numbers of any size survive.
 *
 * Every reader names the field at fault in err, as the API promises.
 */
#ifndef MEMORYD_API_BODY_H
#define MEMORYD_API_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/error.h"
#include "../common/json_scan.h"

#define BODY_ABSENT SIZE_MAX

struct body {
	struct json_doc doc;
	void **owned; /* decoded strings and bytes */
	size_t nowned, capowned;
};

/* The most JSON tokens (values and keys) body_parse accepts in one body
 * (MAX_JSON_TOKENS; 0: no limit); more is MEM_ETOO_LARGE, before any token
 * is made. Set once at start-up. */
void body_set_max_tokens(size_t max);

/* Scan text as a JSON object with no duplicate keys. Release b either way. */
int body_parse(struct body *b, const char *text, size_t len, struct mem_error *err) MEM_MUST_CHECK;
void body_release(struct body *b);

/* The value token of key in object obj, BODY_ABSENT when missing or null. */
size_t body_get(const struct body *b, size_t obj, const char *key);

/* Readers of a member of object obj. field names it in errors. A missing or
 * null member is an error when required, else *out is NULL / BODY_ABSENT. */
int body_string(struct body *b, size_t obj, const char *key, const char *field, bool required,
                const char **out, struct mem_error *err) MEM_MUST_CHECK;
int body_object(struct body *b, size_t obj, const char *key, const char *field, bool required,
                size_t *out, struct mem_error *err) MEM_MUST_CHECK;
int body_array(struct body *b, size_t obj, const char *key, const char *field, bool required,
               size_t *out, struct mem_error *err) MEM_MUST_CHECK;

/* Token readers. */
int body_tok_string(struct body *b, size_t tok, const char *field, const char **out,
                    struct mem_error *err) MEM_MUST_CHECK;
int body_tok_base64(struct body *b, size_t tok, const char *field, const unsigned char **data,
                    size_t *len, struct mem_error *err) MEM_MUST_CHECK;
/* A version: a string as it is, or an integer in decimal. */
int body_tok_version(struct body *b, size_t tok, const char *field, const char **out,
                     struct mem_error *err) MEM_MUST_CHECK;

/* Walk a container in O(1) a step: body_first gives the first element of an
 * array (or the key token of the first member of an object, whose value is
 * the token after it); body_next the one after k. */
size_t body_first(const struct body *b, size_t container);
size_t body_next(const struct body *b, size_t container, size_t k);

/* Append the compact JSON text of tok to out; for an object, members whose
 * key is skip_key (may be NULL) are left out. */
void body_compact(const struct body *b, size_t tok, const char *skip_key, struct buf *out);

#endif
