/*
 * pg/admin: the operator tools (store_ops.admin_*) of the PostgreSQL store.
 * backup and ttl-repair are refused with a message saying what to use
 * instead; the others run unprepared statements (pg_conn_query): they are
 * cold paths. pg/pg.c puts these in pg_store_ops.
 */
#ifndef MEMORYD_PG_ADMIN_H
#define MEMORYD_PG_ADMIN_H

#include "internal.h"

int pg_admin_backup(struct store *s, long long *last_save, struct mem_error *err);
int pg_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err);
int pg_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
                         struct store_keys *out, struct mem_error *err);
int pg_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                               const char *ns, const char *id, struct mem_error *err);
int pg_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                           struct mem_error *err);

#endif
