/*
 * service_memory.c: the key-value memory requests (the /memory routes, and
 * LangGraph's BaseStore through them). Checks a request (namespace, key,
 * value size, TTL, page, budget), makes it on the primary store and, for
 * writes, on the other store (service_internal.h); search filters and pages
 * over the store's scans, and listing namespaces dedupes, cuts and sorts the
 * store's namespaces.
 */
#include "service_internal.h"

#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"

/* Items one store scan reads, and the most one search reads before it
 * answers a short page with a cursor (a selective filter over many items). */
#define MEM_SCAN_BATCH  256
#define MEM_SCAN_BUDGET 20000

static int memory_served(const struct store *prim, struct mem_error *err)
{
	if (!prim->ops->memory_put)
		return mem_fail(err, MEM_EINTERNAL, NULL, "the %s store does not serve /memory",
		                prim->ops->name);
	return 0;
}

static int check_ref(const struct store *prim, const struct mem_ref *ref, struct mem_error *err)
{
	if (memory_served(prim, err) < 0 || mem_ns_check(&ref->ns, false, "namespace", err) < 0 ||
	    svc_check_id(ref->key, false, "key", err) < 0)
		return -1;
	return 0;
}

/* A value that is not JSON cannot have been written by memoryd: say where it
 * is, so an operator can fix or delete it. */
static void memory_malformed(const struct mem_item *it)
{
	metrics_memory_malformed();
	log_warn(NULL, "malformed JSON in a memory item", LF_STR("key", it->store_key),
	         LF_STR("item_key", it->key));
}

/* The /memory writes, as the primary made them, on the secondary (dual
 * write) or, for deletes, on the other store whatever dual write says (what a
 * dual write or an earlier primary left there must not come back after a
 * switch). A put carries the primary's version, so ETags stay valid across
 * a switch. Failures are counted and logged, never returned. */
static void memory_missed(const struct svc_route *rt, const char *op, const char *tenant,
                          const char *key, const struct mem_error *e)
{
	store_dual_write_missed(rt->other, rt->primary, op, tenant, "key", key, NULL, NULL,
	                        e->message);
}

static void memory_put_other(const struct svc_route *rt, const char *tenant,
                             const struct mem_put *p, const struct mem_item *done)
{
	struct mem_put p2 = *p;
	struct mem_item o2 = {0};
	struct mem_error e2 = {0};
	p2.if_match = NULL;
	p2.version = done->version;
	if (rt->other->ops->memory_put(rt->other, tenant, &p2, &o2, &e2) < 0)
		memory_missed(rt, "memory_put", tenant, p->key, &e2);
	mem_item_release(&o2);
}

int service_memory_put(struct service *svc, const char *tenant, const struct mem_put *req,
                       struct mem_item *out, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *prim = rt.primary; /* one routing snapshot per call */
	memset(out, 0, sizeof(*out));
	struct mem_ref ref = {.ns = req->ns, .key = req->key, .if_match = req->if_match};
	if (check_ref(prim, &ref, err) < 0)
		return -1;
	if (req->value_len > (size_t)svc->cfg->memory_max_value_bytes)
		return mem_fail(err, MEM_ETOO_LARGE, "value",
		                "value is %zu bytes; MEMORY_MAX_VALUE_BYTES allows %ld",
		                req->value_len, svc->cfg->memory_max_value_bytes);
	struct mem_put p = *req;
	if (p.ttl_seconds < 0)
		p.ttl_seconds = svc->cfg->memory_default_ttl_seconds;
	if (p.ttl_seconds == 0 && !svc->cfg->memory_allow_persistent)
		return mem_fail(err, MEM_EINVALID_FIELD, "ttl_seconds",
		                "ttl_seconds 0 (no expiry) needs MEMORY_ALLOW_PERSISTENT=1");
	if (p.ttl_seconds > MEM_TTL_MAX)
		return mem_fail(err, MEM_EINVALID_FIELD, "ttl_seconds",
		                "ttl_seconds must be 1..%ld (0: no expiry)", MEM_TTL_MAX);
	p.version = NULL;
	if (prim->ops->memory_put(prim, tenant, &p, out, err) < 0)
		return -1;
	if (rt.dual_write)
		memory_put_other(&rt, tenant, &p, out);
	return 0;
}

/* A read's refresh_ttl, like a write, on the secondary under dual write,
 * where a miss is counted, not returned. */
static void memory_refresh_other(const struct svc_route *rt, const char *tenant,
                                 const struct mem_item *items, size_t n)
{
	if (rt->dual_write && rt->other && rt->other->ops->memory_refresh) {
		struct mem_item *copy = xcalloc(n + 1, sizeof(*copy));
		struct mem_error e2 = {0};
		memcpy(copy, items, n * sizeof(*copy)); /* its expiries only are written */
		if (rt->other->ops->memory_refresh(rt->other, tenant, copy, n, &e2) < 0)
			memory_missed(rt, "memory_refresh", tenant, n ? items[0].key : "", &e2);
		free(copy);
	}
}

/* The same on the primary (whose answer gives the new expiries) first. */
static int memory_refresh(const struct svc_route *rt, const char *tenant, struct mem_item *items,
                          size_t n, struct mem_error *err)
{
	if (rt->primary->ops->memory_refresh(rt->primary, tenant, items, n, err) < 0)
		return -1;
	memory_refresh_other(rt, tenant, items, n);
	return 0;
}

int service_memory_get(struct service *svc, const char *tenant, const struct mem_ref *ref,
                       struct mem_item *out, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *prim = rt.primary; /* one store per call */
	memset(out, 0, sizeof(*out));
	if (check_ref(prim, ref, err) < 0 || prim->ops->memory_get(prim, tenant, ref, out, err) < 0)
		return -1;
	if (!mem_json_valid(out->value_json, out->value_len)) {
		memory_malformed(out);
		mem_fail(err, MEM_ECORRUPT, "key",
		         "the stored value of item %.64s is not JSON (written outside memoryd?): "
		         "fix or delete %.100s",
		         ref->key, out->store_key);
		mem_item_release(out);
		return -1;
	}
	if (ref->refresh_ttl) /* the primary's get refreshed it */
		memory_refresh_other(&rt, tenant, out, 1);
	return 0;
}

int service_memory_delete(struct service *svc, const char *tenant, const struct mem_ref *ref,
                          bool *deleted, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *prim = rt.primary;
	*deleted = false;
	if (check_ref(prim, ref, err) < 0 ||
	    prim->ops->memory_delete(prim, tenant, ref, deleted, err) < 0)
		return -1;
	if (rt.other && rt.other->ops->memory_delete) {
		struct mem_ref r2 = {.ns = ref->ns, .key = ref->key};
		struct mem_error e2 = {0};
		bool gone;
		if (rt.other->ops->memory_delete(rt.other, tenant, &r2, &gone, &e2) < 0)
			memory_missed(&rt, "memory_delete", tenant, ref->key, &e2);
	}
	return 0;
}

static int check_page(size_t limit, size_t offset, struct mem_error *err)
{
	if (limit < 1 || limit > MEM_SEARCH_LIMIT_MAX)
		return mem_fail(err, MEM_EINVALID_FIELD, "limit", "limit must be 1..%d",
		                MEM_SEARCH_LIMIT_MAX);
	if (offset > MEM_OFFSET_MAX)
		return mem_fail(err, MEM_EINVALID_FIELD, "offset", "offset must be 0..%d",
		                MEM_OFFSET_MAX);
	return 0;
}

static bool version_ok(const char *v)
{
	size_t n = strlen(v);
	if (!n || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

struct mem_budget service_memory_budget(const struct service *svc)
{
	return (struct mem_budget){.work = svc->cfg->memory_work_budget,
	                           .bytes = svc->cfg->response_max_bytes};
}

static int budget_spent(struct mem_error *err)
{
	return mem_fail(err, MEM_ETOO_LARGE, NULL,
	                "this request's budget (MEMORY_WORK_BUDGET, RESPONSE_MAX_BYTES) is spent: "
	                "send the remaining operations in another request");
}

int service_memory_search(struct service *svc, const char *tenant, const struct mem_search *req,
                          struct mem_search_result *out, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *prim = rt.primary; /* one store per call */
	struct mem_items batch = {0};
	struct mem_budget own = service_memory_budget(svc);
	struct mem_budget *bud = req->budget ? req->budget : &own;
	char *before = NULL;
	size_t skip = req->offset, scanned = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (memory_served(prim, err) < 0 ||
	    mem_ns_check(&req->prefix, true, "namespace_prefix", err) < 0)
		return -1;
	if (check_page(req->limit, req->offset, err) < 0)
		return -1;
	if (req->cursor && !version_ok(req->cursor))
		return mem_fail(err, MEM_EINVALID_FIELD, "cursor",
		                "cursor must be a next_cursor memoryd returned");
	if (bud->work <= 0 || bud->bytes <= 0)
		return budget_spent(err);
	before = req->cursor ? xstrdup(req->cursor) : NULL;
	out->items.v = xcalloc(req->limit + 1, sizeof(*out->items.v));
	for (;;) {
		bool more = false;
		struct mem_scan sc = {req->prefix, before, MEM_SCAN_BATCH,
		                      bud->bytes > 0 ? (size_t)bud->bytes : 1, &bud->work};
		if (prim->ops->memory_scan(prim, tenant, &sc, &batch, &more, err) < 0) {
			/* out of budget after some progress: the page so far, and on from here */
			if (err->code != MEM_ETOO_LARGE || !scanned)
				goto out;
			mem_error_clear(err);
			out->truncated = true;
			out->next_cursor = before;
			before = NULL;
			break;
		}
		size_t i = 0;
		bool full = false;
		for (; i < batch.n; i++) {
			struct mem_item *it = &batch.v[i];
			bool valid = mem_json_valid(it->value_json, it->value_len);
			bool match = valid && mem_value_matches(it->value_json, it->value_len,
			                                        req->filter_json);
			if (match && !skip && out->items.n == req->limit) {
				full = true; /* a match follows the page: it starts the next */
				break;
			}
			if (match && !skip && out->items.n &&
			    (long long)it->value_len > bud->bytes) {
				full = out->truncated = true; /* RESPONSE_MAX_BYTES: on from here */
				break;
			}
			free(before);
			before = xstrdup(it->version);
			scanned++;
			if (!valid)
				memory_malformed(it);
			if (!match)
				continue;
			if (skip) {
				skip--;
				continue;
			}
			bud->bytes -= (long long)it->value_len;
			out->items.v[out->items.n++] = *it;
			memset(it, 0, sizeof(*it));
		}
		mem_items_release(&batch);
		if (full) {
			out->next_cursor = xstrdup(out->items.v[out->items.n - 1].version);
			break;
		}
		if (!more)
			break;
		if (scanned >= MEM_SCAN_BUDGET || bud->work <= 0) {
			out->next_cursor = before; /* go on from here */
			out->truncated = true;
			before = NULL;
			break;
		}
	}
	if (req->refresh_ttl && memory_refresh(&rt, tenant, out->items.v, out->items.n, err) < 0)
		goto out;
	ret = 0;
out:
	if (ret < 0)
		mem_search_result_release(out);
	mem_items_release(&batch);
	free(before);
	return ret;
}

int service_memory_cleanup(struct service *svc, const char *tenant, const struct mem_ns *prefix,
                           long long *deleted, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *prim = rt.primary;
	*deleted = 0;
	if (memory_served(prim, err) < 0 ||
	    mem_ns_check(prefix, false, "namespace_prefix", err) < 0)
		return -1;
	if (prim->ops->memory_cleanup(prim, tenant, prefix, deleted, err) < 0)
		return -1;
	if (rt.other && rt.other->ops->memory_cleanup) {
		long long n2 = 0;
		struct mem_error e2 = {0};
		if (rt.other->ops->memory_cleanup(rt.other, tenant, prefix, &n2, &e2) < 0)
			memory_missed(&rt, "memory_cleanup", tenant, "", &e2);
	}
	log_info(NULL, "memory cleanup", LF_STR("tenant", tenant), LF_INT("deleted", *deleted));
	return 0;
}

static int ns_cmp(const void *x, const void *y)
{
	char *const *a = *(char **const *)x, *const *b = *(char **const *)y;
	for (size_t i = 0;; i++) {
		if (!a[i] || !b[i])
			return (a[i] != NULL) - (b[i] != NULL);
		int c = strcmp(a[i], b[i]);
		if (c)
			return c;
	}
}

static bool ns_has_suffix(char **labels, size_t n, const struct mem_ns *suffix)
{
	if (suffix->n > n)
		return false;
	for (size_t i = 0; i < suffix->n; i++)
		if (strcmp(labels[n - suffix->n + i], suffix->labels[i]))
			return false;
	return true;
}

/* LangGraph's listNamespaces: the namespaces under the prefix that end with
 * the suffix, cut to max_depth labels, without repeats, in order, paged. */
int service_memory_namespaces(struct service *svc, const char *tenant,
                              const struct mem_list_ns *req, struct mem_ns_list *out,
                              struct mem_error *err)
{
	struct store *prim = svc_route_take(svc).primary; /* one store per call */
	struct mem_ns_list all = {0};
	char ***picked = NULL;
	size_t npicked = 0;

	memset(out, 0, sizeof(*out));
	if (memory_served(prim, err) < 0 || mem_ns_check(&req->prefix, true, "prefix", err) < 0 ||
	    mem_ns_check(&req->suffix, true, "suffix", err) < 0)
		return -1;
	if (check_page(req->limit, req->offset, err) < 0)
		return -1;
	if (req->budget && req->budget->work <= 0)
		return budget_spent(err);
	if (prim->ops->memory_namespaces(prim, tenant, &req->prefix, &all, err) < 0)
		return -1;
	if (req->budget)
		req->budget->work -= (long long)all.n + 1;
	picked = xcalloc(all.n + 1, sizeof(*picked));
	for (size_t i = 0; i < all.n; i++) {
		size_t d = all.depth[i];
		if (!ns_has_suffix(all.v[i], d, &req->suffix))
			continue;
		if (req->max_depth && d > req->max_depth) {
			for (size_t k = req->max_depth; k < d; k++) {
				free(all.v[i][k]);
				all.v[i][k] = NULL;
			}
			all.depth[i] = req->max_depth;
		}
		picked[npicked++] = all.v[i];
	}
	qsort(picked, npicked, sizeof(*picked), ns_cmp);
	size_t seen = 0;
	for (size_t i = 0; i < npicked && out->n < req->limit; i++) {
		if (i && !ns_cmp(&picked[i - 1], &picked[i]))
			continue;
		if (seen++ < req->offset)
			continue;
		size_t d = 0;
		while (picked[i][d])
			d++;
		mem_ns_list_add(out, (const char *const *)picked[i], d);
	}
	free(picked);
	mem_ns_list_release(&all);
	return 0;
}
