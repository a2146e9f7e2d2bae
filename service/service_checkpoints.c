/*
 * service_checkpoints.c: the checkpoint requests (LangGraph's saver: put,
 * get, head, list, put_writes, delete a thread). Each checks the ids of its
 * request, then goes through svc_routed_write or svc_routed_read with an
 * adapter of one line per store op; versions come back tagged with the store
 * that holds them.
 */
#include "service_internal.h"

#include <stdlib.h>
#include <string.h>

#include "../common/metrics.h"
#include "../common/xalloc.h"

/* ---------- one adapter per store op ---------- */

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
	if (svc_check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    svc_check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    svc_check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0 ||
	    (r->parent_id && svc_check_id(r->parent_id, false, "parent_checkpoint_id", err) < 0))
		return -1;
	for (size_t i = 0; i < r->nversions; i++)
		if (svc_check_id(r->versions[i].channel, false, "checkpoint.channel_versions",
		                 err) < 0 ||
		    svc_check_id(r->versions[i].version, false, "checkpoint.channel_versions",
		                 err) < 0)
			return -1;
	for (size_t i = 0; i < r->nblobs; i++)
		if (svc_check_id(r->blobs[i].channel, false, "blobs.channel", err) < 0 ||
		    svc_check_id(r->blobs[i].version, false, "blobs.version", err) < 0 ||
		    svc_check_id(r->blobs[i].value.type, false, "blobs.type", err) < 0)
			return -1;
	struct routed_write w = {.op = "checkpoint_put",
	                         .tenant = tenant,
	                         .thread_id = r->thread_id,
	                         .checkpoint_id = r->checkpoint_id,
	                         .on = put_on,
	                         .send = put_send_on,
	                         .collect = put_collect_on,
	                         .req = r};
	if (svc_routed_write(svc, &w, stored, err) < 0)
		return -1;
	metrics_checkpoint_written();
	return 0;
}

int service_checkpoint_get(struct service *svc, const char *tenant, const struct cp_get *r,
                           struct cp_tuple *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (svc_check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    svc_check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    (r->checkpoint_id && svc_check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0))
		return -1;
	struct routed_read rd = {
	    .op = "checkpoint_get", .tenant = tenant, .on = get_on, .req = r, .out = out};
	if (svc_routed_read(svc, &rd, err) < 0)
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
	if (svc_check_id(thread_id, false, "thread_id", err) < 0 ||
	    svc_check_id(ns, true, "checkpoint_ns", err) < 0)
		return -1;
	struct store *s = svc_route_take(svc).primary;
	if (s->ops->checkpoint_head(s, tenant, thread_id, ns, version, err) < 0)
		return -1;
	version_tag(version, s);
	return 0;
}

int service_checkpoint_list(struct service *svc, const char *tenant, const struct cp_list *r,
                            struct cp_list_result *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if ((r->thread_id && svc_check_id(r->thread_id, false, "thread_id", err) < 0) ||
	    (r->ns && svc_check_id(r->ns, true, "checkpoint_ns", err) < 0) ||
	    (r->before && svc_check_id(r->before, false, "before", err) < 0))
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
	return svc_routed_read(svc, &rd, err);
}

int service_checkpoint_put_writes(struct service *svc, const char *tenant,
                                  const struct cp_put_writes *r, char *stored,
                                  struct mem_error *err)
{
	if (stored)
		stored[0] = '\0';
	if (svc_check_id(r->thread_id, false, "thread_id", err) < 0 ||
	    svc_check_id(r->ns, true, "checkpoint_ns", err) < 0 ||
	    svc_check_id(r->checkpoint_id, false, "checkpoint_id", err) < 0 ||
	    svc_check_id(r->task_id, false, "task_id", err) < 0 ||
	    svc_check_id(r->task_path, true, "task_path", err) < 0)
		return -1;
	for (size_t i = 0; i < r->nwrites; i++)
		if (svc_check_id(r->writes[i].channel, false, "writes.channel", err) < 0 ||
		    svc_check_id(r->writes[i].value.type, false, "writes.type", err) < 0)
			return -1;
	if (!r->nwrites)
		return 0;
	struct routed_write w = {.op = "checkpoint_put_writes",
	                         .tenant = tenant,
	                         .thread_id = r->thread_id,
	                         .checkpoint_id = r->checkpoint_id,
	                         .on = put_writes_on,
	                         .req = r};
	return svc_routed_write(svc, &w, stored, err);
}

int service_thread_delete(struct service *svc, const char *tenant, const char *thread_id,
                          char *stored, struct mem_error *err)
{
	if (stored)
		stored[0] = '\0';
	if (svc_check_id(thread_id, false, "thread_id", err) < 0)
		return -1;
	struct routed_write w = {.op = "thread_delete",
	                         .tenant = tenant,
	                         .thread_id = thread_id,
	                         .on = thread_delete_on,
	                         .req = thread_id,
	                         .is_delete = true};
	return svc_routed_write(svc, &w, stored, err);
}
