/*
 * vcache: a bounded, thread-safe cache of byte strings, each stored under a
 * key together with the version it was made at. A lookup names the version
 * the caller holds now and hits only when it is the same, so an entry can
 * never be served after what it was made from has changed: the caller
 * validates, the cache only remembers.
 *
 * The API uses it for the latest checkpoint of a thread: the version is the
 * thread's head in Redis ("<generation>|<checkpoint id>"), read with one small
 * GET, and the bytes are the rendered JSON, so a repeated get-latest costs
 * Redis a GET of ~40 bytes instead of a script reading ~10 KB of blobs.
 *
 * One lock per shard, no global lock. Least recently used entries leave first
 * once max_bytes is reached.
 */
#ifndef MEMORYD_VCACHE_H
#define MEMORYD_VCACHE_H

#include <stddef.h>

struct vcache;

/* NULL when max_bytes is 0 (caching off); every function accepts NULL. */
struct vcache *vcache_new(size_t max_bytes);
void vcache_free(struct vcache *c);

/* 1 and a copy in *data (caller frees with free()) of *len bytes when key is
 * cached at exactly version; 0 otherwise. */
int vcache_get(struct vcache *c, const char *key, const char *version, char **data, size_t *len);
/* Cache a copy of data under key at version, replacing what was there. */
void vcache_put(struct vcache *c, const char *key, const char *version, const char *data,
                size_t len);
/* 1 when key is cached at any version: whether a lookup can hit at all, so
 * a caller can skip reading the version when it cannot. */
int vcache_has(struct vcache *c, const char *key);
/* Forget key (nothing when it is not cached). */
void vcache_drop(struct vcache *c, const char *key);

#endif
