/*
 * tuple_cache: an in-process cache of latest-checkpoint tuples, validated on
 * every read, so a get-latest costs Redis one small GET instead of a script
 * that reads ~10 KB of blobs.
 *
 * Each entry is stored under the thread's head key together with the head
 * version it was read at ("<generation>|<checkpoint_id>", maintained by the
 * Redis scripts: every put or write that changes the latest tuple gives the
 * head a new generation). An entry is served only when the version Redis
 * holds now equals the cached one, so a replica never serves what another
 * replica has since changed.
 *
 * Thread-safe, with one lock per shard (no global lock). Bounded by bytes;
 * least recently used entries leave first.
 */
#ifndef MEMORYD_TUPLE_CACHE_H
#define MEMORYD_TUPLE_CACHE_H

#include <stddef.h>

#include "checkpoint.h"

struct tuple_cache;

/* NULL when max_bytes is 0 (caching off); every function accepts NULL. */
struct tuple_cache *tuple_cache_new(size_t max_bytes);
void tuple_cache_free(struct tuple_cache *c);

/* 1 and a deep copy in *out (release with cp_tuple_release) when key is
 * cached at exactly version; 0 otherwise. */
int tuple_cache_get(struct tuple_cache *c, const char *key, const char *version,
                    struct cp_tuple *out);
/* Cache a deep copy of t under key at version, replacing what was there. */
void tuple_cache_put(struct tuple_cache *c, const char *key, const char *version,
                     const struct cp_tuple *t);

#endif
