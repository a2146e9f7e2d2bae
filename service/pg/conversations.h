/*
 * pg_conv: the conversation ops (service/conversation.h) of the PostgreSQL
 * store, over the tables of schemas/sql/0002_conversations.sql. pg/pg.c
 * puts them in pg_store_ops and joins their statements (pgconv_stmts) to the
 * store's table.
 *
 * As primary store: every op. As the archive of the Redis store: conv_archive
 * writes trimmed messages to conversation_history, and the reads serve the
 * history Redis no longer holds (a conversation without a live row in
 * conversations is read from its history alone, without expiry).
 * conv_overflow and conv_trim are not filled: PostgreSQL keeps everything.
 */
#ifndef MEMORYD_PG_CONV_H
#define MEMORYD_PG_CONV_H

#include "internal.h"

/* PG_ST_CONV_*; the other entries are empty. */
extern const struct pg_stmt pgconv_stmts[PG_NSTMTS];

int pgconv_append(struct store *s, const char *tenant, const struct conv_append *req,
                  struct conv_append_result *out, struct mem_error *err);
int pgconv_read(struct store *s, const char *tenant, const struct conv_read *req,
                struct conv_page *out, struct mem_error *err);
int pgconv_meta(struct store *s, const char *tenant, const char *conversation_id,
                struct conv_meta *out, struct mem_error *err);
int pgconv_update(struct store *s, const char *tenant, const struct conv_update *req,
                  struct conv_meta *out, struct mem_error *err);
int pgconv_list(struct store *s, const char *tenant, const struct conv_list *req,
                struct conv_list_result *out, struct mem_error *err);
int pgconv_delete(struct store *s, const char *tenant, const char *conversation_id,
                  struct mem_error *err);
int pgconv_ids(struct store *s, const char *tenant, const char *conversation_id,
               const struct conv_message_in *msgs, size_t n, long long *seqs,
               struct mem_error *err);
int pgconv_archive(struct store *s, const char *tenant, const char *conversation_id,
                   const char *customer_id, const struct conv_message *msgs, size_t n,
                   struct mem_error *err);

#endif
