/*
 * conv_body: reading the request bodies of /conversations (append, update)
 * into the service's request structs, without HTTP, so the same code serves
 * the handlers (api/conversations.c) and the fuzz target
 * (tests/fuzz/fuzz_conversation_bodies.c).
 *
 * The request structs filled borrow strings owned by the struct conv_body:
 * keep it until the call they are for returns, then conv_body_release it
 * (whatever the parse returned). Every refusal names the field at fault.
 */
#ifndef MEMORYD_API_CONV_BODY_H
#define MEMORYD_API_CONV_BODY_H

#include "../common/buf.h"
#include "../common/error.h"
#include "../service/conversation.h"
#include "body.h"

struct conv_body {
	struct body body;
	struct conv_message_in *msgs;
	struct buf *mtext; /* per message: its metadata as compact JSON */
	size_t n;
	struct buf ctext; /* conversation metadata */
};

/* The body of POST /conversations/{id}/messages: customer_id?, metadata?,
 * expected_seq?, messages[{id?, role, content, metadata?}]; at most max_batch
 * messages (read before the messages are). out->conversation_id is left as it
 * was. The domain rules (roles, sizes, ids) are the service's. */
int conv_body_append(struct conv_body *cb, const char *text, size_t len, size_t max_batch,
                     struct conv_append *out, struct mem_error *err) MEM_MUST_CHECK;

/* The body of PATCH /conversations/{id}: customer_id (a string, or null to
 * remove it) and/or metadata (an object); at least one. */
int conv_body_update(struct conv_body *cb, const char *text, size_t len, struct conv_update *out,
                     struct mem_error *err) MEM_MUST_CHECK;

void conv_body_release(struct conv_body *cb);

#endif
