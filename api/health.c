/* /healthz (liveness: touches no store) and /readyz (readiness). */
#include "handlers.h"

#include <stdio.h>

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
	json_t *body = json_pack("{s:s, s:{s:o}}", "status", rc == 0 ? "ready" : "unavailable",
	                         "stores", name, store);
	if (rc < 0) {
		char reason[300];
		snprintf(reason, sizeof(reason), "%s: %s", name, st.detail);
		json_object_set_new(body, "reason", json_string(reason));
	}
	return respond_json(r, rc == 0 ? 200 : 503, body);
}
