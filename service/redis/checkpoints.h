/*
 * redis/checkpoints: the checkpoint ops (store_ops.checkpoint_*,
 * thread_delete) of the Redis store, over the keys redis/redis.h lays out.
 * Each write is one round trip around one Lua script (checkpoint_put.lua
 * after the put's new blobs as plain SETs, checkpoint_writes.lua);
 * a put also writes the tenant's thread index, in round trips of its own,
 * when its script says the thread's entry is due (about once per TTL / 10
 * per thread); a get is one script, a list a few pipelined round trips. redis/redis.c puts these
 * in redis_store_ops.
 */
#ifndef MEMORYD_REDIS_CHECKPOINTS_H
#define MEMORYD_REDIS_CHECKPOINTS_H

#include "internal.h"

int redis_checkpoint_put(struct store *s, const char *tenant, const struct cp_put *r,
                         struct mem_error *err);
int redis_checkpoint_get(struct store *s, const char *tenant, const struct cp_get *req,
                         struct cp_tuple *out, struct mem_error *err);
int redis_checkpoint_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                          char **version, struct mem_error *err);
int redis_checkpoint_list(struct store *s, const char *tenant, const struct cp_list *req,
                          struct cp_list_result *out, struct mem_error *err);
int redis_checkpoint_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                                struct mem_error *err);
/* The values the scripts store, read back (archive.c reads them too): a
 * blob, "type NUL bytes", into v; a pending write, "task_id NUL task_path
 * NUL channel NUL idx NUL type NUL data", into w (-1 when a NUL is
 * missing). The caller frees what they fill. */
void redis_owned_from_packed(struct owned_value *v, const char *s, size_t n);
int redis_write_from_packed(struct cp_pending_write *w, const char *s, size_t n);

/* A thread in bounded steps (thread_delete.lua), each safe if interrupted,
 * then its entry in the tenant's thread index. */
int redis_thread_delete(struct store *s, const char *tenant, const char *thread,
                        struct mem_error *err);

#endif
