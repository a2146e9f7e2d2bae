#include "conv_body.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"

/* customer_id "" is refused: a customer has an id (null removes it in an
 * update). It was taken as none, which the schema does not allow. */
static int no_empty_customer(const char *customer_id, struct mem_error *err)
{
	if (customer_id && !*customer_id)
		return mem_fail(err, MEM_EINVALID_FIELD, "customer_id",
		                "customer_id must not be empty (null: no customer)");
	return 0;
}

/* The compact text of object tok in text (*out NULL when tok is BODY_ABSENT). */
static void object_text(struct body *b, size_t tok, struct buf *text, const char **out)
{
	*out = NULL;
	if (tok == BODY_ABSENT)
		return;
	body_compact(b, tok, NULL, text);
	*out = text->data;
}

static int read_message(struct conv_body *cb, size_t i, size_t o, struct mem_error *err)
{
	struct conv_message_in *m = &cb->msgs[i];
	size_t metadata;
	char name[32];

	const struct body_field fields[] = {
	    BODY_STRING("id", BODY_OPTIONAL, &m->id),
	    BODY_STRING("role", BODY_REQUIRED, &m->role),
	    BODY_STRING("content", BODY_REQUIRED, &m->content),
	    BODY_OBJECT("metadata", BODY_OPTIONAL, &metadata),
	};
	snprintf(name, sizeof(name), "messages[%zu]", i);
	if (body_read_item(&cb->body, o, name, fields, BODY_NFIELDS(fields), err) < 0)
		return -1;
	m->content_len = strlen(m->content);
	object_text(&cb->body, metadata, &cb->mtext[i], &m->metadata_json);
	return 0;
}

int conv_body_append(struct conv_body *cb, const char *text, size_t len, size_t max_batch,
                     struct conv_append *out, struct mem_error *err)
{
	struct body *b = &cb->body;
	size_t jm, metadata;

	memset(cb, 0, sizeof(*cb));
	out->customer_id = out->metadata_json = NULL;
	out->messages = NULL;
	out->n = 0;
	const struct body_field fields[] = {
	    BODY_STRING("customer_id", BODY_OPTIONAL, &out->customer_id),
	    BODY_OBJECT("metadata", BODY_OPTIONAL, &metadata),
	    BODY_INT("expected_seq", 0, LLONG_MAX, -1, &out->expected_seq),
	    BODY_ARRAY("messages", BODY_REQUIRED, &jm),
	};
	if (body_parse(b, text, len, err) < 0 ||
	    body_read(b, 0, fields, BODY_NFIELDS(fields), err) < 0 ||
	    no_empty_customer(out->customer_id, err) < 0)
		return -1;
	object_text(b, metadata, &cb->ctext, &out->metadata_json);
	size_t n = b->doc.toks[jm].size;
	if (n > max_batch)
		return mem_fail(err, MEM_EINVALID_FIELD, "messages",
		                "messages has %zu entries; at most %zu (CONV_MAX_BATCH)", n,
		                max_batch);
	cb->msgs = xcalloc(n + 1, sizeof(*cb->msgs));
	cb->mtext = xcalloc(n + 1, sizeof(*cb->mtext));
	cb->n = n;
	for (size_t i = 0, o = body_first(b, jm); i < n; i++, o = body_next(b, jm, o))
		if (read_message(cb, i, o, err) < 0)
			return -1;
	out->messages = cb->msgs;
	out->n = n;
	return 0;
}

int conv_body_update(struct conv_body *cb, const char *text, size_t len, struct conv_update *out,
                     struct mem_error *err)
{
	struct body *b = &cb->body;
	size_t metadata, t;
	/* customer_id is read first, and refused when empty, before metadata */
	const struct body_field customer[] = {
	    BODY_STRING("customer_id", BODY_OPTIONAL, &out->customer_id),
	};
	const struct body_field fields[] = {
	    BODY_OBJECT("metadata", BODY_OPTIONAL, &metadata),
	};

	memset(cb, 0, sizeof(*cb));
	out->customer_id = out->metadata_json = NULL;
	if (body_parse(b, text, len, err) < 0 ||
	    body_read(b, 0, customer, BODY_NFIELDS(customer), err) < 0 ||
	    no_empty_customer(out->customer_id, err) < 0)
		return -1;
	/* a table reads null as absent; here null is a value */
	if (!out->customer_id && json_doc_object_get(&b->doc, 0, customer[0].key, &t) == 0)
		out->customer_id = ""; /* null: the conversation no longer has a customer */
	if (body_read(b, 0, fields, BODY_NFIELDS(fields), err) < 0)
		return -1;
	object_text(b, metadata, &cb->ctext, &out->metadata_json);
	if (!out->customer_id && !out->metadata_json)
		return mem_fail(err, MEM_EMISSING_FIELD, "customer_id",
		                "give customer_id, metadata or both");
	return 0;
}

void conv_body_release(struct conv_body *cb)
{
	if (!cb)
		return;
	for (size_t i = 0; cb->mtext && i < cb->n; i++)
		buf_release(&cb->mtext[i]);
	free(cb->mtext);
	free(cb->msgs);
	buf_release(&cb->ctext);
	body_release(&cb->body);
	memset(cb, 0, sizeof(*cb));
}
