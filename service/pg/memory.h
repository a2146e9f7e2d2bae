/*
 * pg_memory: the key-value memory ops (service/memory.h) of the PostgreSQL
 * store, over table memoryd.memory_items and its functions
 * (schemas/sql/0003_memory.sql). pg/pg.c puts them in pg_store_ops; the
 * sweep (pg/sweep.c) calls pg_memory_sweep on its own connection.
 *
 * A namespace is one text, its labels joined by U+001F, so a prefix and
 * everything below it is a range of the primary key.
 */
#ifndef MEMORYD_PG_MEMORY_H
#define MEMORYD_PG_MEMORY_H

#include "internal.h"

int pg_memory_put(struct store *s, const char *tenant, const struct mem_put *req,
                  struct mem_item *out, struct mem_error *err);
int pg_memory_get(struct store *s, const char *tenant, const struct mem_ref *ref,
                  struct mem_item *out, struct mem_error *err);
int pg_memory_delete(struct store *s, const char *tenant, const struct mem_ref *ref, bool *deleted,
                     struct mem_error *err);
int pg_memory_scan(struct store *s, const char *tenant, const struct mem_scan *req,
                   struct mem_items *out, bool *more, struct mem_error *err);
int pg_memory_refresh(struct store *s, const char *tenant, struct mem_item *items, size_t n,
                      struct mem_error *err);
int pg_memory_cleanup(struct store *s, const char *tenant, const struct mem_ns *prefix,
                      long long *deleted, struct mem_error *err);
int pg_memory_namespaces(struct store *s, const char *tenant, const struct mem_ns *prefix,
                         struct mem_ns_list *out, struct mem_error *err);

/* Delete expired items, 1000 per statement; the count, or -1 and err. */
long long pg_memory_sweep(struct pg_conn *conn, struct mem_error *err);

#endif
