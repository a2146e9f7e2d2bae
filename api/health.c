/* Probes and operator views: /healthz (liveness: touches no store), /readyz
 * (readiness), /health/memory and /metrics. /readyz and /health/memory show
 * store details (error messages naming hosts, libpq's messages, Redis memory
 * figures, warnings, routing history, the archiver's last pass) only when
 * r->store_details: the admin token, or the METRICS_PORT listener. */
#include "handlers.h"

#include <stdio.h>
#include <string.h>

#include "../common/metrics.h"

#include "../service/service.h"

enum MHD_Result h_healthz(struct request *r)
{
	return respond_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result h_readyz(struct request *r)
{
	struct store_status st;
	const char *name;
	int rc = service_ready(r->svc, &name, &st);
	json_t *store = json_pack("{s:b, s:f, s:s, s:i}", "reachable", st.reachable, "latency_ms",
	                          st.latency_ms, "state", st.state ? st.state : "error",
	                          "reconnect_attempts", (int)st.reconnect_attempts);
	if (rc < 0)
		json_object_set_new(store, "error", json_string(st.detail));
	struct route_state rs;
	bool automatic;
	service_failover_get(r->svc, &rs, &automatic);
	json_t *body =
	    json_pack("{s:s, s:{s:o}, s:{s:s, s:b, s:s, s:s, s:s}}", "status",
	              rc == 0 ? "ready" : "unavailable", "stores", name, store, "routing",
	              "primary", store_id_name(rs.primary), "dual_write", rs.dual_write,
	              "changed_by", rs.changed_by, "since", rs.since, "reason", rs.reason);
	if (rc < 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "%s: %s", name,
		         r->store_details ? st.detail : "unreachable");
		json_object_set_new(body, "reason", json_string(reason));
	}
	if (!r->store_details) {
		json_object_del(store, "error");
		json_t *routing = json_object_get(body, "routing");
		json_object_del(routing, "changed_by");
		json_object_del(routing, "since");
		json_object_del(routing, "reason");
	}
	/* from SIGTERM on: a balancer stops sending here while we still answer */
	if (request_draining(r)) {
		json_object_set_new(body, "status", json_string("unavailable"));
		json_object_set_new(body, "reason", json_string("shutting down"));
		rc = -1;
	}
	return respond_json(r, rc == 0 ? 200 : 503, body);
}

json_t *archive_report_json(const struct archive_report *r, bool full)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "last_run", r->last_run, "status",
	                      r->healthy ? "healthy" : "unhealthy", "checkpoints_archived",
	                      (json_int_t)r->checkpoints_archived, "messages_archived",
	                      (json_int_t)r->messages_archived, "errors", (json_int_t)r->errors);
	if (full) {
		json_object_set_new(j, "found", json_integer(r->found));
		json_object_set_new(j, "left_changed", json_integer(r->left_changed));
		json_object_set_new(j, "duration_seconds", json_real(r->duration_s));
	}
	return j;
}

/*
 * /health/memory: what the on-call operator reads. healthy follows the
 * primary store; warnings say what can lose data without making it
 * unhealthy (an eviction policy that may evict keys, keys already evicted).
 */
enum MHD_Result h_health_memory(struct request *r)
{
	struct service_store_report stores[SERVICE_MAX_STORES];
	struct store_info info;
	struct mem_error err = {0};
	size_t nstores = service_stores(r->svc, stores);
	const struct store_status *pst = &stores[0].st; /* the primary */
	int rc = stores[0].reachable ? 0 : -1;
	bool have_info = rc == 0 && service_store_info(r->svc, &info, &err) == 0;

	json_t *warnings = json_array();
	json_t *body =
	    json_pack("{s:b, s:s, s:i, s:f, s:s, s:b}", "healthy", rc == 0, "connectionState",
	              pst->state ? pst->state : "error", "reconnectAttempts",
	              (int)pst->reconnect_attempts, "latencyMs", pst->latency_ms, "primary",
	              stores[0].name, "dual_write", service_dual_write(r->svc));
	json_t *jstores = json_object();
	for (size_t i = 0; i < nstores; i++) {
		json_t *store =
		    json_pack("{s:b, s:f, s:b}", "reachable", stores[i].reachable, "latency_ms",
		              stores[i].st.latency_ms, "primary", stores[i].primary);
		if (!stores[i].reachable)
			json_object_set_new(store, "error", json_string(stores[i].st.detail));
		json_object_set_new(jstores, stores[i].name, store);
	}
	json_object_set_new(body, "stores", jstores);
	if (have_info && info.has_memory) {
		json_object_set_new(
		    body, "redis",
		    json_pack("{s:I, s:I, s:s, s:I, s:I, s:b, s:I}", "used_memory",
		              (json_int_t)info.used_memory, "maxmemory", (json_int_t)info.maxmemory,
		              "maxmemory_policy", info.maxmemory_policy, "evicted_keys",
		              (json_int_t)info.evicted_keys, "rdb_last_save_age_seconds",
		              (json_int_t)info.rdb_last_save_age_seconds, "aof_enabled",
		              info.aof_enabled, "reconnects", (json_int_t)info.reconnects));
		if (!strncmp(info.maxmemory_policy, "allkeys-", 8)) {
			char w[200];
			snprintf(w, sizeof(w),
			         "maxmemory-policy %s can evict keys that have no TTL: memory "
			         "that was never archived can disappear; use noeviction",
			         info.maxmemory_policy);
			json_array_append_new(warnings, json_string(w));
		}
		if (info.evicted_keys > 0) {
			char w[200];
			snprintf(w, sizeof(w),
			         "Redis has evicted %lld keys: evicted data was never archived",
			         info.evicted_keys);
			json_array_append_new(warnings, json_string(w));
		}
	} else if (rc == 0 && !have_info) {
		char w[300];
		snprintf(w, sizeof(w), "store figures unavailable: %s", err.message);
		json_array_append_new(warnings, json_string(w));
	}
	struct archive_report last;
	json_object_set_new(body, "archiver",
	                    service_archive_last(r->svc, &last) ? archive_report_json(&last, false)
	                                                        : json_null());
	json_object_set_new(body, "warnings", warnings);
	if (!r->store_details) {
		/* what a probe needs; the rest names hosts, quotes libpq and
		 * shows memory figures */
		json_object_del(body, "redis");
		json_object_del(body, "archiver");
		json_object_del(body, "warnings");
		const char *k;
		json_t *v;
		json_object_foreach(jstores, k, v) json_object_del(v, "error");
	}
	return respond_json(r, rc == 0 ? 200 : 503, body);
}

/* /metrics: Prometheus text format 0.0.4. */
enum MHD_Result h_metrics(struct request *r)
{
	struct service_store_report stores[SERVICE_MAX_STORES];
	struct store_info info;
	struct mem_error err = {0};
	struct buf b = {0};
	size_t nstores = service_stores(r->svc, stores);
	struct metrics_stores ms = {
	    .primary = stores[0].name,
	    .dual_write = service_dual_write(r->svc),
	};
	for (size_t i = 0; i < nstores; i++) {
		if (!strcmp(stores[i].name, "redis"))
			ms.redis_up = stores[i].reachable;
		else if (!strcmp(stores[i].name, "postgres"))
			ms.postgres_up = stores[i].reachable;
	}
	if (!strcmp(ms.primary, "redis") && service_store_info(r->svc, &info, &err) == 0)
		ms.redis_reconnects = info.reconnects;
	metrics_render(&b, MEMORYD_VERSION, &ms);
	size_t len;
	char *text = buf_detach(&b, &len);
	return respond_typed(r, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
