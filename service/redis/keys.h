/*
 * redis/keys: the names of the checkpoint keys (the layout in redis/redis.h)
 * and reading them back. Every key of one thread shares the Redis Cluster
 * hash tag {<tenant>:<thread>}; its components are encoded by key_encode, so
 * ':' only ever separates them. The conversation and memory keys are named
 * in their own files (conversations.c, memory.c).
 *
 * The builders reset b and write the whole name (redis_key_part appends one
 * component); none fails.
 */
#ifndef MEMORYD_REDIS_KEYS_H
#define MEMORYD_REDIS_KEYS_H

#include <stddef.h>

#include "../../common/buf.h"
#include "batch.h"
#include "internal.h"

/* P:<kind>:{<tenant>:<thread>} */
void redis_key_thread_base(struct buf *b, const struct redis_store *rs, const char *kind,
                           const char *tenant, const char *thread);
/* Appends ":<s encoded>". */
void redis_key_part(struct buf *b, const char *s);
/* P:head:TAG:<ns>: "<generation>|<latest checkpoint id>" of a namespace. */
void redis_key_head(struct buf *b, const struct redis_store *rs, const char *tenant,
                    const char *thread, const char *ns);
/* P:threads:{<tenant>}: the tenant's threads by last put (at most
 * index_every_ms behind it: see redis_checkpoint_put). */
void redis_key_tenant_index(struct buf *b, const struct redis_store *rs, const char *tenant);
/* P:thread:TAG:indexed: when the thread's entry in that index was last
 * written (ms), "0" before it was. */
void redis_key_thread_indexed(struct buf *b, const struct redis_store *rs, const char *tenant,
                              const char *thread);

/* ZADD <key> <at_ms> <member> and PEXPIRE <key> <keep_ms>: two commands of
 * b that list member in an index (a tenant's threads, a customer's
 * conversations) and keep the index as long as its newest entry needs.
 * Takes key's bytes (key is left empty). */
void redis_index_touch(struct redis_batch *b, struct buf *key, const char *member, long long at_ms,
                       long long keep_ms);

/* The tenant and id inside a hash tag, "<tenant>:<id>" (encoded), decoded
 * into out (caller frees both). -1 when either does not decode. */
int redis_tag_ref(const char *tag, size_t n, struct store_ref *out);
/* The kind and the decoded components after the tag of one of our keys,
 * "P:<kind>:{TAG}:<c1>:<c2>...": *nparts of them (at most max) into parts
 * (caller frees each). -1 when the key is not of that form. */
int redis_key_components(const struct redis_store *rs, const char *k, size_t n, char *kind,
                         size_t kind_max, char **parts, size_t max, size_t *nparts);

/* One SCAN step over the keys matching pattern, count at a time: cursor
 * ("0" to start) moves on ("0" when done); *scan is the reply (caller
 * frees), its element[1] the keys, each a string. On a cluster the cursor
 * walks every primary (redis/conn.h). -1 and err on a failed or odd reply. */
int redis_scan_step(struct redis_conn *conn, char cursor[32], const char *pattern,
                    const char *count, redisReply **scan, struct mem_error *err) MEM_MUST_CHECK;

#endif
