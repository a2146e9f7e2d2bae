#include "conversation.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/xalloc.h"

void conv_message_release(struct conv_message *m)
{
	if (!m)
		return;
	free(m->id);
	free(m->role);
	free(m->content);
	free(m->metadata_json);
	memset(m, 0, sizeof(*m));
}

void conv_page_release(struct conv_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		conv_message_release(&p->v[i]);
	free(p->v);
	free(p->epoch);
	free(p->digest);
	free(p->customer_id);
	free(p->metadata_json);
	memset(p, 0, sizeof(*p));
}

void conv_meta_release(struct conv_meta *m)
{
	if (!m)
		return;
	free(m->conversation_id);
	free(m->customer_id);
	free(m->metadata_json);
	memset(m, 0, sizeof(*m));
}

void conv_list_result_release(struct conv_list_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		conv_meta_release(&r->items[i]);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

void conv_append_result_release(struct conv_append_result *r)
{
	if (!r)
		return;
	free(r->seqs);
	free(r->duplicate);
	memset(r, 0, sizeof(*r));
}

bool conv_role_valid(const char *role)
{
	static const char *roles[] = {"user", "assistant", "system",
	                              "tool", "developer", "function"};
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (!strcmp(role, roles[i]))
			return true;
	return false;
}

int conv_metadata_check(const char *json, const char *field, struct mem_error *err)
{
	if (!json)
		return 0;
	json_error_t je;
	json_t *j = json_loads(json, JSON_REJECT_DUPLICATES, &je);
	bool ok = json_is_object(j);
	json_decref(j);
	if (!ok)
		return mem_fail(err, MEM_EINVALID_FIELD, field,
		                "%s holds what PostgreSQL cannot store (U+0000, or a number out of "
		                "range): %.120s",
		                field, je.text);
	return 0;
}

int conv_append_check(const struct conv_append *r, size_t max_batch, size_t max_content_bytes,
                      struct mem_error *err)
{
	char field[64];

	if (id_check(r->conversation_id, strlen(r->conversation_id), ID_MAX_BYTES, false,
	             "conversation_id", err) < 0)
		return -1;
	if (r->customer_id && *r->customer_id &&
	    id_check(r->customer_id, strlen(r->customer_id), ID_MAX_BYTES, false, "customer_id",
	             err) < 0)
		return -1;
	if (conv_metadata_check(r->metadata_json, "metadata", err) < 0)
		return -1;
	if (r->expected_seq < -1)
		return mem_fail(err, MEM_EINVALID_FIELD, "expected_seq",
		                "expected_seq must be an integer >= 0");
	if (!r->n)
		return mem_fail(err, MEM_EINVALID_FIELD, "messages",
		                "messages must hold at least one message");
	if (r->n > max_batch)
		return mem_fail(err, MEM_EINVALID_FIELD, "messages",
		                "messages has %zu entries; at most %zu (CONV_MAX_BATCH)", r->n,
		                max_batch);
	for (size_t i = 0; i < r->n; i++) {
		const struct conv_message_in *m = &r->messages[i];
		if (m->id) {
			snprintf(field, sizeof(field), "messages[%zu].id", i);
			if (id_check(m->id, strlen(m->id), ID_MAX_BYTES, false, field, err) < 0)
				return -1;
		}
		snprintf(field, sizeof(field), "messages[%zu].role", i);
		if (!conv_role_valid(m->role))
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "%s must be one of user, assistant, system, tool, "
			                "developer, function",
			                field);
		snprintf(field, sizeof(field), "messages[%zu].content", i);
		if (m->content_len > max_content_bytes)
			return mem_fail(err, MEM_ETOO_LARGE, field,
			                "%s has %zu bytes; at most %zu (CONV_MAX_MESSAGE_BYTES)",
			                field, m->content_len, max_content_bytes);
		if (memchr(m->content, '\0', m->content_len))
			return mem_fail(err, MEM_EINVALID_FIELD, field,
			                "%s must not contain U+0000", field);
		if (!utf8_valid(m->content, m->content_len))
			return mem_fail(err, MEM_EINVALID_FIELD, field, "%s is not valid UTF-8",
			                field);
		snprintf(field, sizeof(field), "messages[%zu].metadata", i);
		if (conv_metadata_check(m->metadata_json, field, err) < 0)
			return -1;
	}
	return 0;
}

/* ---------- cursors ---------- */

/* A cursor is the hex of "m:b:<seq>", "m:a:<seq>" or "l:<updated_ms>:<id>". */
static void hex_append(struct buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		buf_putc(out, hex[(unsigned char)s[i] >> 4]);
		buf_putc(out, hex[(unsigned char)s[i] & 15]);
	}
}

/* Decode hex text into a fresh NUL-terminated string; NULL when malformed
 * or holding a NUL. */
static char *hex_decode(const char *text, size_t *outlen)
{
	size_t n = strlen(text);
	if (n % 2 || n > 2 * (ID_MAX_BYTES + 64))
		return NULL;
	char *s = xmalloc(n / 2 + 1);
	for (size_t i = 0; i < n / 2; i++) {
		char pair[3] = {text[2 * i], text[2 * i + 1], '\0'};
		long v = strtol(pair, NULL, 16);
		if (!isxdigit((unsigned char)pair[0]) || !isxdigit((unsigned char)pair[1]) || !v) {
			free(s);
			return NULL;
		}
		s[i] = (char)v;
	}
	s[n / 2] = '\0';
	*outlen = n / 2;
	return s;
}

/* A decimal integer >= 0 filling s[0..n) exactly. */
static int parse_nonneg(const char *s, size_t n, long long *out)
{
	if (!n || n > 18)
		return -1;
	long long v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

void conv_cursor_messages(struct buf *out, bool before, long long seq)
{
	char text[40];
	int n = snprintf(text, sizeof(text), "m:%c:%lld", before ? 'b' : 'a', seq);
	hex_append(out, text, (size_t)n);
}

void conv_cursor_list(struct buf *out, long long updated_ms, const char *conversation_id)
{
	char text[40];
	int n = snprintf(text, sizeof(text), "l:%lld:", updated_ms);
	hex_append(out, text, (size_t)n);
	hex_append(out, conversation_id, strlen(conversation_id));
}

int conv_cursor_parse_messages(const char *text, const char *field, bool *before, long long *seq,
                               struct mem_error *err)
{
	size_t n = 0;
	char *s = hex_decode(text, &n);
	int ret = -1;
	if (!s || n < 5 || strncmp(s, "m:", 2) || (s[2] != 'a' && s[2] != 'b') || s[3] != ':' ||
	    parse_nonneg(s + 4, n - 4, seq) < 0) {
		mem_fail(err, MEM_EINVALID_FIELD, field,
		         "%s is not a cursor of this conversation's messages", field);
		goto out;
	}
	*before = s[2] == 'b';
	ret = 0;
out:
	free(s);
	return ret;
}

int conv_cursor_parse_list(const char *text, const char *field, long long *updated_ms, char **id,
                           struct mem_error *err)
{
	size_t n = 0;
	char *s = hex_decode(text, &n);
	int ret = -1;
	*id = NULL;
	const char *colon = s && n > 2 ? memchr(s + 2, ':', n - 2) : NULL;
	if (!colon || strncmp(s, "l:", 2) ||
	    parse_nonneg(s + 2, (size_t)(colon - s) - 2, updated_ms) < 0 ||
	    id_check(colon + 1, n - (size_t)(colon + 1 - s), ID_MAX_BYTES, false, field, err) < 0) {
		mem_fail(err, MEM_EINVALID_FIELD, field,
		         "%s is not a cursor of a conversation list", field);
		goto out;
	}
	*id = xstrdup(colon + 1);
	ret = 0;
out:
	free(s);
	return ret;
}

/* ---------- the Redis member form ---------- */

int conv_unpack(const char *s, size_t n, struct conv_message *m)
{
	const char *parts[5];
	size_t lens[5];
	const char *p = s, *end = s + n;
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 5; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul)
			return -1;
		parts[i] = p;
		lens[i] = (size_t)(nul - p);
		p = nul + 1;
	}
	if (parse_nonneg(parts[0], lens[0], &m->seq) < 0 ||
	    parse_nonneg(parts[3], lens[3], &m->created_at_ms) < 0)
		return -1;
	m->id = lens[1] ? xstrndup(parts[1], lens[1]) : NULL;
	m->role = xstrndup(parts[2], lens[2]);
	m->metadata_json = lens[4] ? xstrndup(parts[4], lens[4]) : xstrdup("{}");
	m->content_len = (size_t)(end - p);
	m->content = xstrndup(p, m->content_len);
	return 0;
}
