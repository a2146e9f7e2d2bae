/*
 * request: one HTTP request as the handlers see it, and the helpers they use
 * to read its parts (path parameters, query, JSON body) and to answer.
 *
 * api/ speaks HTTP and JSON only: handlers turn a request into a call of the
 * service (service/service.h) and its result into JSON. They never talk to a
 * store.
 */
#ifndef MEMORYD_API_REQUEST_H
#define MEMORYD_API_REQUEST_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/error.h"

struct service;
struct config;
struct http_route;

#define MAX_PATH_PARAMS 4

struct request {
	struct MHD_Connection *conn;
	const char *method;
	const char *url; /* raw, not percent-decoded */
	char request_id[129];
	const char *tenant; /* the X-Tenant-Id header or "default" */
	struct buf body;
	bool body_too_large;
	bool over_buffer;   /* MAX_BUFFERED_BYTES would be passed: 503 at the end */
	long long buffered; /* bytes counted against MAX_BUFFERED_BYTES (server_dispatch.c) */
	bool responded;
	int status;                    /* of the response queued, for the access log */
	const char *route;             /* template, e.g. "/checkpoints/{thread_id}" */
	char *params[MAX_PATH_PARAMS]; /* decoded path parameters, owned */
	struct timespec start;
	struct service *svc;
	const struct config *cfg;
	struct vcache *latest_cache; /* rendered latest tuples; NULL when off */
	int route_metric;            /* the route's index in metrics */
	bool www_authenticate;       /* a 401: say how to authenticate */
	char stored[32];     /* X-Memory-Stored: where a write landed (SERVICE_STORED_MAX) */
	char etag[40];       /* ETag header of the response; "" none */
	bool store_details;  /* the probes may show store details: the admin token was sent, or
	                        this is the METRICS_PORT listener */
	const int *draining; /* the server's shutdown flag (atomic), borrowed */
	bool draining_read, draining_seen;    /* request_draining, read once */
	const struct http_route *route_entry; /* admitted (server_admit.c); NULL before */
	/* Run on a heavy thread (server_heavy.c): respond_queue keeps the response
	 * here, and the connection's worker queues it once resumed (MHD's calls
	 * on a connection belong to its worker's thread). */
	bool deferred;
	struct MHD_Response *deferred_resp;
	unsigned deferred_status;
};

/* True once the server is shutting down (SIGTERM): every response then
 * carries Connection: close and /readyz answers 503. */
bool request_draining(struct request *r);
/* Queue resp (consumed) with the headers every response carries. */
enum MHD_Result respond_queue(struct request *r, unsigned status, struct MHD_Response *resp);

/* Queue a JSON response; steals body (a JSON text, may be NULL for none). */
enum MHD_Result respond_raw(struct request *r, unsigned status, char *body, size_t len);
/* Queue body (steals it) with the given Content-Type. */
enum MHD_Result respond_typed(struct request *r, unsigned status, const char *content_type,
                              char *body, size_t len);
/* Queue json as the response; steals the reference. */
enum MHD_Result respond_json(struct request *r, unsigned status, json_t *json);
/* Queue the error body {"error": {code, message, request_id[, field]}} with
 * the status that err->code maps to (503 adds Retry-After). */
enum MHD_Result respond_error(struct request *r, const struct mem_error *err);
enum MHD_Result respond_errorf(struct request *r, enum mem_errcode code, const char *field,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A query parameter, percent-decoded into a fresh string (caller frees);
 * NULL when absent. -1 and err on a bad escape. */
int query_param(struct request *r, const char *name, char **out, struct mem_error *err);

/* A boolean query parameter: "true" or "false" (also 1 and 0); *out false
 * when absent. -1 and err on anything else. */
int query_bool(struct request *r, const char *name, bool *out, struct mem_error *err);

unsigned mem_errcode_status(enum mem_errcode code);

#endif
