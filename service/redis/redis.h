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
 *   P:threads:{<tenant>}                     zset: the tenant's threads by last put
 * Every key carries CHECKPOINT_TTL_SECONDS, set by the same script or
 * pipeline that writes it.
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
