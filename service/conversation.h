/*
 * conversation: the domain of conversation history, independent of HTTP and
 * of any store.
 *
 * A conversation belongs to a tenant, has an id, an optional customer_id and
 * free-form metadata, and holds messages numbered 1, 2, 3, ... in the order
 * the primary store accepted them (seq). A batch of messages is appended in
 * one atomic step: its messages get consecutive seqs, never interleaved with
 * another batch. A message may carry a client id: an id the conversation
 * already holds is not stored again (a retried append is answered with the
 * seqs the first attempt got).
 *
 * Request structs borrow their strings (from the parsed request body, which
 * outlives the call); result structs own everything and are released with
 * their *_release function (NULL-safe).
 */
#ifndef MEMORYD_CONVERSATION_H
#define MEMORYD_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"
#include "../common/error.h"

/* The most messages one read returns (the limit query parameter). */
#define CONV_READ_LIMIT_MAX 1000
/* The most conversations one list page returns. */
#define CONV_LIST_LIMIT_MAX     200
#define CONV_LIST_LIMIT_DEFAULT 50

/* One message as sent. content is UTF-8 text without NUL (PostgreSQL text
 * cannot hold one); metadata_json a compact JSON object text or NULL. */
struct conv_message_in {
	const char *id; /* NULL: no client id, no deduplication */
	const char *role;
	const char *content;
	size_t content_len;
	const char *metadata_json;
};

struct conv_append {
	const char *conversation_id;
	const char *customer_id;   /* NULL: keep (or none) */
	const char *metadata_json; /* conversation metadata; NULL: keep */
	long long expected_seq;    /* -1: no precondition; else the last seq the caller saw */
	/* Where a new conversation's numbering starts (the last seq of history
	 * archived elsewhere); -1: unknown, so a store that cannot tell answers
	 * need_base instead of creating the conversation. */
	long long base_seq;
	/* With base_seq, for a conversation new to the store: per message, the
	 * seq under which the history kept elsewhere holds its id (0: none), so
	 * a retry of what only that history holds is answered as a duplicate,
	 * not stored again. NULL: none. */
	const long long *known_seqs;
	const struct conv_message_in *messages;
	size_t n;
};

struct conv_append_result {
	bool created;               /* the conversation did not exist before */
	long long msg_count_before; /* messages it held before this append */
	long long last_seq;         /* after the append */
	long long *seqs;            /* per message of the request, its seq */
	bool *duplicate;            /* per message: an id already held (not stored again) */
	size_t n;
	size_t stored; /* messages newly stored */
	/* Messages beyond CONV_MAX_MESSAGES that the store keeps until they are
	 * archived (store_ops.conv_overflow); 0 when trimming deletes them. */
	long long overflow;
	/* Nothing was stored: the conversation is new and base_seq was -1. */
	bool need_base;
};

/* One stored message. */
struct conv_message {
	long long seq;
	char *id; /* NULL when the client gave none */
	char *role;
	char *content;
	size_t content_len;
	char *metadata_json;     /* "{}" when none */
	long long created_at_ms; /* when the store accepted it */
};

void conv_message_release(struct conv_message *m);

enum conv_read_mode {
	CONV_READ_WINDOW, /* the last limit messages */
	CONV_READ_BEFORE, /* the last limit messages with seq < seq */
	CONV_READ_AFTER,  /* the first limit messages with seq > seq */
	CONV_READ_RANGE,  /* every message with from <= seq <= to (archive reads) */
};

struct conv_read {
	const char *conversation_id;
	enum conv_read_mode mode;
	long long seq;      /* BEFORE, AFTER */
	long long from, to; /* RANGE */
	size_t limit;       /* WINDOW, BEFORE, AFTER: 1..CONV_READ_LIMIT_MAX */
	/* Message bytes (content, metadata) the page carries at most, one
	 * message always: WINDOW and BEFORE keep the newest that fit, AFTER the
	 * oldest (the page's cursors go on from there). 0: no bound; RANGE
	 * ignores it. */
	size_t max_bytes;
};

struct conv_page {
	struct conv_message *v; /* oldest first */
	size_t n;
	long long last_seq;  /* of the conversation */
	long long first_seq; /* the oldest seq this store holds; last_seq + 1 when none */
	char *epoch;         /* the conversation's incarnation (see store_ops.conv_trim) */
	char *digest;        /* conv_overflow: what identifies exactly these messages */
	char *customer_id;   /* NULL when none */
	bool truncated;      /* max_bytes left out messages the limit allowed */
	/* conv_dump only: the conversation's own row (metadata JSON, times in
	 * Unix ms), archived beside its messages */
	char *metadata_json;
	long long created_ms, updated_ms;
};

void conv_page_release(struct conv_page *p);

struct conv_meta {
	char *conversation_id;
	char *customer_id; /* NULL when none */
	char *metadata_json;
	long long created_at_ms, updated_at_ms;
	long long message_count;    /* messages ever appended (= the last seq) */
	long long first_seq;        /* the oldest message that can be read */
	long long ttl_seconds;      /* remaining; -1 when the store keeps it without expiry */
	bool in_redis, in_postgres; /* where its history lives */
};

void conv_meta_release(struct conv_meta *m);

/* One archived message as retention exports it (strings owned). */
struct history_row {
	char *tenant, *conversation_id;
	char *customer_id; /* NULL when none */
	long long seq;
	char *message_id; /* NULL when none */
	char *role;
	char *content;
	size_t content_len;
	char *metadata_json;
	long long created_at_ms;
};

struct conv_update {
	const char *conversation_id;
	const char *customer_id;   /* NULL: keep; "": remove */
	const char *metadata_json; /* NULL: keep */
};

struct conv_list {
	const char *customer_id;
	size_t limit;
	/* Resume after (updated_at_ms, conversation_id) in newest-first order;
	 * after_id NULL: from the newest. */
	long long after_updated_ms;
	const char *after_id;
};

struct conv_list_result {
	struct conv_meta *items;
	size_t n;
	bool more; /* a further page exists */
};

void conv_list_result_release(struct conv_list_result *r);
void conv_append_result_release(struct conv_append_result *r);

/* ---------- validation (domain rules shared by every store) ---------- */

/* The roles a message may have. */
bool conv_role_valid(const char *role);

/* Metadata (a JSON object text, or NULL) must be storable by every store:
 * PostgreSQL's jsonb holds no U+0000 and no number beyond its range, so
 * such metadata is refused (400 naming field) rather than left to fail
 * the archive later. */
int conv_metadata_check(const char *json, const char *field, struct mem_error *err) MEM_MUST_CHECK;

/* Check an append request: ids, roles, batch size (max_batch), content size
 * (max_content_bytes: MEM_ETOO_LARGE), UTF-8, no NUL. Fields are named
 * "messages[i].content" etc. */
int conv_append_check(const struct conv_append *r, size_t max_batch, size_t max_content_bytes,
                      struct mem_error *err) MEM_MUST_CHECK;

/* ---------- cursors ---------- */

/* Opaque cursor text (hex, URL-safe) for message paging and list pages. */
void conv_cursor_messages(struct buf *out, bool before, long long seq);
void conv_cursor_list(struct buf *out, long long updated_ms, const char *conversation_id);

/* Parse a message cursor: *before and *seq. -1 and err naming field. */
int conv_cursor_parse_messages(const char *text, const char *field, bool *before, long long *seq,
                               struct mem_error *err) MEM_MUST_CHECK;
/* Parse a list cursor: *updated_ms and *id (caller frees). */
int conv_cursor_parse_list(const char *text, const char *field, long long *updated_ms, char **id,
                           struct mem_error *err) MEM_MUST_CHECK;

/* ---------- message packing (the Redis member form) ---------- */

/* A stored member, "seq NUL id NUL role NUL created_ms NUL metadata NUL
 * content" (written by service/redis/lua/conv_append.lua), into m (owned). -1 when
 * malformed. */
int conv_unpack(const char *s, size_t n, struct conv_message *m) MEM_MUST_CHECK;

#endif
