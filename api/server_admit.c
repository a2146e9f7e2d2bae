/*
 * server_admit: what is decided on a request's headers alone, before its
 * body is read or its handler runs: the route, the port, the tenant, the
 * bearer token (API_TOKENS, ADMIN_TOKEN), the media type and the declared
 * size. A refusal is answered here.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/tokens.h"
#include "../service/service.h"
#include "server_internal.h"

static bool is_json_type(const char *ct)
{
	while (*ct == ' ')
		ct++;
	size_t n = strlen("application/json");
	if (strncasecmp(ct, "application/json", n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
}

static enum MHD_Result respond_405(struct request *r, const char *allow, const char *msg)
{
	json_t *e = json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "method_not_allowed",
	                      "message", msg, "request_id", r->request_id);
	char *text = json_dumps(e, JSON_COMPACT);
	json_decref(e);
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	MHD_add_response_header(resp, "Allow", allow);
	return respond_queue(r, 405, resp);
}

/*
 * Bearer tokens. With no API_TOKENS the API is open (the start-up log says
 * so); otherwise a tenant route needs a token allowed for the request's
 * tenant. Admin routes need ADMIN_TOKEN and answer 403 when none is set.
 * Tokens never reach a log line.
 */
static int authorize(struct http_server *s, struct request *r, enum access access,
                     struct mem_error *err)
{
	const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
	const char *token = NULL;
	if (h && !strncasecmp(h, "Bearer ", 7)) {
		token = h + 7;
		while (*token == ' ')
			token++;
	}
	if (access == ADMIN) {
		if (!s->cfg->admin_token)
			return mem_fail(err, MEM_EFORBIDDEN, NULL,
			                "admin endpoints are disabled: ADMIN_TOKEN is not set");
		if (!token)
			return mem_fail(err, MEM_EUNAUTHORIZED, "Authorization",
			                "send Authorization: Bearer <ADMIN_TOKEN>");
		if (!secret_equal(token, s->cfg->admin_token))
			return mem_fail(err, MEM_EFORBIDDEN, "Authorization",
			                "the token is not the admin token");
		return 0;
	}
	if (tokens_empty(s->tokens))
		return 0;
	if (!token)
		return mem_fail(err, MEM_EUNAUTHORIZED, "Authorization",
		                "send Authorization: Bearer <token>");
	switch (tokens_check(s->tokens, token, r->tenant)) {
	case TOKEN_OK:
		return 0;
	case TOKEN_WRONG_TENANT:
		return mem_fail(err, MEM_EFORBIDDEN, "X-Tenant-Id",
		                "the token may not act for tenant %.64s", r->tenant);
	case TOKEN_UNKNOWN:
		break;
	}
	return mem_fail(err, MEM_EUNAUTHORIZED, "Authorization", "the bearer token is not known");
}

/*
 * What is decided on the headers alone: the route, the port, the tenant, the
 * token, the media type and the declared size. The matched route, or NULL
 * with the refusal queued (*ret: what queueing it returned).
 */
const struct http_route *admit(struct http_server *s, struct request *r, enum MHD_Result *ret)
{
	struct mem_error err = {0};
	char allow[64];
	const struct http_route *rt = route_find(r, allow, sizeof(allow), &err);
	if (rt && s->probes_only && rt->access != OPEN) {
		rt = NULL;
		allow[0] = '\0';
		mem_fail(&err, MEM_ENOT_FOUND, NULL,
		         "this port serves probes and /metrics only; the API is on PORT");
	}
	if (!rt) {
		*ret = allow[0] ? respond_405(r, allow, err.message) : respond_error(r, &err);
		return NULL;
	}
	if (rt->access != OPEN && service_check_tenant(r->tenant, &err) < 0) {
		*ret = respond_error(r, &err);
		return NULL;
	}
	/* Store details (hosts, libpq messages, memory figures) in the probes'
	 * answers: for the admin token, or on the METRICS_PORT listener. */
	struct mem_error ignored;
	r->store_details =
	    rt->access == OPEN &&
	    (s->probes_only || (s->cfg->admin_token && authorize(s, r, ADMIN, &ignored) == 0));
	if (rt->access != OPEN && authorize(s, r, rt->access, &err) < 0) {
		if (err.code == MEM_EUNAUTHORIZED)
			r->www_authenticate = true;
		*ret = respond_error(r, &err);
		return NULL;
	}
	if (rt->body) {
		const char *ct = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_TYPE);
		if (!ct || !is_json_type(ct)) {
			json_t *e = json_pack("{s:{s:s, s:s, s:s}}", "error", "code",
			                      "unsupported_media_type", "message",
			                      "send the body as Content-Type: application/json",
			                      "request_id", r->request_id);
			*ret = respond_json(r, 415, e);
			return NULL;
		}
	}
	const char *cl =
	    MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > (unsigned long long)s->cfg->max_body_bytes) {
		*ret = respond_errorf(r, MEM_ETOO_LARGE, NULL,
		                      "the body is larger than MAX_BODY_BYTES (%ld bytes)",
		                      s->cfg->max_body_bytes);
		return NULL;
	}
	long long declared = cl ? strtoll(cl, NULL, 10) : 0;
	if (declared > 0 && !r->buffered && !buffer_take(s->cfg, r, declared)) {
		*ret = respond_over_buffer(r);
		return NULL;
	}
	return rt;
}
