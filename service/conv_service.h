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
 * Dual write (CONV_DUAL_WRITE): once the primary holds an append or an
 * update, it is made on the secondary too, so that a switch of the primary
 * finds the same history there. The secondary's append is made with
 * expected_seq = the primary's msg_count_before, so the secondary gives the
 * messages the same seqs or refuses them; a refusal or failure never fails
 * the request: it is counted (dual_write_errors_total) and logged. A delete
 * reaches every store that is configured, whatever the primary.
 *
 * The stores are borrowed; archive, secondary and other may be NULL.
 */
#ifndef MEMORYD_CONV_SERVICE_H
#define MEMORYD_CONV_SERVICE_H

#include "../common/config.h"
#include "conversation.h"
#include "store.h"

struct conv_stores {
	const struct config *cfg;
	struct store *primary;
	struct store *archive;   /* takes what the primary trims; NULL: none */
	struct store *secondary; /* dual write target; NULL: dual write off */
	struct store *other;     /* the other configured store (deletes); NULL: none */
};

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
