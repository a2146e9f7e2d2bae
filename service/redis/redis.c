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

/* ---------- argument vectors ---------- */

struct args {
	int n, cap;
	const char **v;
	size_t *l;
	char **own;
	int nown, capown;
};

static void args_add(struct args *a, const char *s, size_t len)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = xrealloc(a->v, (size_t)a->cap * sizeof(*a->v));
		a->l = xrealloc(a->l, (size_t)a->cap * sizeof(*a->l));
	}
	a->v[a->n] = s;
	a->l[a->n] = len;
	a->n++;
}

static void args_adds(struct args *a, const char *s)
{
	args_add(a, s, strlen(s));
}

/* Steals s (malloc'd). */
static void args_add_owned(struct args *a, char *s, size_t len)
{
	if (a->nown == a->capown) {
		a->capown = a->capown ? a->capown * 2 : 16;
		a->own = xrealloc(a->own, (size_t)a->capown * sizeof(*a->own));
	}
	a->own[a->nown++] = s;
	args_add(a, s, len);
}

static void args_add_buf(struct args *a, struct buf *b)
{
	size_t len;
	char *s = buf_detach(b, &len);
	args_add_owned(a, s, len);
}

static void args_release(struct args *a)
{
	for (int i = 0; i < a->nown; i++)
		free(a->own[i]);
	free(a->own);
	free(a->v);
	free(a->l);
	memset(a, 0, sizeof(*a));
}

static struct redis_cmd args_cmd(const struct args *a)
{
	return (struct redis_cmd){.argc = a->n, .argv = a->v, .argvlen = a->l};
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

/* ---------- replies ---------- */

static int reply_fail(const redisReply *r, struct mem_error *err, const char *what)
{
	if (!r)
		return mem_fail(err, MEM_EINTERNAL, NULL, "redis %s: no reply", what);
	if (r->type == REDIS_REPLY_ERROR) {
		static const char *transient[] = {"OOM",        "READONLY",    "LOADING", "BUSY",
		                                  "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"};
		for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
			if (!strncmp(r->str, transient[i], strlen(transient[i])))
				return mem_fail(err, MEM_EUNAVAILABLE, NULL,
				                "redis refused %s: %.120s", what, r->str);
		log_error(NULL, "redis error reply", LF_STR("command", what),
		          LF_STR("error", r->str));
		return mem_fail(err, MEM_EINTERNAL, NULL, "redis error on %s: %.120s", what,
		                r->str);
	}
	return mem_fail(err, MEM_EINTERNAL, NULL, "redis %s: unexpected reply type %d", what,
	                r->type);
}

static void free_replies(size_t n, redisReply **r)
{
	for (size_t i = 0; i < n; i++)
		freeReplyObject(r[i]);
}

static long long wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The two commands that keep the tenant's thread index current, sent in the
 * same round trip as the write they accompany. The index has its own hash tag
 * (the tenant's), so it cannot live in the thread's script on a cluster.
 * Entries idle longer than the TTL are pruned when the index is read. */
static void tenant_index_touch(struct redis_store *rs, const char *tenant, const char *thread,
                               struct args *zadd, struct args *pexp)
{
	struct buf k = {0};
	key_tenant_index(&k, rs, tenant);
	char *key = buf_detach(&k, NULL);
	char *now = xasprintf("%lld", wall_ms());
	char *ms = xasprintf("%lld", (long long)rs->ttl * 1000);
	args_adds(zadd, "ZADD");
	args_add_owned(zadd, xstrdup(key), strlen(key));
	args_add_owned(zadd, now, strlen(now));
	args_adds(zadd, thread);
	args_adds(pexp, "PEXPIRE");
	args_add_owned(pexp, key, strlen(key));
	args_add_owned(pexp, ms, strlen(ms));
}

/* ---------- put ---------- */

static int rs_put(struct store *s, const char *tenant, const struct cp_put *r,
                  struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct args a = {0}, zadd = {0}, pexp = {0};
	struct buf b = {0};
	redisReply *rep[3] = {0};
	int ret = -1;

	args_adds(&a, "EVALSHA");
	args_adds(&a, rs->sha[SCRIPT_PUT]);
	int numkeys_at = a.nown, numkeys_arg = a.n; /* rewritten once the keys are counted */
	char *numkeys = xasprintf("%zu", (size_t)0);
	args_add_owned(&a, numkeys, strlen(numkeys));

	key_thread_base(&b, rs, "checkpoint", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	args_add_buf(&a, &b);
	key_thread_base(&b, rs, "checkpoints", tenant, r->thread_id);
	key_part(&b, r->ns);
	args_add_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":keys");
	args_add_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":ns");
	args_add_buf(&a, &b);
	key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	args_add_buf(&a, &b);
	key_head(&b, rs, tenant, r->thread_id, r->ns);
	args_add_buf(&a, &b);
	for (size_t i = 0; i < r->nblobs; i++) {
		key_thread_base(&b, rs, "blob", tenant, r->thread_id);
		key_part(&b, r->ns);
		key_part(&b, r->blobs[i].channel);
		key_part(&b, r->blobs[i].version);
		args_add_buf(&a, &b);
	}
	struct buf channels = {0};
	size_t nrefresh = 0;
	bool *written = xcalloc(r->nversions + 1, sizeof(*written));
	cp_put_blobs_written(r, written);
	for (size_t i = 0; i < r->nversions; i++) {
		key_encode(&channels, r->versions[i].channel, strlen(r->versions[i].channel));
		buf_putc(&channels, ':');
		key_encode(&channels, r->versions[i].version, strlen(r->versions[i].version));
		buf_putc(&channels, '\n');
		if (written[i])
			continue; /* its SET gives it a fresh TTL */
		nrefresh++;
		key_thread_base(&b, rs, "blob", tenant, r->thread_id);
		key_part(&b, r->ns);
		key_part(&b, r->versions[i].channel);
		key_part(&b, r->versions[i].version);
		args_add_buf(&a, &b);
	}
	free(written);
	free(a.own[numkeys_at]);
	a.own[numkeys_at] = xasprintf("%zu", 6 + r->nblobs + nrefresh);
	a.v[numkeys_arg] = a.own[numkeys_at];
	a.l[numkeys_arg] = strlen(a.v[numkeys_arg]);
	args_add(&a, rs->ttl_str, strlen(rs->ttl_str));
	args_adds(&a, r->checkpoint_id);
	args_adds(&a, r->checkpoint_json);
	args_adds(&a, r->metadata_json ? r->metadata_json : "{}");
	args_adds(&a, r->parent_id ? r->parent_id : "");
	if (!channels.data)
		buf_reserve(&channels, 0);
	args_add_buf(&a, &channels);
	args_adds(&a, r->ns);
	char *nb = xasprintf("%zu", r->nblobs);
	args_add_owned(&a, nb, strlen(nb));
	for (size_t i = 0; i < r->nblobs; i++) {
		const struct typed_value *v = &r->blobs[i].value;
		buf_reset(&b);
		buf_puts(&b, v->type);
		buf_putc(&b, '\0');
		buf_append(&b, v->data, v->len);
		args_add_buf(&a, &b);
	}
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	char *gen = xasprintf("%lld", (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	args_add_owned(&a, gen, strlen(gen));
	tenant_index_touch(rs, tenant, r->thread_id, &zadd, &pexp);

	struct redis_cmd cmds[3] = {args_cmd(&a), args_cmd(&zadd), args_cmd(&pexp)};
	if (redis_conn_pipeline(conn_get(rs), 3, cmds, rep, true, err) < 0)
		goto out;
	for (int i = 0; i < 3; i++)
		if (rep[i]->type != REDIS_REPLY_INTEGER) {
			reply_fail(rep[i], err, i ? "thread index update" : "checkpoint put");
			goto out;
		}
	ret = 0;
out:
	free_replies(3, rep);
	args_release(&a);
	args_release(&zadd);
	args_release(&pexp);
	buf_release(&b);
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

static bool is_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

/* Parse the get script's reply; 1 = found, 0 = nil, -1 = malformed. */
static int tuple_from_reply(const redisReply *r, const char *thread, const char *ns,
                            struct cp_tuple *t, char **head, struct mem_error *err)
{
	memset(t, 0, sizeof(*t));
	if (r->type == REDIS_REPLY_NIL)
		return 0;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 8 || !is_str(r->element[0]) ||
	    !is_str(r->element[1]) || r->element[4]->type != REDIS_REPLY_ARRAY ||
	    r->element[5]->type != REDIS_REPLY_ARRAY || r->element[6]->type != REDIS_REPLY_ARRAY)
		return reply_fail(r, err, "checkpoint get");
	if (head && is_str(r->element[7]))
		*head = xstrndup(r->element[7]->str, r->element[7]->len);
	t->thread_id = xstrdup(thread);
	t->ns = xstrdup(ns);
	t->checkpoint_id = xstrndup(r->element[0]->str, r->element[0]->len);
	t->checkpoint_json = xstrndup(r->element[1]->str, r->element[1]->len);
	t->metadata_json = is_str(r->element[2]) ? xstrndup(r->element[2]->str, r->element[2]->len)
	                                         : xstrdup("{}");
	if (is_str(r->element[3]) && r->element[3]->len)
		t->parent_id = xstrndup(r->element[3]->str, r->element[3]->len);

	const redisReply *lines = r->element[4], *vals = r->element[5], *ws = r->element[6];
	t->values = xcalloc(lines->elements + 1, sizeof(*t->values));
	for (size_t i = 0; i < lines->elements && i < vals->elements; i++) {
		const redisReply *line = lines->element[i], *val = vals->element[i];
		if (!is_str(line))
			continue;
		if (!is_str(val)) {
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
		if (!is_str(w) || write_from_packed(&t->writes[t->nwrites], w->str, w->len) < 0)
			continue;
		t->nwrites++;
	}
	cp_sort_writes(t);
	return 1;
}

/* Append the EVALSHA of the get script for (thread, ns, id) to a. */
static void get_args(struct redis_store *rs, struct args *a, const char *tenant, const char *thread,
                     const char *ns, const char *id)
{
	struct buf b = {0};
	args_adds(a, "EVALSHA");
	args_adds(a, rs->sha[SCRIPT_GET]);
	args_adds(a, "2");
	key_thread_base(&b, rs, "checkpoints", tenant, thread);
	key_part(&b, ns);
	args_add_buf(a, &b);
	key_head(&b, rs, tenant, thread, ns);
	args_add_buf(a, &b);
	key_thread_base(&b, rs, "checkpoint", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	args_add_buf(a, &b);
	key_thread_base(&b, rs, "writes", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	args_add_buf(a, &b);
	key_thread_base(&b, rs, "blob", tenant, thread);
	key_part(&b, ns);
	buf_putc(&b, ':');
	args_add_buf(a, &b);
	args_adds(a, id ? id : "");
	buf_release(&b);
}

static int rs_get(struct store *s, const char *tenant, const struct cp_get *req,
                  struct cp_tuple *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct args a = {0};
	redisReply *rep = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	get_args(rs, &a, tenant, req->thread_id, req->ns, req->checkpoint_id);
	struct redis_cmd cmd = args_cmd(&a);
	if (redis_conn_pipeline(conn_get(rs), 1, &cmd, &rep, true, err) < 0)
		goto out;
	int found = tuple_from_reply(rep, req->thread_id, req->ns, out, &out->version, err);
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
	freeReplyObject(rep);
	args_release(&a);
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
	if (is_str(rep))
		*version = xstrndup(rep->str, rep->len);
	else if (rep->type != REDIS_REPLY_NIL) {
		reply_fail(rep, err, "head read");
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
	redisReply *threads_rep = NULL;
	redisReply **ns_reps = NULL, **id_reps = NULL;
	struct redis_cmd *cmds = NULL;
	struct args *argv = NULL;
	struct pair *pairs = NULL;
	struct candidate *cands = NULL;
	const char **threads = NULL;
	size_t nthreads = 0, npairs = 0, ncands = 0, nargv = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));

	/* 1. the threads */
	if (req->thread_id) {
		threads = xcalloc(1, sizeof(*threads));
		threads[0] = req->thread_id;
		nthreads = 1;
	} else {
		key_tenant_index(&b, rs, tenant);
		char *cutoff = xasprintf("(%lld", wall_ms() - (long long)rs->ttl * 1000);
		const char *prune[] = {"ZREMRANGEBYSCORE", b.data, "-inf", cutoff};
		const char *range[] = {"ZRANGE", b.data, "0", "-1"};
		struct redis_cmd ic[2] = {{4, prune, NULL}, {4, range, NULL}};
		redisReply *ir[2];
		int irc = redis_conn_pipeline(conn, 2, ic, ir, true, err);
		free(cutoff);
		if (irc < 0)
			goto out;
		freeReplyObject(ir[0]);
		threads_rep = ir[1];
		if (threads_rep->type != REDIS_REPLY_ARRAY) {
			reply_fail(threads_rep, err, "thread index read");
			goto out;
		}
		threads = xcalloc(threads_rep->elements + 1, sizeof(*threads));
		for (size_t i = 0; i < threads_rep->elements; i++)
			if (is_str(threads_rep->element[i]))
				threads[nthreads++] = threads_rep->element[i]->str;
	}
	if (!nthreads)
		goto done;

	/* 2. the namespaces of each thread */
	if (req->ns) {
		pairs = xcalloc(nthreads, sizeof(*pairs));
		for (size_t i = 0; i < nthreads; i++)
			pairs[npairs++] = (struct pair){threads[i], req->ns};
	} else {
		ns_reps = xcalloc(nthreads, sizeof(*ns_reps));
		argv = xcalloc(nthreads, sizeof(*argv));
		cmds = xcalloc(nthreads, sizeof(*cmds));
		nargv = nthreads;
		for (size_t i = 0; i < nthreads; i++) {
			args_adds(&argv[i], "SMEMBERS");
			key_thread_base(&b, rs, "thread", tenant, threads[i]);
			buf_puts(&b, ":ns");
			args_add_buf(&argv[i], &b);
			cmds[i] = args_cmd(&argv[i]);
		}
		if (redis_conn_pipeline(conn, nthreads, cmds, ns_reps, true, err) < 0)
			goto out;
		size_t total = 0;
		for (size_t i = 0; i < nthreads; i++) {
			if (ns_reps[i]->type != REDIS_REPLY_ARRAY) {
				reply_fail(ns_reps[i], err, "namespace read");
				goto out;
			}
			total += ns_reps[i]->elements;
		}
		pairs = xcalloc(total + 1, sizeof(*pairs));
		for (size_t i = 0; i < nthreads; i++)
			for (size_t j = 0; j < ns_reps[i]->elements; j++)
				if (is_str(ns_reps[i]->element[j]))
					pairs[npairs++] =
					    (struct pair){threads[i], ns_reps[i]->element[j]->str};
		for (size_t i = 0; i < nargv; i++)
			args_release(&argv[i]);
		free(argv);
		free(cmds);
		argv = NULL;
		cmds = NULL;
		nargv = 0;
	}
	if (!npairs)
		goto done;

	/* 3. the checkpoint ids of each (thread, ns), before the bound: without
	 * a filter, no more from one index than the page can hold (and one to
	 * tell it is truncated) */
	id_reps = xcalloc(npairs, sizeof(*id_reps));
	argv = xcalloc(npairs, sizeof(*argv));
	cmds = xcalloc(npairs, sizeof(*cmds));
	nargv = npairs;
	char *maxb = NULL, per_index[24];
	snprintf(per_index, sizeof(per_index), "%zu", req->limit + 1);
	if (req->before)
		maxb = xasprintf("(%s", req->before);
	for (size_t i = 0; i < npairs; i++) {
		args_adds(&argv[i], "ZREVRANGEBYLEX");
		key_thread_base(&b, rs, "checkpoints", tenant, pairs[i].thread);
		key_part(&b, pairs[i].ns);
		args_add_buf(&argv[i], &b);
		args_adds(&argv[i], maxb ? maxb : "+");
		args_adds(&argv[i], "-");
		if (!req->filter_json) {
			args_adds(&argv[i], "LIMIT");
			args_adds(&argv[i], "0");
			args_adds(&argv[i], per_index);
		}
		cmds[i] = args_cmd(&argv[i]);
	}
	int prc = redis_conn_pipeline(conn, npairs, cmds, id_reps, true, err);
	free(maxb);
	if (prc < 0)
		goto out;
	size_t total = 0;
	bool capped = false; /* an index had more than LIMIT gave */
	for (size_t i = 0; i < npairs; i++) {
		if (id_reps[i]->type != REDIS_REPLY_ARRAY) {
			reply_fail(id_reps[i], err, "checkpoint index read");
			goto out;
		}
		total += id_reps[i]->elements;
		capped = capped || (!req->filter_json && id_reps[i]->elements > req->limit);
	}
	cands = xcalloc(total + 1, sizeof(*cands));
	for (size_t i = 0; i < npairs; i++)
		for (size_t j = 0; j < id_reps[i]->elements; j++)
			if (is_str(id_reps[i]->element[j]))
				cands[ncands++] = (struct candidate){pairs[i].thread, pairs[i].ns,
				                                     id_reps[i]->element[j]->str};
	qsort(cands, ncands, sizeof(*cands), cand_cmp);
	for (size_t i = 0; i < nargv; i++)
		args_release(&argv[i]);
	free(argv);
	free(cmds);
	argv = NULL;
	cmds = NULL;
	nargv = 0;

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
		struct args ga[LIST_BATCH];
		struct redis_cmd gc[LIST_BATCH];
		redisReply *gr[LIST_BATCH];
		memset(ga, 0, sizeof(ga));
		for (size_t i = 0; i < n; i++) {
			const struct candidate *c = &cands[next + i];
			get_args(rs, &ga[i], tenant, c->thread, c->ns, c->id);
			gc[i] = args_cmd(&ga[i]);
		}
		int rc = redis_conn_pipeline(conn, n, gc, gr, true, err);
		for (size_t i = 0; i < n; i++)
			args_release(&ga[i]);
		if (rc < 0)
			goto out;
		size_t i = 0;
		for (; i < n && out->n < req->limit; i++) {
			const struct candidate *c = &cands[next + i];
			struct cp_tuple t;
			int found = tuple_from_reply(gr[i], c->thread, c->ns, &t, NULL, err);
			if (found < 0) {
				free_replies(n, gr);
				goto out;
			}
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
		free_replies(n, gr);
		next += i;
	}
	out->truncated =
	    cut || (next < ncands && out->n >= req->limit) || (capped && next >= ncands);
done:
	ret = 0;
out:
	if (ret < 0)
		cp_list_result_release(out);
	for (size_t i = 0; i < nargv; i++)
		args_release(&argv[i]);
	free(argv);
	free(cmds);
	if (ns_reps)
		free_replies(nthreads, ns_reps);
	free(ns_reps);
	if (id_reps)
		free_replies(npairs, id_reps);
	free(id_reps);
	free(cands);
	free(pairs);
	free(threads);
	freeReplyObject(threads_rep);
	buf_release(&b);
	return ret;
}

/* ---------- put writes ---------- */

static int rs_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                         struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct args a = {0};
	struct buf b = {0};
	redisReply *rep = NULL;
	int ret = -1;
	bool all_special = r->nwrites > 0;

	args_adds(&a, "EVALSHA");
	args_adds(&a, rs->sha[SCRIPT_WRITES]);
	args_adds(&a, "3");
	key_thread_base(&b, rs, "writes", tenant, r->thread_id);
	key_part(&b, r->ns);
	key_part(&b, r->checkpoint_id);
	args_add_buf(&a, &b);
	key_thread_base(&b, rs, "thread", tenant, r->thread_id);
	buf_puts(&b, ":keys");
	args_add_buf(&a, &b);
	key_head(&b, rs, tenant, r->thread_id, r->ns);
	args_add_buf(&a, &b);
	args_add(&a, rs->ttl_str, strlen(rs->ttl_str));
	int mode_at = a.n;
	args_adds(&a, "keep");
	args_adds(&a, r->checkpoint_id);
	for (size_t i = 0; i < r->nwrites; i++) {
		const struct cp_write *w = &r->writes[i];
		bool special;
		long idx = cp_write_idx(w->channel, i, &special);
		if (!special)
			all_special = false;
		buf_reset(&b);
		buf_puts(&b, r->task_id);
		buf_putc(&b, '\0');
		buf_printf(&b, "%ld", idx);
		args_add_buf(&a, &b);
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
		args_add_buf(&a, &b);
	}
	if (all_special) {
		a.v[mode_at] = "overwrite";
		a.l[mode_at] = strlen("overwrite");
	}
	struct redis_cmd cmd = args_cmd(&a);
	if (redis_conn_pipeline(conn_get(rs), 1, &cmd, &rep, true, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		reply_fail(rep, err, "put writes");
		goto out;
	}
	ret = 0;
out:
	freeReplyObject(rep);
	args_release(&a);
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
		struct redis_cmd cmd = {7, av, NULL};
		if (redis_conn_pipeline(conn_get(rs), 1, &cmd, &rep, true, err) < 0)
			goto out;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    !is_str(rep->element[0])) {
			reply_fail(rep, err, "thread delete");
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", rep->element[0]->str);
		freeReplyObject(rep);
		rep = NULL;
	} while (strcmp(cursor, "0"));
	key_tenant_index(&b, rs, tenant);
	const char *zv[] = {"ZREM", b.data, thread};
	struct redis_cmd z = {3, zv, NULL};
	if (redis_conn_pipeline(conn_get(rs), 1, &z, &rep, true, err) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		reply_fail(rep, err, "thread delete");
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
		reply_fail(rep, err, "BGSAVE");
		goto out;
	}
	for (long long waited = 0;; waited += 100) {
		freeReplyObject(rep);
		rep = NULL;
		if (redis_conn_command(conn, &rep, err, 2, inf, NULL) < 0)
			goto out;
		if (!is_str(rep)) {
			reply_fail(rep, err, "INFO persistence");
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
		reply_fail(rep, err, "LASTSAVE");
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
			reply_fail(scan, err, "SCAN");
			goto out;
		}
		snprintf(cursor, sizeof(cursor), "%s", scan->element[0]->str);
		redisReply *keys = scan->element[1];
		size_t n = keys->elements;
		if (n) {
			struct redis_cmd *cmds = xcalloc(n, sizeof(*cmds));
			redisReply **reps = xcalloc(n, sizeof(*reps));
			const char **argv = xcalloc(2 * n, sizeof(*argv));
			size_t *lens = xcalloc(2 * n, sizeof(*lens));
			for (size_t i = 0; i < n; i++) {
				argv[2 * i] = "TTL";
				lens[2 * i] = 3;
				argv[2 * i + 1] = keys->element[i]->str;
				lens[2 * i + 1] = keys->element[i]->len;
				cmds[i] = (struct redis_cmd){2, &argv[2 * i], &lens[2 * i]};
			}
			int rc = redis_conn_pipeline(conn, n, cmds, reps, true, err);
			size_t nfix = 0;
			struct redis_cmd *fix = xcalloc(n, sizeof(*fix));
			const char **fargv = xcalloc(3 * n, sizeof(*fargv));
			size_t *flens = xcalloc(3 * n, sizeof(*flens));
			for (size_t i = 0; rc == 0 && i < n; i++) {
				if (reps[i]->type != REDIS_REPLY_INTEGER || reps[i]->integer != -1)
					continue;
				/* /memory keys: their own default, and none at all when
				 * items may be persistent (no TTL is then deliberate) */
				bool mem = !strncmp(keys->element[i]->str + plen, ":memory", 7);
				if (mem && rs->mem_persistent)
					continue;
				const char *ttl = mem ? rs->mem_ttl_str : rs->ttl_str;
				fargv[3 * nfix] = "EXPIRE";
				flens[3 * nfix] = 6;
				fargv[3 * nfix + 1] = keys->element[i]->str;
				flens[3 * nfix + 1] = keys->element[i]->len;
				fargv[3 * nfix + 2] = ttl;
				flens[3 * nfix + 2] = strlen(ttl);
				fix[nfix] =
				    (struct redis_cmd){3, &fargv[3 * nfix], &flens[3 * nfix]};
				nfix++;
			}
			redisReply **freps = xcalloc(nfix + 1, sizeof(*freps));
			if (rc == 0 && nfix)
				rc = redis_conn_pipeline(conn, nfix, fix, freps, true, err);
			for (size_t i = 0; rc == 0 && i < nfix; i++)
				if (freps[i]->type == REDIS_REPLY_INTEGER && freps[i]->integer == 1)
					out->changed++;
			out->scanned += (long long)n;
			free_replies(n, reps);
			if (nfix)
				free_replies(nfix, freps);
			free(freps);
			free(fix);
			free(fargv);
			free(flens);
			free(cmds);
			free(reps);
			free(argv);
			free(lens);
			if (rc < 0)
				goto out;
		}
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
	struct buf b = {0};
	redisReply *members = NULL, **reps = NULL;
	struct redis_cmd *cmds = NULL;
	const char **argv = NULL;
	size_t *lens = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	key_thread_base(&b, rs, "thread", tenant, thread);
	buf_puts(&b, ":keys");
	const char *av[] = {"SMEMBERS", b.data};
	if (redis_conn_command(conn, &members, err, 2, av, NULL) < 0)
		goto out;
	if (members->type != REDIS_REPLY_ARRAY) {
		reply_fail(members, err, "SMEMBERS");
		goto out;
	}
	size_t n = members->elements;
	/* the registry itself and the namespace set are the thread's too */
	size_t total = n + 2;
	char *extra[2];
	key_thread_base(&b, rs, "thread", tenant, thread);
	buf_puts(&b, ":keys");
	extra[0] = xstrdup(b.data);
	key_thread_base(&b, rs, "thread", tenant, thread);
	buf_puts(&b, ":ns");
	extra[1] = xstrdup(b.data);
	cmds = xcalloc(3 * total, sizeof(*cmds));
	reps = xcalloc(3 * total, sizeof(*reps));
	argv = xcalloc(9 * total, sizeof(*argv));
	lens = xcalloc(9 * total, sizeof(*lens));
	for (size_t i = 0; i < total; i++) {
		const char *k = i < n ? members->element[i]->str : extra[i - n];
		size_t kl = i < n ? members->element[i]->len : strlen(extra[i - n]);
		const char **a = &argv[9 * i];
		size_t *l = &lens[9 * i];
		a[0] = "TYPE", l[0] = 4, a[1] = k, l[1] = kl;
		a[2] = "PTTL", l[2] = 4, a[3] = k, l[3] = kl;
		a[4] = "MEMORY", l[4] = 6, a[5] = "USAGE", l[5] = 5, a[6] = k, l[6] = kl;
		cmds[3 * i] = (struct redis_cmd){2, &a[0], &l[0]};
		cmds[3 * i + 1] = (struct redis_cmd){2, &a[2], &l[2]};
		cmds[3 * i + 2] = (struct redis_cmd){3, &a[4], &l[4]};
	}
	int rc = redis_conn_pipeline(conn, 3 * total, cmds, reps, true, err);
	if (rc == 0) {
		out->v = xcalloc(total, sizeof(*out->v));
		for (size_t i = 0; i < total; i++) {
			redisReply *t = reps[3 * i], *ttl = reps[3 * i + 1], *mem = reps[3 * i + 2];
			if (!is_str(t) || !strcmp(t->str, "none"))
				continue; /* listed but expired or never written */
			struct store_key *k = &out->v[out->n++];
			k->name = xstrdup(argv[9 * i + 1]);
			k->type = xstrdup(t->str);
			k->ttl_ms = ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2;
			k->bytes = mem->type == REDIS_REPLY_INTEGER ? mem->integer : -1;
		}
		free_replies(3 * total, reps);
		ret = 0;
	}
	free(extra[0]);
	free(extra[1]);
out:
	free(cmds);
	free(reps);
	free(argv);
	free(lens);
	freeReplyObject(members);
	buf_release(&b);
	return ret;
}

/* Remove one checkpoint: its hash, its writes and its index entry; the head
 * of the namespace goes too when it named it (the next read repairs it). */
static int rs_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                                      const char *ns, const char *id, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf ck = {0}, wk = {0}, zk = {0}, hk = {0};
	redisReply *rep[4] = {0};
	int ret = -1;

	key_thread_base(&ck, rs, "checkpoint", tenant, thread);
	key_part(&ck, ns);
	key_part(&ck, id);
	key_thread_base(&wk, rs, "writes", tenant, thread);
	key_part(&wk, ns);
	key_part(&wk, id);
	key_thread_base(&zk, rs, "checkpoints", tenant, thread);
	key_part(&zk, ns);
	key_head(&hk, rs, tenant, thread, ns);
	char *head_id = NULL;
	const char *a0[] = {"GET", hk.data};
	const char *a1[] = {"UNLINK", ck.data, wk.data};
	const char *a2[] = {"ZREM", zk.data, id};
	struct redis_cmd cmds[3] = {{2, a0, NULL}, {3, a1, NULL}, {3, a2, NULL}};
	if (redis_conn_pipeline(conn_get(rs), 3, cmds, rep, true, err) < 0)
		goto out;
	if (rep[1]->type != REDIS_REPLY_INTEGER || rep[2]->type != REDIS_REPLY_INTEGER) {
		reply_fail(rep[1]->type != REDIS_REPLY_INTEGER ? rep[1] : rep[2], err,
		           "checkpoint delete");
		goto out;
	}
	if (is_str(rep[0])) {
		const char *bar = strchr(rep[0]->str, '|');
		head_id = bar ? xstrdup(bar + 1) : NULL;
	}
	if (head_id && !strcmp(head_id, id)) {
		const char *a3[] = {"DEL", hk.data};
		if (redis_conn_command(conn_get(rs), &rep[3], err, 2, a3, NULL) < 0)
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
	free_replies(4, rep);
	buf_release(&ck);
	buf_release(&wk);
	buf_release(&zk);
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
			reply_fail(scan, err, "SCAN");
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
	if (scan->type != REDIS_REPLY_ARRAY || scan->elements != 2 || !is_str(scan->element[0]) ||
	    scan->element[1]->type != REDIS_REPLY_ARRAY) {
		reply_fail(scan, err, "SCAN");
		goto out;
	}
	snprintf(cursor, 32, "%s", scan->element[0]->str);
	const redisReply *keys = scan->element[1];
	out->v = xcalloc(keys->elements + 1, sizeof(*out->v));
	for (size_t i = 0; i < keys->elements; i++) {
		const redisReply *k = keys->element[i];
		/* "<prefix><head>{" TAG "}<tail>": what MATCH let through */
		if (is_str(k) && k->len > hl + tl && k->str[k->len - tl] == '}' &&
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
		if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 || !is_str(kv->element[0]) ||
		    kv->element[1]->type != REDIS_REPLY_ARRAY)
			return reply_fail(kv, err, "thread dump");
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
static void thread_script(struct args *a, const struct redis_store *rs, const struct store_ref *r,
                          const char *mode)
{
	struct buf b = {0};
	args_adds(a, "EVALSHA");
	args_adds(a, rs->sha[SCRIPT_ARCHIVE]);
	args_adds(a, "2");
	key_thread_base(&b, rs, "thread", r->tenant, r->id);
	buf_puts(&b, ":keys");
	args_add_buf(a, &b);
	key_thread_base(&b, rs, "thread", r->tenant, r->id);
	buf_puts(&b, ":ns");
	args_add_buf(a, &b);
	args_adds(a, mode);
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
	if (r->elements < 2 || !is_str(r->element[0]) || !is_str(r->element[1]))
		return false;
	for (size_t i = 2; i < r->elements; i++) {
		const redisReply *kv = r->element[i];
		if (kv->type != REDIS_REPLY_ARRAY || kv->elements != 2 || !is_str(kv->element[0]) ||
		    kv->element[1]->type != REDIS_REPLY_ARRAY)
			return false;
	}
	return true;
}

static void dump_step_args(struct args *a, const struct redis_store *rs, const struct store_ref *r,
                           long long idle_ms, const char *cursor, const char *pttl0)
{
	thread_script(a, rs, r, "dump");
	char *ttl_ms = xasprintf("%lld", (long long)rs->ttl * 1000);
	char *idle = xasprintf("%lld", idle_ms);
	args_add_owned(a, ttl_ms, strlen(ttl_ms));
	args_add_owned(a, idle, strlen(idle));
	args_adds(a, cursor);
	args_adds(a, DUMP_STEP);
	args_adds(a, pttl0);
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
	struct args *a = xcalloc(n + 1, sizeof(*a));
	struct redis_cmd *cmds = xcalloc(n + 1, sizeof(*cmds));
	redisReply **rep = xcalloc(n + 1, sizeof(*rep));
	redisReply **steps = NULL;
	const redisReply **kvs = NULL;
	size_t nsteps = 0;
	int ret = -1;

	memset(out, 0, n * sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		dump_step_args(&a[i], rs, &refs[i], idle_ms, "0", "");
		cmds[i] = args_cmd(&a[i]);
	}
	if (n && redis_conn_pipeline(conn_get(rs), n, cmds, rep, true, err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (!dump_step_ok(rep[i])) {
			reply_fail(rep[i], err, "thread dump");
			goto out;
		}
		if (!rep[i]->elements)
			continue; /* not idle, or gone */
		/* this thread's steps: the first, then on from its cursor */
		nsteps = 1;
		steps = xcalloc(1, sizeof(*steps));
		steps[0] = rep[i];
		rep[i] = NULL;
		size_t nk = steps[0]->elements - 2;
		bool changed = false;
		while (strcmp(steps[nsteps - 1]->element[1]->str, "0")) {
			struct args sa = {0};
			redisReply *r = NULL;
			dump_step_args(&sa, rs, &refs[i], idle_ms,
			               steps[nsteps - 1]->element[1]->str,
			               steps[0]->element[0]->str);
			struct redis_cmd sc = args_cmd(&sa);
			int rc = redis_conn_pipeline(conn_get(rs), 1, &sc, &r, true, err);
			args_release(&sa);
			if (rc < 0)
				goto out;
			if (!dump_step_ok(r)) {
				reply_fail(r, err, "thread dump");
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
		free_replies(nsteps, steps);
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
		free_replies(nsteps, steps);
	free(steps);
	free(kvs);
	free_replies(n, rep);
	for (size_t i = 0; i < n; i++)
		args_release(&a[i]);
	free(a);
	free(cmds);
	free(rep);
	return ret;
}

static int rs_thread_drop(struct store *s, const struct store_ref *refs,
                          const struct cp_thread_dump *dumps, size_t n, bool *dropped,
                          struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	/* per thread: the script, then (when it went) ZREM from the tenant index */
	struct args *a = xcalloc(2 * n + 1, sizeof(*a));
	struct redis_cmd *cmds = xcalloc(2 * n + 1, sizeof(*cmds));
	redisReply **rep = xcalloc(2 * n + 1, sizeof(*rep));
	size_t *at = xcalloc(n + 1, sizeof(*at));
	size_t m = 0;
	struct buf b = {0};
	int ret = -1;

	for (size_t i = 0; i < n; i++) {
		dropped[i] = false;
		if (!dumps[i].digest)
			continue;
		thread_script(&a[m], rs, &refs[i], "drop");
		args_adds(&a[m], dumps[i].digest);
		cmds[m] = args_cmd(&a[m]);
		at[m++] = i;
	}
	/* Safe to resend: a second drop of the same state finds it gone. */
	if (m && redis_conn_pipeline(conn_get(rs), m, cmds, rep, true, err) < 0)
		goto out;
	size_t nz = 0;
	for (size_t j = 0; j < m; j++) {
		if (rep[j]->type != REDIS_REPLY_INTEGER) {
			reply_fail(rep[j], err, "thread drop");
			goto out;
		}
		size_t i = at[j];
		dropped[i] = rep[j]->integer == 1;
		if (!dropped[i])
			continue;
		key_tenant_index(&b, rs, refs[i].tenant);
		args_adds(&a[m + nz], "ZREM");
		args_add_buf(&a[m + nz], &b);
		args_adds(&a[m + nz], refs[i].id);
		cmds[m + nz] = args_cmd(&a[m + nz]);
		nz++;
	}
	/* The tenant index has its own hash tag; an entry left behind is
	 * pruned by the next list that meets it. */
	struct mem_error ierr = {0};
	if (nz && redis_conn_pipeline(conn_get(rs), nz, cmds + m, rep + m, true, &ierr) < 0)
		log_warn(NULL, "thread index update failed after archival",
		         LF_STR("error", ierr.message));
	ret = 0;
out:
	free_replies(2 * n, rep);
	for (size_t j = 0; j < 2 * n; j++)
		args_release(&a[j]);
	free(a);
	free(cmds);
	free(rep);
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
	if (!is_str(rep)) {
		reply_fail(rep, err, "INFO");
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

int redis_store_reply_fail(const redisReply *r, struct mem_error *err, const char *what)
{
	return reply_fail(r, err, what);
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

int redis_reply_fail(const redisReply *r, struct mem_error *err, const char *what)
{
	return reply_fail(r, err, what);
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
