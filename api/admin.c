/*
 * /admin: the operator's tools, behind ADMIN_TOKEN (see server_admit.c). Each is
 * the safe form of something the runbooks did by hand against a live store:
 *
 *   POST   /admin/backup                       snapshot and wait for it
 *   POST   /admin/ttl-repair                   give TTL-less keys the default TTL
 *   GET    /admin/threads/{thread_id}          what is held for a thread
 *   DELETE /admin/threads/{thread_id}/checkpoints/{checkpoint_id}
 *                                              remove one corrupt checkpoint
 *   DELETE /admin/tenants/{tenant}             forget a tenant
 *   GET    /admin/failover                     the routing state in force
 *   POST   /admin/failover                     switch primary / dual write everywhere
 *   POST   /admin/archive                      run an archival pass now
 *
 * The thread routes act in the tenant of X-Tenant-Id.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../service/service.h"
#include "body.h"

enum MHD_Result h_admin_backup(struct request *r)
{
	struct mem_error err = {0};
	long long last_save = 0;
	if (service_admin_backup(r->svc, &last_save, &err) < 0)
		return respond_error(r, &err);
	char iso[32];
	time_t t = (time_t)last_save;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return respond_json(r, 200,
	                    json_pack("{s:s, s:I, s:s}", "store", service_primary(r->svc),
	                              "last_save", (json_int_t)last_save, "last_save_at", iso));
}

enum MHD_Result h_admin_ttl_repair(struct request *r)
{
	struct mem_error err = {0};
	struct admin_counts c;
	if (service_admin_ttl_repair(r->svc, &c, &err) < 0)
		return respond_error(r, &err);
	return respond_json(r, 200,
	                    json_pack("{s:I, s:I}", "scanned", (json_int_t)c.scanned, "fixed",
	                              (json_int_t)c.changed));
}

enum MHD_Result h_admin_thread(struct request *r)
{
	struct mem_error err = {0};
	struct store_keys k;
	if (service_admin_thread_keys(r->svc, r->tenant, r->params[0], &k, &err) < 0)
		return respond_error(r, &err);
	json_t *keys = json_array();
	long long bytes = 0, checkpoints = 0, writes = 0;
	for (size_t i = 0; i < k.n; i++) {
		const struct store_key *e = &k.v[i];
		json_array_append_new(keys,
		                      json_pack("{s:s, s:s, s:I, s:I}", "key", e->name, "type",
		                                e->type, "ttl_ms", (json_int_t)e->ttl_ms, "bytes",
		                                (json_int_t)e->bytes));
		if (e->bytes > 0)
			bytes += e->bytes;
		if (strstr(e->name, ":checkpoint:"))
			checkpoints++;
		else if (strstr(e->name, ":writes:"))
			writes++;
	}
	json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:I, s:o}", "tenant", r->tenant, "thread_id",
	                         r->params[0], "checkpoints", (json_int_t)checkpoints, "writes",
	                         (json_int_t)writes, "bytes", (json_int_t)bytes, "keys", keys);
	size_t held = k.n;
	store_keys_release(&k);
	if (!held) {
		json_decref(body);
		return respond_errorf(r, MEM_ENOT_FOUND, NULL,
		                      "memoryd holds nothing for thread %s", r->params[0]);
	}
	return respond_json(r, 200, body);
}

enum MHD_Result h_admin_checkpoint_delete(struct request *r)
{
	struct mem_error err = {0};
	char *ns = NULL;
	enum MHD_Result ret;
	if (query_param(r, "checkpoint_ns", &ns, &err) < 0 ||
	    service_admin_checkpoint_delete(r->svc, r->tenant, r->params[0], ns ? ns : "",
	                                    r->params[1], r->stored, &err) < 0)
		ret = respond_error(r, &err);
	else
		ret = respond_raw(r, 204, NULL, 0);
	free(ns);
	return ret;
}

enum MHD_Result h_admin_tenant_delete(struct request *r)
{
	struct mem_error err = {0};
	struct admin_counts c;
	if (service_admin_tenant_delete(r->svc, r->params[0], &c, r->stored, &err) < 0)
		return respond_error(r, &err);
	return respond_json(r, 200,
	                    json_pack("{s:s, s:I, s:I}", "tenant", r->params[0], "scanned",
	                              (json_int_t)c.scanned, "deleted", (json_int_t)c.changed));
}

static json_t *routing_json(struct request *r)
{
	struct route_state st;
	bool automatic;
	service_failover_get(r->svc, &st, &automatic);
	return json_pack("{s:s, s:b, s:b, s:s, s:s, s:s, s:I}", "primary",
	                 store_id_name(st.primary), "dual_write", st.dual_write, "auto", automatic,
	                 "since", st.since, "changed_by", st.changed_by, "reason", st.reason,
	                 "version", (json_int_t)st.version);
}

enum MHD_Result h_admin_failover_get(struct request *r)
{
	return respond_json(r, 200, routing_json(r));
}

/* {primary?, dual_write?}: at least one; nothing else. */
enum MHD_Result h_admin_failover_set(struct request *r)
{
	struct mem_error err = {0};
	struct body b = {0};
	struct route_state st;
	const char *primary = NULL;
	int dual_write;
	enum MHD_Result ret;

	const struct body_field fields[] = {
	    BODY_STRING("primary", BODY_OPTIONAL, &primary),
	    BODY_BOOL("dual_write", &dual_write),
	};
	if (body_parse(&b, r->body.data, r->body.len, &err) < 0 ||
	    body_read_closed(&b, 0, fields, BODY_NFIELDS(fields), &err) < 0)
		goto fail;
	if (!primary && dual_write < 0) {
		mem_fail(&err, MEM_EMISSING_FIELD, "primary", "give primary, dual_write or both");
		goto fail;
	}
	if (service_failover_set(r->svc, primary, dual_write, &st, &err) < 0)
		goto fail;
	ret = respond_json(r, 200, routing_json(r));
	body_release(&b);
	return ret;
fail:
	body_release(&b);
	return respond_error(r, &err);
}

enum MHD_Result h_admin_archive(struct request *r)
{
	struct mem_error err = {0};
	struct archive_report rep;
	if (service_archive_pass(r->svc, &rep, &err) < 0)
		return respond_error(r, &err);
	return respond_json(r, 200, archive_report_json(&rep, true));
}
