/*
 * redis/archive: what the archiver (service/archive.c) asks of the Redis
 * store for threads: thread_scan finds them (a bounded SCAN step),
 * thread_dump reads the idle ones whole (thread_archive.lua, in bounded
 * steps) with a digest of the state it read, and thread_drop deletes a
 * thread only while that digest still holds. The conversation
 * counterparts (rconv_scan, rconv_dump, rconv_drop) are in conversations.c,
 * beside the other conversation scripts, and find their keys with
 * redis_store_scan_refs. redis/redis.c puts these in redis_store_ops.
 */
#ifndef MEMORYD_REDIS_ARCHIVE_H
#define MEMORYD_REDIS_ARCHIVE_H

#include "internal.h"

int redis_thread_scan(struct store *s, char cursor[32], struct store_refs *out,
                      struct mem_error *err);
int redis_thread_dump(struct store *s, const struct store_ref *refs, size_t n, long long idle_ms,
                      struct cp_thread_dump *out, struct mem_error *err);
int redis_thread_drop(struct store *s, const struct store_ref *refs,
                      const struct cp_thread_dump *dumps, size_t n, bool *dropped,
                      struct mem_error *err);

/* One bounded SCAN step over the keys "<head>{<tenant>:<id>}<tail>": the
 * (decoded) tenant and id of each into *out (caller releases with
 * store_refs_release); cursor as SCAN's. */
int redis_store_scan_refs(struct store *s, char cursor[32], const char *head, const char *tail,
                          struct store_refs *out, struct mem_error *err);

#endif
