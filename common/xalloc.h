/*
 * xalloc: allocation that never returns NULL. Allocation failure aborts the
 * process with a log line: a memory service that cannot allocate cannot keep
 * its promises, and checking every malloc hides the real error paths.
 */
#ifndef MEMORYD_XALLOC_H
#define MEMORYD_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
