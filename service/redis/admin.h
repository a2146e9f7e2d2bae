/*
 * redis/admin: the operator tools (store_ops.admin_*) of the Redis store:
 * BGSAVE and wait, give keys without a TTL their default, list a thread's
 * keys, delete one checkpoint, and forget a tenant (every checkpoint,
 * conversation and /memory key of it, SCAN and UNLINK in batches). Cold
 * paths, run by hand. redis/redis.c puts these in redis_store_ops.
 */
#ifndef MEMORYD_REDIS_ADMIN_H
#define MEMORYD_REDIS_ADMIN_H

#include "internal.h"

int redis_admin_backup(struct store *s, long long *last_save, struct mem_error *err);
int redis_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err);
int redis_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
                            struct store_keys *out, struct mem_error *err);
int redis_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                                  const char *ns, const char *id, struct mem_error *err);
int redis_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                              struct mem_error *err);

#endif
