/*
 * service.c: the facade's life and the routing every resource goes through.
 * It makes the stores (redis/, and pg/ with DATABASE_URL), the routing state
 * and the failover watcher; defines the helpers of service_internal.h (one
 * routing snapshot per call, routed writes and reads); and answers for the
 * stores as a whole: readiness, health, failover, replica acknowledgements.
 * Each resource's requests are in their own file:
 *   service_checkpoints.c    checkpoints and threads (LangGraph's saver)
 *   service_conversations.c  conversations (over conv_service.c)
 *   service_memory.c         key-value memory (the /memory routes)
 *   service_admin.c          the operator tools (/admin)
 *   service_archive.c        the archiver and retention
 */
#include "service_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/xalloc.h"
#include "failover.h"
#include "redis/conn.h"
#include "pg/pg.h"
#include "redis/redis.h"
#include "routing.h"

/* ---------- routing (service_internal.h) ---------- */

struct svc_route svc_route_take(struct service *svc)
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

static void stored_add(char *stored, const char *name)
{
	if (!stored)
		return;
	size_t n = strlen(stored);
	snprintf(stored + n, SERVICE_STORED_MAX - n, "%s%s", n ? "," : "", name);
}

int svc_routed_write(struct service *svc, const struct routed_write *w, char *stored,
                     struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
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

int svc_routed_read(struct service *svc, struct routed_read *r, struct mem_error *err)
{
	struct svc_route rt = svc_route_take(svc);
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

/* ---------- life ---------- */

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

/* ---------- checks every resource makes ---------- */

int svc_check_id(const char *s, bool allow_empty, const char *field, struct mem_error *err)
{
	return id_check(s, strlen(s), ID_MAX_BYTES, allow_empty, field, err);
}

int service_check_tenant(const char *tenant, struct mem_error *err)
{
	return id_check(tenant, strlen(tenant), TENANT_MAX_BYTES, false, "X-Tenant-Id", err);
}

/* ---------- the stores as a whole: failover, health, readiness ---------- */

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
	return svc_route_take(svc).primary->ops->name;
}

bool service_dual_write(struct service *svc)
{
	return svc_route_take(svc).dual_write;
}

int service_store_info(struct service *svc, struct store_info *out, struct mem_error *err)
{
	struct store *s = svc_route_take(svc).primary;
	return s->ops->info(s, out, err);
}

size_t service_stores(struct service *svc, struct service_store_report out[SERVICE_MAX_STORES])
{
	struct svc_route rt = svc_route_take(svc);
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

int service_ready(struct service *svc, const char **store_name, struct store_status *st)
{
	struct store *s = svc_route_take(svc).primary;
	*store_name = s->ops->name;
	return s->ops->ping(s, st);
}

/* ---------- Redis replica acknowledgements (REDIS_WAIT_REPLICAS) ---------- */

void service_request_begin(void)
{
	redis_conn_forget_replicas();
}

int service_replicas(void)
{
	return redis_conn_last_replicas();
}
