/*
 * pg/archive: what the archiver (service/archive.c) asks of the PostgreSQL
 * store: store_ops.thread_archive, whole threads dumped from Redis written
 * as checkpoint rows, many threads per statement. pg/pg.c puts it in
 * pg_store_ops.
 */
#ifndef MEMORYD_PG_ARCHIVE_H
#define MEMORYD_PG_ARCHIVE_H

#include "internal.h"

/* PG_ST_ARCHIVE_*; the other entries are empty. */
extern const struct pg_stmt pg_archive_stmts[PG_NSTMTS];

int pg_thread_archive(struct store *s, const struct store_ref *refs,
                      const struct cp_thread_dump *dumps, size_t n, long long keep_seconds,
                      long long *rows, struct mem_error *err);

#endif
