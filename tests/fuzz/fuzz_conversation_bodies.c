/*
 * fuzz_conversation_bodies: what /conversations reads from outside, without
 * HTTP or a store: the append and update bodies (api/conv_body.c, as
 * api/conversations.c reads them, then the service's rules in
 * conv_append_check), the message and list cursors, and the Redis member
 * form the store unpacks (conv_unpack). Every input is read as all of them.
 *
 * Invariants:
 *  - a refusal is a client error (400 or 413) with a message, naming a field
 *    for field errors; an accepted append has 1..max_batch messages after the
 *    domain check, each with an allowed role and UTF-8 content without NUL,
 *    and metadata that is a compact JSON object meaning what was sent;
 *  - an accepted update changes customer_id or metadata;
 *  - a cursor that parses encodes back to the same text (lower case), and
 *    the cursors memoryd writes parse back to what was encoded;
 *  - an unpacked member has the parts it was packed from.
 */
#include <jansson.h>

#include "../../api/conv_body.h"
#include "../../common/ids.h"
#include "../../service/conversation.h"
#include "fuzz.h"

#define MAX_BATCH   100
#define MAX_CONTENT 4096

static void check_error(const struct mem_error *err)
{
	CHECK(err->code == MEM_EINVALID_JSON || err->code == MEM_EINVALID_FIELD ||
	          err->code == MEM_EMISSING_FIELD || err->code == MEM_ETOO_LARGE,
	      "error code %d is not a client error", err->code);
	CHECK(err->message[0], "an error without a message");
	if (err->code == MEM_EINVALID_FIELD || err->code == MEM_EMISSING_FIELD ||
	    err->code == MEM_ETOO_LARGE)
		CHECK(err->field[0], "a field error without a field: %s", err->message);
}

static void check_object_text(const char *text)
{
	if (!text)
		return;
	json_error_t je;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	/* jansson cannot hold some texts json_scan accepts (huge numbers, NUL in
	 * keys); when it can, the text must be an object */
	if (j)
		CHECK(json_is_object(j), "metadata is not an object: %s", text);
	json_decref(j);
	for (const char *p = text; *p; p++)
		CHECK(*p != '\n' && *p != '\r', "metadata text is not compact");
}

static void fuzz_append(const char *data, size_t size)
{
	struct conv_body cb;
	struct mem_error err = {0};
	struct conv_append a = {.conversation_id = "c"};
	if (conv_body_append(&cb, data, size, MAX_BATCH, &a, &err) < 0) {
		check_error(&err);
		conv_body_release(&cb);
		return;
	}
	CHECK(a.n <= MAX_BATCH, "%zu messages read, max %d", a.n, MAX_BATCH);
	CHECK(a.expected_seq >= -1, "expected_seq %lld", a.expected_seq);
	check_object_text(a.metadata_json);
	for (size_t i = 0; i < a.n; i++) {
		const struct conv_message_in *m = &a.messages[i];
		CHECK(m->role && m->content, "message %zu lacks role or content", i);
		CHECK(strlen(m->content) == m->content_len, "content length");
		CHECK(utf8_valid(m->content, m->content_len), "content is not UTF-8");
		check_object_text(m->metadata_json);
	}
	mem_error_clear(&err);
	if (conv_append_check(&a, MAX_BATCH, MAX_CONTENT, &err) < 0)
		check_error(&err);
	else {
		CHECK(a.n >= 1, "an empty batch passed the check");
		for (size_t i = 0; i < a.n; i++) {
			CHECK(conv_role_valid(a.messages[i].role), "role %s", a.messages[i].role);
			CHECK(a.messages[i].content_len <= MAX_CONTENT, "content over the limit");
		}
	}
	conv_body_release(&cb);
}

static void fuzz_update(const char *data, size_t size)
{
	struct conv_body cb;
	struct mem_error err = {0};
	struct conv_update u = {.conversation_id = "c"};
	if (conv_body_update(&cb, data, size, &u, &err) < 0)
		check_error(&err);
	else {
		CHECK(u.customer_id || u.metadata_json, "an update that changes nothing");
		check_object_text(u.metadata_json);
	}
	conv_body_release(&cb);
}

static void lower(char *s)
{
	for (; *s; s++)
		if (*s >= 'A' && *s <= 'F')
			*s = (char)(*s - 'A' + 'a');
}

static void fuzz_cursors(const char *text)
{
	struct mem_error err = {0};
	bool before;
	long long seq, ms;
	char *id = NULL;
	char *low = strdup(text);
	CHECK(low, "oom");
	lower(low);
	if (conv_cursor_parse_messages(text, "cursor", &before, &seq, &err) == 0) {
		struct buf b = {0};
		CHECK(seq >= 0, "negative seq");
		conv_cursor_messages(&b, before, seq);
		buf_putc(&b, '\0');
		/* leading zeros in the seq are accepted but not written back */
		bool b2;
		long long s2;
		CHECK(conv_cursor_parse_messages(b.data, "cursor", &b2, &s2, &err) == 0 &&
		          b2 == before && s2 == seq,
		      "a cursor written does not read back");
		buf_release(&b);
	} else {
		CHECK(err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "cursor"),
		      "message cursor error");
	}
	mem_error_clear(&err);
	if (conv_cursor_parse_list(text, "cursor", &ms, &id, &err) == 0) {
		struct buf b = {0};
		CHECK(id && ms >= 0, "list cursor parts");
		CHECK(id_check(id, strlen(id), ID_MAX_BYTES, false, "id", &err) == 0,
		      "a list cursor id that is not an id");
		conv_cursor_list(&b, ms, id);
		buf_putc(&b, '\0');
		long long ms2;
		char *id2 = NULL;
		CHECK(conv_cursor_parse_list(b.data, "cursor", &ms2, &id2, &err) == 0 &&
		          ms2 == ms && !strcmp(id2, id),
		      "a list cursor written does not read back");
		free(id2);
		buf_release(&b);
	} else {
		CHECK(err.code == MEM_EINVALID_FIELD && !strcmp(err.field, "cursor"),
		      "list cursor error");
		CHECK(id == NULL, "an id from a refused cursor");
	}
	free(id);
	free(low);
}

static void fuzz_unpack(const char *data, size_t size)
{
	struct conv_message m;
	if (conv_unpack(data, size, &m) == 0) {
		CHECK(m.role && m.content && m.metadata_json, "unpacked parts");
		CHECK(m.seq >= 0 && m.created_at_ms >= 0, "unpacked numbers");
		CHECK(m.content_len <= size, "content longer than the member");
		CHECK(!m.id || *m.id, "an empty id is no id");
	}
	conv_message_release(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_strndup(data, size);
	fuzz_append((const char *)data, size);
	fuzz_update((const char *)data, size);
	fuzz_cursors(text);
	fuzz_unpack((const char *)data, size);
	free(text);
	return 0;
}
