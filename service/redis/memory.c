#include "memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/xalloc.h"
#include "batch.h"

extern const char lua_memory_put[], lua_memory_delete[], lua_memory_scan[], lua_memory_cleanup[],
    lua_memory_namespaces[], lua_memory_touch[];

const char *const redis_memory_scripts[REDIS_MEMORY_NSCRIPTS] = {
    [MEMORY_SCRIPT_PUT] = lua_memory_put,
    [MEMORY_SCRIPT_DELETE] = lua_memory_delete,
    [MEMORY_SCRIPT_SCAN] = lua_memory_scan,
    [MEMORY_SCRIPT_CLEANUP] = lua_memory_cleanup,
    [MEMORY_SCRIPT_NAMESPACES] = lua_memory_namespaces,
    [MEMORY_SCRIPT_TOUCH] = lua_memory_touch,
};

/* Items one cleanup script call deletes: a SCAN-sized batch, so Redis is
 * never blocked for long. */
#define CLEANUP_BATCH 1000

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* P:<kind>:{<tenant>} */
static void key_base(struct buf *b, const struct store *s, const char *kind, const char *tenant)
{
	buf_reset(b);
	buf_puts(b, redis_store_prefix(s));
	buf_putc(b, ':');
	buf_puts(b, kind);
	buf_puts(b, ":{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, '}');
}

/* <label>:<label>:... encoded */
static void ns_path(struct buf *b, const struct mem_ns *ns)
{
	buf_reset(b);
	for (size_t i = 0; i < ns->n; i++) {
		if (i)
			buf_putc(b, ':');
		key_encode(b, ns->labels[i], strlen(ns->labels[i]));
	}
	buf_append(b, "", 0); /* a string even when empty */
}

/* The four keys of an item and its containers. */
struct item_keys {
	struct buf item, index, registry, counter, ekey, path;
};

static void item_keys_init(struct item_keys *k, const struct store *s, const char *tenant,
                           const struct mem_ns *ns, const char *key)
{
	memset(k, 0, sizeof(*k));
	ns_path(&k->path, ns);
	buf_append(&k->ekey, "", 0);
	if (key)
		key_encode(&k->ekey, key, strlen(key));
	key_base(&k->item, s, "memory", tenant);
	buf_putc(&k->item, ':');
	buf_append(&k->item, k->path.data, k->path.len);
	buf_putc(&k->item, ':');
	buf_append(&k->item, k->ekey.data, k->ekey.len);
	key_base(&k->index, s, "memory-index", tenant);
	buf_putc(&k->index, ':');
	buf_append(&k->index, k->path.data, k->path.len);
	key_base(&k->registry, s, "memory-namespaces", tenant);
	key_base(&k->counter, s, "memory-version", tenant);
}

static void item_keys_release(struct item_keys *k)
{
	buf_release(&k->item);
	buf_release(&k->index);
	buf_release(&k->registry);
	buf_release(&k->counter);
	buf_release(&k->ekey);
	buf_release(&k->path);
}

/* The tenant-wide names the listing scripts take: the registry, the index
 * and item key bases, and the encoded prefix path. */
struct tenant_keys {
	struct buf reg, ixb, itb, path;
};

static void tenant_keys_init(struct tenant_keys *k, const struct store *s, const char *tenant,
                             const struct mem_ns *prefix)
{
	memset(k, 0, sizeof(*k));
	key_base(&k->reg, s, "memory-namespaces", tenant);
	key_base(&k->ixb, s, "memory-index", tenant);
	key_base(&k->itb, s, "memory", tenant);
	ns_path(&k->path, prefix);
}

static void tenant_keys_release(struct tenant_keys *k)
{
	buf_release(&k->reg);
	buf_release(&k->ixb);
	buf_release(&k->itb);
	buf_release(&k->path);
}

static char *str_or_empty(const redisReply *r)
{
	return redis_reply_str(r) ? xstrndup(r->str, r->len) : xstrdup("");
}

/* Labels of an encoded namespace path; NULL when it does not decode. */
static char **path_decode(const char *s, size_t len, size_t *n)
{
	size_t cap = 1;
	for (size_t i = 0; i < len; i++)
		cap += s[i] == ':';
	char **v = xcalloc(cap + 1, sizeof(*v));
	size_t k = 0;
	const char *p = s, *end = s + len;
	while (p <= end) {
		const char *c = memchr(p, ':', (size_t)(end - p));
		size_t l = c ? (size_t)(c - p) : (size_t)(end - p);
		v[k] = key_decode(p, l);
		if (!v[k]) {
			for (size_t i = 0; i < k; i++)
				free(v[i]);
			free(v);
			return NULL;
		}
		k++;
		if (!c)
			break;
		p = c + 1;
	}
	*n = k;
	return v;
}

/* Interpret the {"ok", ...} / {"precondition", current} reply of a
 * conditional script; 1 ok, -1 failed (err filled). */
static int conditional_reply(const redisReply *rep, const char *what, const struct mem_ref *ref,
                             const char *if_match, struct mem_error *err)
{
	if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements < 2 ||
	    !redis_reply_str(rep->element[0]))
		return redis_reply_fail(rep, err, what);
	if (!strcmp(rep->element[0]->str, "ok"))
		return 1;
	const redisReply *cur = rep->element[1];
	if (!redis_reply_str(cur) || !cur->len)
		return mem_fail(err, MEM_EPRECONDITION, "If-Match",
		                "If-Match %s does not hold: there is no item %s in that namespace",
		                if_match, ref->key);
	return mem_fail(err, MEM_EPRECONDITION, "If-Match",
	                "If-Match %s does not hold: item %s is at version \"%s\"", if_match,
	                ref->key, cur->str);
}

int redis_memory_put(struct store *s, const char *tenant, const struct mem_put *req,
                     struct mem_item *out, struct mem_error *err)
{
	struct item_keys k;
	struct redis_batch b = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	item_keys_init(&k, s, tenant, &req->ns, req->key);
	const char *im = req->if_match ? req->if_match : "";
	redis_batch_cmd(&b, "EVALSHA");
	redis_batch_str(&b, redis_store_memory_sha(s, MEMORY_SCRIPT_PUT));
	redis_batch_str(&b, "4");
	redis_batch_arg(&b, k.item.data, k.item.len);
	redis_batch_arg(&b, k.index.data, k.index.len);
	redis_batch_arg(&b, k.registry.data, k.registry.len);
	redis_batch_arg(&b, k.counter.data, k.counter.len);
	redis_batch_arg(&b, k.ekey.data, k.ekey.len);
	redis_batch_arg(&b, k.path.data, k.path.len);
	redis_batch_arg(&b, req->value_json, req->value_len);
	redis_batch_fmt(&b, req->ttl_seconds);
	redis_batch_str(&b, im);
	redis_batch_fmt(&b, now_ms());
	redis_batch_str(&b, req->version ? req->version : "");
	/* A conditional put is not repeated after a broken connection: the
	 * first attempt may have landed, and the repeat would answer 412. */
	if (redis_batch_send(&b, redis_store_conn(s), !req->if_match, err) < 0)
		goto out;
	const redisReply *rep = b.rep[0];
	struct mem_ref ref = {.ns = req->ns, .key = req->key, .if_match = req->if_match};
	if (conditional_reply(rep, "memory put", &ref, im, err) < 0)
		goto out;
	if (rep->elements != 5) {
		redis_reply_fail(rep, err, "memory put");
		goto out;
	}
	out->version = str_or_empty(rep->element[1]);
	out->created_ms = redis_reply_ll(rep->element[2]);
	out->updated_ms = redis_reply_ll(rep->element[3]);
	out->expires_ms = redis_reply_ll(rep->element[4]);
	ret = 0;
out:
	redis_batch_release(&b);
	item_keys_release(&k);
	return ret;
}

/* EVALSHA memory_touch.lua on the item of k (redis/lua/memory_touch.lua). */
static void touch_cmd(struct redis_batch *b, struct store *s, struct item_keys *k)
{
	redis_batch_cmd(b, "EVALSHA");
	redis_batch_str(b, redis_store_memory_sha(s, MEMORY_SCRIPT_TOUCH));
	redis_batch_str(b, "4");
	redis_batch_str(b, k->item.data);
	redis_batch_str(b, k->index.data);
	redis_batch_str(b, k->registry.data);
	redis_batch_str(b, k->counter.data);
	redis_batch_fmt(b, now_ms());
}

int redis_memory_refresh(struct store *s, const char *tenant, struct mem_item *items, size_t n,
                         struct mem_error *err)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		m += items[i].expires_ms > 0;
	if (!m)
		return 0;
	struct item_keys *k = xcalloc(m, sizeof(*k));
	size_t *at = xcalloc(m, sizeof(*at));
	struct redis_batch b = {0};
	int ret = -1;

	for (size_t i = 0, j = 0; i < n; i++) {
		if (items[i].expires_ms <= 0)
			continue;
		struct mem_ns ns = {(const char *const *)items[i].ns, items[i].nns};
		item_keys_init(&k[j], s, tenant, &ns, items[i].key);
		touch_cmd(&b, s, &k[j]);
		at[j++] = i;
	}
	/* Refreshing twice is refreshing: a broken connection may repeat it. */
	if (redis_batch_send(&b, redis_store_conn(s), true, err) < 0)
		goto out;
	for (size_t j = 0; j < m; j++) {
		if (b.rep[j]->type == REDIS_REPLY_ERROR) {
			redis_reply_fail(b.rep[j], err, "memory refresh");
			goto out;
		}
		if (redis_reply_str(b.rep[j]) && b.rep[j]->len)
			items[at[j]].expires_ms = redis_reply_ll(b.rep[j]);
	}
	ret = 0;
out:
	redis_batch_release(&b);
	for (size_t j = 0; j < m; j++)
		item_keys_release(&k[j]);
	free(at);
	free(k);
	return ret;
}

int redis_memory_get(struct store *s, const char *tenant, const struct mem_ref *ref,
                     struct mem_item *out, struct mem_error *err)
{
	struct item_keys k;
	struct redis_batch b = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	item_keys_init(&k, s, tenant, &ref->ns, ref->key);
	size_t at = 0; /* refresh_ttl: the touch goes first, so the read sees the new expiry */
	if (ref->refresh_ttl) {
		touch_cmd(&b, s, &k);
		at = 1;
	}
	redis_batch_cmd(&b, "HMGET");
	redis_batch_str(&b, k.item.data);
	static const char *const fields[] = {"v", "ver", "c", "u", "x"};
	for (size_t i = 0; i < 5; i++)
		redis_batch_str(&b, fields[i]);
	redis_batch_cmd(&b, "GET");
	redis_batch_str(&b, k.item.data);
	if (redis_batch_send(&b, redis_store_conn(s), true, err) < 0)
		goto out;
	if (at && b.rep[0]->type == REDIS_REPLY_ERROR) {
		redis_reply_fail(b.rep[0], err, "memory refresh");
		goto out;
	}
	redisReply **rep = b.rep + at;
	const redisReply *h = rep[0];
	if (h->type == REDIS_REPLY_ARRAY && h->elements == 5) {
		bool any = false;
		for (size_t i = 0; i < 5; i++)
			any = any || redis_reply_str(h->element[i]);
		if (!any) {
			mem_fail(err, MEM_ENOT_FOUND, "key", "no memory item %s in that namespace",
			         ref->key);
			goto out;
		}
		out->value_json = str_or_empty(h->element[0]);
		out->value_len = strlen(out->value_json);
		if (redis_reply_str(h->element[0]))
			out->value_len = h->element[0]->len;
		out->version = str_or_empty(h->element[1]);
		out->created_ms = redis_reply_ll(h->element[2]);
		out->updated_ms = redis_reply_ll(h->element[3]);
		out->expires_ms = redis_reply_ll(h->element[4]);
	} else if (redis_reply_str(rep[1])) {
		/* a plain string written by hand (SET key value) */
		out->value_json = xstrndup(rep[1]->str, rep[1]->len);
		out->value_len = rep[1]->len;
		out->version = xstrdup("");
	} else {
		redis_reply_fail(rep[1]->type == REDIS_REPLY_ERROR ? rep[1] : rep[0], err,
		                 "memory get");
		goto out;
	}
	out->key = xstrdup(ref->key);
	out->nns = ref->ns.n;
	out->ns = xcalloc(ref->ns.n + 1, sizeof(*out->ns));
	for (size_t i = 0; i < ref->ns.n; i++)
		out->ns[i] = xstrdup(ref->ns.labels[i]);
	out->store_key = xstrdup(k.item.data);
	ret = 0;
out:
	redis_batch_release(&b);
	item_keys_release(&k);
	return ret;
}

int redis_memory_delete(struct store *s, const char *tenant, const struct mem_ref *ref,
                        bool *deleted, struct mem_error *err)
{
	struct item_keys k;
	struct redis_batch b = {0};
	int ret = -1;

	*deleted = false;
	item_keys_init(&k, s, tenant, &ref->ns, ref->key);
	const char *im = ref->if_match ? ref->if_match : "";
	redis_batch_cmd(&b, "EVALSHA");
	redis_batch_str(&b, redis_store_memory_sha(s, MEMORY_SCRIPT_DELETE));
	redis_batch_str(&b, "3");
	redis_batch_str(&b, k.item.data);
	redis_batch_str(&b, k.index.data);
	redis_batch_str(&b, k.registry.data);
	redis_batch_str(&b, k.ekey.data);
	redis_batch_str(&b, k.path.data);
	redis_batch_str(&b, im);
	/* conditional: not repeated, as a put */
	if (redis_batch_send(&b, redis_store_conn(s), !ref->if_match, err) < 0)
		goto out;
	const redisReply *rep = b.rep[0];
	if (conditional_reply(rep, "memory delete", ref, im, err) < 0)
		goto out;
	*deleted = redis_reply_ll(rep->element[1]) > 0;
	ret = 0;
out:
	redis_batch_release(&b);
	item_keys_release(&k);
	return ret;
}

/* One element of the scan script's reply into an item; -1 when it does not
 * decode (a key not written through memoryd's encoding). */
static int item_from_scan(const redisReply *e, const struct buf *item_base, struct mem_item *it)
{
	memset(it, 0, sizeof(*it));
	if (e->type != REDIS_REPLY_ARRAY || e->elements != 8 || !redis_reply_str(e->element[0]) ||
	    !redis_reply_str(e->element[1]))
		return -1;
	it->ns = path_decode(e->element[0]->str, e->element[0]->len, &it->nns);
	it->key = key_decode(e->element[1]->str, e->element[1]->len);
	if (!it->ns || !it->key) {
		mem_item_release(it);
		return -1;
	}
	it->value_json = str_or_empty(e->element[2]);
	it->value_len = redis_reply_str(e->element[2]) ? e->element[2]->len : 0;
	it->version = str_or_empty(e->element[3]);
	it->created_ms = redis_reply_ll(e->element[4]);
	it->updated_ms = redis_reply_ll(e->element[5]);
	it->expires_ms = redis_reply_ll(e->element[6]);
	struct buf b = {0};
	buf_append(&b, item_base->data, item_base->len);
	buf_putc(&b, ':');
	buf_append(&b, e->element[0]->str, e->element[0]->len);
	buf_putc(&b, ':');
	buf_append(&b, e->element[1]->str, e->element[1]->len);
	it->store_key = buf_detach(&b, NULL);
	return 0;
}

/*
 * What one script call of a scan may read, so that no call holds Redis
 * long: a Lua script runs to its end before Redis answers anyone else, and
 * a get-latest (one GET) that arrives meanwhile waits for it. A scan reads
 * at most SCAN_CALL_ITEMS items (fewer than asked: *more, and the caller's
 * next scan goes on from the last), so an 'items' call reads at most that
 * many and a 'cands' call takes at most that many entries from a
 * namespace, visiting at most SCAN_STEP_ENTRIES / SCAN_CALL_ITEMS
 * namespaces. At 256 items a call (before), 'items' held Redis 1.4 ms and
 * 'cands' 0.65 ms (SLOWLOG), and a get beside 8 searches waited behind
 * them: 6 to 25% of gets took memoryd over 2.5 ms (bench/heavy.sh, a
 * shared 2-core machine); at 64, about 0.4 and 0.2 ms, and 0.1 to 4%,
 * but on a quiet machine a get's p99 beside 8 heavy connections was still
 * 2.6x its p99 alone; at 32 (with lists at 4 tuples a round trip), 1.89x
 * and 1.98x in two runs. The price: a prefix of many namespaces is walked
 * once a scan, eight times as often as at 256, so its search spends
 * MEMORY_WORK_BUDGET sooner (and pages with a cursor), and fewer heavy
 * requests end while gets run.
 */
#define SCAN_CALL_ITEMS   32
#define SCAN_STEP_ENTRIES 1024

/* A candidate of a scan: an index entry (encoded ns path, encoded key). */
struct scan_cand {
	char *ns, *key;
	long long version;
};

static void cands_release(struct scan_cand *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(c[i].ns);
		free(c[i].key);
	}
}

/* Merge a step's candidates (highest first) into best (highest first, at
 * most cap): the cap highest of both stay. */
static int cands_merge(struct scan_cand *best, size_t *nbest, size_t cap, const redisReply *step)
{
	struct scan_cand *m = xcalloc(cap + 1, sizeof(*m));
	size_t i = 0, j = 0, n = 0;
	while (n < cap && (i < *nbest || j < step->elements)) {
		const redisReply *e = j < step->elements ? step->element[j] : NULL;
		if (e && (e->type != REDIS_REPLY_ARRAY || e->elements != 3 ||
		          !redis_reply_str(e->element[0]) || !redis_reply_str(e->element[1]) ||
		          !redis_reply_str(e->element[2]))) {
			cands_release(m, n);
			free(m);
			return -1;
		}
		long long v = e ? strtoll(e->element[2]->str, NULL, 10) : 0;
		if (i < *nbest && (!e || best[i].version > v)) {
			m[n++] = best[i];
			memset(&best[i++], 0, sizeof(*best));
		} else {
			m[n].ns = xstrndup(e->element[0]->str, e->element[0]->len);
			m[n].key = xstrndup(e->element[1]->str, e->element[1]->len);
			m[n++].version = v;
			j++;
		}
	}
	cands_release(best + i, *nbest - i);
	memcpy(best, m, n * sizeof(*m));
	*nbest = n;
	free(m);
	return 0;
}

/*
 * A scan in bounded steps, of n = req->n items but at most SCAN_CALL_ITEMS
 * (then *more when n were found): 'cands' calls walk the prefix's
 * namespaces, at most SCAN_STEP_ENTRIES / n a call, each giving its best n
 * index entries above what the best n so far already beat; one 'items' call
 * reads the best n, or those of them whose values fit req->max_bytes (then
 * *more). req->work, when set, is charged the namespaces and index entries
 * each step read; a walk it cannot pay for is MEM_ETOO_LARGE.
 */
int redis_memory_scan(struct store *s, const char *tenant, const struct mem_scan *req,
                      struct mem_items *out, bool *more, struct mem_error *err)
{
	struct tenant_keys k;
	redisReply *rep = NULL;
	size_t cap = req->n ? req->n : 1, nbest = 0;
	if (cap > SCAN_CALL_ITEMS)
		cap = SCAN_CALL_ITEMS;
	struct scan_cand *best = xcalloc(cap + 1, sizeof(*best));
	char *after = xstrdup(""), *min = xstrdup("-inf");
	struct redis_batch ib = {0};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	*more = false;
	tenant_keys_init(&k, s, tenant, &req->prefix);
	char *max = req->before ? xasprintf("(%s", req->before) : xstrdup("+inf");
	size_t most = SCAN_STEP_ENTRIES / cap ? SCAN_STEP_ENTRIES / cap : 1;
	char n[24], most_s[24];
	snprintf(n, sizeof(n), "%zu", cap);
	snprintf(most_s, sizeof(most_s), "%zu", most);
	for (;;) {
		if (req->work && *req->work <= 0) {
			mem_fail(err, MEM_ETOO_LARGE, "namespace_prefix",
			         "the search walks more namespaces than one request may: search "
			         "narrower prefixes, or send the operations in several requests");
			goto out;
		}
		const char *cv[] = {"EVALSHA",   redis_store_memory_sha(s, MEMORY_SCRIPT_SCAN),
		                    "1",         k.reg.data,
		                    "cands",     k.ixb.data,
		                    k.path.data, max,
		                    min,         n,
		                    after,       most_s};
		if (redis_conn_command(redis_store_conn(s), &rep, err, 12, cv, NULL) < 0)
			goto out;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
		    !redis_reply_str(rep->element[0]) ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY ||
		    cands_merge(best, &nbest, cap, rep->element[1]) < 0) {
			redis_reply_fail(rep, err, "memory search");
			goto out;
		}
		if (req->work)
			*req->work -= redis_reply_ll(rep->element[2]);
		free(after);
		after = xstrndup(rep->element[0]->str, rep->element[0]->len);
		freeReplyObject(rep);
		rep = NULL;
		if (nbest == cap) {
			free(min);
			min = xasprintf("(%lld", best[cap - 1].version);
		}
		if (!*after)
			break;
	}
	*more = nbest == cap;
	if (!nbest) {
		ret = 0;
		goto out;
	}
	redis_batch_cmd(&ib, "EVALSHA");
	redis_batch_str(&ib, redis_store_memory_sha(s, MEMORY_SCRIPT_SCAN));
	redis_batch_str(&ib, "1");
	redis_batch_str(&ib, k.reg.data);
	redis_batch_str(&ib, "items");
	redis_batch_str(&ib, k.ixb.data);
	redis_batch_str(&ib, k.itb.data);
	char *most_bytes = xasprintf("%zu", req->max_bytes ? req->max_bytes : SIZE_MAX);
	redis_batch_own(&ib, most_bytes, strlen(most_bytes));
	for (size_t i = 0; i < nbest; i++) {
		redis_batch_str(&ib, best[i].ns);
		redis_batch_str(&ib, best[i].key);
		redis_batch_fmt(&ib, best[i].version);
	}
	if (redis_batch_send(&ib, redis_store_conn(s), true, err) < 0)
		goto out;
	rep = redis_batch_take(&ib, 0);
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(rep, err, "memory search");
		goto out;
	}
	*more = *more || redis_reply_ll(rep->element[0]) != 0; /* the bytes ran out */
	const redisReply *items = rep->element[1];
	out->v = xcalloc(items->elements + 1, sizeof(*out->v));
	for (size_t i = 0; i < items->elements; i++)
		if (item_from_scan(items->element[i], &k.itb, &out->v[out->n]) == 0)
			out->n++;
	ret = 0;
out:
	freeReplyObject(rep);
	cands_release(best, nbest);
	free(best);
	redis_batch_release(&ib);
	free(after);
	free(min);
	free(max);
	tenant_keys_release(&k);
	return ret;
}

int redis_memory_cleanup(struct store *s, const char *tenant, const struct mem_ns *prefix,
                         long long *deleted, struct mem_error *err)
{
	struct tenant_keys k;
	redisReply *rep = NULL;
	int ret = -1;
	bool more = true;

	*deleted = 0;
	tenant_keys_init(&k, s, tenant, prefix);
	char batch[24];
	snprintf(batch, sizeof(batch), "%d", CLEANUP_BATCH);
	const char *av[] = {"EVALSHA",   redis_store_memory_sha(s, MEMORY_SCRIPT_CLEANUP),
	                    "1",         k.reg.data,
	                    k.ixb.data,  k.itb.data,
	                    k.path.data, batch};
	while (more) {
		if (redis_conn_command(redis_store_conn(s), &rep, err, 8, av, NULL) < 0)
			goto out;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
			redis_reply_fail(rep, err, "memory cleanup");
			goto out;
		}
		*deleted += redis_reply_ll(rep->element[0]);
		more = redis_reply_ll(rep->element[1]) != 0;
		freeReplyObject(rep);
		rep = NULL;
	}
	ret = 0;
out:
	freeReplyObject(rep);
	tenant_keys_release(&k);
	return ret;
}

int redis_memory_namespaces(struct store *s, const char *tenant, const struct mem_ns *prefix,
                            struct mem_ns_list *out, struct mem_error *err)
{
	struct tenant_keys k;
	redisReply *rep = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	tenant_keys_init(&k, s, tenant, prefix);
	char most[24];
	snprintf(most, sizeof(most), "%d", MEM_NS_LIST_MAX);
	const char *av[] = {"EVALSHA",  redis_store_memory_sha(s, MEMORY_SCRIPT_NAMESPACES),
	                    "1",        k.reg.data,
	                    k.ixb.data, k.path.data,
	                    most};
	if (redis_conn_command(redis_store_conn(s), &rep, err, 7, av, NULL) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(rep, err, "memory namespaces");
		goto out;
	}
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		size_t n;
		char **labels = redis_reply_str(e) ? path_decode(e->str, e->len, &n) : NULL;
		if (!labels)
			continue;
		mem_ns_list_add(out, (const char *const *)labels, n);
		for (size_t i2 = 0; i2 < n; i2++)
			free(labels[i2]);
		free(labels);
	}
	ret = 0;
out:
	freeReplyObject(rep);
	tenant_keys_release(&k);
	return ret;
}
