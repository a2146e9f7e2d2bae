#include "conversations.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"
#include "archive.h"
#include "batch.h"
#include "keys.h"

extern const char lua_conv_append[], lua_conv_read[], lua_conv_meta[], lua_conv_delete[],
    lua_conv_overflow[], lua_conv_trim[], lua_conv_archive[];

const char *const rconv_scripts[RCONV_NSCRIPTS] = {
    [RCONV_APPEND] = lua_conv_append,     [RCONV_READ] = lua_conv_read,
    [RCONV_META] = lua_conv_meta,         [RCONV_DELETE] = lua_conv_delete,
    [RCONV_OVERFLOW] = lua_conv_overflow, [RCONV_TRIM] = lua_conv_trim,
    [RCONV_ARCHIVE] = lua_conv_archive,
};

/* Conversations listed per customer at most (the index is read whole). */
#define LIST_SCAN_MAX 10000
/* Metadata reads per pipelined round trip while listing. */
#define LIST_BATCH 64

void rconv_init(struct rconv *c, const struct config *cfg, bool keep_overflow)
{
	memset(c, 0, sizeof(*c));
	c->prefix = xstrdup(cfg->conv_key_prefix);
	c->ttl = cfg->conv_ttl_seconds;
	snprintf(c->ttl_str, sizeof(c->ttl_str), "%ld", c->ttl);
	c->max_messages = cfg->conv_max_messages;
	snprintf(c->max_str, sizeof(c->max_str), "%ld", c->max_messages);
	c->keep_overflow = keep_overflow;
	for (int i = 0; i < RCONV_NSCRIPTS; i++)
		redis_script_sha(rconv_scripts[i], c->sha[i]);
}

void rconv_release(struct rconv *c)
{
	if (c)
		free(c->prefix);
}

/* ---------- commands ---------- */

/* P:<kind>:{<tenant>:<id>} */
static void conv_key(struct buf *b, const struct rconv *c, const char *kind, const char *tenant,
                     const char *id)
{
	buf_reset(b);
	buf_puts(b, c->prefix);
	buf_putc(b, ':');
	buf_puts(b, kind);
	buf_puts(b, ":{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, ':');
	key_encode(b, id, strlen(id));
	buf_putc(b, '}');
}

/* EVALSHA <script> <nkeys> and the conversation's keys: meta, msgs[, ids]. */
static void script_head(struct redis_batch *cmd, const struct rconv *c, int script, int nkeys,
                        const char *tenant, const char *id)
{
	static const char *kinds[] = {"meta", "msgs", "ids"};
	struct buf b = {0};
	redis_batch_cmd(cmd, "EVALSHA");
	redis_batch_str(cmd, c->sha[script]);
	redis_batch_fmt(cmd, nkeys);
	for (int i = 0; i < nkeys; i++) {
		conv_key(&b, c, kinds[i], tenant, id);
		redis_batch_buf(cmd, &b);
	}
}

/* Seconds between writes of a conversation's entry in its customer's index
 * (conv_append.lua's index_every): a tenth of the TTL. */
static long long index_every(const struct rconv *c)
{
	return c->ttl / 10 > 0 ? c->ttl / 10 : 1;
}

/* ZADD + PEXPIRE of the customer's index, two commands of b: the
 * conversation is listed for it. The index outlives the TTL by index_every,
 * as an append writes the entry only that often. */
static void index_touch(struct redis_batch *b, const struct rconv *c, const char *tenant,
                        const char *customer, const char *id)
{
	struct buf k = {0};
	conv_key(&k, c, "customer", tenant, customer);
	redis_index_touch(b, &k, id, redis_wall_ms(), ((long long)c->ttl + index_every(c)) * 1000);
	buf_release(&k);
}

/* ---------- replies ---------- */

static bool rep_is(const redisReply *r, const char *s)
{
	return redis_reply_str(r) && r->len == strlen(s) && !memcmp(r->str, s, r->len);
}

static char *rep_dup_or_null(const redisReply *r)
{
	return redis_reply_str(r) && r->len ? xstrndup(r->str, r->len) : NULL;
}

/* Send b in one round trip; an error reply is -1 with err. */
static int run(struct store *s, struct redis_batch *b, bool idempotent, const char *what,
               struct mem_error *err)
{
	if (redis_batch_send(b, redis_store_conn(s), idempotent, err) < 0)
		return -1;
	for (size_t i = 0; i < b->n; i++)
		if (b->rep[i]->type == REDIS_REPLY_ERROR)
			return redis_reply_fail(b->rep[i], err, what);
	return 0;
}

/* After a failed write of the customer's index: the conversation's entry is
 * due again (best effort; logged when it fails too). */
static void index_mark_undo(struct store *s, const struct rconv *c, const char *tenant,
                            const char *id)
{
	struct redis_batch undo = {0};
	struct buf k = {0};
	struct mem_error err = {0};
	conv_key(&k, c, "meta", tenant, id);
	redis_batch_cmd(&undo, "HDEL");
	redis_batch_buf(&undo, &k);
	redis_batch_str(&undo, "indexed_at");
	if (run(s, &undo, true, "customer index mark", &err) < 0)
		log_warn(NULL, "customer index mark not taken back", LF_STR("conversation_id", id),
		         LF_STR("error", err.message));
	buf_release(&k);
	redis_batch_release(&undo);
}

/* ---------- append ---------- */

int rconv_append(struct store *s, const char *tenant, const struct conv_append *r,
                 struct conv_append_result *out, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0}, index = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	script_head(&ev, c, RCONV_APPEND, 3, tenant, r->conversation_id);
	redis_batch_str(&ev, c->ttl_str);
	redis_batch_str(&ev, c->max_str);
	redis_batch_str(&ev, c->keep_overflow ? "keep" : "delete");
	if (r->expected_seq >= 0)
		redis_batch_fmt(&ev, r->expected_seq);
	else
		redis_batch_str(&ev, "");
	redis_batch_str(&ev, r->customer_id ? r->customer_id : "");
	redis_batch_str(&ev, r->metadata_json ? r->metadata_json : "");
	redis_batch_fmt(&ev, index_every(c));
	if (r->base_seq >= 0)
		redis_batch_fmt(&ev, r->base_seq);
	else
		redis_batch_str(&ev, "");
	redis_batch_fmt(&ev, (long long)r->n);
	for (size_t i = 0; i < r->n; i++) {
		const struct conv_message_in *m = &r->messages[i];
		redis_batch_str(&ev, m->id ? m->id : "");
		redis_batch_str(&ev, m->role);
		redis_batch_str(&ev, m->metadata_json ? m->metadata_json : "");
		redis_batch_arg(&ev, m->content, m->content_len);
	}
	for (size_t i = 0; r->known_seqs && i < r->n; i++)
		if (r->known_seqs[i] > 0)
			redis_batch_fmt(&ev, r->known_seqs[i]);
		else
			redis_batch_str(&ev, "");
	/* Not resent on a broken connection: a batch without ids would be
	 * stored twice. The caller retries (with ids, safely). */
	if (run(s, &ev, false, "conversation append", err) < 0)
		goto out;
	const redisReply *a = ev.rep[0];
	if (a->type == REDIS_REPLY_ARRAY && a->elements == 1 && rep_is(a->element[0], "missing")) {
		out->need_base = true;
		ret = 0;
		goto out;
	}
	if (a->type != REDIS_REPLY_ARRAY || a->elements < 2) {
		redis_reply_fail(a, err, "conversation append");
		goto out;
	}
	if (rep_is(a->element[0], "conflict")) {
		mem_fail(err, MEM_ECONFLICT, "expected_seq",
		         "expected_seq is %lld but the conversation's last seq is %lld: someone "
		         "appended first; nothing was stored",
		         r->expected_seq, redis_reply_ll(a->element[1]));
		goto out;
	}
	if (rep_is(a->element[0], "customer")) {
		mem_fail(err, MEM_ECONFLICT, "customer_id",
		         "the conversation belongs to another customer; nothing was stored");
		goto out;
	}
	if (!rep_is(a->element[0], "ok") || a->elements != 6 + 2 * r->n) {
		redis_reply_fail(a, err, "conversation append");
		goto out;
	}
	out->created = redis_reply_ll(a->element[1]) != 0;
	out->msg_count_before = redis_reply_ll(a->element[2]);
	out->last_seq = redis_reply_ll(a->element[3]);
	out->overflow = redis_reply_ll(a->element[4]);
	out->n = r->n;
	out->seqs = xcalloc(r->n + 1, sizeof(*out->seqs));
	out->duplicate = xcalloc(r->n + 1, sizeof(*out->duplicate));
	for (size_t i = 0; i < r->n; i++) {
		out->seqs[i] = redis_reply_ll(a->element[6 + i]);
		out->duplicate[i] = redis_reply_ll(a->element[6 + r->n + i]) != 0;
		if (!out->duplicate[i])
			out->stored++;
	}
	if (redis_reply_str(a->element[5]) && a->element[5]->len) {
		/* The conversation's entry in its customer's index is due (the
		 * script says when: the index has the customer's hash tag, on a
		 * cluster most often another primary's). When the write fails the
		 * script's mark (indexed_at) is taken back, so the next append
		 * writes it, a retry of this one included. When this append named
		 * the customer, a failure fails it, as when the entry was written
		 * in the append's round trip; otherwise it is logged. */
		char *customer = xstrndup(a->element[5]->str, a->element[5]->len);
		struct mem_error ierr = {0};
		index_touch(&index, c, tenant, customer, r->conversation_id);
		int irc = run(s, &index, true, "customer index", &ierr);
		free(customer);
		if (irc < 0) {
			index_mark_undo(s, c, tenant, r->conversation_id);
			if (r->customer_id && *r->customer_id) {
				*err = ierr;
				goto out;
			}
			log_warn(NULL, "customer index refresh failed",
			         LF_STR("conversation_id", r->conversation_id),
			         LF_STR("error", ierr.message));
		}
	}
	ret = 0;
out:
	if (ret < 0)
		conv_append_result_release(out);
	redis_batch_release(&ev);
	redis_batch_release(&index);
	return ret;
}

/* ---------- reads ---------- */

/* Members from element `from` of a into p->v. */
static int page_members(const redisReply *a, size_t from, struct conv_page *p,
                        struct mem_error *err)
{
	p->v = xcalloc(a->elements - from + 1, sizeof(*p->v));
	for (size_t i = from; i < a->elements; i++) {
		const redisReply *m = a->element[i];
		if (!redis_reply_str(m) || conv_unpack(m->str, m->len, &p->v[p->n]) < 0)
			return mem_fail(err, MEM_EINTERNAL, NULL,
			                "a stored message of the conversation is malformed");
		p->n++;
	}
	return 0;
}

int rconv_read(struct store *s, const char *tenant, const struct conv_read *r,
               struct conv_page *out, struct mem_error *err)
{
	static const char *modes[] = {[CONV_READ_WINDOW] = "window",
	                              [CONV_READ_BEFORE] = "before",
	                              [CONV_READ_AFTER] = "after",
	                              [CONV_READ_RANGE] = "range"};
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	redisReply *rep = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	script_head(&ev, c, RCONV_READ, 2, tenant, r->conversation_id);
	redis_batch_str(&ev, modes[r->mode]);
	redis_batch_fmt(&ev, r->mode == CONV_READ_RANGE ? r->from : r->seq);
	redis_batch_fmt(&ev, r->mode == CONV_READ_RANGE ? r->to : (long long)r->limit);
	if (r->max_bytes)
		redis_batch_fmt(&ev, (long long)r->max_bytes);
	else
		redis_batch_str(&ev, "");
	if (run(s, &ev, true, "conversation read", err) < 0)
		goto out;
	rep = redis_batch_take(&ev, 0);
	if (rep->type != REDIS_REPLY_ARRAY || (rep->elements && rep->elements < 5)) {
		redis_reply_fail(rep, err, "conversation read");
		goto out;
	}
	if (!rep->elements) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no conversation %s", r->conversation_id);
		goto out;
	}
	out->last_seq = redis_reply_ll(rep->element[0]);
	out->first_seq = redis_reply_ll(rep->element[1]);
	out->epoch = rep_dup_or_null(rep->element[2]);
	out->customer_id = rep_dup_or_null(rep->element[3]);
	out->truncated = redis_reply_ll(rep->element[4]) != 0;
	if (page_members(rep, 5, out, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		conv_page_release(out);
	freeReplyObject(rep);
	redis_batch_release(&ev);
	return ret;
}

/* The meta script's reply (see conv_meta.lua) into m; 0, or 1 when there is
 * no such conversation, or -1. */
static int meta_from_reply(const redisReply *a, const char *id, struct conv_meta *m,
                           struct mem_error *err)
{
	memset(m, 0, sizeof(*m));
	if (a->type != REDIS_REPLY_ARRAY || (a->elements && a->elements != 8))
		return redis_reply_fail(a, err, "conversation metadata");
	if (!a->elements)
		return 1;
	m->conversation_id = xstrdup(id);
	m->customer_id = rep_dup_or_null(a->element[0]);
	m->metadata_json = rep_dup_or_null(a->element[1]);
	if (!m->metadata_json)
		m->metadata_json = xstrdup("{}");
	m->created_at_ms = redis_reply_ll(a->element[2]);
	m->updated_at_ms = redis_reply_ll(a->element[3]);
	m->message_count = redis_reply_ll(a->element[4]);
	m->first_seq = redis_reply_ll(a->element[5]);
	long long pttl = redis_reply_ll(a->element[6]);
	m->ttl_seconds = pttl < 0 ? -1 : (pttl + 999) / 1000;
	m->in_redis = true;
	return 0;
}

/* Run the meta script: customer "\0" and metadata "" keep what is there. */
static int meta_call(struct store *s, const char *tenant, const char *id, const char *customer,
                     const char *metadata, struct conv_meta *out, char **before,
                     struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	int ret = -1;

	script_head(&ev, c, RCONV_META, 3, tenant, id);
	redis_batch_str(&ev, c->ttl_str);
	if (customer)
		redis_batch_str(&ev, customer);
	else
		redis_batch_arg(&ev, "", 1); /* one NUL byte: keep */
	redis_batch_str(&ev, metadata ? metadata : "");
	if (customer && *customer)
		index_touch(&ev, c, tenant, customer, id);
	if (run(s, &ev, true, "conversation metadata", err) < 0)
		goto out;
	int rc = meta_from_reply(ev.rep[0], id, out, err);
	if (rc < 0)
		goto out;
	if (rc > 0) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no conversation %s", id);
		goto out;
	}
	if (before)
		*before = rep_dup_or_null(ev.rep[0]->element[7]);
	ret = 0;
out:
	if (ret < 0)
		conv_meta_release(out);
	redis_batch_release(&ev);
	return ret;
}

int rconv_meta(struct store *s, const char *tenant, const char *conversation_id,
               struct conv_meta *out, struct mem_error *err)
{
	return meta_call(s, tenant, conversation_id, NULL, NULL, out, NULL, err);
}

/* One HEXISTS of each meta hash's last_seq (what conv_meta.lua tests),
 * pipelined. */
int rconv_held(struct store *s, const char *tenant, const char *const *ids, size_t n, bool *held,
               struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch v = {0};
	struct buf b = {0};
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		redis_batch_cmd(&v, "HEXISTS");
		conv_key(&b, c, "meta", tenant, ids[i]);
		redis_batch_buf(&v, &b);
		redis_batch_str(&v, "last_seq");
	}
	if (run(s, &v, true, "conversation held", err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		held[i] = redis_reply_ll(v.rep[i]) == 1;
	ret = 0;
out:
	redis_batch_release(&v);
	buf_release(&b);
	return ret;
}

/* Remove a conversation from a customer's index (best effort: listing
 * skips and prunes entries that no longer match). */
static void index_remove(struct store *s, const char *tenant, const char *customer, const char *id)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch z = {0};
	struct buf b = {0};
	struct mem_error err = {0};
	redis_batch_cmd(&z, "ZREM");
	conv_key(&b, c, "customer", tenant, customer);
	redis_batch_buf(&z, &b);
	redis_batch_str(&z, id);
	if (run(s, &z, true, "customer index", &err) < 0)
		log_warn(NULL, "customer index update failed", LF_STR("conversation_id", id),
		         LF_STR("error", err.message));
	redis_batch_release(&z);
}

int rconv_update(struct store *s, const char *tenant, const struct conv_update *r,
                 struct conv_meta *out, struct mem_error *err)
{
	char *before = NULL;
	if (meta_call(s, tenant, r->conversation_id, r->customer_id, r->metadata_json, out, &before,
	              err) < 0)
		return -1;
	if (before && r->customer_id && strcmp(before, r->customer_id))
		index_remove(s, tenant, before, r->conversation_id);
	free(before);
	return 0;
}

static int meta_cmp(const void *x, const void *y)
{
	const struct conv_meta *a = x, *b = y;
	if (a->updated_at_ms != b->updated_at_ms)
		return a->updated_at_ms < b->updated_at_ms ? 1 : -1; /* newest first */
	return -strcmp(a->conversation_id, b->conversation_id);
}

/* True when m comes after the cursor in newest-first order. */
static bool after_cursor(const struct conv_meta *m, const struct conv_list *r)
{
	if (!r->after_id)
		return true;
	if (m->updated_at_ms != r->after_updated_ms)
		return m->updated_at_ms < r->after_updated_ms;
	return strcmp(m->conversation_id, r->after_id) < 0;
}

int rconv_list(struct store *s, const char *tenant, const struct conv_list *r,
               struct conv_list_result *out, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch zr = {0}, ev = {0};
	redisReply *ids = NULL;
	struct conv_meta *all = NULL;
	struct buf b = {0};
	size_t nall = 0, nids = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	redis_batch_cmd(&zr, "ZREVRANGE");
	conv_key(&b, c, "customer", tenant, r->customer_id);
	redis_batch_buf(&zr, &b);
	redis_batch_str(&zr, "0");
	redis_batch_fmt(&zr, LIST_SCAN_MAX - 1);
	if (run(s, &zr, true, "customer index", err) < 0)
		goto out;
	ids = redis_batch_take(&zr, 0);
	if (ids->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(ids, err, "customer index");
		goto out;
	}
	nids = ids->elements;
	all = xcalloc(nids + 1, sizeof(*all));
	for (size_t at = 0; at < nids; at += LIST_BATCH) {
		size_t n = nids - at < LIST_BATCH ? nids - at : LIST_BATCH;
		for (size_t i = 0; i < n; i++) {
			const redisReply *id = ids->element[at + i];
			script_head(&ev, c, RCONV_META, 3, tenant,
			            redis_reply_str(id) ? id->str : "");
			redis_batch_str(&ev, c->ttl_str);
			redis_batch_arg(&ev, "", 1);
			redis_batch_str(&ev, "");
		}
		int rc = run(s, &ev, true, "conversation metadata", err);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			const redisReply *id = ids->element[at + i];
			struct conv_meta m;
			int found = meta_from_reply(ev.rep[i], id->str, &m, err);
			if (found < 0) {
				rc = -1;
				break;
			}
			if (found == 0 && m.customer_id && !strcmp(m.customer_id, r->customer_id))
				all[nall++] = m;
			else {
				/* gone, or now another customer's: prune */
				if (found == 0)
					conv_meta_release(&m);
				index_remove(s, tenant, r->customer_id, id->str);
			}
		}
		redis_batch_release(&ev);
		if (rc < 0)
			goto out;
	}
	if (nall > 1)
		qsort(all, nall, sizeof(*all), meta_cmp);
	out->items = xcalloc(r->limit + 1, sizeof(*out->items));
	for (size_t i = 0; i < nall; i++) {
		if (!after_cursor(&all[i], r))
			continue;
		if (out->n == r->limit) {
			out->more = true;
			break;
		}
		out->items[out->n++] = all[i];
		memset(&all[i], 0, sizeof(all[i]));
	}
	ret = 0;
out:
	for (size_t i = 0; i < nall; i++)
		conv_meta_release(&all[i]);
	if (ret < 0)
		conv_list_result_release(out);
	free(all);
	redis_batch_release(&ev);
	freeReplyObject(ids);
	redis_batch_release(&zr);
	return ret;
}

int rconv_delete(struct store *s, const char *tenant, const char *conversation_id,
                 struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	redisReply *rep = NULL;
	int ret = -1;

	script_head(&ev, c, RCONV_DELETE, 3, tenant, conversation_id);
	if (run(s, &ev, true, "conversation delete", err) < 0)
		goto out;
	rep = redis_batch_take(&ev, 0);
	if (redis_reply_str(rep) && rep->len)
		index_remove(s, tenant, rep->str, conversation_id);
	ret = 0;
out:
	freeReplyObject(rep);
	redis_batch_release(&ev);
	return ret;
}

/* ---------- archiving ---------- */

int rconv_overflow(struct store *s, const char *tenant, const char *conversation_id, size_t limit,
                   struct conv_page *out, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	redisReply *rep = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	script_head(&ev, c, RCONV_OVERFLOW, 2, tenant, conversation_id);
	redis_batch_str(&ev, c->max_str);
	redis_batch_fmt(&ev, (long long)limit);
	if (run(s, &ev, true, "conversation overflow", err) < 0)
		goto out;
	rep = redis_batch_take(&ev, 0);
	if (rep->type != REDIS_REPLY_ARRAY || (rep->elements && rep->elements < 4)) {
		redis_reply_fail(rep, err, "conversation overflow");
		goto out;
	}
	if (rep->elements) {
		out->epoch = rep_dup_or_null(rep->element[0]);
		out->customer_id = rep_dup_or_null(rep->element[1]);
		out->digest = rep_dup_or_null(rep->element[2]);
		if (page_members(rep, 3, out, err) < 0)
			goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		conv_page_release(out);
	freeReplyObject(rep);
	redis_batch_release(&ev);
	return ret;
}

int rconv_trim(struct store *s, const char *tenant, const char *conversation_id,
               const struct conv_page *archived, bool *trimmed, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	redisReply *rep = NULL;
	int ret = -1;

	*trimmed = false;
	if (!archived->n)
		return 0;
	script_head(&ev, c, RCONV_TRIM, 3, tenant, conversation_id);
	redis_batch_str(&ev, archived->epoch ? archived->epoch : "");
	redis_batch_fmt(&ev, archived->v[0].seq);
	redis_batch_fmt(&ev, archived->v[archived->n - 1].seq);
	redis_batch_str(&ev, archived->digest ? archived->digest : "");
	if (run(s, &ev, true, "conversation trim", err) < 0)
		goto out;
	rep = redis_batch_take(&ev, 0);
	if (rep->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep, err, "conversation trim");
		goto out;
	}
	*trimmed = rep->integer == 1;
	ret = 0;
out:
	freeReplyObject(rep);
	redis_batch_release(&ev);
	return ret;
}

/* ---------- the archiver ---------- */

int rconv_scan(struct store *s, char cursor[32], struct store_refs *out, struct mem_error *err)
{
	char *head = xasprintf("%s:meta:", redis_store_conv(s)->prefix);
	int rc = redis_store_scan_refs(s, cursor, head, "", out, err);
	free(head);
	return rc;
}

int rconv_dump(struct store *s, const struct store_ref *refs, size_t n, long long idle_ms,
               struct conv_page *out, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	struct redis_batch ev = {0};
	int ret = -1;

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		script_head(&ev, c, RCONV_ARCHIVE, 3, refs[i].tenant, refs[i].id);
		redis_batch_str(&ev, "dump");
		redis_batch_fmt(&ev, (long long)c->ttl * 1000);
		redis_batch_fmt(&ev, idle_ms);
	}
	if (run(s, &ev, true, "conversation dump", err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const redisReply *a = ev.rep[i];
		if (a->type != REDIS_REPLY_ARRAY || (a->elements && a->elements < 7)) {
			redis_reply_fail(a, err, "conversation dump");
			goto out;
		}
		if (!a->elements)
			continue;
		out[i].epoch = rep_dup_or_null(a->element[0]);
		out[i].customer_id = rep_dup_or_null(a->element[1]);
		out[i].digest = rep_dup_or_null(a->element[2]);
		out[i].metadata_json = rep_dup_or_null(a->element[3]);
		out[i].created_ms = redis_reply_ll(a->element[4]);
		out[i].updated_ms = redis_reply_ll(a->element[5]);
		out[i].last_seq = redis_reply_ll(a->element[6]);
		if (page_members(a, 7, &out[i], err) < 0)
			goto out;
		if (!out[i].digest) {
			redis_reply_fail(a, err, "conversation dump");
			goto out;
		}
	}
	ret = 0;
out:
	if (ret < 0)
		for (size_t i = 0; i < n; i++)
			conv_page_release(&out[i]);
	redis_batch_release(&ev);
	return ret;
}

int rconv_drop(struct store *s, const struct store_ref *refs, const struct conv_page *dumps,
               size_t n, bool *dropped, struct mem_error *err)
{
	const struct rconv *c = redis_store_conv(s);
	/* per conversation: the script, then (when it went) its ZREM from the
	 * customer's index */
	struct redis_batch drops = {0}, zrem = {0};
	size_t *at = xcalloc(n + 1, sizeof(*at));
	struct buf b = {0};
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		dropped[i] = false;
		if (!dumps[i].digest)
			continue;
		script_head(&drops, c, RCONV_ARCHIVE, 3, refs[i].tenant, refs[i].id);
		redis_batch_str(&drops, "drop");
		redis_batch_str(&drops, dumps[i].digest);
		at[drops.n - 1] = i;
	}
	/* Safe to resend: a second drop of the same state finds it gone. */
	if (run(s, &drops, true, "conversation drop", err) < 0)
		goto out;
	for (size_t j = 0; j < drops.n; j++) {
		const redisReply *a = drops.rep[j];
		if (a->type != REDIS_REPLY_ARRAY || a->elements < 1) {
			redis_reply_fail(a, err, "conversation drop");
			goto out;
		}
		size_t i = at[j];
		dropped[i] = redis_reply_ll(a->element[0]) == 1;
		if (!dropped[i] || a->elements != 2 || !redis_reply_str(a->element[1]) ||
		    !a->element[1]->len)
			continue;
		redis_batch_cmd(&zrem, "ZREM");
		conv_key(&b, c, "customer", refs[i].tenant, a->element[1]->str);
		redis_batch_buf(&zrem, &b);
		redis_batch_str(&zrem, refs[i].id);
	}
	/* The index has its own hash tag; an entry left behind is pruned by the
	 * next list that meets it. */
	struct mem_error ierr = {0};
	if (run(s, &zrem, true, "customer index", &ierr) < 0)
		log_warn(NULL, "customer index update failed after archival",
		         LF_STR("error", ierr.message));
	ret = 0;
out:
	redis_batch_release(&drops);
	redis_batch_release(&zrem);
	free(at);
	buf_release(&b);
	return ret;
}
