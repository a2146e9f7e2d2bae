/*
 * service_admin.c: the operator tools behind /admin (api/admin.c). backup,
 * ttl-repair and the key listing act on the primary store; deleting a
 * checkpoint or forgetting a tenant reaches every configured store, as every
 * delete does (service_internal.h).
 */
#include "service_internal.h"

#include <string.h>

#include "../common/ids.h"

int service_admin_backup(struct service *svc, long long *last_save, struct mem_error *err)
{
	struct store *s = svc_route_take(svc).primary;
	return s->ops->admin_backup(s, last_save, err);
}

int service_admin_ttl_repair(struct service *svc, struct admin_counts *out, struct mem_error *err)
{
	struct store *s = svc_route_take(svc).primary;
	return s->ops->admin_ttl_repair(s, out, err);
}

int service_admin_thread_keys(struct service *svc, const char *tenant, const char *thread_id,
                              struct store_keys *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (svc_check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	struct store *s = svc_route_take(svc).primary;
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
	if (svc_check_id(thread_id, false, "thread_id", err) < 0 ||
	    svc_check_id(ns, true, "checkpoint_ns", err) < 0 ||
	    svc_check_id(checkpoint_id, false, "checkpoint_id", err) < 0)
		return -1;
	struct cp_delete_req d = {thread_id, ns, checkpoint_id};
	struct routed_write w = {.op = "admin_checkpoint_delete",
	                         .tenant = tenant,
	                         .thread_id = thread_id,
	                         .checkpoint_id = checkpoint_id,
	                         .on = checkpoint_delete_on,
	                         .req = &d,
	                         .is_delete = true};
	return svc_routed_write(svc, &w, stored, err);
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
	return svc_routed_write(svc, &w, stored, err);
}
