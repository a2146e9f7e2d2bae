/*
 * buf: a growable byte buffer, always NUL-terminated so text can be used
 * directly. Zero-initialise (struct buf b = {0}) and release with buf_release.
 */
#ifndef MEMORYD_BUF_H
#define MEMORYD_BUF_H

#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
};

void buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_reset(struct buf *b);
/* Hand the bytes to the caller (caller frees with free()); b is left empty. */
char *buf_detach(struct buf *b, size_t *len);
void buf_release(struct buf *b);

#endif
