#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"
#include "archive.h"
#include "conv_service.h"
#include "failover.h"
#include "redis/conn.h"
#include "pg/pg.h"
#include "redis/redis.h"
#include "routing.h"

/*
 * Routing. A call takes the routing state once (routing.h) and makes every
 * store operation by that snapshot:
 *  - reads go to the primary; when the primary is Redis and it holds nothing
 *    for what was asked, PostgreSQL (where dual-written and archived data
 *    lives) is read before the answer is "not found" (read-through);
 *  - a write goes to the primary first and is acknowledged only once the
 *    primary holds it; with dual write it then goes to the other store, and a
 *    failure there never fails the request: it is counted
 *    (dual_write_errors_total) and logged with what was missed. Deletes
 *    reach every configured store whatever the primary and dual write: read-
 *    through (PostgreSQL) and a failback (Redis) never bring a deleted thread
 *    or tenant back.
 * routed_write and routed_read are the two helpers every resource uses: a
 * resource adds an adapter of one line per store op and calls them.
 */
struct service {
	const struct config *cfg;
	struct store *stores[STORE_COUNT]; /* postgres: NULL without DATABASE_URL */
	struct routing *routing;
	struct failover *failover; /* NULL without DATABASE_URL: routing by the configuration */
	int archive_running;       /* atomic: a pass of this process is running */
	bool archive_ran;          /* under archive_running: last_archive holds a pass */
	struct archive_report last_archive;
};

/* The stores of one call, from one routing snapshot. */
struct svc_route {
	struct store *primary;
	struct store *other; /* the other store; NULL when it is not configured */
	bool dual_write;
};

static struct svc_route route_take(struct service *svc)
{
	struct route r = routing_take(svc->routing);
	struct svc_route sr = {
	    .primary = svc->stores[r.primary],
	    .other = svc->stores[r.primary == STORE_REDIS ? STORE_POSTGRES : STORE_REDIS],
	    .dual_write = r.dual_write,
	};
	if (!sr.other)
		sr.dual_write = false;
	return sr;
}

/*
 * One write, as routed_write runs it on each store. on() makes the call on
 * one store: out is the caller's result for the primary and NULL for the
 * other store. thread_id and checkpoint_id (either may be NULL) name what
 * was written in the log line of a missed dual write.
 */
struct routed_write {
	const char *op;
	const char *tenant;
	const char *thread_id;
	const char *checkpoint_id;
	int (*on)(struct store *s, const char *tenant, const void *req, void *out,
	          struct mem_error *err);
	const void *req;
	void *out;
	bool is_delete; /* reaches the other store even without dual write; absent is fine */
	/* Optional: on() in two halves, for a write whose secondary copy does
	 * not depend on the primary's answer. send returns 1 when the store
	 * does not offer them; else as the store's send and collect. */
	int (*send)(struct store *s, const char *tenant, const void *req, void **pending,
	            struct mem_error *err);
	int (*collect)(struct store *s, void *pending, struct mem_error *err);
};

static void stored_add(char *stored, const char *name)
{
	if (!stored)
		return;
	size_t n = strlen(stored);
	snprintf(stored + n, SERVICE_STORED_MAX - n, "%s%s", n ? "," : "", name);
}

/* Run w on the primary, then (dual write, or a delete, which every store
 * must see) on the other store. 0 once the primary holds it; stored (may be
 * NULL) lists the stores that do. A write with send/collect goes to the
 * secondary first and is collected after the primary's, so the two round
 * trips overlap (a dual write then costs the slower store's time, not the
 * sum); when the primary fails, the secondary may hold a write the client
 * was refused, as it may after any lost answer: such writes are upserts
 * that a retry repeats. */
static int routed_write(struct service *svc, const struct routed_write *w, char *stored,
                        struct mem_error *err)
{
	struct svc_route rt = route_take(svc);
	if (stored)
		stored[0] = '\0';
	bool to_other = rt.dual_write || (w->is_delete && rt.other);
	struct mem_error e2 = {0};
	void *pending = NULL;
	/* 0 sent (collect it), -1 failed (e2 says why), 1 run on() after the primary */
	int early = to_other && w->send ? w->send(rt.other, w->tenant, w->req, &pending, &e2) : 1;
	if (w->on(rt.primary, w->tenant, w->req, w->out, err) < 0) {
		if (early == 0)
			(void)w->collect(rt.other, pending, &e2);
		/* what read-through shows can be deleted where it lives */
		if (!w->is_delete || err->code != MEM_ENOT_FOUND || !to_other ||
		    w->on(rt.other, w->tenant, w->req, w->out, &e2) < 0)
			return -1;
		stored_add(stored, rt.other->ops->name);
		return 0;
	}
	stored_add(stored, rt.primary->ops->name);
	if (!to_other)
		return 0;
	int rc2 = early == 0  ? w->collect(rt.other, pending, &e2)
	          : early < 0 ? -1
	                      : w->on(rt.other, w->tenant, w->req, NULL, &e2);
	if (rc2 == 0 || (w->is_delete && e2.code == MEM_ENOT_FOUND)) {
		stored_add(stored, rt.other->ops->name);
		return 0;
	}
	store_dual_write_missed(rt.other, rt.primary, w->op, w->tenant, "thread_id", w->thread_id,
	                        "checkpoint_id", w->checkpoint_id, e2.message);
	return 0;
}

/*
 * One read. on() reads one store into out. When the primary is Redis and it
 * answers "not found" (MEM_ENOT_FOUND, or empty(out) when empty is set),
 * PostgreSQL is read too; release(out) drops the first answer before. A
 * read-through that fails leaves the primary's answer standing (logged):
 * PostgreSQL being down must not fail reads Redis can answer.
 */
struct routed_read {
	const char *op;
	const char *tenant;
	int (*on)(struct store *s, const char *tenant, const void *req, void *out,
	          struct mem_error *err);
	const void *req;
	void *out;
	bool (*empty)(const void *out);
	void (*release)(void *out);
	struct store *from; /* set by routed_read: the store that answered */
	bool through;       /* set by routed_read: the answer came from read-through */
};

static int routed_read(struct service *svc, struct routed_read *r, struct mem_error *err)
{
	struct svc_route rt = route_take(svc);
	struct store *pg = svc->stores[STORE_POSTGRES];
	int rc = r->on(rt.primary, r->tenant, r->req, r->out, err);
	r->from = rt.primary;
	r->through = false;
	bool absent =
	    r->empty ? rc == 0 && r->empty(r->out) : rc < 0 && err->code == MEM_ENOT_FOUND;
	if (!absent || !pg || rt.primary == pg)
		return rc;
	if (r->release)
		r->release(r->out);
	struct mem_error e2 = {0};
	int rc2 = r->on(pg, r->tenant, r->req, r->out, &e2);
	if (rc2 == 0 && !(r->empty && r->empty(r->out))) {
		r->from = pg;
		r->through = true;
		return 0;
	}
	if (rc2 < 0 && e2.code != MEM_ENOT_FOUND)
		log_warn(NULL, "read-through to postgres failed; answering from redis",
		         LF_STR("op", r->op), LF_STR("tenant", r->tenant),
		         LF_STR("error", e2.message));
	if (r->release)
		r->release(r->out); /* back to the primary's empty answer */
	return rc;                  /* and err still holds its "not found" */
}

/* A store by id, NULL when it is not configured. */
static struct store *store_open(enum store_id id, const struct config *cfg, struct mem_error *err)
{
	if (id == STORE_POSTGRES)
		return pg_store_new(cfg, err);
	return redis_store_new(cfg, err);
}

struct service *service_new(const struct config *cfg, struct mem_error *err)
{
	struct route_state initial = {.changed_by = "config"};
	if (store_id_parse(cfg->store_primary, &initial.primary) < 0) {
		mem_fail(err, MEM_EINVALID_FIELD, "CONV_STORE_PRIMARY",
		         "CONV_STORE_PRIMARY=%s: expected redis or postgres", cfg->store_primary);
		return NULL;
	}
	initial.dual_write = cfg->dual_write != 0;
	routing_now_iso(initial.since);

	struct service *svc = xcalloc(1, sizeof(*svc));
	svc->cfg = cfg;
	for (int id = 0; id < STORE_COUNT; id++) {
		if (id == STORE_POSTGRES && (!cfg->database_url || !*cfg->database_url))
			continue;
		svc->stores[id] = store_open((enum store_id)id, cfg, err);
		if (!svc->stores[id]) {
			service_free(svc);
			return NULL;
		}
	}
	if (!svc->stores[initial.primary] || (initial.dual_write && !svc->stores[STORE_POSTGRES])) {
		mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		         "CONV_STORE_PRIMARY=postgres and CONV_DUAL_WRITE=1 need DATABASE_URL");
		service_free(svc);
		return NULL;
	}
	svc->routing = routing_new(&initial);
	if (svc->stores[STORE_POSTGRES])
		svc->failover = failover_start(cfg, svc->routing, svc->stores[STORE_REDIS]);
	return svc;
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	failover_stop(svc->failover); /* its watcher uses the stores and the routing */
	for (int id = 0; id < STORE_COUNT; id++)
		store_free(svc->stores[id]);
	routing_free(svc->routing);
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

/* ---------- checkpoints: one adapter per store op ---------- */

static int put_on(struct store *s, const char *tenant, const void *req, void *out,
                  struct mem_error *err)
{
	(void)out;
	return s->ops->checkpoint_put(s, tenant, req, err);
}

static int put_send_on(struct store *s, const char *tenant, const void *req, void **pending,
                       struct mem_error *err)
{
	if (!s->ops->checkpoint_put_send)
		return 1;
	return s->ops->checkpoint_put_send(s, tenant, req, pending, err);
}

static int put_collect_on(struct store *s, void *pending, struct mem_error *err)
{
	return s->ops->checkpoint_put_collect(s, pending, err);
}

static int put_writes_on(struct store *s, const char *tenant, const void *req, void *out,
                         struct mem_error *err)
{
	(void)out;
	return s->ops->checkpoint_put_writes(s, tenant, req, err);
}

static int thread_delete_on(struct store *s, const char *tenant, const void *req, void *out,
                            struct mem_error *err)
{
	(void)out;
	return s->ops->thread_delete(s, tenant, req, err);
}

static int get_on(struct store *s, const char *tenant, const void *req, void *out,
                  struct mem_error *err)
{
	return s->ops->checkpoint_get(s, tenant, req, out, err);
}

static int list_on(struct store *s, const char *tenant, const void *req, void *out,
                   struct mem_error *err)
{
	return s->ops->checkpoint_list(s, tenant, req, out, err);
}

static bool list_empty(const void *out)
{
	return ((const struct cp_list_result *)out)->n == 0;
}

static void list_release(void *out)
{
	cp_list_result_release(out);
}

/* Versions validate api's cache of rendered tuples: tag each with the store
 * it came from, so a tuple cached from one store is never served as current
 * by the other after a switch. */
static void version_tag(char **version, const struct store *s)
{
	if (!*version)
		return;
	char *tagged = xasprintf("%s:%s", s->ops->name, *version);
	free(*version);
	*version = tagged;
}

int service_checkpoint_put(struct service *svc, const char *tenant, const struct cp_put *r,
                           char *stored, struct mem_error *err)
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
	struct routed_write w = {.op = "checkpoint_put",
	                         .tenant = tenant,
	                         .thread_id = r->thread_id,
	                         .checkpoint_id = r->checkpoint_id,
	                         .on = put_on,
	                         .send = put_send_on,
	                         .collect = put_collect_on,
	                         .req = r};
	if (routed_write(svc, &w, stored, err) < 0)
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
	struct routed_read rd = {
	    .op = "checkpoint_get", .tenant = tenant, .on = get_on, .req = r, .out = out};
	if (routed_read(svc, &rd, err) < 0)
		return -1;
	if (rd.through) {
		free(out->version); /* read through: never cached */
		out->version = NULL;
	}
	version_tag(&out->version, rd.from);
	return 0;
}

int service_checkpoint_head(struct service *svc, const char *tenant, const char *thread_id,
                            const char *ns, char **version, struct mem_error *err)
{
	*version = NULL;
	if (check_id(thread_id, false, "thread_id", err) < 0 ||
	    check_id(ns, true, "checkpoint_ns", err) < 0)
		return -1;
	struct store *s = route_take(svc).primary;
	if (s->ops->checkpoint_head(s, tenant, thread_id, ns, version, err) < 0)
		return -1;
	version_tag(version, s);
	return 0;
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
	struct cp_list req = *r;
	req.max_bytes = (size_t)svc->cfg->response_max_bytes;
	struct routed_read rd = {.op = "checkpoint_list",
	                         .tenant = tenant,
	                         .on = list_on,
	                         .req = &req,
	                         .out = out,
	                         .empty = list_empty,
	                         .release = list_release};
	return routed_read(svc, &rd, err);
}

int service_checkpoint_put_writes(struct service *svc, const char *tenant,
                                  const struct cp_put_writes *r, char *stored,
                                  struct mem_error *err)
{
	if (stored)
		stored[0] = '\0';
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
	struct routed_write w = {.op = "checkpoint_put_writes",
	                         .tenant = tenant,
	                         .thread_id = r->thread_id,
	                         .checkpoint_id = r->checkpoint_id,
	                         .on = put_writes_on,
	                         .req = r};
	return routed_write(svc, &w, stored, err);
}

int service_thread_delete(struct service *svc, const char *tenant, const char *thread_id,
                          char *stored, struct mem_error *err)
{
	if (stored)
		stored[0] = '\0';
	if (check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	struct routed_write w = {.op = "thread_delete",
	                         .tenant = tenant,
	                         .thread_id = thread_id,
	                         .on = thread_delete_on,
	                         .req = thread_id,
	                         .is_delete = true};
	return routed_write(svc, &w, stored, err);
}

void service_failover_get(struct service *svc, struct route_state *out, bool *automatic)
{
	routing_get(svc->routing, out);
	*automatic = svc->cfg->failover_auto != 0;
}

int service_failover_set(struct service *svc, const char *primary, int dual_write,
                         struct route_state *out, struct mem_error *err)
{
	struct route cur = routing_take(svc->routing);
	enum store_id want = cur.primary;
	if (primary && store_id_parse(primary, &want) < 0)
		return mem_fail(
		    err, MEM_EINVALID_FIELD, "primary",
		    "primary must be \"redis\" or \"postgres\" (\"mongo\" means postgres)");
	if (!svc->failover)
		return mem_fail(
		    err, MEM_ECONFLICT, NULL,
		    "routing is fixed by the configuration: DATABASE_URL is not set, so "
		    "there is no PostgreSQL to switch to or to keep the state in");
	bool dual = dual_write < 0 ? cur.dual_write : dual_write != 0;
	return failover_set(svc->failover, want, dual, "admin", out, err);
}

const char *service_primary(struct service *svc)
{
	return route_take(svc).primary->ops->name;
}

bool service_dual_write(struct service *svc)
{
	return route_take(svc).dual_write;
}

int service_store_info(struct service *svc, struct store_info *out, struct mem_error *err)
{
	struct store *s = route_take(svc).primary;
	return s->ops->info(s, out, err);
}

size_t service_stores(struct service *svc, struct service_store_report out[SERVICE_MAX_STORES])
{
	struct svc_route rt = route_take(svc);
	struct store *order[] = {rt.primary, rt.other};
	size_t n = 0;
	for (size_t i = 0; i < 2 && n < SERVICE_MAX_STORES; i++) {
		if (!order[i])
			continue;
		struct service_store_report *r = &out[n++];
		r->name = order[i]->ops->name;
		r->primary = i == 0;
		r->reachable = order[i]->ops->ping(order[i], &r->st) == 0;
	}
	return n;
}

int service_admin_backup(struct service *svc, long long *last_save, struct mem_error *err)
{
	struct store *s = route_take(svc).primary;
	return s->ops->admin_backup(s, last_save, err);
}

int service_admin_ttl_repair(struct service *svc, struct admin_counts *out, struct mem_error *err)
{
	struct store *s = route_take(svc).primary;
	return s->ops->admin_ttl_repair(s, out, err);
}

int service_admin_thread_keys(struct service *svc, const char *tenant, const char *thread_id,
                              struct store_keys *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	struct store *s = route_take(svc).primary;
	return s->ops->admin_thread_keys(s, tenant, thread_id, out, err);
}

struct cp_delete_req {
	const char *thread_id, *ns, *checkpoint_id;
};

static int checkpoint_delete_on(struct store *s, const char *tenant, const void *req, void *out,
                                struct mem_error *err)
{
	const struct cp_delete_req *d = req;
	(void)out;
	return s->ops->admin_checkpoint_delete(s, tenant, d->thread_id, d->ns, d->checkpoint_id,
	                                       err);
}

static int tenant_delete_on(struct store *s, const char *tenant, const void *req, void *out,
                            struct mem_error *err)
{
	struct admin_counts ignored;
	(void)req;
	return s->ops->admin_tenant_delete(s, tenant, out ? out : &ignored, err);
}

int service_admin_checkpoint_delete(struct service *svc, const char *tenant, const char *thread_id,
                                    const char *ns, const char *checkpoint_id, char *stored,
                                    struct mem_error *err)
{
	if (stored)
		stored[0] = '\0';
	if (check_id(thread_id, false, "thread_id", err) < 0 ||
	    check_id(ns, true, "checkpoint_ns", err) < 0 ||
	    check_id(checkpoint_id, false, "checkpoint_id", err) < 0)
		return -1;
	struct cp_delete_req d = {thread_id, ns, checkpoint_id};
	struct routed_write w = {.op = "admin_checkpoint_delete",
	                         .tenant = tenant,
	                         .thread_id = thread_id,
	                         .checkpoint_id = checkpoint_id,
	                         .on = checkpoint_delete_on,
	                         .req = &d,
	                         .is_delete = true};
	return routed_write(svc, &w, stored, err);
}

int service_admin_tenant_delete(struct service *svc, const char *tenant, struct admin_counts *out,
                                char *stored, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (stored)
		stored[0] = '\0';
	if (id_check(tenant, strlen(tenant), TENANT_MAX_BYTES, false, "tenant", err) < 0)
		return -1;
	struct routed_write w = {.op = "admin_tenant_delete",
	                         .tenant = tenant,
	                         .on = tenant_delete_on,
	                         .out = out,
	                         .is_delete = true};
	return routed_write(svc, &w, stored, err);
}

int service_ready(struct service *svc, const char **store_name, struct store_status *st)
{
	struct store *s = route_take(svc).primary;
	*store_name = s->ops->name;
	return s->ops->ping(s, st);
}

/* ---- conversations: the primary store and its archive (conv_service.c) ---- */

/* From one routing snapshot: with Redis primary, PostgreSQL (when
 * configured) takes what Redis trims and answers for history Redis no
 * longer holds. */
static struct conv_stores conv_stores_of(struct service *svc)
{
	struct svc_route rt = route_take(svc);
	struct store *pg = svc->stores[STORE_POSTGRES];
	return (struct conv_stores){.cfg = svc->cfg,
	                            .primary = rt.primary,
	                            .archive = rt.primary != pg ? pg : NULL,
	                            .secondary = rt.dual_write ? rt.other : NULL,
	                            .other = rt.other};
}

int service_conv_append(struct service *svc, const char *tenant, const struct conv_append *req,
                        struct conv_append_result *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_append(&st, tenant, req, out, err);
}

int service_conv_read(struct service *svc, const char *tenant, const struct conv_read *req,
                      struct conv_page *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	struct conv_read r = *req;
	r.max_bytes = (size_t)svc->cfg->response_max_bytes;
	return conv_svc_read(&st, tenant, &r, out, err);
}

int service_conv_meta(struct service *svc, const char *tenant, const char *conversation_id,
                      struct conv_meta *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_meta(&st, tenant, conversation_id, out, err);
}

int service_conv_update(struct service *svc, const char *tenant, const struct conv_update *req,
                        struct conv_meta *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_update(&st, tenant, req, out, err);
}

int service_conv_list(struct service *svc, const char *tenant, const struct conv_list *req,
                      struct conv_list_result *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_list(&st, tenant, req, out, err);
}

int service_conv_delete(struct service *svc, const char *tenant, const char *conversation_id,
                        struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_delete(&st, tenant, conversation_id, err);
}

/* ---------- key-value memory (the /memory routes) ---------- */

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
	struct svc_route rt = route_take(svc);
	struct store *prim = rt.primary; /* one routing snapshot per call */
	memset(out, 0, sizeof(*out));
	struct mem_ref ref = {req->ns, req->key, req->if_match};
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

int service_memory_get(struct service *svc, const char *tenant, const struct mem_ref *ref,
                       struct mem_item *out, struct mem_error *err)
{
	struct store *prim = route_take(svc).primary; /* one store per call */
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
	return 0;
}

int service_memory_delete(struct service *svc, const char *tenant, const struct mem_ref *ref,
                          bool *deleted, struct mem_error *err)
{
	struct svc_route rt = route_take(svc);
	struct store *prim = rt.primary;
	*deleted = false;
	if (check_ref(prim, ref, err) < 0 ||
	    prim->ops->memory_delete(prim, tenant, ref, deleted, err) < 0)
		return -1;
	if (rt.other && rt.other->ops->memory_delete) {
		struct mem_ref r2 = {ref->ns, ref->key, NULL};
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
	struct store *prim = route_take(svc).primary; /* one store per call */
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
	struct svc_route rt = route_take(svc);
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
	struct store *prim = route_take(svc).primary; /* one store per call */
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

/* ---------- the archiver ---------- */

int service_archive_pass(struct service *svc, struct archive_report *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	/* The server's settings, not the request, stand in the way: 409, as
	 * for a failover without DATABASE_URL. */
	if (!svc->stores[STORE_POSTGRES])
		return mem_fail(err, MEM_ECONFLICT, "DATABASE_URL",
		                "archival needs DATABASE_URL: PostgreSQL is the archive");
	if (config_check_archive(svc->cfg, err) < 0) {
		err->code = MEM_ECONFLICT;
		return -1;
	}
	if (__atomic_exchange_n(&svc->archive_running, 1, __ATOMIC_ACQ_REL))
		return mem_fail(err, MEM_ECONFLICT, NULL,
		                "an archival pass of this memoryd is already running");
	(void)archive_pass(svc->cfg, svc->stores[STORE_REDIS], svc->stores[STORE_POSTGRES], out);
	svc->last_archive = *out;
	svc->archive_ran = true;
	__atomic_store_n(&svc->archive_running, 0, __ATOMIC_RELEASE);
	return 0;
}

bool service_archive_last(struct service *svc, struct archive_report *out)
{
	bool have = false;
	if (!__atomic_exchange_n(&svc->archive_running, 1, __ATOMIC_ACQ_REL)) {
		have = svc->archive_ran;
		if (have)
			*out = svc->last_archive;
		__atomic_store_n(&svc->archive_running, 0, __ATOMIC_RELEASE);
	}
	return have || archive_health_read(svc->cfg->archiver_health_file, out) == 0;
}

int service_retention(struct service *svc, const char *export_path, long long *deleted,
                      struct mem_error *err)
{
	*deleted = 0;
	if (!svc->stores[STORE_POSTGRES])
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "retention needs DATABASE_URL: PostgreSQL is the archive");
	return archive_retention(svc->cfg, svc->stores[STORE_POSTGRES], export_path, deleted, err);
}

void service_request_begin(void)
{
	redis_conn_forget_replicas();
}

int service_replicas(void)
{
	return redis_conn_last_replicas();
}
