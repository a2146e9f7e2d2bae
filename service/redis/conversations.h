/*
 * redis_conv: the conversation ops (service/conversation.h) of the Redis
 * store. redis/redis.c puts them in redis_store_ops and loads their Lua
 * scripts (service/redis/lua/conv_*.lua) with its own on every connection.
 *
 * Key layout (P = CONV_KEY_PREFIX, default "conv"; TAG = {<tenant>:<id>}, the
 * Redis Cluster hash tag every key of one conversation shares; components
 * encoded by key_encode):
 *   P:meta:TAG              hash: epoch, customer_id, metadata, created_at,
 *                           updated_at (ms), last_seq, indexed_at
 *   P:msgs:TAG              zset: score seq, member "seq NUL id NUL role NUL
 *                           created_ms NUL metadata NUL content"
 *   P:ids:TAG               hash: message id -> seq (deduplication)
 *   P:customer:{<tenant>:<customer_id>}   zset: the customer's conversation ids
 * Every key carries CONV_TTL_SECONDS, set by the script that writes it (the
 * customer index in the same round trip). At most CONV_MAX_MESSAGES messages
 * stay in P:msgs: beyond that the oldest are deleted by the append script, or,
 * when an archive is configured, kept until conv_trim drops them once they
 * are archived.
 */
#ifndef MEMORYD_REDIS_CONV_H
#define MEMORYD_REDIS_CONV_H

#include <stdbool.h>

#include "../../common/config.h"
#include "internal.h"

/* Lua sources, indexed by RCONV_* (internal.h). */
extern const char *const rconv_scripts[RCONV_NSCRIPTS];

/* Read the CONV_* settings of cfg (borrowed during the call). keep_overflow:
 * the service archives messages beyond CONV_MAX_MESSAGES (DATABASE_URL). */
void rconv_init(struct rconv *c, const struct config *cfg, bool keep_overflow);
void rconv_release(struct rconv *c);

int rconv_append(struct store *s, const char *tenant, const struct conv_append *req,
                 struct conv_append_result *out, struct mem_error *err);
int rconv_read(struct store *s, const char *tenant, const struct conv_read *req,
               struct conv_page *out, struct mem_error *err);
int rconv_meta(struct store *s, const char *tenant, const char *conversation_id,
               struct conv_meta *out, struct mem_error *err);
int rconv_update(struct store *s, const char *tenant, const struct conv_update *req,
                 struct conv_meta *out, struct mem_error *err);
int rconv_list(struct store *s, const char *tenant, const struct conv_list *req,
               struct conv_list_result *out, struct mem_error *err);
int rconv_held(struct store *s, const char *tenant, const char *const *ids, size_t n, bool *held,
               struct mem_error *err);
int rconv_delete(struct store *s, const char *tenant, const char *conversation_id,
                 struct mem_error *err);
int rconv_overflow(struct store *s, const char *tenant, const char *conversation_id, size_t limit,
                   struct conv_page *out, struct mem_error *err);
int rconv_trim(struct store *s, const char *tenant, const char *conversation_id,
               const struct conv_page *archived, bool *trimmed, struct mem_error *err);
/* The archiver's ops (store_ops.conv_scan, conv_dump, conv_drop). */
int rconv_scan(struct store *s, char cursor[32], struct store_refs *out, struct mem_error *err);
int rconv_dump(struct store *s, const struct store_ref *refs, size_t n, long long idle_ms,
               struct conv_page *out, struct mem_error *err);
int rconv_drop(struct store *s, const struct store_ref *refs, const struct conv_page *dumps,
               size_t n, bool *dropped, struct mem_error *err);

#endif
