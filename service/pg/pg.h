/*
 * pg_store: the PostgreSQL backend of struct store_ops, with the observable
 * behaviour of the Redis store (redis/redis.h).
 *
 * Tables (schemas/sql/, applied by pg_migrate), in schema memoryd:
 *   checkpoints        (tenant, thread_id, checkpoint_ns, checkpoint_id) -> checkpoint,
 *                      metadata (exact JSON text), parent_id, channel_versions as two arrays
 *   checkpoint_blobs   (tenant, thread_id, checkpoint_ns, channel, version) -> type, bytes
 *   checkpoint_writes  (..., checkpoint_id, task_id, idx) -> task_path, channel, type, bytes
 *   checkpoint_heads   (tenant, thread_id, checkpoint_ns) -> generation, checkpoint_id
 * Every row carries expires_at = now() + CHECKPOINT_TTL_SECONDS, set and
 * refreshed as the Redis scripts set TTLs; reads ignore expired rows, and a
 * background thread deletes them every DATABASE_SWEEP_INTERVAL_SECONDS, 1000
 * rows per statement. Each write is one statement (a function of the
 * migration, under a per-thread advisory lock), so nothing is half written.
 *
 * Connections: one per HTTP worker thread, made on first use (pg_conn), plus
 * one for the sweep.
 *
 * The store's only header for service/ (service/failover.c also uses
 * conn.h for its own connection; cmd/ uses migrate.h and url.h). The files,
 * from the top of the arrows down:
 *   pg.c             this store's life: new/free, the joined statement table,
 *                    a connection per thread, ping/info, pg_store_ops
 *   checkpoints.c    checkpoint_* and thread_delete
 *   conversations.c  conv_*
 *   memory.c         memory_*
 *   archive.c        what the archiver writes and deletes (thread_archive,
 *                    history_archive, history_retention)
 *   admin.c          the operator tools (admin_*)
 *   sweep.c          the thread that deletes expired rows
 *   internal.h       what they share: struct pg_store, statement numbers
 *   conn.c           one libpq connection and its parameter helpers
 * Beside them: migrate.c applies the schema (pg_migrate), url.c checks
 * DATABASE_URL.
 */
#ifndef MEMORYD_PG_STORE_H
#define MEMORYD_PG_STORE_H

#include "../../common/config.h"
#include "../store.h"

/* Reads the DATABASE_* settings of cfg (borrowed only during the call) and
 * starts the sweep thread. Does not connect: connections are made per thread
 * on first use. NULL and err when DATABASE_URL is unset. The schema must be
 * migrated (pg_migrate) before the first call through the ops. */
struct store *pg_store_new(const struct config *cfg, struct mem_error *err);

extern const struct store_ops pg_store_ops;

#endif
