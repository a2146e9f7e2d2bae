/*
 * pg/checkpoints: the checkpoint ops (store_ops.checkpoint_*,
 * thread_delete) of the PostgreSQL store, over the tables checkpoints,
 * checkpoint_blobs, checkpoint_writes and checkpoint_heads (pg.h describes
 * them). Each write is one statement, a function of the migration that takes
 * the thread's advisory lock; a read is one statement, one snapshot.
 * pg/pg.c puts these in pg_store_ops.
 */
#ifndef MEMORYD_PG_CHECKPOINTS_H
#define MEMORYD_PG_CHECKPOINTS_H

#include "internal.h"

/* PG_ST_PUT ... PG_ST_THREAD_DELETE; the other entries are empty. */
extern const struct pg_stmt pg_checkpoint_stmts[PG_NSTMTS];

int pg_checkpoint_put(struct store *s, const char *tenant, const struct cp_put *r,
                      struct mem_error *err);
int pg_checkpoint_put_send(struct store *s, const char *tenant, const struct cp_put *r,
                           void **pending, struct mem_error *err);
int pg_checkpoint_put_collect(struct store *s, void *pending, struct mem_error *err);
int pg_checkpoint_get(struct store *s, const char *tenant, const struct cp_get *req,
                      struct cp_tuple *out, struct mem_error *err);
int pg_checkpoint_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                       char **version, struct mem_error *err);
int pg_checkpoint_list(struct store *s, const char *tenant, const struct cp_list *req,
                       struct cp_list_result *out, struct mem_error *err);
int pg_checkpoint_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                             struct mem_error *err);
int pg_thread_delete(struct store *s, const char *tenant, const char *thread,
                     struct mem_error *err);

#endif
