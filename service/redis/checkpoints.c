/* redis/checkpoints: see checkpoints.h. */
#include "checkpoints.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"
#include "batch.h"
#include "keys.h"

/* How many tuples one pipelined round trip fetches while listing. Redis
 * runs a round trip's scripts back to back before it answers another
 * client: 32 tuples of ~10 KB (a list page of RESPONSE_MAX_BYTES) held it
 * about 1.3 ms, and a get-latest beside 8 such lists waited behind them
 * (bench/heavy.sh); 8 hold it about 0.3 ms, 4 about half that, which a
 * get's p99 beside 8 heavy connections needed to stay within 2x of its
 * p99 alone on a quiet machine (2.6x at 8, with scans at 64 items). */
#define LIST_BATCH 4

/* ---------- put ---------- */

/* A blob's key into k (emptied first). */
static void blob_key(struct buf *k, const struct redis_store *rs, const char *tenant,
                     const char *thread, const char *ns, const char *channel, const char *version)
{
	redis_key_thread_base(k, rs, "blob", tenant, thread);
	redis_key_part(k, ns);
	redis_key_part(k, channel);
	redis_key_part(k, version);
}

/*
 * The tenant's thread index (P:threads:{tenant}, a zset: thread -> ms) lists
 * the threads a list without thread_id reads. A put does not write it: its
 * script reports when the thread's entry is due, when the thread's marker
 * (P:thread:TAG:indexed, in its registry, with the thread's TTL) is new or
 * index_every_ms (TTL / 10) or more from the put's clock. Then, in a round
 * trip of its own, the entry gets the put's time and the index a TTL of
 * TTL + index_every_ms; once that has succeeded, a third round trip sets the
 * marker to that time, only if the marker still exists (XX: a thread deleted
 * meanwhile does not get a marker outside its registry). So while the
 * marker says "indexed at m", the entry's score is m or later, and a thread
 * whose last put was at p has an entry newer than p - index_every_ms and
 * keys until p + TTL: a list prunes entries older than TTL + index_every_ms,
 * and the index outlives its last touch by as much. A failed index write
 * fails the put (as when it was in the put's round trip; a retry is safe)
 * and leaves the marker as it was, so the next put asks again; a failed
 * marker write only makes the next put write the index again. The script of
 * a due put also gives the thread's namespace set and every namespace's
 * index TTL + 2 * index_every_ms, which other puts leave alone (see
 * checkpoint_put.lua).
 */
static int index_refresh(struct redis_store *rs, const char *tenant, const char *thread,
                         long long at_ms, struct mem_error *err)
{
	struct redis_batch idx = {0}, mark = {0};
	struct buf b = {0};
	int ret = -1;

	redis_key_tenant_index(&b, rs, tenant);
	redis_index_touch(&idx, &b, thread, at_ms, (long long)rs->ttl * 1000 + rs->index_every_ms);
	if (redis_batch_send(&idx, redis_store_conn(&rs->base), true, err) < 0)
		goto out;
	for (size_t i = 0; i < idx.n; i++)
		if (idx.rep[i]->type != REDIS_REPLY_INTEGER) {
			redis_reply_fail(idx.rep[i], err, "thread index update");
			goto out;
		}
	ret = 0;
	redis_key_thread_indexed(&b, rs, tenant, thread);
	redis_batch_cmd(&mark, "SET");
	redis_batch_buf(&mark, &b);
	redis_batch_fmt(&mark, at_ms);
	redis_batch_str(&mark, "XX");
	redis_batch_str(&mark, "EX");
	redis_batch_str(&mark, rs->ttl_str);
	struct mem_error merr = {0};
	int mrc = redis_batch_send(&mark, redis_store_conn(&rs->base), true, &merr);
	if (mrc < 0 || mark.rep[0]->type == REDIS_REPLY_ERROR)
		log_warn(NULL, "thread index marker not advanced", LF_STR("thread_id", thread),
		         LF_STR("error", mrc < 0 ? merr.message : mark.rep[0]->str));
out:
	redis_batch_release(&idx);
	redis_batch_release(&mark);
	buf_release(&b);
	return ret;
}

/*
 * A put is one round trip: the new blobs first, as plain commands (their keys
 * added to the thread's registry, which gets the TTL, then a SET ... EX per
 * blob), then checkpoint_put.lua, which writes the checkpoint and its indexes
 * atomically. The blobs stay out of the script because Redis's Lua hashes
 * every byte of every argument: the bench graph's 58 KB of channel values cost
 * the script about 67 us of Redis time, the SETs about 1.5 us each.
 *
 * Nothing reads a blob before a checkpoint names it, and the script runs
 * after the SETs on the same connection, so readers see the whole put or
 * none of it. When the script fails after the SETs ran (NOSCRIPT is resent
 * whole after the scripts are loaded; a broken connection or an error reply
 * fails the put, which a retry repeats with the same keys and values), the
 * blobs are left unreferenced, registered (deleted with the thread) and
 * expiring with the TTL like every other key of the thread.
 */
int redis_checkpoint_put(struct store *s, const char *tenant, const struct cp_put *r,
                         struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch a = {0};
	struct buf b = {0}, channels = {0}, registry = {0};
	int ret = -1;

	/* the blobs of versions this put does not write: their TTL is refreshed */
	bool *written = xcalloc(r->nversions + 1, sizeof(*written));
	cp_put_blobs_written(r, written);
	size_t nrefresh = 0;
	for (size_t i = 0; i < r->nversions; i++)
		nrefresh += !written[i];

	redis_key_thread_base(&registry, rs, "thread", tenant, r->thread_id);
	buf_puts(&registry, ":keys");
	if (r->nblobs) {
		redis_batch_cmd(&a, "SADD");
		redis_batch_arg(&a, registry.data, registry.len);
		for (size_t i = 0; i < r->nblobs; i++) {
			blob_key(&b, rs, tenant, r->thread_id, r->ns, r->blobs[i].channel,
			         r->blobs[i].version);
			redis_batch_buf(&a, &b);
		}
		redis_batch_cmd(&a, "EXPIRE");
		redis_batch_arg(&a, registry.data, registry.len);
		redis_batch_str(&a, rs->ttl_str);
		for (size_t i = 0; i < r->nblobs; i++) {
			const struct typed_value *v = &r->blobs[i].value;
			redis_batch_cmd(&a, "SET");
			blob_key(&b, rs, tenant, r->thread_id, r->ns, r->blobs[i].channel,
			         r->blobs[i].version);
			redis_batch_buf(&a, &b);
			buf_puts(&b, v->type);
			buf_putc(&b, '\0');
			buf_append(&b, v->data, v->len);
			redis_batch_buf(&a, &b);
			redis_batch_str(&a, "EX");
			redis_batch_str(&a, rs->ttl_str);
		}
	}
	size_t script = a.n; /* the index of the script's reply */

	redis_batch_cmd(&a, "EVALSHA");
	redis_batch_str(&a, rs->sha[SCRIPT_PUT]);
	redis_batch_fmt(&a, (long long)(7 + nrefresh));
	redis_key_thread_base(&b, rs, "checkpoint", tenant, r->thread_id);
	redis_key_part(&b, r->ns);
	redis_key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	redis_key_thread_base(&b, rs, "checkpoints", tenant, r->thread_id);
	redis_key_part(&b, r->ns);
	redis_batch_buf(&a, &b);
	redis_batch_arg(&a, registry.data, registry.len);
	redis_key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":ns");
	redis_batch_buf(&a, &b);
	redis_key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	redis_key_part(&b, r->ns);
	redis_key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	redis_key_head(&b, rs, tenant, r->thread_id, r->ns);
	redis_batch_buf(&a, &b);
	redis_key_thread_indexed(&b, rs, tenant, r->thread_id);
	redis_batch_buf(&a, &b);
	for (size_t i = 0; i < r->nversions; i++) {
		key_encode(&channels, r->versions[i].channel, strlen(r->versions[i].channel));
		buf_putc(&channels, ':');
		key_encode(&channels, r->versions[i].version, strlen(r->versions[i].version));
		buf_putc(&channels, '\n');
		if (written[i])
			continue; /* its SET gives it a fresh TTL */
		blob_key(&b, rs, tenant, r->thread_id, r->ns, r->versions[i].channel,
		         r->versions[i].version);
		redis_batch_buf(&a, &b);
	}
	free(written);
	redis_batch_str(&a, rs->ttl_str);
	redis_batch_str(&a, r->checkpoint_id);
	redis_batch_str(&a, r->checkpoint_json);
	redis_batch_str(&a, r->metadata_json ? r->metadata_json : "{}");
	redis_batch_str(&a, r->parent_id ? r->parent_id : "");
	redis_batch_buf(&a, &channels);
	redis_batch_str(&a, r->ns);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	long long now_us = (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	redis_batch_fmt(&a, now_us);
	redis_batch_fmt(&a, rs->index_every_ms);

	if (redis_batch_send(&a, redis_store_conn(s), true, err) < 0)
		goto out;
	for (size_t i = 0; i < script; i++)
		if (a.rep[i]->type == REDIS_REPLY_ERROR) {
			redis_reply_fail(a.rep[i], err, "checkpoint put");
			goto out;
		}
	if (a.rep[script]->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(a.rep[script], err, "checkpoint put");
		goto out;
	}
	/* The tenant's thread index has its own hash tag (the tenant's), so it
	 * cannot live in the thread's script, and on a cluster it is on another
	 * primary for most threads: it is written only when the script says the
	 * thread's entry is due, index_every_ms after the last write. */
	if (a.rep[script]->integer == 1 &&
	    index_refresh(rs, tenant, r->thread_id, now_us / 1000, err) < 0)
		goto out;
	ret = 0;
out:
	redis_batch_release(&a);
	buf_release(&b);
	buf_release(&channels);
	buf_release(&registry);
	return ret;
}

/* ---------- get ---------- */

void redis_owned_from_packed(struct owned_value *v, const char *s, size_t n)
{
	const char *nul = memchr(s, '\0', n);
	size_t tl = nul ? (size_t)(nul - s) : n;
	v->type = xstrndup(s, tl);
	size_t dl = nul ? n - tl - 1 : 0;
	v->data = xmalloc(dl + 1);
	if (dl)
		memcpy(v->data, nul + 1, dl);
	v->len = dl;
}

int redis_write_from_packed(struct cp_pending_write *w, const char *s, size_t n)
{
	const char *parts[5];
	size_t lens[5];
	const char *p = s, *end = s + n;
	for (int i = 0; i < 5; i++) {
		const char *nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul)
			return -1;
		parts[i] = p;
		lens[i] = (size_t)(nul - p);
		p = nul + 1;
	}
	w->task_id = xstrndup(parts[0], lens[0]);
	w->task_path = xstrndup(parts[1], lens[1]);
	w->channel = xstrndup(parts[2], lens[2]);
	char idx[24];
	snprintf(idx, sizeof(idx), "%.*s", (int)(lens[3] < 23 ? lens[3] : 23), parts[3]);
	w->idx = strtol(idx, NULL, 10);
	w->value.type = xstrndup(parts[4], lens[4]);
	size_t dl = (size_t)(end - p);
	w->value.data = xmalloc(dl + 1);
	if (dl)
		memcpy(w->value.data, p, dl);
	w->value.len = dl;
	return 0;
}

/* Parse the get script's reply; 1 = found, 0 = nil, -1 = malformed. */
static int tuple_from_reply(const redisReply *r, const char *thread, const char *ns,
                            struct cp_tuple *t, char **head, struct mem_error *err)
{
	memset(t, 0, sizeof(*t));
	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 8 || !redis_reply_str(r->element[0]) ||
	    !redis_reply_str(r->element[1]) || r->element[4]->type != REDIS_REPLY_ARRAY ||
	    r->element[5]->type != REDIS_REPLY_ARRAY || r->element[6]->type != REDIS_REPLY_ARRAY)
		return redis_reply_fail(r, err, "checkpoint get");
	if (head && redis_reply_str(r->element[7]))
		*head = xstrndup(r->element[7]->str, r->element[7]->len);
	t->thread_id = xstrdup(thread);
	t->ns = xstrdup(ns);
	t->checkpoint_id = xstrndup(r->element[0]->str, r->element[0]->len);
	t->checkpoint_json = xstrndup(r->element[1]->str, r->element[1]->len);
	t->metadata_json = redis_reply_str(r->element[2])
	                       ? xstrndup(r->element[2]->str, r->element[2]->len)
	                       : xstrdup("{}");
	if (redis_reply_str(r->element[3]) && r->element[3]->len)
		t->parent_id = xstrndup(r->element[3]->str, r->element[3]->len);

	const redisReply *lines = r->element[4], *vals = r->element[5], *ws = r->element[6];
	t->values = xcalloc(lines->elements + 1, sizeof(*t->values));
	for (size_t i = 0; i < lines->elements && i < vals->elements; i++) {
		const redisReply *line = lines->element[i], *val = vals->element[i];
		if (!redis_reply_str(line))
			continue;
		if (!redis_reply_str(val)) {
			log_debug(NULL, "checkpoint blob missing", LF_STR("thread_id", thread),
			          LF_STR("checkpoint_id", t->checkpoint_id),
			          LF_STR("channel", line->str));
			continue;
		}
		const char *colon = memchr(line->str, ':', line->len);
		size_t cl = colon ? (size_t)(colon - line->str) : line->len;
		struct cp_channel_value *cv = &t->values[t->nvalues];
		redis_owned_from_packed(&cv->value, val->str, val->len);
		if (!strcmp(cv->value.type, "empty")) {
			free(cv->value.type);
			free(cv->value.data);
			memset(cv, 0, sizeof(*cv));
			continue;
		}
		cv->channel = key_decode(line->str, cl);
		if (!cv->channel)
			cv->channel = xstrndup(line->str, cl);
		t->nvalues++;
	}
	t->writes = xcalloc(ws->elements + 1, sizeof(*t->writes));
	for (size_t i = 0; i < ws->elements; i++) {
		const redisReply *w = ws->element[i];
		if (!redis_reply_str(w) ||
		    redis_write_from_packed(&t->writes[t->nwrites], w->str, w->len) < 0)
			continue;
		t->nwrites++;
	}
	cp_sort_writes(t);
	return 1;
}

/* Add the EVALSHA of the get script for (thread, ns, id) to a. */
static void get_args(struct redis_store *rs, struct redis_batch *a, const char *tenant,
                     const char *thread, const char *ns, const char *id)
{
	struct buf b = {0};
	redis_batch_cmd(a, "EVALSHA");
	redis_batch_str(a, rs->sha[SCRIPT_GET]);
	redis_batch_str(a, "2");
	redis_key_thread_base(&b, rs, "checkpoints", tenant, thread);
	redis_key_part(&b, ns);
	redis_batch_buf(a, &b);
	redis_key_head(&b, rs, tenant, thread, ns);
	redis_batch_buf(a, &b);
	redis_key_thread_base(&b, rs, "checkpoint", tenant, thread);
	redis_key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	redis_key_thread_base(&b, rs, "writes", tenant, thread);
	redis_key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	redis_key_thread_base(&b, rs, "blob", tenant, thread);
	redis_key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	redis_batch_str(a, id ? id : "");
	buf_release(&b);
}

int redis_checkpoint_get(struct store *s, const char *tenant, const struct cp_get *req,
                         struct cp_tuple *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch a = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	get_args(rs, &a, tenant, req->thread_id, req->ns, req->checkpoint_id);
	if (redis_batch_send(&a, redis_store_conn(s), true, err) < 0)
		goto out;
	int found = tuple_from_reply(a.rep[0], req->thread_id, req->ns, out, &out->version, err);
	if (found < 0)
		goto out;
	if (!found) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no checkpoint %s%s in thread %s",
		         req->checkpoint_id ? req->checkpoint_id : "(latest)",
		         *req->ns ? " in that namespace" : "", req->thread_id);
		goto out;
	}
	ret = 0;
out:
	redis_batch_release(&a);
	return ret;
}

/* The head of (thread, ns): one GET of a few dozen bytes. */
int redis_checkpoint_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                          char **version, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf k = {0};
	redisReply *rep = NULL;
	int ret = -1;

	*version = NULL;
	redis_key_head(&k, rs, tenant, thread, ns);
	const char *av[] = {"GET", k.data};
	size_t al[] = {3, k.len};
	if (redis_conn_command(redis_store_conn(s), &rep, err, 2, av, al) < 0)
		goto out;
	if (redis_reply_str(rep))
		*version = xstrndup(rep->str, rep->len);
	else if (rep->type != REDIS_REPLY_NIL) {
		redis_reply_fail(rep, err, "head read");
		goto out;
	}
	ret = 0;
out:
	freeReplyObject(rep);
	buf_release(&k);
	return ret;
}

/* ---------- list ---------- */

struct candidate {
	const char *thread; /* borrowed from a reply */
	const char *ns;     /* borrowed from a reply or the request */
	char *id;
};

static int cand_cmp(const void *x, const void *y)
{
	const struct candidate *a = x, *b = y;
	int c = strcmp(b->id, a->id); /* newest first */
	if (c)
		return c;
	c = strcmp(a->thread, b->thread);
	if (c)
		return c;
	return strcmp(a->ns, b->ns);
}

struct pair {
	const char *thread;
	const char *ns;
};

int redis_checkpoint_list(struct store *s, const char *tenant, const struct cp_list *req,
                          struct cp_list_result *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = redis_store_conn(s);
	struct buf b = {0};
	/* the replies of steps 1 to 3 lend their strings to the later steps */
	struct redis_batch idx = {0}, nss = {0}, ids = {0}, get = {0};
	struct pair *pairs = NULL;
	struct candidate *cands = NULL;
	const char **threads = NULL;
	size_t nthreads = 0, npairs = 0, ncands = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));

	/* 1. the threads */
	if (req->thread_id) {
		threads = xcalloc(1, sizeof(*threads));
		threads[0] = req->thread_id;
		nthreads = 1;
	} else {
		redis_key_tenant_index(&b, rs, tenant);
		redis_batch_cmd(&idx, "ZREMRANGEBYSCORE");
		redis_batch_str(&idx, b.data);
		redis_batch_str(&idx, "-inf");
		/* an active thread's entry may be index_every_ms behind its last put */
		char *cutoff = xasprintf("(%lld", redis_wall_ms() - (long long)rs->ttl * 1000 -
		                                      rs->index_every_ms);
		redis_batch_own(&idx, cutoff, strlen(cutoff));
		redis_batch_cmd(&idx, "ZRANGE");
		redis_batch_str(&idx, b.data);
		redis_batch_str(&idx, "0");
		redis_batch_str(&idx, "-1");
		if (redis_batch_send(&idx, conn, true, err) < 0)
			goto out;
		const redisReply *tr = idx.rep[1];
		if (tr->type != REDIS_REPLY_ARRAY) {
			redis_reply_fail(tr, err, "thread index read");
			goto out;
		}
		threads = xcalloc(tr->elements + 1, sizeof(*threads));
		for (size_t i = 0; i < tr->elements; i++)
			if (redis_reply_str(tr->element[i]))
				threads[nthreads++] = tr->element[i]->str;
	}
	if (!nthreads)
		goto done;

	/* 2. the namespaces of each thread */
	if (req->ns) {
		pairs = xcalloc(nthreads, sizeof(*pairs));
		for (size_t i = 0; i < nthreads; i++)
			pairs[npairs++] = (struct pair){threads[i], req->ns};
	} else {
		for (size_t i = 0; i < nthreads; i++) {
			redis_batch_cmd(&nss, "SMEMBERS");
			redis_key_thread_base(&b, rs, "thread", tenant, threads[i]);
			buf_puts(&b, ":ns");
			redis_batch_buf(&nss, &b);
		}
		if (redis_batch_send(&nss, conn, true, err) < 0)
			goto out;
		size_t total = 0;
		for (size_t i = 0; i < nthreads; i++) {
			if (nss.rep[i]->type != REDIS_REPLY_ARRAY) {
				redis_reply_fail(nss.rep[i], err, "namespace read");
				goto out;
			}
			total += nss.rep[i]->elements;
		}
		pairs = xcalloc(total + 1, sizeof(*pairs));
		for (size_t i = 0; i < nthreads; i++)
			for (size_t j = 0; j < nss.rep[i]->elements; j++)
				if (redis_reply_str(nss.rep[i]->element[j]))
					pairs[npairs++] =
					    (struct pair){threads[i], nss.rep[i]->element[j]->str};
	}
	if (!npairs)
		goto done;

	/* 3. the checkpoint ids of each (thread, ns), before the bound: without
	 * a filter, no more from one index than the page can hold (and one to
	 * tell it is truncated) */
	char *maxb = req->before ? xasprintf("(%s", req->before) : NULL;
	for (size_t i = 0; i < npairs; i++) {
		redis_batch_cmd(&ids, "ZREVRANGEBYLEX");
		redis_key_thread_base(&b, rs, "checkpoints", tenant, pairs[i].thread);
		redis_key_part(&b, pairs[i].ns);
		redis_batch_buf(&ids, &b);
		redis_batch_str(&ids, maxb ? maxb : "+");
		redis_batch_str(&ids, "-");
		if (!req->filter_json) {
			redis_batch_str(&ids, "LIMIT");
			redis_batch_str(&ids, "0");
			redis_batch_fmt(&ids, (long long)req->limit + 1);
		}
	}
	int prc = redis_batch_send(&ids, conn, true, err);
	free(maxb);
	if (prc < 0)
		goto out;
	size_t total = 0;
	bool capped = false; /* an index had more than LIMIT gave */
	for (size_t i = 0; i < npairs; i++) {
		if (ids.rep[i]->type != REDIS_REPLY_ARRAY) {
			redis_reply_fail(ids.rep[i], err, "checkpoint index read");
			goto out;
		}
		total += ids.rep[i]->elements;
		capped = capped || (!req->filter_json && ids.rep[i]->elements > req->limit);
	}
	cands = xcalloc(total + 1, sizeof(*cands));
	for (size_t i = 0; i < npairs; i++)
		for (size_t j = 0; j < ids.rep[i]->elements; j++)
			if (redis_reply_str(ids.rep[i]->element[j]))
				cands[ncands++] = (struct candidate){pairs[i].thread, pairs[i].ns,
				                                     ids.rep[i]->element[j]->str};
	qsort(cands, ncands, sizeof(*cands), cand_cmp);

	/* 4. the tuples, newest first, up to LIST_BATCH per round trip: as many
	 * as the bytes left would hold at the largest tuple seen (at least one),
	 * so a page of tuples sharing one large blob never loads more than about
	 * max_bytes */
	out->items =
	    xcalloc(req->limit < ncands ? req->limit + 1 : ncands + 1, sizeof(*out->items));
	size_t next = 0, bytes = 0, largest = 0;
	bool cut = false;
	while (next < ncands && out->n < req->limit && !cut) {
		size_t n = ncands - next < LIST_BATCH ? ncands - next : LIST_BATCH;
		if (req->max_bytes && !largest)
			n = 1; /* nothing seen yet: one, to learn a size */
		else if (req->max_bytes) {
			size_t fit =
			    bytes < req->max_bytes ? (req->max_bytes - bytes) / largest : 0;
			n = n < fit ? n : fit ? fit : 1;
		}
		for (size_t i = 0; i < n; i++) {
			const struct candidate *c = &cands[next + i];
			get_args(rs, &get, tenant, c->thread, c->ns, c->id);
		}
		if (redis_batch_send(&get, conn, true, err) < 0)
			goto out;
		size_t i = 0;
		for (; i < n && out->n < req->limit; i++) {
			const struct candidate *c = &cands[next + i];
			struct cp_tuple t;
			int found = tuple_from_reply(get.rep[i], c->thread, c->ns, &t, NULL, err);
			if (found < 0)
				goto out;
			if (!found)
				continue;
			if (!cp_metadata_matches(t.metadata_json, req->filter_json)) {
				cp_tuple_release(&t);
				continue;
			}
			size_t tb = cp_tuple_bytes(&t);
			largest = tb > largest ? tb : largest;
			if (req->max_bytes && out->n && bytes + tb > req->max_bytes) {
				cp_tuple_release(&t); /* the next page starts with it */
				cut = true;
				break;
			}
			bytes += tb;
			out->items[out->n++] = t;
		}
		redis_batch_release(&get);
		next += i;
	}
	out->truncated =
	    cut || (next < ncands && out->n >= req->limit) || (capped && next >= ncands);
done:
	ret = 0;
out:
	if (ret < 0)
		cp_list_result_release(out);
	redis_batch_release(&get);
	free(cands);
	free(pairs);
	free(threads);
	redis_batch_release(&ids);
	redis_batch_release(&nss);
	redis_batch_release(&idx);
	buf_release(&b);
	return ret;
}

/* ---------- put writes ---------- */

int redis_checkpoint_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                                struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch a = {0};
	struct buf b = {0};
	int ret = -1;

	/* writes to special channels only (errors, interrupts...) overwrite */
	bool all_special = r->nwrites > 0;
	for (size_t i = 0; i < r->nwrites && all_special; i++)
		cp_write_idx(r->writes[i].channel, i, &all_special);

	redis_batch_cmd(&a, "EVALSHA");
	redis_batch_str(&a, rs->sha[SCRIPT_WRITES]);
	redis_batch_str(&a, "3");
	redis_key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	redis_key_part(&b, r->ns);
	redis_key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	redis_key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":keys");
	redis_batch_buf(&a, &b);
	redis_key_head(&b, rs, tenant, r->thread_id, r->ns);
	redis_batch_buf(&a, &b);
	redis_batch_str(&a, rs->ttl_str);
	redis_batch_str(&a, all_special ? "overwrite" : "keep");
	redis_batch_str(&a, r->checkpoint_id);
	for (size_t i = 0; i < r->nwrites; i++) {
		const struct cp_write *w = &r->writes[i];
		bool special;
		long idx = cp_write_idx(w->channel, i, &special);
		buf_reset(&b);
		buf_puts(&b, r->task_id);
		buf_putc(&b, '\0');
		buf_printf(&b, "%ld", idx);
		redis_batch_buf(&a, &b);
		buf_reset(&b);
		buf_puts(&b, r->task_id);
		buf_putc(&b, '\0');
		buf_puts(&b, r->task_path);
		buf_putc(&b, '\0');
		buf_puts(&b, w->channel);
		buf_putc(&b, '\0');
		buf_printf(&b, "%ld", idx);
		buf_putc(&b, '\0');
		buf_puts(&b, w->value.type);
		buf_putc(&b, '\0');
		buf_append(&b, w->value.data, w->value.len);
		redis_batch_buf(&a, &b);
	}
	if (redis_batch_send(&a, redis_store_conn(s), true, err) < 0)
		goto out;
	if (a.rep[0]->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(a.rep[0], err, "put writes");
		goto out;
	}
	ret = 0;
out:
	redis_batch_release(&a);
	buf_release(&b);
	return ret;
}

/* ---------- delete ---------- */

/* Keys one thread_delete.lua step unlinks (about: one SSCAN COUNT). */
#define DELETE_STEP "500"

/* A thread in bounded steps (thread_delete.lua), each safe if interrupted,
 * then its entry in the tenant's thread index. */
int redis_thread_delete(struct store *s, const char *tenant, const char *thread,
                        struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf kk = {0}, nk = {0}, b = {0};
	redisReply *rep = NULL;
	char cursor[32] = "0";
	int ret = -1;

	redis_key_thread_base(&kk, rs, "thread", tenant, thread);
	buf_puts(&kk, ":keys");
	redis_key_thread_base(&nk, rs, "thread", tenant, thread);
	buf_puts(&nk, ":ns");
	do {
		const char *av[] = {
		    "EVALSHA", rs->sha[SCRIPT_DELETE], "2", kk.data, nk.data, cursor, DELETE_STEP};
		if (redis_conn_command(redis_store_conn(s), &rep, err, 7, av, NULL) < 0)
			goto out;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    !redis_reply_str(rep->element[0])) {
			redis_reply_fail(rep, err, "thread delete");
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		freeReplyObject(rep);
		rep = NULL;
	} while (strcmp(cursor, "0"));
	redis_key_tenant_index(&b, rs, tenant);
	const char *zv[] = {"ZREM", b.data, thread};
	if (redis_conn_command(redis_store_conn(s), &rep, err, 3, zv, NULL) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep, err, "thread delete");
		goto out;
	}
	ret = 0;
out:
	freeReplyObject(rep);
	buf_release(&kk);
	buf_release(&nk);
	buf_release(&b);
	return ret;
}
