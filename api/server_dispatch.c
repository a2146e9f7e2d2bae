/*
 * server_dispatch: one request on a worker, through libmicrohttpd's
 * callbacks: the request made on its headers (request id, tenant), its body
 * buffered within MAX_BODY_BYTES and MAX_BUFFERED_BYTES, admitted
 * (server_admit.c), handed to its handler or to a heavy thread
 * (server_heavy.c), and, once answered, the access log line and metrics.
 * The phase of each connection (for the deadlines and the drain) is set here.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"
#include "../service/service.h"
#include "server_internal.h"

/* 128 random bits as 32 hex digits, from a per-thread generator seeded
 * once from the kernel: no system call per request. */
void new_request_id(char out[33])
{
	static _Thread_local uint64_t state[2];
	static const char hex[] = "0123456789abcdef";
	if (!state[0] && !state[1]) {
		if (getrandom(state, sizeof(state), 0) != sizeof(state) ||
		    (!state[0] && !state[1])) {
			state[0] = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)out;
			state[1] = 0x9e3779b97f4a7c15ULL;
		}
	}
	for (int half = 0; half < 2; half++) {
		/* xorshift128+ */
		uint64_t x = state[0], y = state[1];
		state[0] = y;
		x ^= x << 23;
		state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
		uint64_t v = state[1] + y;
		for (int i = 0; i < 16; i++)
			out[half * 16 + i] = hex[(v >> (60 - 4 * i)) & 15];
	}
	out[32] = '\0';
}

static bool request_id_ok(const char *s)
{
	size_t n = strlen(s);
	if (!n || n > 128)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

static struct request *request_new(struct http_server *s, struct MHD_Connection *conn,
                                   const char *url, const char *method)
{
	struct request *r = xcalloc(1, sizeof(*r));
	clock_gettime(CLOCK_MONOTONIC, &r->start);
	r->conn = conn;
	r->url = url;
	r->method = method;
	r->svc = s->svc;
	r->cfg = s->cfg;
	r->latest_cache = s->latest_cache;
	r->draining = &s->draining;
	r->route_metric = 0;
	r->route = "unmatched";
	const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
	if (rid && request_id_ok(rid))
		snprintf(r->request_id, sizeof(r->request_id), "%s", rid);
	else
		new_request_id(r->request_id);
	const char *tenant = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Tenant-Id");
	r->tenant = tenant ? tenant : "default";
	return r;
}

/*
 * MAX_BUFFERED_BYTES: the request bodies held at once, over every connection
 * of both ports (one process, one memory). A body is counted from its
 * admission (its Content-Length; a chunked one as it arrives) to the end of
 * its request, so no mix of uploads holds more; the first that would pass
 * the cap gets 503 with Retry-After, on its headers when it declares a
 * length. What parsing a body costs beyond its bytes is bounded apart: at
 * most MAX_JSON_TOKENS tokens of 20 bytes a request, and only one request a
 * worker thread is parsed at a time.
 */
static long long buffered_bytes;

bool buffer_take(const struct config *cfg, struct request *r, long long n)
{
	if (__atomic_add_fetch(&buffered_bytes, n, __ATOMIC_RELAXED) > cfg->max_buffered_bytes) {
		__atomic_sub_fetch(&buffered_bytes, n, __ATOMIC_RELAXED);
		return false;
	}
	r->buffered += n;
	return true;
}

enum MHD_Result respond_over_buffer(struct request *r)
{
	return respond_errorf(r, MEM_EUNAVAILABLE, NULL,
	                      "memoryd holds MAX_BUFFERED_BYTES (%ld) of request bodies already; "
	                      "retry shortly",
	                      r->cfg->max_buffered_bytes);
}

static void request_free(struct request *r)
{
	if (!r)
		return;
	__atomic_sub_fetch(&buffered_bytes, r->buffered, __ATOMIC_RELAXED);
	if (r->deferred_resp)
		MHD_destroy_response(r->deferred_resp);
	for (int i = 0; i < MAX_PATH_PARAMS; i++)
		free(r->params[i]);
	buf_release(&r->body);
	free(r);
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci ? ci->socket_context : NULL;
}

/* The phase first, then its start: a reader that sees the old phase with the
 * new start thinks the connection busier than it is, never idler. */
static void conn_enter(struct MHD_Connection *conn, enum conn_phase phase)
{
	struct http_conn *hc = conn_of(conn);
	if (!hc)
		return;
	if (phase == PH_IDLE) {
		__atomic_store_n(&hc->phase_ms, clock_mono_ms(), __ATOMIC_SEQ_CST);
		__atomic_store_n(&hc->phase, phase, __ATOMIC_SEQ_CST);
	} else {
		__atomic_store_n(&hc->phase, phase, __ATOMIC_SEQ_CST);
		__atomic_store_n(&hc->phase_ms, clock_mono_ms(), __ATOMIC_SEQ_CST);
	}
}

/* Does the request say a body follows? */
static bool declares_body(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (cl && strtoull(cl, NULL, 10) > 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls)
{
	struct http_server *s = cls;
	struct request *r = *con_cls;
	enum MHD_Result ret = MHD_YES;
	(void)version;

	if (!r) {
		/* First call: headers only. A request with a body is admitted or
		 * refused now, before any of its body is read (an unauthenticated
		 * 8 MB upload is answered at once; MHD then closes the connection,
		 * the body unread). One without a body is judged at its end, the
		 * next call: an answer queued before the end closes the
		 * connection, which a keep-alive client would pay for. */
		r = request_new(s, conn, url, method);
		*con_cls = r;
		__atomic_add_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
		conn_enter(conn, PH_BODY);
		if (declares_body(conn) && !(r->route_entry = admit(s, r, &ret)))
			return ret;
		return MHD_YES;
	}
	if (r->deferred) {
		/* back from a heavy thread, its answer kept */
		struct MHD_Response *resp = r->deferred_resp;
		r->deferred_resp = NULL;
		r->deferred = false;
		ret = MHD_queue_response(conn, r->deferred_status, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	if (r->responded) {
		*upload_data_size = 0; /* discard the rest of a refused body */
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t need = r->body.len + *upload_data_size;
		if (need > (size_t)s->cfg->max_body_bytes) {
			r->body_too_large = true;
			buf_release(&r->body);
		}
		/* beyond what its Content-Length reserved: a chunked body */
		if (!r->body_too_large && !r->over_buffer && (long long)need > r->buffered &&
		    !buffer_take(s->cfg, r, (long long)need - r->buffered)) {
			r->over_buffer = true;
			buf_release(&r->body);
		}
		if (!r->body_too_large && !r->over_buffer)
			buf_append(&r->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}

	/* The whole request is here. */
	conn_enter(conn, PH_HANDLING);
	if (r->body_too_large)
		return respond_errorf(r, MEM_ETOO_LARGE, NULL,
		                      "the body is larger than MAX_BODY_BYTES (%ld bytes)",
		                      s->cfg->max_body_bytes);
	if (r->over_buffer)
		return respond_over_buffer(r);
	if (!r->route_entry && !(r->route_entry = admit(s, r, &ret)))
		return ret;
	if (r->route_entry->heavy && s->heavy.init && heavy_here(s, r)) {
		if (heavy_submit(&s->heavy, r))
			return MHD_YES;
		return respond_errorf(r, MEM_EUNAVAILABLE, NULL,
		                      "%u expensive requests wait already (HEAVY_THREADS=%ld); "
		                      "retry shortly",
		                      s->heavy.cap, s->cfg->heavy_threads);
	}
	service_request_begin();
	return r->route_entry->handler(r);
}

/* The request line is in: the connection is busy until on_completed (MHD
 * calls it for every request this callback saw). */
void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)uri;
	conn_enter(conn, PH_HEADERS);
	return NULL; /* on_request makes the request */
}

void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe)
{
	conn_enter(conn, PH_IDLE);
	struct request *r = *con_cls;
	if (!r)
		return;
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	double ms = (double)(end.tv_sec - r->start.tv_sec) * 1e3 +
	            (double)(end.tv_nsec - r->start.tv_nsec) / 1e6;
	metrics_http(r->route_metric, r->method, r->status, ms / 1e3);
	log_at(r->status >= 500 ? LOG_WARN : LOG_INFO, r->request_id, "request",
	       LF_STR("method", r->method), LF_STR("route", r->route), LF_INT("status", r->status),
	       LF_DBL("duration_ms", ms), LF_STR("tenant", r->tenant),
	       LF_STR("store", service_primary(r->svc)),
	       LF_BOOL("completed", toe == MHD_REQUEST_TERMINATED_COMPLETED_OK));
	struct http_server *s = cls;
	__atomic_sub_fetch(&s->inflight, 1, __ATOMIC_RELAXED);
	request_free(r);
	*con_cls = NULL;
}

/* Keep the URL as sent: path parameters and query values are decoded by us,
 * so an encoded '/' inside a thread id stays inside it. */
size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn(NULL, "http", LF_STR("detail", msg));
}
