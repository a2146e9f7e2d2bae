#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"
#include "conv_service.h"
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
	struct conv_stores conv; /* conversations: the primary and its archive */
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
	if (conv_stores_init(&svc->conv, cfg, primary, err) < 0) {
		service_free(svc);
		return NULL;
	}
	return svc;
}

void service_free(struct service *svc)
{
	if (!svc)
		return;
	store_free(svc->primary);
	store_free(svc->secondary);
	store_free(svc->conv.archive);
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
	if (svc->primary->ops->admin_tenant_delete(svc->primary, tenant, out, err) < 0)
		return -1;
	/* the conversation history archived in PostgreSQL goes too */
	struct admin_counts archived = {0};
	if (svc->conv.archive && svc->conv.archive->ops->admin_tenant_delete(
	                             svc->conv.archive, tenant, &archived, err) < 0)
		return -1;
	out->scanned += archived.scanned;
	out->changed += archived.changed;
	return 0;
}

int service_ready(struct service *svc, const char **store_name, struct store_status *st)
{
	*store_name = svc->primary->ops->name;
	return svc->primary->ops->ping(svc->primary, st);
}

/* ---- conversations: the primary store and its archive (conv_service.c) ---- */

int service_conv_append(struct service *svc, const char *tenant, const struct conv_append *req,
                        struct conv_append_result *out, struct mem_error *err)
{
	return conv_svc_append(&svc->conv, tenant, req, out, err);
}

int service_conv_read(struct service *svc, const char *tenant, const struct conv_read *req,
                      struct conv_page *out, struct mem_error *err)
{
	return conv_svc_read(&svc->conv, tenant, req, out, err);
}

int service_conv_meta(struct service *svc, const char *tenant, const char *conversation_id,
                      struct conv_meta *out, struct mem_error *err)
{
	return conv_svc_meta(&svc->conv, tenant, conversation_id, out, err);
}

int service_conv_update(struct service *svc, const char *tenant, const struct conv_update *req,
                        struct conv_meta *out, struct mem_error *err)
{
	return conv_svc_update(&svc->conv, tenant, req, out, err);
}

int service_conv_list(struct service *svc, const char *tenant, const struct conv_list *req,
                      struct conv_list_result *out, struct mem_error *err)
{
	return conv_svc_list(&svc->conv, tenant, req, out, err);
}

int service_conv_delete(struct service *svc, const char *tenant, const char *conversation_id,
                        struct mem_error *err)
{
	return conv_svc_delete(&svc->conv, tenant, conversation_id, err);
}
