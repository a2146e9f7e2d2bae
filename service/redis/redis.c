#include "redis.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/redis_url.h"
#include "../../common/xalloc.h"
#include "batch.h"
#include "conn.h"
#include "sentinel.h"
#include "conversations.h"
#include "memory.h"

/* Lua sources, embedded from service/redis/lua/ at build time. */
extern const char lua_checkpoint_put[], lua_checkpoint_get[], lua_checkpoint_writes[],
    lua_thread_delete[], lua_thread_archive[];

enum { SCRIPT_PUT, SCRIPT_GET, SCRIPT_WRITES, SCRIPT_DELETE, SCRIPT_ARCHIVE, NSCRIPTS };
/* and the memory scripts (redis/memory.h) after them */
/* scripts[]: ours, the conversation ops', then the memory ops'. */
#define MEMORY_SCRIPTS_AT (NSCRIPTS + RCONV_NSCRIPTS)
#define NALLSCRIPTS       (MEMORY_SCRIPTS_AT + REDIS_MEMORY_NSCRIPTS)

/* How many tuples one pipelined round trip fetches while listing. */
#define LIST_BATCH 32

struct conn_slot {
	struct redis_store *rs;
	struct redis_conn *conn;
	struct conn_slot *prev, *next;
};

struct redis_store {
	struct store base;
	struct redis_url url;
	char *password;
	struct redis_tls *tls;
	struct redis_sentinel *sentinel; /* REDIS_SENTINELS; NULL: REDIS_URL's host */
	struct redis_cluster *cluster;   /* REDIS_CLUSTER_NODES; NULL: one primary */
	struct redis_conn_opts opts;
	const char *scripts[NALLSCRIPTS];
	char sha[NALLSCRIPTS][41]; /* the conversation ops keep theirs (redis/conversations.c) */
	long ttl;
	char *ttl_str;
	char *mem_ttl_str;   /* MEMORY_DEFAULT_TTL_SECONDS, for ttl-repair */
	bool mem_persistent; /* MEMORY_ALLOW_PERSISTENT: /memory keys may lack a TTL */
	char *prefix;
	struct redis_health health;
	pthread_key_t key;
	pthread_mutex_t lock;
	struct conn_slot *slots;
	struct rconv conv; /* the conversation ops' settings (redis/conversations.h) */
};

/* ---------- per-thread connections ---------- */

static void slot_unlink_free(struct conn_slot *slot)
{
	struct redis_store *rs = slot->rs;
	pthread_mutex_lock(&rs->lock);
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		rs->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
	pthread_mutex_unlock(&rs->lock);
	redis_conn_free(slot->conn);
	free(slot);
}

static void slot_destructor(void *p)
{
	slot_unlink_free(p);
}

/* The calling thread's connection, created on first use. */
static struct redis_conn *conn_get(struct redis_store *rs)
{
	struct conn_slot *slot = pthread_getspecific(rs->key);
	if (slot)
		return slot->conn;
	slot = xcalloc(1, sizeof(*slot));
	slot->rs = rs;
	slot->conn = redis_conn_new(&rs->opts, &rs->health);
	pthread_mutex_lock(&rs->lock);
	slot->next = rs->slots;
	if (rs->slots)
		rs->slots->prev = slot;
	rs->slots = slot;
	pthread_mutex_unlock(&rs->lock);
	pthread_setspecific(rs->key, slot);
	return slot->conn;
}

/* ---------- keys ---------- */

/* P:<kind>:{<tenant>:<thread>} */
static void key_thread_base(struct buf *b, const struct redis_store *rs, const char *kind,
                            const char *tenant, const char *thread)
{
	buf_reset(b);
	buf_puts(b, rs->prefix);
	buf_putc(b, ':');
	buf_puts(b, kind);
	buf_puts(b, ":{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, ':');
	key_encode(b, thread, strlen(thread));
	buf_putc(b, '}');
}

static void key_part(struct buf *b, const char *s)
{
	buf_putc(b, ':');
	key_encode(b, s, strlen(s));
}

/* P:head:TAG:<ns>: "<generation>|<latest checkpoint id>" of a namespace. */
static void key_head(struct buf *b, const struct redis_store *rs, const char *tenant,
                     const char *thread, const char *ns)
{
	key_thread_base(b, rs, "head", tenant, thread);
	key_part(b, ns);
}

static void key_tenant_index(struct buf *b, const struct redis_store *rs, const char *tenant)
{
	buf_reset(b);
	buf_puts(b, rs->prefix);
	buf_puts(b, ":threads:{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, '}');
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ZADD <key> <now ms> <member> and PEXPIRE <key> <ttl ms>: two commands of
 * b that list member in an index (a tenant's threads, a customer's
 * conversations) and keep the index as long as its newest entry. Takes
 * key's bytes. */
static void index_touch(struct redis_batch *b, struct buf *key, const char *member,
                        long ttl_seconds)
{
	char *k = xstrndup(key->data, key->len);
	size_t kl = key->len;
	redis_batch_cmd(b, "ZADD");
	redis_batch_buf(b, key);
	redis_batch_fmt(b, wall_ms());
	redis_batch_str(b, member);
	redis_batch_cmd(b, "PEXPIRE");
	redis_batch_own(b, k, kl);
	redis_batch_fmt(b, (long long)ttl_seconds * 1000);
}

/* ---------- put ---------- */

static int rs_put(struct store *s, const char *tenant, const struct cp_put *r,
                  struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch a = {0};
	struct buf b = {0}, channels = {0};
	int ret = -1;

	/* the blobs of versions this put does not write: their TTL is refreshed */
	bool *written = xcalloc(r->nversions + 1, sizeof(*written));
	cp_put_blobs_written(r, written);
	size_t nrefresh = 0;
	for (size_t i = 0; i < r->nversions; i++)
		nrefresh += !written[i];

	redis_batch_cmd(&a, "EVALSHA");
	redis_batch_str(&a, rs->sha[SCRIPT_PUT]);
	redis_batch_fmt(&a, (long long)(6 + r->nblobs + nrefresh));
	key_thread_base(&b, rs, "checkpoint", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	key_thread_base(&b, rs, "checkpoints", tenant, r->thread_id);
	key_part(&b, r->ns);
	redis_batch_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":keys");
	redis_batch_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":ns");
	redis_batch_buf(&a, &b);
	key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	key_head(&b, rs, tenant, r->thread_id, r->ns);
	redis_batch_buf(&a, &b);
	for (size_t i = 0; i < r->nblobs; i++) {
		key_thread_base(&b, rs, "blob", tenant, r->thread_id);
		key_part(&b, r->ns);
		key_part(&b, r->blobs[i].channel);
		key_part(&b, r->blobs[i].version);
		redis_batch_buf(&a, &b);
	}
	for (size_t i = 0; i < r->nversions; i++) {
		key_encode(&channels, r->versions[i].channel, strlen(r->versions[i].channel));
		buf_putc(&channels, ':');
		key_encode(&channels, r->versions[i].version, strlen(r->versions[i].version));
		buf_putc(&channels, '\n');
		if (written[i])
			continue; /* its SET gives it a fresh TTL */
		key_thread_base(&b, rs, "blob", tenant, r->thread_id);
		key_part(&b, r->ns);
		key_part(&b, r->versions[i].channel);
		key_part(&b, r->versions[i].version);
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
	redis_batch_fmt(&a, (long long)r->nblobs);
	for (size_t i = 0; i < r->nblobs; i++) {
		const struct typed_value *v = &r->blobs[i].value;
		buf_reset(&b);
		buf_puts(&b, v->type);
		buf_putc(&b, '\0');
		buf_append(&b, v->data, v->len);
		redis_batch_buf(&a, &b);
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	redis_batch_fmt(&a, (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	/* The tenant's thread index has its own hash tag (the tenant's), so it
	 * cannot live in the thread's script on a cluster: it is updated in the
	 * same round trip. Entries idle longer than the TTL are pruned when the
	 * index is read. */
	key_tenant_index(&b, rs, tenant);
	index_touch(&a, &b, r->thread_id, rs->ttl);

	if (redis_batch_send(&a, conn_get(rs), true, err) < 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (a.rep[i]->type != REDIS_REPLY_INTEGER) {
			redis_reply_fail(a.rep[i], err,
			                 i ? "thread index update" : "checkpoint put");
			goto out;
		}
	ret = 0;
out:
	redis_batch_release(&a);
	buf_release(&b);
	buf_release(&channels);
	return ret;
}

/* ---------- get ---------- */

static void owned_from_packed(struct owned_value *v, const char *s, size_t n)
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

/* Split a packed write: task_id NUL task_path NUL channel NUL idx NUL type NUL data. */
static int write_from_packed(struct cp_pending_write *w, const char *s, size_t n)
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
		owned_from_packed(&cv->value, val->str, val->len);
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
		    write_from_packed(&t->writes[t->nwrites], w->str, w->len) < 0)
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
	key_thread_base(&b, rs, "checkpoints", tenant, thread);
	key_part(&b, ns);
	redis_batch_buf(a, &b);
	key_head(&b, rs, tenant, thread, ns);
	redis_batch_buf(a, &b);
	key_thread_base(&b, rs, "checkpoint", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	key_thread_base(&b, rs, "writes", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	key_thread_base(&b, rs, "blob", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	redis_batch_buf(a, &b);
	redis_batch_str(a, id ? id : "");
	buf_release(&b);
}

static int rs_get(struct store *s, const char *tenant, const struct cp_get *req,
                  struct cp_tuple *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_batch a = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	get_args(rs, &a, tenant, req->thread_id, req->ns, req->checkpoint_id);
	if (redis_batch_send(&a, conn_get(rs), true, err) < 0)
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
static int rs_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                   char **version, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf k = {0};
	redisReply *rep = NULL;
	int ret = -1;

	*version = NULL;
	key_head(&k, rs, tenant, thread, ns);
	const char *av[] = {"GET", k.data};
	size_t al[] = {3, k.len};
	if (redis_conn_command(conn_get(rs), &rep, err, 2, av, al) < 0)
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

static int rs_list(struct store *s, const char *tenant, const struct cp_list *req,
                   struct cp_list_result *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = conn_get(rs);
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
		key_tenant_index(&b, rs, tenant);
		redis_batch_cmd(&idx, "ZREMRANGEBYSCORE");
		redis_batch_str(&idx, b.data);
		redis_batch_str(&idx, "-inf");
		char *cutoff = xasprintf("(%lld", wall_ms() - (long long)rs->ttl * 1000);
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
			key_thread_base(&b, rs, "thread", tenant, threads[i]);
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
		key_thread_base(&b, rs, "checkpoints", tenant, pairs[i].thread);
		key_part(&b, pairs[i].ns);
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

static int rs_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
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
	key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	redis_batch_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":keys");
	redis_batch_buf(&a, &b);
	key_head(&b, rs, tenant, r->thread_id, r->ns);
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
	if (redis_batch_send(&a, conn_get(rs), true, err) < 0)
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
static int rs_thread_delete(struct store *s, const char *tenant, const char *thread,
                            struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf kk = {0}, nk = {0}, b = {0};
	redisReply *rep = NULL;
	char cursor[32] = "0";
	int ret = -1;

	key_thread_base(&kk, rs, "thread", tenant, thread);
	buf_puts(&kk, ":keys");
	key_thread_base(&nk, rs, "thread", tenant, thread);
	buf_puts(&nk, ":ns");
	do {
		const char *av[] = {
		    "EVALSHA", rs->sha[SCRIPT_DELETE], "2", kk.data, nk.data, cursor, DELETE_STEP};
		if (redis_conn_command(conn_get(rs), &rep, err, 7, av, NULL) < 0)
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
	key_tenant_index(&b, rs, tenant);
	const char *zv[] = {"ZREM", b.data, thread};
	if (redis_conn_command(conn_get(rs), &rep, err, 3, zv, NULL) < 0)
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

/* ---------- operator tools ---------- */

static long long info_field(const char *info, const char *field)
{
	size_t n = strlen(field);
	for (const char *p = info; p && *p;) {
		if (!strncmp(p, field, n) && p[n] == ':')
			return atoll(p + n + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

#define BACKUP_WAIT_MS 60000

/* BGSAVE, then wait until no background save is in progress (bounded). */
static int rs_admin_backup(struct store *s, long long *last_save, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = conn_get(rs);
	redisReply *rep = NULL;
	const char *bg[] = {"BGSAVE"};
	const char *inf[] = {"INFO", "persistence"};
	const char *ls[] = {"LASTSAVE"};
	int ret = -1;

	if (rs->cluster)
		return mem_fail(
		    err, MEM_EINVALID_FIELD, NULL,
		    "on a Redis Cluster, back up each primary (BGSAVE on every node, or "
		    "their persistence): memoryd's commands reach one slot at a time");
	if (redis_conn_command(conn, &rep, err, 1, bg, NULL) < 0)
		goto out;
	if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "already in progress")) {
		redis_reply_fail(rep, err, "BGSAVE");
		goto out;
	}
	for (long long waited = 0;; waited += 100) {
		freeReplyObject(rep);
		rep = NULL;
		if (redis_conn_command(conn, &rep, err, 2, inf, NULL) < 0)
			goto out;
		if (!redis_reply_str(rep)) {
			redis_reply_fail(rep, err, "INFO persistence");
			goto out;
		}
		if (info_field(rep->str, "rdb_bgsave_in_progress") == 0) {
			if (strstr(rep->str, "rdb_last_bgsave_status:err")) {
				mem_fail(err, MEM_EUNAVAILABLE, NULL,
				         "redis reports the background save failed");
				goto out;
			}
			break;
		}
		if (waited >= BACKUP_WAIT_MS) {
			mem_fail(err, MEM_EUNAVAILABLE, NULL,
			         "the background save still runs after %d s",
			         BACKUP_WAIT_MS / 1000);
			goto out;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	freeReplyObject(rep);
	rep = NULL;
	if (redis_conn_command(conn, &rep, err, 1, ls, NULL) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep, err, "LASTSAVE");
		goto out;
	}
	*last_save = rep->integer;
	ret = 0;
out:
	freeReplyObject(rep);
	return ret;
}

#define SCAN_COUNT "1000"

/* SCAN our prefix; for each batch, TTL of every key in one pipeline, then
 * EXPIRE for those without one. */
static int rs_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = conn_get(rs);
	char cursor[32] = "0";
	char *pattern = xasprintf("%s:*", rs->prefix);
	size_t plen = strlen(rs->prefix); /* every key SCAN gives starts with it */
	redisReply *scan = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	do {
		const char *av[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
		if (redis_conn_command(conn, &scan, err, 6, av, NULL) < 0)
			goto out;
		if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) {
			redis_reply_fail(scan, err, "SCAN");
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", scan->element[0]->str);
		redisReply *keys = scan->element[1];
		size_t n = keys->elements;
		struct redis_batch ttls = {0}, fix = {0};
		for (size_t i = 0; i < n; i++) {
			redis_batch_cmd(&ttls, "TTL");
			redis_batch_arg(&ttls, keys->element[i]->str, keys->element[i]->len);
		}
		int rc = redis_batch_send(&ttls, conn, true, err);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (ttls.rep[i]->type != REDIS_REPLY_INTEGER || ttls.rep[i]->integer != -1)
				continue;
			/* /memory keys: their own default, and none at all when
			 * items may be persistent (no TTL is then deliberate) */
			bool mem = !strncmp(keys->element[i]->str + plen, ":memory", 7);
			if (mem && rs->mem_persistent)
				continue;
			redis_batch_cmd(&fix, "EXPIRE");
			redis_batch_arg(&fix, keys->element[i]->str, keys->element[i]->len);
			redis_batch_str(&fix, mem ? rs->mem_ttl_str : rs->ttl_str);
		}
		if (rc == 0)
			rc = redis_batch_send(&fix, conn, true, err);
		for (size_t i = 0; rc == 0 && i < fix.n; i++)
			if (fix.rep[i]->type == REDIS_REPLY_INTEGER && fix.rep[i]->integer == 1)
				out->changed++;
		out->scanned += (long long)n;
		redis_batch_release(&ttls);
		redis_batch_release(&fix);
		if (rc < 0)
			goto out;
		freeReplyObject(scan);
		scan = NULL;
	} while (strcmp(cursor, "0"));
	if (out->changed)
		log_warn(NULL, "ttl repair gave keys without a TTL the default TTL",
		         LF_INT("fixed", out->changed), LF_INT("scanned", out->scanned));
	ret = 0;
out:
	freeReplyObject(scan);
	free(pattern);
	return ret;
}

/* Every key in the thread's registry, with TYPE, PTTL and MEMORY USAGE. */
static int rs_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
                                struct store_keys *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = conn_get(rs);
	struct buf key = {0};
	struct redis_batch b = {0};
	redisReply *members = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	key_thread_base(&key, rs, "thread", tenant, thread);
	buf_puts(&key, ":keys");
	const char *av[] = {"SMEMBERS", key.data};
	if (redis_conn_command(conn, &members, err, 2, av, NULL) < 0)
		goto out;
	if (members->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(members, err, "SMEMBERS");
		goto out;
	}
	size_t n = members->elements;
	/* the registry itself and the namespace set are the thread's too */
	size_t total = n + 2;
	const char **names = xcalloc(total, sizeof(*names));
	struct buf extra[2] = {{0}, {0}};
	key_thread_base(&extra[0], rs, "thread", tenant, thread);
	buf_puts(&extra[0], ":keys");
	key_thread_base(&extra[1], rs, "thread", tenant, thread);
	buf_puts(&extra[1], ":ns");
	for (size_t i = 0; i < total; i++) {
		const char *k = i < n ? members->element[i]->str : extra[i - n].data;
		size_t kl = i < n ? members->element[i]->len : extra[i - n].len;
		names[i] = k;
		redis_batch_cmd(&b, "TYPE");
		redis_batch_arg(&b, k, kl);
		redis_batch_cmd(&b, "PTTL");
		redis_batch_arg(&b, k, kl);
		redis_batch_cmd(&b, "MEMORY");
		redis_batch_str(&b, "USAGE");
		redis_batch_arg(&b, k, kl);
	}
	if (redis_batch_send(&b, conn, true, err) == 0) {
		out->v = xcalloc(total, sizeof(*out->v));
		for (size_t i = 0; i < total; i++) {
			redisReply *t = b.rep[3 * i], *ttl = b.rep[3 * i + 1],
			           *mem = b.rep[3 * i + 2];
			if (!redis_reply_str(t) || !strcmp(t->str, "none"))
				continue; /* listed but expired or never written */
			struct store_key *k = &out->v[out->n++];
			k->name = xstrdup(names[i]);
			k->type = xstrdup(t->str);
			k->ttl_ms = ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2;
			k->bytes = mem->type == REDIS_REPLY_INTEGER ? mem->integer : -1;
		}
		ret = 0;
	}
	free(names);
	buf_release(&extra[0]);
	buf_release(&extra[1]);
out:
	redis_batch_release(&b);
	freeReplyObject(members);
	buf_release(&key);
	return ret;
}

/* Remove one checkpoint: its hash, its writes and its index entry; the head
 * of the namespace goes too when it named it (the next read repairs it). */
static int rs_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                                      const char *ns, const char *id, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf k = {0}, hk = {0};
	struct redis_batch b = {0};
	redisReply *del = NULL;
	char *head_id = NULL;
	int ret = -1;

	key_head(&hk, rs, tenant, thread, ns);
	redis_batch_cmd(&b, "GET");
	redis_batch_str(&b, hk.data);
	redis_batch_cmd(&b, "UNLINK");
	key_thread_base(&k, rs, "checkpoint", tenant, thread);
	key_part(&k, ns);
	key_part(&k, id);
	redis_batch_buf(&b, &k);
	key_thread_base(&k, rs, "writes", tenant, thread);
	key_part(&k, ns);
	key_part(&k, id);
	redis_batch_buf(&b, &k);
	redis_batch_cmd(&b, "ZREM");
	key_thread_base(&k, rs, "checkpoints", tenant, thread);
	key_part(&k, ns);
	redis_batch_buf(&b, &k);
	redis_batch_str(&b, id);
	if (redis_batch_send(&b, conn_get(rs), true, err) < 0)
		goto out;
	redisReply **rep = b.rep;
	if (rep[1]->type != REDIS_REPLY_INTEGER || rep[2]->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep[1]->type != REDIS_REPLY_INTEGER ? rep[1] : rep[2], err,
		                 "checkpoint delete");
		goto out;
	}
	if (redis_reply_str(rep[0])) {
		const char *bar = strchr(rep[0]->str, '|');
		head_id = bar ? xstrdup(bar + 1) : NULL;
	}
	if (head_id && !strcmp(head_id, id)) {
		const char *a3[] = {"DEL", hk.data};
		if (redis_conn_command(conn_get(rs), &del, err, 2, a3, NULL) < 0)
			goto out;
	}
	if (rep[1]->integer == 0 && rep[2]->integer == 0) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no checkpoint %s in thread %s", id, thread);
		goto out;
	}
	log_warn(NULL, "checkpoint removed by an operator", LF_STR("tenant", tenant),
	         LF_STR("thread_id", thread), LF_STR("checkpoint_ns", ns),
	         LF_STR("checkpoint_id", id));
	ret = 0;
out:
	free(head_id);
	freeReplyObject(del);
	redis_batch_release(&b);
	buf_release(&k);
	buf_release(&hk);
	return ret;
}

/* SCAN for keys matching pattern (its glob characters are ours: ids are
 * encoded) and UNLINK them batch by batch. */
int redis_store_unlink_matching(struct store *s, const char *pattern, struct admin_counts *out,
                                struct mem_error *err)
{
	struct redis_conn *conn = conn_get((struct redis_store *)s);
	redisReply *scan = NULL, *del = NULL;
	char cursor[32] = "0";
	int ret = -1;

	do {
		const char *av[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT};
		if (redis_conn_command(conn, &scan, err, 6, av, NULL) < 0)
			goto out;
		if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2) {
			redis_reply_fail(scan, err, "SCAN");
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", scan->element[0]->str);
		redisReply *keys = scan->element[1];
		out->scanned += (long long)keys->elements;
		if (keys->elements) {
			size_t n = keys->elements + 1;
			const char **argv = xcalloc(n, sizeof(*argv));
			size_t *lens = xcalloc(n, sizeof(*lens));
			argv[0] = "UNLINK";
			lens[0] = 6;
			for (size_t i = 1; i < n; i++) {
				argv[i] = keys->element[i - 1]->str;
				lens[i] = keys->element[i - 1]->len;
			}
			int rc = redis_conn_command(conn, &del, err, (int)n, argv, lens);
			free(argv);
			free(lens);
			if (rc < 0)
				goto out;
			if (del->type == REDIS_REPLY_INTEGER)
				out->changed += del->integer;
			freeReplyObject(del);
			del = NULL;
		}
		freeReplyObject(scan);
		scan = NULL;
	} while (strcmp(cursor, "0"));
	ret = 0;
out:
	freeReplyObject(scan);
	freeReplyObject(del);
	return ret;
}

/* Every key of the tenant: checkpoints (P:*:{tenant:*} and its thread
 * index), conversations (CONV_KEY_PREFIX) and /memory (P:memory*:{tenant}*). */
static int rs_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                                  struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf pat = {0}, mem = {0}, idx = {0};
	redisReply *del = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	buf_puts(&pat, rs->prefix);
	buf_puts(&pat, ":*:{");
	key_encode(&pat, tenant, strlen(tenant));
	buf_puts(&pat, ":*");
	buf_puts(&mem, rs->prefix);
	buf_puts(&mem, ":memory*:{");
	key_encode(&mem, tenant, strlen(tenant));
	buf_puts(&mem, "}*");
	if (redis_store_unlink_matching(s, pat.data, out, err) < 0 ||
	    rconv_tenant_delete(s, tenant, out, err) < 0 ||
	    redis_store_unlink_matching(s, mem.data, out, err) < 0)
		goto out;
	key_tenant_index(&idx, rs, tenant);
	const char *ai[] = {"UNLINK", idx.data};
	if (redis_conn_command(conn_get(rs), &del, err, 2, ai, NULL) < 0)
		goto out;
	if (del->type == REDIS_REPLY_INTEGER)
		out->changed += del->integer;
	log_warn(NULL, "tenant forgotten by an operator", LF_STR("tenant", tenant),
	         LF_INT("keys_deleted", out->changed));
	ret = 0;
out:
	freeReplyObject(del);
	buf_release(&pat);
	buf_release(&mem);
	buf_release(&idx);
	return ret;
}

/* ---------- health ---------- */

/* ---------- the archiver (store_ops.thread_scan, thread_dump, thread_drop) ---------- */

#define ARCHIVE_SCAN_COUNT "500"

/* The tenant and id inside a hash tag, "<tenant>:<id>" (encoded). */
static int tag_ref(const char *tag, size_t n, struct store_ref *out)
{
	const char *colon = memchr(tag, ':', n);
	if (!colon)
		return -1;
	out->tenant = key_decode(tag, (size_t)(colon - tag));
	out->id = key_decode(colon + 1, n - (size_t)(colon - tag) - 1);
	if (out->tenant && out->id)
		return 0;
	free(out->tenant);
	free(out->id);
	return -1;
}

int redis_store_scan_refs(struct store *s, char cursor[32], const char *head, const char *tail,
                          struct store_refs *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	char *pattern = xasprintf("%s{*}%s", head, tail);
	size_t hl = strlen(head) + 1, tl = strlen(tail) + 1;
	redisReply *scan = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	const char *av[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", ARCHIVE_SCAN_COUNT};
	if (redis_conn_command(conn_get(rs), &scan, err, 6, av, NULL) < 0)
		goto out;
	if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 ||
	    !redis_reply_str(scan->element[0]) || scan->element[1]->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(scan, err, "SCAN");
		goto out;
	}
	snprintf(cursor, 32, "%s", scan->element[0]->str);
	const redisReply *keys = scan->element[1];
	out->v = xcalloc(keys->elements + 1, sizeof(*out->v));
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		/* "<prefix><head>{" TAG "}<tail>": what MATCH let through */
		if (redis_reply_str(k) && k->len > hl + tl && k->str[k->len - tl] == '}' &&
		    tag_ref(k->str + hl, k->len - hl - tl, &out->v[out->n]) == 0)
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

static int rs_thread_scan(struct store *s, char cursor[32], struct store_refs *out,
                          struct mem_error *err)
{
	char *head = xasprintf("%s:thread:", ((struct redis_store *)s)->prefix);
	int rc = redis_store_scan_refs(s, cursor, head, ":keys", out, err);
	free(head);
	return rc;
}

/* The kind and the decoded components after the tag of one of our keys,
 * "P:<kind>:{TAG}:<c1>:<c2>...": *n of them (at most max) into parts
 * (caller frees each). -1 when the key is not of that form. */
static int key_components(const struct redis_store *rs, const char *k, size_t n, char *kind,
                          size_t kind_max, char **parts, size_t max, size_t *nparts)
{
	size_t plen = strlen(rs->prefix);
	*nparts = 0;
	if (n <= plen + 1 || memcmp(k, rs->prefix, plen) || k[plen] != ':')
		return -1;
	const char *end = k + n, *p = k + plen + 1;
	const char *brace = memchr(p, '{', (size_t)(end - p));
	if (!brace || brace == p || brace[-1] != ':' || (size_t)(brace - p - 1) >= kind_max)
		return -1;
	memcpy(kind, p, (size_t)(brace - p - 1));
	kind[brace - p - 1] = '\0';
	const char *close = memchr(brace, '}', (size_t)(end - brace));
	if (!close)
		return -1;
	for (p = close + 1; p < end && *p == ':';) {
		const char *q = p + 1, *next = memchr(q, ':', (size_t)(end - q));
		if (!next)
			next = end;
		if (*nparts == max || !(parts[*nparts] = key_decode(q, (size_t)(next - q))))
			goto bad;
		(*nparts)++;
		p = next;
	}
	if (p == end)
		return 0;
bad:
	for (size_t i = 0; i < *nparts; i++)
		free(parts[i]);
	*nparts = 0;
	return -1;
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
		if (key_components(rs, key->str, key->len, kind, sizeof(kind), parts, 4, &np) < 0)
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
			owned_from_packed(&b->value, vals->element[0]->str, vals->element[0]->len);
		} else if (!strcmp(kind, "writes") && np == 2) {
			for (size_t j = 1; j < vals->elements && !bad; j += 2) {
				if (d->nwrites == wcap) {
					wcap *= 2;
					d->writes = xrealloc(d->writes, wcap * sizeof(*d->writes));
					memset(d->writes + d->nwrites, 0,
					       (wcap - d->nwrites) * sizeof(*d->writes));
				}
				struct cp_archived_write *w = &d->writes[d->nwrites];
				if (write_from_packed(&w->w, vals->element[j]->str,
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
	key_thread_base(&b, rs, "thread", r->tenant, r->id);
	buf_puts(&b, ":keys");
	redis_batch_buf(a, &b);
	key_thread_base(&b, rs, "thread", r->tenant, r->id);
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
static int rs_thread_dump(struct store *s, const struct store_ref *refs, size_t n,
                          long long idle_ms, struct cp_thread_dump *out, struct mem_error *err)
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
	if (redis_batch_send(&first, conn_get(rs), true, err) < 0)
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
			int rc = redis_batch_send(&next, conn_get(rs), true, err);
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

static int rs_thread_drop(struct store *s, const struct store_ref *refs,
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
	if (redis_batch_send(&drops, conn_get(rs), true, err) < 0)
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
		key_tenant_index(&b, rs, refs[i].tenant);
		redis_batch_cmd(&zrem, "ZREM");
		redis_batch_buf(&zrem, &b);
		redis_batch_str(&zrem, refs[i].id);
	}
	/* The tenant index has its own hash tag; an entry left behind is
	 * pruned by the next list that meets it. */
	struct mem_error ierr = {0};
	if (redis_batch_send(&zrem, conn_get(rs), true, &ierr) < 0)
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

static int rs_ping(struct store *s, struct store_status *st)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct mem_error err = {0};
	redisReply *rep = NULL;
	struct timespec t0, t1;
	const char *av[] = {"PING"};

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = redis_conn_command(conn_get(rs), &rep, &err, 1, av, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->latency_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (rc == 0 && rep->type == REDIS_REPLY_ERROR) {
		snprintf(st->detail, sizeof(st->detail), "PING: %.120s", rep->str);
		rc = -1;
	} else if (rc < 0) {
		snprintf(st->detail, sizeof(st->detail), "%s", err.message);
	}
	st->reachable = rc == 0;
	st->state = redis_state_name(
	    (enum redis_state)__atomic_load_n(&rs->health.state, __ATOMIC_RELAXED));
	st->reconnect_attempts = __atomic_load_n(&rs->health.reconnect_attempts, __ATOMIC_RELAXED);
	freeReplyObject(rep);
	return rc;
}

/* INFO memory, stats and persistence, parsed into out. */
static int rs_info(struct store *s, struct store_info *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	redisReply *rep = NULL;
	const char *av[] = {"INFO", "memory", "stats", "persistence"};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->reconnects = __atomic_load_n(&rs->health.reconnects, __ATOMIC_RELAXED);
	if (redis_conn_command(conn_get(rs), &rep, err, 4, av, NULL) < 0)
		goto out;
	if (!redis_reply_str(rep)) {
		redis_reply_fail(rep, err, "INFO");
		goto out;
	}
	long long last_save = 0, now = wall_ms() / 1000;
	out->has_memory = true;
	out->rdb_last_save_age_seconds = -1;
	for (char *line = rep->str; line && *line;) {
		char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char field[64], value[64];
		const char *colon = memchr(line, ':', n);
		if (colon && (size_t)(colon - line) < sizeof(field)) {
			size_t fl = (size_t)(colon - line), vl = n - fl - 1;
			if (vl && colon[vl] == '\r')
				vl--;
			if (vl >= sizeof(value))
				vl = sizeof(value) - 1;
			memcpy(field, line, fl);
			field[fl] = '\0';
			memcpy(value, colon + 1, vl);
			value[vl] = '\0';
			if (!strcmp(field, "used_memory"))
				out->used_memory = atoll(value);
			else if (!strcmp(field, "maxmemory"))
				out->maxmemory = atoll(value);
			else if (!strcmp(field, "maxmemory_policy"))
				snprintf(out->maxmemory_policy, sizeof(out->maxmemory_policy), "%s",
				         value);
			else if (!strcmp(field, "evicted_keys"))
				out->evicted_keys = atoll(value);
			else if (!strcmp(field, "rdb_last_save_time"))
				last_save = atoll(value);
			else if (!strcmp(field, "aof_enabled"))
				out->aof_enabled = atoi(value) == 1;
		}
		line = eol ? eol + 1 : NULL;
	}
	if (last_save > 0)
		out->rdb_last_save_age_seconds = now > last_save ? now - last_save : 0;
	ret = 0;
out:
	freeReplyObject(rep);
	return ret;
}

/* ---------- what the memory ops (redis/memory.c) borrow ---------- */

struct redis_conn *redis_store_conn(struct store *s)
{
	return conn_get((struct redis_store *)s);
}

const char *redis_store_prefix(const struct store *s)
{
	return ((const struct redis_store *)s)->prefix;
}

const char *redis_store_memory_sha(const struct store *s, int i)
{
	return ((const struct redis_store *)s)->sha[MEMORY_SCRIPTS_AT + i];
}

/* ---------- lifecycle ---------- */

static void rs_free(struct store *s)
{
	struct redis_store *rs = (struct redis_store *)s;
	if (!rs)
		return;
	pthread_key_delete(rs->key);
	while (rs->slots) {
		struct conn_slot *slot = rs->slots;
		rs->slots = slot->next;
		redis_conn_free(slot->conn);
		free(slot);
	}
	pthread_mutex_destroy(&rs->lock);
	redis_sentinel_free(rs->sentinel);
	redis_cluster_free(rs->cluster);
	redis_tls_free(rs->tls);
	redis_url_release(&rs->url);
	free(rs->password);
	free(rs->prefix);
	free(rs->ttl_str);
	free(rs->mem_ttl_str);
	rconv_release(&rs->conv);
	free(rs);
}

const struct store_ops redis_store_ops = {
    .name = "redis",
    .checkpoint_put = rs_put,
    .checkpoint_get = rs_get,
    .checkpoint_head = rs_head,
    .checkpoint_list = rs_list,
    .checkpoint_put_writes = rs_put_writes,
    .thread_delete = rs_thread_delete,
    .ping = rs_ping,
    .admin_backup = rs_admin_backup,
    .admin_ttl_repair = rs_admin_ttl_repair,
    .admin_thread_keys = rs_admin_thread_keys,
    .admin_checkpoint_delete = rs_admin_checkpoint_delete,
    .admin_tenant_delete = rs_admin_tenant_delete,
    .info = rs_info,
    .conv_append = rconv_append,
    .conv_read = rconv_read,
    .conv_meta = rconv_meta,
    .conv_held = rconv_held,
    .conv_update = rconv_update,
    .conv_list = rconv_list,
    .conv_delete = rconv_delete,
    .conv_overflow = rconv_overflow,
    .conv_trim = rconv_trim,
    .conv_scan = rconv_scan,
    .thread_scan = rs_thread_scan,
    .thread_dump = rs_thread_dump,
    .thread_drop = rs_thread_drop,
    .conv_dump = rconv_dump,
    .conv_drop = rconv_drop,
    .memory_put = redis_memory_put,
    .memory_get = redis_memory_get,
    .memory_delete = redis_memory_delete,
    .memory_scan = redis_memory_scan,
    .memory_cleanup = redis_memory_cleanup,
    .memory_namespaces = redis_memory_namespaces,
    .free = rs_free,
};

/* What the conversation ops (redis/conversations.c) borrow from this store (and
 * redis_store_conn, above). */
const struct rconv *redis_store_conv(const struct store *s)
{
	return &((const struct redis_store *)s)->conv;
}

struct store *redis_store_new(const struct config *cfg, struct mem_error *err)
{
	struct redis_store *rs = xcalloc(1, sizeof(*rs));
	rs->base.ops = &redis_store_ops;
	pthread_mutex_init(&rs->lock, NULL);
	if (pthread_key_create(&rs->key, slot_destructor) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot create a thread key");
		pthread_mutex_destroy(&rs->lock);
		free(rs);
		return NULL;
	}
	if (redis_url_parse(cfg->redis_url, &rs->url, err) < 0)
		goto fail;
	rs->password = rs->url.password      ? xstrdup(rs->url.password)
	               : cfg->redis_password ? xstrdup(cfg->redis_password)
	                                     : NULL;
	if (rs->url.tls) {
		rs->tls = redis_tls_new(cfg->redis_tls_ca_file, err);
		if (!rs->tls)
			goto fail;
	}
	if (cfg->redis_sentinels && *cfg->redis_sentinels) {
		rs->sentinel = redis_sentinel_new(cfg->redis_sentinels, cfg->redis_sentinel_master,
		                                  cfg->redis_sentinel_password,
		                                  (int)cfg->redis_connect_timeout_ms, err);
		if (!rs->sentinel)
			goto fail;
	}
	if (cfg->redis_cluster_nodes && *cfg->redis_cluster_nodes) {
		if (rs->url.db)
			mem_fail(err, MEM_EINVALID_FIELD, "REDIS_URL",
			         "a Redis Cluster has database 0 only: REDIS_URL names %d",
			         rs->url.db);
		rs->cluster = rs->url.db ? NULL : redis_cluster_new(cfg->redis_cluster_nodes, err);
		if (!rs->cluster)
			goto fail;
	}
	rs->prefix = xstrdup(cfg->key_prefix);
	rs->ttl = cfg->checkpoint_ttl_seconds;
	rs->ttl_str = xasprintf("%ld", rs->ttl);
	rs->mem_ttl_str = xasprintf("%ld", cfg->memory_default_ttl_seconds);
	rs->mem_persistent = cfg->memory_allow_persistent != 0;
	rs->scripts[SCRIPT_PUT] = lua_checkpoint_put;
	rs->scripts[SCRIPT_GET] = lua_checkpoint_get;
	rs->scripts[SCRIPT_WRITES] = lua_checkpoint_writes;
	rs->scripts[SCRIPT_DELETE] = lua_thread_delete;
	rs->scripts[SCRIPT_ARCHIVE] = lua_thread_archive;
	for (int i = 0; i < NSCRIPTS; i++)
		redis_script_sha(rs->scripts[i], rs->sha[i]);
	/* With Redis primary and DATABASE_URL, the service archives what is
	 * beyond CONV_MAX_MESSAGES before Redis drops it (conv_service.h). */
	rconv_init(&rs->conv, cfg,
	           cfg->database_url && *cfg->database_url && !strcmp(cfg->store_primary, "redis"));
	for (int i = 0; i < RCONV_NSCRIPTS; i++)
		rs->scripts[NSCRIPTS + i] = rconv_scripts[i];
	for (int i = 0; i < REDIS_MEMORY_NSCRIPTS; i++) {
		rs->scripts[MEMORY_SCRIPTS_AT + i] = redis_memory_scripts[i];
		redis_script_sha(rs->scripts[MEMORY_SCRIPTS_AT + i],
		                 rs->sha[MEMORY_SCRIPTS_AT + i]);
	}
	rs->opts = (struct redis_conn_opts){
	    .host = rs->url.host,
	    .port = rs->url.port,
	    .tls = rs->tls,
	    .user = rs->url.user,
	    .password = rs->password,
	    .db = rs->url.db,
	    .connect_timeout_ms = (int)cfg->redis_connect_timeout_ms,
	    .socket_timeout_ms = (int)cfg->redis_socket_timeout_ms,
	    .max_reconnect_attempts = (int)cfg->max_reconnect_attempts,
	    .scripts = rs->scripts,
	    .nscripts = NALLSCRIPTS,
	    .sentinel = rs->sentinel,
	    .cluster = rs->cluster,
	    .wait_replicas = (int)cfg->redis_wait_replicas,
	    .wait_timeout_ms = (int)cfg->redis_wait_timeout_ms,
	};
	rs->health.state = REDIS_STATE_RECONNECTING;
	return &rs->base;
fail:
	rs_free(&rs->base);
	return NULL;
}
