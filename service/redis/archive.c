/* redis/archive: see archive.h. */
#include "archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"
#include "batch.h"
#include "checkpoints.h"
#include "keys.h"

/* ---------- the archiver (store_ops.thread_scan, thread_dump, thread_drop) ---------- */

#define ARCHIVE_SCAN_COUNT "500"

int redis_store_scan_refs(struct store *s, char cursor[32], const char *head, const char *tail,
                          struct store_refs *out, struct mem_error *err)
{
	char *pattern = xasprintf("%s{*}%s", head, tail);
	size_t hl = strlen(head) + 1, tl = strlen(tail) + 1;
	redisReply *scan = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (redis_scan_step(redis_store_conn(s), cursor, pattern, ARCHIVE_SCAN_COUNT, &scan, err) <
	    0)
		goto out;
	const redisReply *keys = scan->element[1];
	out->v = xcalloc(keys->elements + 1, sizeof(*out->v));
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		/* "<prefix><head>{" TAG "}<tail>": what MATCH let through */
		if (redis_reply_str(k) && k->len > hl + tl && k->str[k->len - tl] == '}' &&
		    redis_tag_ref(k->str + hl, k->len - hl - tl, &out->v[out->n]) == 0)
			out->n++;
	}
	ret = 0;
out:
	if (ret < 0)
		store_refs_release(out);
	freeReplyObject(scan);
	free(pattern);
	return ret;
}

int redis_thread_scan(struct store *s, char cursor[32], struct store_refs *out,
                      struct mem_error *err)
{
	char *head = xasprintf("%s:thread:", ((struct redis_store *)s)->prefix);
	int rc = redis_store_scan_refs(s, cursor, head, ":keys", out, err);
	free(head);
	return rc;
}

/* A checkpoint hash's fields (sorted pairs) into c; its channels field
 * ("enc(channel):enc(version)" lines) decoded into two '\n'-joined lists. */
static int archived_checkpoint(const redisReply *pairs, struct cp_archived_checkpoint *c)
{
	struct buf ch = {0}, ve = {0};
	for (size_t i = 0; i + 1 < pairs->elements; i += 2) {
		const redisReply *f = pairs->element[i], *v = pairs->element[i + 1];
		char **to = !strcmp(f->str, "checkpoint") ? &c->checkpoint
		            : !strcmp(f->str, "metadata") ? &c->metadata
		            : !strcmp(f->str, "parent")   ? &c->parent
		                                          : NULL;
		if (to) {
			*to = xstrndup(v->str, v->len);
			continue;
		}
		if (strcmp(f->str, "channels"))
			continue;
		for (const char *line = v->str, *end = v->str + v->len; line < end;) {
			const char *nl = memchr(line, '\n', (size_t)(end - line));
			if (!nl)
				nl = end;
			const char *colon = memchr(line, ':', (size_t)(nl - line));
			char *a = colon ? key_decode(line, (size_t)(colon - line)) : NULL;
			char *b = colon ? key_decode(colon + 1, (size_t)(nl - colon - 1)) : NULL;
			if (a && b) {
				if (ch.len) {
					buf_putc(&ch, '\n');
					buf_putc(&ve, '\n');
				}
				buf_puts(&ch, a);
				buf_puts(&ve, b);
			}
			free(a);
			free(b);
			if (nl > line && (!a || !b))
				break;
			line = nl + 1;
		}
	}
	if (c->parent && !*c->parent) {
		free(c->parent);
		c->parent = NULL;
	}
	c->channels = ch.data ? buf_detach(&ch, NULL) : xstrdup("");
	c->versions = ve.data ? buf_detach(&ve, NULL) : xstrdup("");
	return c->checkpoint && c->metadata ? 0 : -1;
}

/* One thread's 'dump' reply into d. */
/* The {key, values} pairs of a thread's dump steps (distinct keys) into d,
 * with the digest that identifies the state they were read in. */
static int thread_from_kvs(const struct redis_store *rs, const redisReply *const *kvs, size_t nk,
                           const char *digest, struct cp_thread_dump *d, struct mem_error *err)
{
	d->cps = xcalloc(nk + 1, sizeof(*d->cps));
	d->blobs = xcalloc(nk + 1, sizeof(*d->blobs));
	size_t wcap = nk + 1;
	d->writes = xcalloc(wcap, sizeof(*d->writes));
	for (size_t i = 0; i < nk; i++) {
		const redisReply *kv = kvs[i];
		char kind[16], *parts[4];
		size_t np = 0;
		if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 ||
		    !redis_reply_str(kv->element[0]) || kv->element[1]->type != REDIS_REPLY_ARRAY)
			return redis_reply_fail(kv, err, "thread dump");
		const redisReply *key = kv->element[0], *vals = kv->element[1];
		if (redis_key_components(rs, key->str, key->len, kind, sizeof(kind), parts, 4,
		                         &np) < 0)
			continue; /* not ours to archive */
		int bad = 0;
		if (!strcmp(kind, "checkpoint") && np == 2) {
			struct cp_archived_checkpoint *c = &d->cps[d->ncps];
			c->ns = parts[0];
			c->id = parts[1];
			np = 0;
			d->ncps++;
			bad = archived_checkpoint(vals, c);
		} else if (!strcmp(kind, "blob") && np == 3 && vals->elements == 1) {
			struct cp_archived_blob *b = &d->blobs[d->nblobs++];
			b->ns = parts[0];
			b->channel = parts[1];
			b->version = parts[2];
			np = 0;
			redis_owned_from_packed(&b->value, vals->element[0]->str,
			                        vals->element[0]->len);
		} else if (!strcmp(kind, "writes") && np == 2) {
			for (size_t j = 1; j < vals->elements && !bad; j += 2) {
				if (d->nwrites == wcap) {
					wcap *= 2;
					d->writes = xrealloc(d->writes, wcap * sizeof(*d->writes));
					memset(d->writes + d->nwrites, 0,
					       (wcap - d->nwrites) * sizeof(*d->writes));
				}
				struct cp_archived_write *w = &d->writes[d->nwrites];
				if (redis_write_from_packed(&w->w, vals->element[j]->str,
				                            vals->element[j]->len) < 0) {
					bad = 1;
					break;
				}
				w->ns = xstrdup(parts[0]);
				w->checkpoint_id = xstrdup(parts[1]);
				d->nwrites++;
			}
		}
		for (size_t j = 0; j < np; j++)
			free(parts[j]);
		if (bad)
			return mem_fail(err, MEM_ECORRUPT, NULL,
			                "%.*s: malformed, cannot be archived", (int)key->len,
			                key->str);
	}
	d->digest = xstrdup(digest);
	return 0;
}

/* EVALSHA thread_archive 2 <registry> <namespaces> <mode> */
static void thread_script(struct redis_batch *a, const struct redis_store *rs,
                          const struct store_ref *r, const char *mode)
{
	struct buf b = {0};
	redis_batch_cmd(a, "EVALSHA");
	redis_batch_str(a, rs->sha[SCRIPT_ARCHIVE]);
	redis_batch_str(a, "2");
	redis_key_thread_base(&b, rs, "thread", r->tenant, r->id);
	buf_puts(&b, ":keys");
	redis_batch_buf(a, &b);
	redis_key_thread_base(&b, rs, "thread", r->tenant, r->id);
	buf_puts(&b, ":ns");
	redis_batch_buf(a, &b);
	redis_batch_str(a, mode);
}

/* Keys one thread_archive.lua dump step reads (SSCAN COUNT). */
#define DUMP_STEP "200"

static int kv_cmp(const void *x, const void *y)
{
	const redisReply *a = (*(const redisReply *const *)x)->element[0];
	const redisReply *b = (*(const redisReply *const *)y)->element[0];
	size_t n = a->len < b->len ? a->len : b->len;
	int c = memcmp(a->str, b->str, n);
	return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* A dump step's reply: {} (skip the thread), or {pttl, cursor, {key, vals}...}. */
static bool dump_step_ok(const redisReply *r)
{
	if (r->type != REDIS_REPLY_ARRAY)
		return false;
	if (!r->elements)
		return true;
	if (r->elements < 2 || !redis_reply_str(r->element[0]) || !redis_reply_str(r->element[1]))
		return false;
	for (size_t i = 2; i < r->elements; i++) {
		const redisReply *kv = r->element[i];
		if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 ||
		    !redis_reply_str(kv->element[0]) || kv->element[1]->type != REDIS_REPLY_ARRAY)
			return false;
	}
	return true;
}

static void dump_step_args(struct redis_batch *a, const struct redis_store *rs,
                           const struct store_ref *r, long long idle_ms, const char *cursor,
                           const char *pttl0)
{
	thread_script(a, rs, r, "dump");
	redis_batch_fmt(a, (long long)rs->ttl * 1000);
	redis_batch_fmt(a, idle_ms);
	redis_batch_str(a, cursor);
	redis_batch_str(a, DUMP_STEP);
	redis_batch_str(a, pttl0);
}

/*
 * Each thread in bounded steps (thread_archive.lua 'dump'): the first step
 * of every thread in one pipelined round trip, then one round trip per
 * further step of a thread with more keys. A thread written between its
 * steps is left for a later pass. The digest is the PTTL of its registry
 * at the first step, which thread_drop checks has only fallen since.
 */
int redis_thread_dump(struct store *s, const struct store_ref *refs, size_t n, long long idle_ms,
                      struct cp_thread_dump *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch first = {0};
	redisReply **steps = NULL;
	const redisReply **kvs = NULL;
	size_t nsteps = 0;
	int ret = -1;

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++)
		dump_step_args(&first, rs, &refs[i], idle_ms, "0", "");
	if (redis_batch_send(&first, redis_store_conn(s), true, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!dump_step_ok(first.rep[i])) {
			redis_reply_fail(first.rep[i], err, "thread dump");
			goto out;
		}
		if (!first.rep[i]->elements)
			continue; /* not idle, or gone */
		/* this thread's steps: the first, then on from its cursor */
		nsteps = 1;
		steps = xcalloc(1, sizeof(*steps));
		steps[0] = redis_batch_take(&first, i);
		size_t nk = steps[0]->elements - 2;
		bool changed = false;
		while (strcmp(steps[nsteps - 1]->element[1]->str, "0")) {
			struct redis_batch next = {0};
			dump_step_args(&next, rs, &refs[i], idle_ms,
			               steps[nsteps - 1]->element[1]->str,
			               steps[0]->element[0]->str);
			int rc = redis_batch_send(&next, redis_store_conn(s), true, err);
			redisReply *r = rc < 0 ? NULL : redis_batch_take(&next, 0);
			redis_batch_release(&next);
			if (rc < 0)
				goto out;
			if (!dump_step_ok(r)) {
				redis_reply_fail(r, err, "thread dump");
				freeReplyObject(r);
				goto out;
			}
			if (!r->elements) {
				freeReplyObject(r);
				changed = true; /* written since the first step: a later pass */
				break;
			}
			steps = xrealloc(steps, (nsteps + 1) * sizeof(*steps));
			steps[nsteps++] = r;
			nk += r->elements - 2;
		}
		if (!changed) {
			kvs = xcalloc(nk + 1, sizeof(*kvs));
			size_t m = 0;
			for (size_t k = 0; k < nsteps; k++)
				for (size_t e = 2; e < steps[k]->elements; e++)
					kvs[m++] = steps[k]->element[e];
			qsort(kvs, m, sizeof(*kvs), kv_cmp);
			size_t u = 0; /* a key SSCAN gave twice counts once */
			for (size_t k = 0; k < m; k++)
				if (!u || kv_cmp(&kvs[u - 1], &kvs[k]))
					kvs[u++] = kvs[k];
			struct mem_error merr = {0};
			if (thread_from_kvs(rs, (const redisReply *const *)kvs, u,
			                    steps[0]->element[0]->str, &out[i], &merr) < 0) {
				log_error(NULL, "checkpoint thread cannot be read for archival",
				          LF_STR("tenant", refs[i].tenant),
				          LF_STR("thread_id", refs[i].id),
				          LF_STR("error", merr.message));
				cp_thread_dump_release(&out[i]);
				out[i].malformed = true;
			}
			free(kvs);
			kvs = NULL;
		}
		redis_replies_free(nsteps, steps);
		free(steps);
		steps = NULL;
		nsteps = 0;
	}
	ret = 0;
out:
	if (ret < 0)
		for (size_t i = 0; i < n; i++)
			cp_thread_dump_release(&out[i]);
	if (steps)
		redis_replies_free(nsteps, steps);
	free(steps);
	free(kvs);
	redis_batch_release(&first);
	return ret;
}

int redis_thread_drop(struct store *s, const struct store_ref *refs,
                      const struct cp_thread_dump *dumps, size_t n, bool *dropped,
                      struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	/* per thread: the script, then (when it went) ZREM from the tenant index */
	struct redis_batch drops = {0}, zrem = {0};
	size_t *at = xcalloc(n + 1, sizeof(*at));
	struct buf b = {0};
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		dropped[i] = false;
		if (!dumps[i].digest)
			continue;
		thread_script(&drops, rs, &refs[i], "drop");
		redis_batch_str(&drops, dumps[i].digest);
		at[drops.n - 1] = i;
	}
	/* Safe to resend: a second drop of the same state finds it gone. */
	if (redis_batch_send(&drops, redis_store_conn(s), true, err) < 0)
		goto out;
	for (size_t j = 0; j < drops.n; j++) {
		if (drops.rep[j]->type != REDIS_REPLY_INTEGER) {
			redis_reply_fail(drops.rep[j], err, "thread drop");
			goto out;
		}
		size_t i = at[j];
		dropped[i] = drops.rep[j]->integer == 1;
		if (!dropped[i])
			continue;
		redis_key_tenant_index(&b, rs, refs[i].tenant);
		redis_batch_cmd(&zrem, "ZREM");
		redis_batch_buf(&zrem, &b);
		redis_batch_str(&zrem, refs[i].id);
	}
	/* The tenant index has its own hash tag; an entry left behind is
	 * pruned by the next list that meets it. */
	struct mem_error ierr = {0};
	if (redis_batch_send(&zrem, redis_store_conn(s), true, &ierr) < 0)
		log_warn(NULL, "thread index update failed after archival",
		         LF_STR("error", ierr.message));
	ret = 0;
out:
	redis_batch_release(&drops);
	redis_batch_release(&zrem);
	free(at);
	buf_release(&b);
	return ret;
}
