/*
 * redis_store: the Redis backend of struct store_ops.
 *
 * Key layout (P = KEY_PREFIX; TAG = {<tenant>:<thread>}, the Redis Cluster
 * hash tag every key of one thread shares; components encoded by key_encode):
 *   P:checkpoint:TAG:<ns>:<checkpoint_id>    hash: checkpoint, metadata, parent, channels
 *   P:checkpoints:TAG:<ns>                   zset of checkpoint ids (lexicographic)
 *   P:blob:TAG:<ns>:<channel>:<version>      string: type NUL bytes
 *   P:writes:TAG:<ns>:<checkpoint_id>        hash: pending writes
 *   P:thread:TAG:keys, P:thread:TAG:ns       sets: every key, every namespace
 *   P:thread:TAG:indexed                     string: ms of the thread's last
 *                                            write to P:threads:{<tenant>}
 *   P:threads:{<tenant>}                     zset: the tenant's threads by last
 *                                            put (refreshed every TTL / 10)
 * Every key carries CHECKPOINT_TTL_SECONDS, set by the same script or
 * pipeline that writes it (P:threads:{<tenant>} TTL + TTL / 10: its entries
 * are up to TTL / 10 behind the threads' last puts; P:thread:TAG:ns and
 * P:checkpoints:TAG:<ns> TTL + 2 * TTL / 10, given with a new namespace and
 * when the thread's entry is due, not with every put).
 *
 * The store's header for service/ (service.c also reads conn.h's replica
 * acknowledgements, redis_conn_last_replicas; tests use cluster.h). The
 * files, from the top of the arrows down:
 *   redis.c          this store's life: new/free, the Lua scripts every
 *                    connection loads, a connection per thread, ping/info,
 *                    redis_store_ops
 *   checkpoints.c    checkpoint_* and thread_delete
 *   conversations.c  conv_* (its key layout in conversations.h)
 *   memory.c         memory_* (its key layout in memory.h)
 *   archive.c        what the archiver reads and drops (thread_scan,
 *                    thread_dump, thread_drop)
 *   admin.c          the operator tools (admin_*)
 *   keys.c           the names of the keys above, and reading them back
 *   batch.c          the commands of one round trip and their replies
 *   internal.h       what they share: struct redis_store, script numbers
 *   conn.c           what the ops send through, one per thread: one node,
 *                    or a Redis Cluster's nodes routed by slot
 *   node.c           one connection: TCP or TLS, AUTH, scripts, backoff
 *   sentinel.c       where the primary is, asked of Redis Sentinel
 *   cluster.c        a cluster's slot map, key slots and redirections
 */
#ifndef MEMORYD_REDIS_STORE_H
#define MEMORYD_REDIS_STORE_H

#include "../../common/config.h"
#include "../store.h"

/* Reads the Redis settings of cfg (borrowed only during the call). Does not
 * connect: connections are made per thread on first use. NULL and err on a
 * bad setting (for instance an unreadable CA file). */
struct store *redis_store_new(const struct config *cfg, struct mem_error *err);

extern const struct store_ops redis_store_ops;

#endif
