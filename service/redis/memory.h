/*
 * redis_memory: the key-value memory ops (service/memory.h) of the Redis
 * store. redis/redis.c puts them in redis_store_ops and loads their Lua
 * scripts (service/redis/lua/memory_*.lua) with its own on every connection.
 *
 * Key layout (P = KEY_PREFIX; T = {<tenant>}, the Redis Cluster hash tag
 * every memory key of a tenant shares; labels and keys encoded by
 * key_encode, so ':' only ever separates them):
 *   P:memory:T:<label>:...:<label>:<key>   hash: v value, ver version, c created ms,
 *                                          u updated ms, x expires ms ("" none)
 *   P:memory-index:T:<label>:...:<label>   zset: the namespace's keys by version
 *   P:memory-namespaces:T                  zset (score 0): namespace paths, byte order
 *   P:memory-version:T                     the tenant's version counter
 * An item carries its own TTL; the index, registry and counter carry the
 * longest TTL of what they hold (none when a persistent item is among it).
 * Listings read the registry and indexes, never the keyspace.
 */
#ifndef MEMORYD_REDIS_MEMORY_H
#define MEMORYD_REDIS_MEMORY_H

#include "internal.h"

/* Lua sources, indexed by MEMORY_SCRIPT_* (internal.h). */
extern const char *const redis_memory_scripts[REDIS_MEMORY_NSCRIPTS];

int redis_memory_put(struct store *s, const char *tenant, const struct mem_put *req,
                     struct mem_item *out, struct mem_error *err);
int redis_memory_get(struct store *s, const char *tenant, const struct mem_ref *ref,
                     struct mem_item *out, struct mem_error *err);
int redis_memory_delete(struct store *s, const char *tenant, const struct mem_ref *ref,
                        bool *deleted, struct mem_error *err);
int redis_memory_scan(struct store *s, const char *tenant, const struct mem_scan *req,
                      struct mem_items *out, bool *more, struct mem_error *err);
int redis_memory_refresh(struct store *s, const char *tenant, struct mem_item *items, size_t n,
                         struct mem_error *err);
int redis_memory_cleanup(struct store *s, const char *tenant, const struct mem_ns *prefix,
                         long long *deleted, struct mem_error *err);
int redis_memory_namespaces(struct store *s, const char *tenant, const struct mem_ns *prefix,
                            struct mem_ns_list *out, struct mem_error *err);

#endif
