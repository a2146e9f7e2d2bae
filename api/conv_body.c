#include "conv_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"

/* An integer member of obj >= 0, or -1 when absent. */
static int body_nonneg(struct body *b, size_t obj, const char *key, long long *out,
                       struct mem_error *err)
{
	size_t t = body_get(b, obj, key);
	*out = -1;
	if (t == BODY_ABSENT)
		return 0;
	if (b->doc.toks[t].type != JSON_TOK_NUMBER || json_doc_integer(&b->doc, t, out) < 0 ||
	    *out < 0) {
		*out = -1;
		return mem_fail(err, MEM_EINVALID_FIELD, key, "%s must be an integer >= 0", key);
	}
	return 0;
}

/* customer_id "" is refused: a customer has an id (null removes it in an
 * update). It was taken as none, which the schema does not allow. */
static int no_empty_customer(const char *customer_id, struct mem_error *err)
{
	if (customer_id && !*customer_id)
		return mem_fail(err, MEM_EINVALID_FIELD, "customer_id",
		                "customer_id must not be empty (null: no customer)");
	return 0;
}

/* An optional JSON object member as compact text in text (*out NULL when
 * absent). */
static int body_json_object(struct body *b, size_t obj, const char *key, const char *field,
                            struct buf *text, const char **out, struct mem_error *err)
{
	size_t t;
	*out = NULL;
	if (body_object(b, obj, key, field, false, &t, err) < 0)
		return -1;
	if (t == BODY_ABSENT)
		return 0;
	body_compact(b, t, NULL, text);
	*out = text->data;
	return 0;
}

static int read_message(struct conv_body *cb, size_t i, size_t o, struct mem_error *err)
{
	struct body *b = &cb->body;
	struct conv_message_in *m = &cb->msgs[i];
	char name[64];

	snprintf(name, sizeof(name), "messages[%zu]", i);
	if (b->doc.toks[o].type != JSON_TOK_OBJECT)
		return mem_fail(err, MEM_EINVALID_FIELD, name, "%s must be an object", name);
	snprintf(name, sizeof(name), "messages[%zu].id", i);
	if (body_string(b, o, "id", name, false, &m->id, err) < 0)
		return -1;
	snprintf(name, sizeof(name), "messages[%zu].role", i);
	if (body_string(b, o, "role", name, true, &m->role, err) < 0)
		return -1;
	snprintf(name, sizeof(name), "messages[%zu].content", i);
	if (body_string(b, o, "content", name, true, &m->content, err) < 0)
		return -1;
	m->content_len = strlen(m->content);
	snprintf(name, sizeof(name), "messages[%zu].metadata", i);
	return body_json_object(b, o, "metadata", name, &cb->mtext[i], &m->metadata_json, err);
}

int conv_body_append(struct conv_body *cb, const char *text, size_t len, size_t max_batch,
                     struct conv_append *out, struct mem_error *err)
{
	struct body *b = &cb->body;
	size_t jm;

	memset(cb, 0, sizeof(*cb));
	out->customer_id = out->metadata_json = NULL;
	out->messages = NULL;
	out->n = 0;
	if (body_parse(b, text, len, err) < 0 ||
	    body_string(b, 0, "customer_id", "customer_id", false, &out->customer_id, err) < 0 ||
	    body_json_object(b, 0, "metadata", "metadata", &cb->ctext, &out->metadata_json, err) <
	        0 ||
	    body_nonneg(b, 0, "expected_seq", &out->expected_seq, err) < 0 ||
	    body_array(b, 0, "messages", "messages", true, &jm, err) < 0 ||
	    no_empty_customer(out->customer_id, err) < 0)
		return -1;
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
	size_t c;

	memset(cb, 0, sizeof(*cb));
	out->customer_id = out->metadata_json = NULL;
	if (body_parse(b, text, len, err) < 0)
		return -1;
	c = body_get(b, 0, "customer_id");
	if (c != BODY_ABSENT && (body_tok_string(b, c, "customer_id", &out->customer_id, err) < 0 ||
	                         no_empty_customer(out->customer_id, err) < 0))
		return -1;
	if (c == BODY_ABSENT && json_doc_object_get(&b->doc, 0, "customer_id", &c) == 0)
		out->customer_id = ""; /* null: the conversation no longer has a customer */
	if (body_json_object(b, 0, "metadata", "metadata", &cb->ctext, &out->metadata_json, err) <
	    0)
		return -1;
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
