/*
 * conv_service: the conversation calls of the service (service.h), over the
 * primary store and, when DATABASE_URL is set and Redis is primary, the
 * PostgreSQL archive that takes the messages Redis trims.
 *
 * Append: validate, append to the primary (a 2xx means the primary holds
 * the batch), then archive what the primary holds beyond CONV_MAX_MESSAGES
 * and only then let the primary drop it. An archive failure does not fail
 * the append: the messages stay in the primary (over the cap) and the next
 * append tries again; history_persist_errors_total counts the failures.
 * Reads: the primary's answer, completed from the archive for the part of
 * the range the primary no longer holds, as one ordered page.
 *
 * primary and archive are borrowed; archive may be NULL.
 */
#ifndef MEMORYD_CONV_SERVICE_H
#define MEMORYD_CONV_SERVICE_H

#include "../common/config.h"
#include "conversation.h"
#include "store.h"

struct conv_stores {
	const struct config *cfg;
	struct store *primary;
	struct store *archive; /* NULL: none */
};

/* Fill st for primary (borrowed) and open the archive: PostgreSQL when
 * DATABASE_URL is set and Redis is primary (st->archive, released with
 * store_free by the caller), else none. -1 and err when it cannot be opened. */
int conv_stores_init(struct conv_stores *st, const struct config *cfg, struct store *primary,
                     struct mem_error *err) MEM_MUST_CHECK;

int conv_svc_append(const struct conv_stores *st, const char *tenant, const struct conv_append *req,
                    struct conv_append_result *out, struct mem_error *err) MEM_MUST_CHECK;
int conv_svc_read(const struct conv_stores *st, const char *tenant, const struct conv_read *req,
                  struct conv_page *out, struct mem_error *err) MEM_MUST_CHECK;
int conv_svc_meta(const struct conv_stores *st, const char *tenant, const char *conversation_id,
                  struct conv_meta *out, struct mem_error *err) MEM_MUST_CHECK;
int conv_svc_update(const struct conv_stores *st, const char *tenant, const struct conv_update *req,
                    struct conv_meta *out, struct mem_error *err) MEM_MUST_CHECK;
int conv_svc_list(const struct conv_stores *st, const char *tenant, const struct conv_list *req,
                  struct conv_list_result *out, struct mem_error *err) MEM_MUST_CHECK;
int conv_svc_delete(const struct conv_stores *st, const char *tenant, const char *conversation_id,
                    struct mem_error *err) MEM_MUST_CHECK;

#endif
