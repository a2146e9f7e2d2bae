#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"
#include "pg_store.h"
#include "redis_store.h"

/*
 * Routing. Every call goes to the primary store, and a write is acknowledged
 * only once the primary holds it. The secondary is the other store, where
 * dual writes and read-through will go (the next steps of issue 3: each is a
 * function of this file over the same ops); NULL until then.
 */
struct service {
	const struct config *cfg;
	struct store *primary;
	struct store *secondary;
};

/* A store by its CONV_STORE_PRIMARY name. */
static struct store *store_open(const char *name, const struct config *cfg, struct mem_error *err)
{
	if (!strcmp(name, "postgres"))
		return pg_store_new(cfg, err);
	return redis_store_new(cfg, err);
}

struct service *service_new(const struct config *cfg, struct mem_error *err)
{
	struct store *primary = store_open(cfg->store_primary, cfg, err);
	if (!primary)
		return NULL;
	struct service *svc = xcalloc(1, sizeof(*svc));
	svc->cfg = cfg;
	svc->primary = primary;
	svc->secondary = NULL;
	return svc;
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	store_free(svc->primary);
	store_free(svc->secondary);
	free(svc);
}

static int check_id(const char *s, bool allow_empty, const char *field, struct mem_error *err)
{
	return id_check(s, strlen(s), ID_MAX_BYTES, allow_empty, field, err);
}

int service_check_tenant(const char *tenant, struct mem_error *err)
{
	return id_check(tenant, strlen(tenant), TENANT_MAX_BYTES, false, "X-Tenant-Id", err);
}

int service_checkpoint_put(struct service *svc, const char *tenant, const struct cp_put *r,
                           struct mem_error *err)
{
	if (check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0 ||
	    (r->parent_id && check_id(r->parent_id, false, "parent_checkpoint_id", err) < 0))
		return -1;
	for (size_t i = 0; i < r->nversions; i++)
		if (check_id(r->versions[i].channel, false, "checkpoint.channel_versions", err) <
		        0 ||
		    check_id(r->versions[i].version, false, "checkpoint.channel_versions", err) < 0)
			return -1;
	for (size_t i = 0; i < r->nblobs; i++)
		if (check_id(r->blobs[i].channel, false, "blobs.channel", err) < 0 ||
		    check_id(r->blobs[i].version, false, "blobs.version", err) < 0 ||
		    check_id(r->blobs[i].value.type, false, "blobs.type", err) < 0)
			return -1;
	if (svc->primary->ops->checkpoint_put(svc->primary, tenant, r, err) < 0)
		return -1;
	metrics_checkpoint_written();
	return 0;
}

int service_checkpoint_get(struct service *svc, const char *tenant, const struct cp_get *r,
                           struct cp_tuple *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    (r->checkpoint_id && check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0))
		return -1;
	return svc->primary->ops->checkpoint_get(svc->primary, tenant, r, out, err);
}

int service_checkpoint_head(struct service *svc, const char *tenant, const char *thread_id,
                            const char *ns, char **version, struct mem_error *err)
{
	*version = NULL;
	if (check_id(thread_id, false, "thread_id", err) < 0 ||
	    check_id(ns, true, "checkpoint_ns", err) < 0)
		return -1;
	return svc->primary->ops->checkpoint_head(svc->primary, tenant, thread_id, ns, version,
	                                          err);
}

int service_checkpoint_list(struct service *svc, const char *tenant, const struct cp_list *r,
                            struct cp_list_result *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if ((r->thread_id && check_id(r->thread_id, false, "thread_id", err) < 0) ||
	    (r->ns && check_id(r->ns, true, "checkpoint_ns", err) < 0) ||
	    (r->before && check_id(r->before, false, "before", err) < 0))
		return -1;
	if (r->limit < 1 || r->limit > LIST_LIMIT_MAX)
		return mem_fail(err, MEM_EINVALID_FIELD, "limit", "limit must be 1..%d",
		                LIST_LIMIT_MAX);
	return svc->primary->ops->checkpoint_list(svc->primary, tenant, r, out, err);
}

int service_checkpoint_put_writes(struct service *svc, const char *tenant,
                                  const struct cp_put_writes *r, struct mem_error *err)
{
	if (check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0 ||
	    check_id(r->task_id, false, "task_id", err) < 0 ||
	    check_id(r->task_path, true, "task_path", err) < 0)
		return -1;
	for (size_t i = 0; i < r->nwrites; i++)
		if (check_id(r->writes[i].channel, false, "writes.channel", err) < 0 ||
		    check_id(r->writes[i].value.type, false, "writes.type", err) < 0)
			return -1;
	if (!r->nwrites)
		return 0;
	return svc->primary->ops->checkpoint_put_writes(svc->primary, tenant, r, err);
}

int service_thread_delete(struct service *svc, const char *tenant, const char *thread_id,
                          struct mem_error *err)
{
	if (check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	return svc->primary->ops->thread_delete(svc->primary, tenant, thread_id, err);
}

const char *service_primary(struct service *svc)
{
	return svc->primary->ops->name;
}

bool service_dual_write(struct service *svc)
{
	return svc->secondary != NULL; /* dual write: the next step of issue 3 */
}

int service_store_info(struct service *svc, struct store_info *out, struct mem_error *err)
{
	return svc->primary->ops->info(svc->primary, out, err);
}

int service_admin_backup(struct service *svc, long long *last_save, struct mem_error *err)
{
	return svc->primary->ops->admin_backup(svc->primary, last_save, err);
}

int service_admin_ttl_repair(struct service *svc, struct admin_counts *out, struct mem_error *err)
{
	return svc->primary->ops->admin_ttl_repair(svc->primary, out, err);
}

int service_admin_thread_keys(struct service *svc, const char *tenant, const char *thread_id,
                              struct store_keys *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	return svc->primary->ops->admin_thread_keys(svc->primary, tenant, thread_id, out, err);
}

int service_admin_checkpoint_delete(struct service *svc, const char *tenant, const char *thread_id,
                                    const char *ns, const char *checkpoint_id,
                                    struct mem_error *err)
{
	if (check_id(thread_id, false, "thread_id", err) < 0 ||
	    check_id(ns, true, "checkpoint_ns", err) < 0 ||
	    check_id(checkpoint_id, false, "checkpoint_id", err) < 0)
		return -1;
	return svc->primary->ops->admin_checkpoint_delete(svc->primary, tenant, thread_id, ns,
	                                                  checkpoint_id, err);
}

int service_admin_tenant_delete(struct service *svc, const char *tenant, struct admin_counts *out,
                                struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (id_check(tenant, strlen(tenant), TENANT_MAX_BYTES, false, "tenant", err) < 0)
		return -1;
	return svc->primary->ops->admin_tenant_delete(svc->primary, tenant, out, err);
}

int service_ready(struct service *svc, const char **store_name, struct store_status *st)
{
	*store_name = svc->primary->ops->name;
	return svc->primary->ops->ping(svc->primary, st);
}

/* ---------- key-value memory (the /memory routes) ---------- */

/* Items one store scan reads, and the most one search reads before it
 * answers a short page with a cursor (a selective filter over many items). */
#define MEM_SCAN_BATCH  256
#define MEM_SCAN_BUDGET 20000

static int memory_served(struct service *svc, struct mem_error *err)
{
	if (!svc->primary->ops->memory_put)
		return mem_fail(err, MEM_EINTERNAL, NULL, "the %s store does not serve /memory",
		                svc->primary->ops->name);
	return 0;
}

static int check_ref(struct service *svc, const struct mem_ref *ref, struct mem_error *err)
{
	if (memory_served(svc, err) < 0 || mem_ns_check(&ref->ns, false, "namespace", err) < 0 ||
	    check_id(ref->key, false, "key", err) < 0)
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

int service_memory_put(struct service *svc, const char *tenant, const struct mem_put *req,
                       struct mem_item *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	struct mem_ref ref = {req->ns, req->key, req->if_match};
	if (check_ref(svc, &ref, err) < 0)
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
	return svc->primary->ops->memory_put(svc->primary, tenant, &p, out, err);
}

int service_memory_get(struct service *svc, const char *tenant, const struct mem_ref *ref,
                       struct mem_item *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_ref(svc, ref, err) < 0 ||
	    svc->primary->ops->memory_get(svc->primary, tenant, ref, out, err) < 0)
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
	return 0;
}

int service_memory_delete(struct service *svc, const char *tenant, const struct mem_ref *ref,
                          bool *deleted, struct mem_error *err)
{
	*deleted = false;
	if (check_ref(svc, ref, err) < 0)
		return -1;
	return svc->primary->ops->memory_delete(svc->primary, tenant, ref, deleted, err);
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

int service_memory_search(struct service *svc, const char *tenant, const struct mem_search *req,
                          struct mem_search_result *out, struct mem_error *err)
{
	struct mem_items batch = {0};
	char *before = NULL;
	size_t skip = req->offset, scanned = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	if (memory_served(svc, err) < 0 ||
	    mem_ns_check(&req->prefix, true, "namespace_prefix", err) < 0)
		return -1;
	if (check_page(req->limit, req->offset, err) < 0)
		return -1;
	if (req->cursor && !version_ok(req->cursor))
		return mem_fail(err, MEM_EINVALID_FIELD, "cursor",
		                "cursor must be a next_cursor memoryd returned");
	before = req->cursor ? xstrdup(req->cursor) : NULL;
	out->items.v = xcalloc(req->limit + 1, sizeof(*out->items.v));
	for (;;) {
		bool more = false;
		struct mem_scan sc = {req->prefix, before, MEM_SCAN_BATCH};
		if (svc->primary->ops->memory_scan(svc->primary, tenant, &sc, &batch, &more, err) <
		    0)
			goto out;
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
		if (scanned >= MEM_SCAN_BUDGET) {
			out->next_cursor = before; /* go on from here */
			before = NULL;
			break;
		}
	}
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
	*deleted = 0;
	if (memory_served(svc, err) < 0 || mem_ns_check(prefix, false, "namespace_prefix", err) < 0)
		return -1;
	if (svc->primary->ops->memory_cleanup(svc->primary, tenant, prefix, deleted, err) < 0)
		return -1;
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
	struct mem_ns_list all = {0};
	char ***picked = NULL;
	size_t npicked = 0;

	memset(out, 0, sizeof(*out));
	if (memory_served(svc, err) < 0 || mem_ns_check(&req->prefix, true, "prefix", err) < 0 ||
	    mem_ns_check(&req->suffix, true, "suffix", err) < 0)
		return -1;
	if (check_page(req->limit, req->offset, err) < 0)
		return -1;
	if (svc->primary->ops->memory_namespaces(svc->primary, tenant, &req->prefix, &all, err) < 0)
		return -1;
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
