/*
 * pg/archive: what the archiver (service/archive.c) asks of the PostgreSQL
 * store. thread_archive and history_archive write what it dumped from Redis
 * (whole threads as checkpoint rows, conversations as conversation_history
 * rows and their conversations row), many per statement; history_retention
 * deletes the history older than the cutoff, a batch at a time, after the
 * caller has seen (exported) each batch. pg/pg.c puts them in pg_store_ops.
 */
#ifndef MEMORYD_PG_ARCHIVE_H
#define MEMORYD_PG_ARCHIVE_H

#include "internal.h"

/* PG_ST_ARCHIVE_*; the other entries are empty. */
extern const struct pg_stmt pg_archive_stmts[PG_NSTMTS];

int pg_thread_archive(struct store *s, const struct store_ref *refs,
                      const struct cp_thread_dump *dumps, size_t n, long long keep_seconds,
                      long long *rows, struct mem_error *err);
int pg_history_archive(struct store *s, const struct store_ref *refs, const struct conv_page *dumps,
                       size_t n, long long keep_seconds, long long *inserted,
                       struct mem_error *err);
int pg_history_retention(struct store *s, long long cutoff_ms, size_t limit,
                         int (*each_batch)(void *ctx, const struct history_row *rows, size_t n,
                                           struct mem_error *err),
                         void *ctx, long long *deleted, struct mem_error *err);

#endif
