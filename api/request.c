#include "request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/xalloc.h"
#include "../service/service.h"

unsigned mem_errcode_status(enum mem_errcode code)
{
	switch (code) {
	case MEM_OK:
		return 200;
	case MEM_EINVALID_JSON:
	case MEM_EINVALID_FIELD:
	case MEM_EMISSING_FIELD:
		return 400;
	case MEM_EUNAUTHORIZED:
		return 401;
	case MEM_EFORBIDDEN:
		return 403;
	case MEM_ENOT_FOUND:
		return 404;
	case MEM_ECONFLICT:
		return 409;
	case MEM_ETOO_LARGE:
		return 413;
	case MEM_EUNAVAILABLE:
		return 503;
	case MEM_EINTERNAL:
		return 500;
	case MEM_EPRECONDITION:
		return 412;
	case MEM_ECORRUPT:
		return 500;
	}
	return 500;
}

bool request_draining(struct request *r)
{
	/* read once a request, so that what a handler decided from it (/readyz's
	 * status) and the Connection header of its answer agree */
	if (!r->draining_read) {
		r->draining_seen = r->draining && __atomic_load_n(r->draining, __ATOMIC_ACQUIRE);
		r->draining_read = true;
	}
	return r->draining_seen;
}

enum MHD_Result respond_queue(struct request *r, unsigned status, struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "X-Request-Id", r->request_id);
	/* shutting down: the client's next request goes to another replica */
	if (request_draining(r))
		MHD_add_response_header(resp, "Connection", "close");
	if (status == 503)
		MHD_add_response_header(resp, "Retry-After", "1");
	if (r->stored[0] && status < 300)
		MHD_add_response_header(resp, "X-Memory-Stored", r->stored);
	if (r->etag[0] && status < 300)
		MHD_add_response_header(resp, "ETag", r->etag);
	int replicas = service_replicas();
	if (replicas >= 0 && r->stored[0] && status < 300) {
		char n[16];
		snprintf(n, sizeof(n), "%d", replicas);
		MHD_add_response_header(resp, "X-Memory-Replicas", n);
	}
	if (status == 401 && r->www_authenticate)
		MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"memoryd\"");
	enum MHD_Result ret = MHD_YES;
	if (r->deferred) {
		if (r->deferred_resp) /* a handler answers once; keep the last */
			MHD_destroy_response(r->deferred_resp);
		r->deferred_resp = resp;
		r->deferred_status = status;
	} else {
		ret = MHD_queue_response(r->conn, status, resp);
		MHD_destroy_response(resp);
	}
	r->status = (int)status;
	r->responded = true;
	return ret;
}

enum MHD_Result respond_typed(struct request *r, unsigned status, const char *content_type,
                              char *body, size_t len)
{
	struct MHD_Response *resp =
	    MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", content_type);
	return respond_queue(r, status, resp);
}

enum MHD_Result respond_raw(struct request *r, unsigned status, char *body, size_t len)
{
	struct MHD_Response *resp;
	if (body) {
		resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
		MHD_add_response_header(resp, "Content-Type", "application/json");
	} else {
		resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	return respond_queue(r, status, resp);
}

enum MHD_Result respond_json(struct request *r, unsigned status, json_t *json)
{
	char *text = json_dumps(json, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(6));
	json_decref(json);
	if (!text)
		return respond_errorf(r, MEM_EINTERNAL, NULL, "cannot encode the response");
	return respond_raw(r, status, text, strlen(text));
}

enum MHD_Result respond_error(struct request *r, const struct mem_error *err)
{
	unsigned status = mem_errcode_status(err->code);
	json_t *e = json_pack("{s:s, s:s, s:s}", "code", mem_errcode_name(err->code), "message",
	                      err->message, "request_id", r->request_id);
	if (!e) /* message not UTF-8: cannot happen for our own text, but be safe */
		e = json_pack("{s:s, s:s, s:s}", "code", mem_errcode_name(err->code), "message",
		              "error", "request_id", r->request_id);
	if (err->field[0])
		json_object_set_new(e, "field", json_string(err->field));
	if (status >= 500)
		log_at(status == 503 ? LOG_WARN : LOG_ERROR, r->request_id, "request failed",
		       LF_STR("route", r->route), LF_INT("status", status),
		       LF_STR("error", err->message));
	return respond_json(r, status, json_pack("{s:o}", "error", e));
}

enum MHD_Result respond_errorf(struct request *r, enum mem_errcode code, const char *field,
                               const char *fmt, ...)
{
	struct mem_error err = {.code = code};
	snprintf(err.field, sizeof(err.field), "%s", field ? field : "");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err.message, sizeof(err.message), fmt, ap);
	va_end(ap);
	return respond_error(r, &err);
}

int query_param(struct request *r, const char *name, char **out, struct mem_error *err)
{
	*out = NULL;
	const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
	if (!raw)
		return 0;
	size_t n;
	char *v = url_decode(raw, strlen(raw), true, &n);
	if (!v)
		return mem_fail(err, MEM_EINVALID_FIELD, name,
		                "query parameter %s has a bad percent-escape", name);
	if (strlen(v) != n) {
		free(v);
		return mem_fail(err, MEM_EINVALID_FIELD, name,
		                "query parameter %s contains a NUL byte", name);
	}
	*out = v;
	return 0;
}

int query_bool(struct request *r, const char *name, bool *out, struct mem_error *err)
{
	char *v;
	*out = false;
	if (query_param(r, name, &v, err) < 0)
		return -1;
	if (!v)
		return 0;
	bool t = !strcmp(v, "true") || !strcmp(v, "1"), f = !strcmp(v, "false") || !strcmp(v, "0");
	free(v);
	if (!t && !f)
		return mem_fail(err, MEM_EINVALID_FIELD, name,
		                "query parameter %s must be true or false", name);
	*out = t;
	return 0;
}
