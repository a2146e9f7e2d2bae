/*
 * /conversations: conversation history over REST.
 *
 *   POST   /conversations/{conversation_id}/messages  append one or many messages
 *   GET    /conversations/{conversation_id}/messages  the last N (limit), or a page
 *                                                     (cursor, before_seq, after_seq)
 *   GET    /conversations/{conversation_id}           metadata
 *   PATCH  /conversations/{conversation_id}           update customer_id, metadata
 *   DELETE /conversations/{conversation_id}           delete everywhere
 *   GET    /conversations?customer_id=...             a customer's conversations,
 *                                                     newest first (limit, cursor)
 *
 * Messages come back oldest first within a page. Times are RFC 3339 UTC with
 * milliseconds. Message and conversation metadata are JSON objects kept as
 * compact text.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/config.h"
#include "../common/log.h"
#include "../common/xalloc.h"
#include "../service/service.h"
#include "conv_body.h"

/* "YYYY-MM-DDTHH:MM:SS.mmmZ". Messages of one page mostly share their second:
 * the formatted second is kept per thread, so a page costs one gmtime, not
 * one per message. */
static void put_time(struct buf *b, long long ms)
{
	static _Thread_local long long cached_s = -1;
	static _Thread_local char text[24];
	long long sec = ms / 1000;
	int frac = (int)(ms % 1000);
	if (ms < 0) {
		sec = (ms - 999) / 1000;
		frac = (int)(ms - sec * 1000);
	}
	if (sec != cached_s) {
		time_t t = (time_t)sec;
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &tm);
		cached_s = sec;
	}
	char out[32];
	size_t n = strlen(text);
	out[0] = '"';
	memcpy(out + 1, text, n);
	out[n + 1] = '.';
	out[n + 2] = (char)('0' + frac / 100);
	out[n + 3] = (char)('0' + frac / 10 % 10);
	out[n + 4] = (char)('0' + frac % 10);
	out[n + 5] = 'Z';
	out[n + 6] = '"';
	buf_append(b, out, n + 7);
}

static void put_str_or_null(struct buf *b, const char *s)
{
	if (s)
		json_escape(b, s, strlen(s));
	else
		buf_puts(b, "null");
}

static void put_message(struct buf *b, const struct conv_message *m)
{
	char num[32];
	int nl = snprintf(num, sizeof(num), "{\"seq\":%lld,\"id\":", m->seq);
	buf_append(b, num, (size_t)nl);
	put_str_or_null(b, m->id);
	buf_puts(b, ",\"role\":");
	json_escape(b, m->role, strlen(m->role));
	buf_puts(b, ",\"content\":");
	json_escape(b, m->content, m->content_len);
	buf_puts(b, ",\"metadata\":");
	buf_puts(b, m->metadata_json);
	buf_puts(b, ",\"created_at\":");
	put_time(b, m->created_at_ms);
	buf_putc(b, '}');
}

static void put_meta(struct buf *b, const struct conv_meta *m)
{
	buf_puts(b, "{\"conversation_id\":");
	json_escape(b, m->conversation_id, strlen(m->conversation_id));
	buf_puts(b, ",\"customer_id\":");
	put_str_or_null(b, m->customer_id);
	buf_puts(b, ",\"metadata\":");
	buf_puts(b, m->metadata_json);
	buf_puts(b, ",\"created_at\":");
	put_time(b, m->created_at_ms);
	buf_puts(b, ",\"updated_at\":");
	put_time(b, m->updated_at_ms);
	buf_printf(b,
	           ",\"message_count\":%lld,\"first_seq\":%lld,\"ttl_seconds\":", m->message_count,
	           m->first_seq);
	if (m->ttl_seconds < 0)
		buf_puts(b, "null");
	else
		buf_printf(b, "%lld", m->ttl_seconds);
	buf_puts(b, ",\"stores\":[");
	if (m->in_redis)
		buf_puts(b, "\"redis\"");
	if (m->in_postgres)
		buf_puts(b, m->in_redis ? ",\"postgres\"" : "\"postgres\"");
	buf_puts(b, "]}");
}

/* A cursor member: the text in c (released), or null when c is empty. */
static void put_cursor(struct buf *b, const char *name, struct buf *c)
{
	buf_printf(b, ",\"%s\":", name);
	if (c->len) {
		buf_putc(b, '"');
		buf_append(b, c->data, c->len);
		buf_putc(b, '"');
	} else
		buf_puts(b, "null");
	buf_release(c);
}

static enum MHD_Result respond_buf(struct request *r, unsigned status, struct buf *b)
{
	size_t len;
	char *text = buf_detach(b, &len);
	return respond_raw(r, status, text, len);
}

enum MHD_Result h_conv_append(struct request *r)
{
	struct mem_error err = {0};
	struct conv_body cb;
	struct conv_append_result res = {0};
	struct conv_append a = {.conversation_id = r->params[0]};
	enum MHD_Result ret;

	if (conv_body_append(&cb, r->body.data, r->body.len, (size_t)r->cfg->conv_max_batch, &a,
	                     &err) < 0)
		goto fail;
	if (service_conv_append(r->svc, r->tenant, &a, &res, &err) < 0)
		goto fail;

	struct buf b = {0};
	buf_puts(&b, "{\"conversation_id\":");
	json_escape(&b, a.conversation_id, strlen(a.conversation_id));
	buf_printf(&b,
	           ",\"created\":%s,\"msg_count_before\":%lld,\"message_count\":%lld,"
	           "\"last_seq\":%lld,\"stored\":%zu,\"messages\":[",
	           res.created ? "true" : "false", res.msg_count_before, res.last_seq, res.last_seq,
	           res.stored);
	for (size_t i = 0; i < res.n; i++) {
		buf_printf(&b, "%s{\"seq\":%lld,\"id\":", i ? "," : "", res.seqs[i]);
		put_str_or_null(&b, a.messages[i].id);
		buf_printf(&b, ",\"duplicate\":%s}", res.duplicate[i] ? "true" : "false");
	}
	buf_puts(&b, "]}");
	ret = respond_buf(r, res.created ? 201 : 200, &b);
	log_debug(
	    r->request_id, "conversation append", LF_STR("conversation_id", a.conversation_id),
	    LF_INT("msg_count_before", res.msg_count_before), LF_BOOL("created", res.created));
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	conv_append_result_release(&res);
	conv_body_release(&cb);
	return ret;
}

/* A query parameter that must be an integer in [min, max]; *out unchanged
 * when absent. */
static int query_int(struct request *r, const char *name, long long min, long long max,
                     long long *out, bool *given, struct mem_error *err)
{
	char *v = NULL, *end;
	*given = false;
	if (query_param(r, name, &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	long long n = strtoll(v, &end, 10);
	bool ok = *v && !*end && n >= min && n <= max && strlen(v) < 19;
	free(v);
	if (!ok)
		return mem_fail(err, MEM_EINVALID_FIELD, name, "%s must be an integer %lld..%lld",
		                name, min, max);
	*out = n;
	*given = true;
	return 0;
}

enum MHD_Result h_conv_messages(struct request *r)
{
	struct mem_error err = {0};
	struct conv_page p = {0};
	struct conv_read q = {.conversation_id = r->params[0], .mode = CONV_READ_WINDOW};
	char *cursor = NULL;
	long long limit = r->cfg->conv_window_default, before = 0, after = 0;
	bool has_limit, has_before, has_after;
	enum MHD_Result ret;

	if (query_int(r, "limit", 1, CONV_READ_LIMIT_MAX, &limit, &has_limit, &err) < 0 ||
	    query_int(r, "before_seq", 1, (long long)1e15, &before, &has_before, &err) < 0 ||
	    query_int(r, "after_seq", 0, (long long)1e15, &after, &has_after, &err) < 0 ||
	    query_param(r, "cursor", &cursor, &err) < 0)
		goto fail;
	if (has_before + has_after + (cursor != NULL) > 1) {
		mem_fail(&err, MEM_EINVALID_FIELD, "cursor",
		         "give at most one of cursor, before_seq and after_seq");
		goto fail;
	}
	q.limit = (size_t)limit;
	if (cursor) {
		bool b;
		if (conv_cursor_parse_messages(cursor, "cursor", &b, &q.seq, &err) < 0)
			goto fail;
		q.mode = b ? CONV_READ_BEFORE : CONV_READ_AFTER;
	} else if (has_before) {
		q.mode = CONV_READ_BEFORE;
		q.seq = before;
	} else if (has_after) {
		q.mode = CONV_READ_AFTER;
		q.seq = after;
	}
	if (service_conv_read(r->svc, r->tenant, &q, &p, &err) < 0)
		goto fail;

	struct buf b = {0};
	buf_puts(&b, "{\"conversation_id\":");
	json_escape(&b, q.conversation_id, strlen(q.conversation_id));
	buf_puts(&b, ",\"messages\":[");
	for (size_t i = 0; i < p.n; i++) {
		if (i)
			buf_putc(&b, ',');
		put_message(&b, &p.v[i]);
	}
	buf_printf(&b, "],\"first_seq\":%lld,\"last_seq\":%lld", p.first_seq, p.last_seq);
	/* Older messages exist before the first one returned (or before the
	 * position asked for, when the page is empty); newer after the last. */
	struct buf prev = {0}, next = {0};
	long long lo = p.n ? p.v[0].seq : (q.mode == CONV_READ_AFTER ? q.seq + 1 : q.seq);
	if (p.n ? lo > p.first_seq : (q.mode != CONV_READ_WINDOW && lo > p.first_seq))
		conv_cursor_messages(&prev, true, lo);
	long long hi = p.n ? p.v[p.n - 1].seq : (q.mode == CONV_READ_BEFORE ? q.seq - 1 : q.seq);
	if (q.mode != CONV_READ_WINDOW && hi < p.last_seq)
		conv_cursor_messages(&next, false, hi);
	put_cursor(&b, "prev_cursor", &prev);
	put_cursor(&b, "next_cursor", &next);
	buf_printf(&b, ",\"truncated\":%s}", p.truncated ? "true" : "false");
	ret = respond_buf(r, 200, &b);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	conv_page_release(&p);
	free(cursor);
	return ret;
}

enum MHD_Result h_conv_get(struct request *r)
{
	struct mem_error err = {0};
	struct conv_meta m = {0};
	if (service_conv_meta(r->svc, r->tenant, r->params[0], &m, &err) < 0)
		return respond_error(r, &err);
	struct buf b = {0};
	put_meta(&b, &m);
	conv_meta_release(&m);
	return respond_buf(r, 200, &b);
}

enum MHD_Result h_conv_update(struct request *r)
{
	struct mem_error err = {0};
	struct conv_body cb;
	struct conv_meta m = {0};
	struct conv_update u = {.conversation_id = r->params[0]};
	enum MHD_Result ret;

	if (conv_body_update(&cb, r->body.data, r->body.len, &u, &err) < 0)
		goto fail;
	if (service_conv_update(r->svc, r->tenant, &u, &m, &err) < 0)
		goto fail;
	struct buf b = {0};
	put_meta(&b, &m);
	ret = respond_buf(r, 200, &b);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	conv_meta_release(&m);
	conv_body_release(&cb);
	return ret;
}

enum MHD_Result h_conv_delete(struct request *r)
{
	struct mem_error err = {0};
	if (service_conv_delete(r->svc, r->tenant, r->params[0], &err) < 0)
		return respond_error(r, &err);
	return respond_raw(r, 204, NULL, 0);
}

enum MHD_Result h_conv_list(struct request *r)
{
	struct mem_error err = {0};
	struct conv_list_result res = {0};
	char *customer = NULL, *cursor = NULL, *after_id = NULL;
	long long limit = CONV_LIST_LIMIT_DEFAULT;
	bool has_limit;
	enum MHD_Result ret;

	if (query_param(r, "customer_id", &customer, &err) < 0 ||
	    query_param(r, "cursor", &cursor, &err) < 0 ||
	    query_int(r, "limit", 1, CONV_LIST_LIMIT_MAX, &limit, &has_limit, &err) < 0)
		goto fail;
	if (!customer || !*customer) {
		mem_fail(&err, MEM_EMISSING_FIELD, "customer_id",
		         "customer_id is required: conversations are listed per customer");
		goto fail;
	}
	struct conv_list l = {.customer_id = customer, .limit = (size_t)limit};
	if (cursor &&
	    conv_cursor_parse_list(cursor, "cursor", &l.after_updated_ms, &after_id, &err) < 0)
		goto fail;
	l.after_id = after_id;
	if (service_conv_list(r->svc, r->tenant, &l, &res, &err) < 0)
		goto fail;
	struct buf b = {0};
	buf_puts(&b, "{\"conversations\":[");
	for (size_t i = 0; i < res.n; i++) {
		if (i)
			buf_putc(&b, ',');
		put_meta(&b, &res.items[i]);
	}
	buf_putc(&b, ']');
	struct buf next = {0};
	if (res.more && res.n)
		conv_cursor_list(&next, res.items[res.n - 1].updated_at_ms,
		                 res.items[res.n - 1].conversation_id);
	put_cursor(&b, "next_cursor", &next);
	buf_putc(&b, '}');
	ret = respond_buf(r, 200, &b);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	conv_list_result_release(&res);
	free(customer);
	free(cursor);
	free(after_id);
	return ret;
}
