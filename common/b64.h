/*
 * Standard base64 (RFC 4648, with padding), the encoding of opaque values in
 * JSON bodies.
 */
#ifndef MEMORYD_B64_H
#define MEMORYD_B64_H

#include <stddef.h>

#include "buf.h"
#include "error.h"

/* Append the base64 of src to out. */
void b64_encode(struct buf *out, const unsigned char *src, size_t n);
/* Decode text (len bytes, padding required, no whitespace) into a fresh
 * buffer *dst (caller frees) of *dstlen bytes. -1 on malformed input. */
int b64_decode(const char *text, size_t len, unsigned char **dst, size_t *dstlen) MEM_MUST_CHECK;

#endif
