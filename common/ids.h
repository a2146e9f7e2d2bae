/*
 * ids: validation of identifiers that come from outside (tenants, thread and
 * checkpoint ids, namespaces, channels), their encoding into Redis key
 * components, and percent-decoding of URL parts.
 *
 * The key encoding maps every byte that has a meaning in a key or a SCAN
 * pattern ('%' ':' '{' '}' '*' '?' '[' ']' '\' and space) to %XX, so an
 * encoded id never contains a separator or a hash-tag brace: no id can reach
 * another thread's or tenant's keys, and an operator's glob never matches more
 * than it says.
 */
#ifndef MEMORYD_IDS_H
#define MEMORYD_IDS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "error.h"

#define ID_MAX_BYTES     256
#define TENANT_MAX_BYTES 64

/* True when s[0..n) is valid UTF-8 (no overlongs or surrogates). */
bool utf8_valid(const char *s, size_t n);

/* Check an id: UTF-8, no control characters, at most max bytes, and
 * non-empty unless allow_empty. Fills err naming field on failure. */
int id_check(const char *s, size_t n, size_t max, bool allow_empty, const char *field,
             struct mem_error *err) MEM_MUST_CHECK;

/* Append the key-safe encoding of s[0..n) to out. */
void key_encode(struct buf *out, const char *s, size_t n);
/* Reverse of key_encode into a fresh string (caller frees); NULL if malformed. */
char *key_decode(const char *s, size_t n);

/* Percent-decode a URL component into a fresh string (caller frees) of
 * *outlen bytes. plus_is_space for query strings. NULL on a bad escape. */
char *url_decode(const char *s, size_t n, bool plus_is_space, size_t *outlen);

#endif
