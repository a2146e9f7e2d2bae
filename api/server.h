/*
 * server: the HTTP front door. An acceptor thread owns the listening socket
 * and hands each connection to the least loaded of HTTP_THREADS workers,
 * each a libmicrohttpd daemon with its own thread (no global lock on the
 * request path, HTTP_CONNECTION_LIMIT kept across them all). A worker reads
 * each request's headers and body within MAX_BODY_BYTES, matches the route
 * table and calls the handler, then writes one access log line. The parts,
 * one file each, and the way a request takes through them: server_internal.h.
 */
#ifndef MEMORYD_API_SERVER_H
#define MEMORYD_API_SERVER_H

#include <stdbool.h>

#include "../common/config.h"
#include "../common/error.h"

struct service;
struct http_server;

/* Listen on cfg's BIND_ADDRESS:port and start serving: every route, or with
 * probes_only the probes and /metrics alone (METRICS_PORT). cfg and svc are
 * borrowed and must outlive the server. */
struct http_server *http_server_start(const struct config *cfg, struct service *svc, long port,
                                      bool probes_only, struct mem_error *err);
/* Begin shutting down (SIGTERM): from now on every response carries
 * Connection: close and /readyz answers 503; with stop_accepting, new
 * connections are refused. Idempotent; NULL is a no-op. */
void http_server_drain(struct http_server *s, bool stop_accepting);
/* Drain (stop accepting, as above), close each connection once its request
 * is answered or, idle, without a request arriving, and stop when none is
 * open or grace_ms has passed. NULL is a no-op. */
void http_server_stop(struct http_server *s, int grace_ms);

#endif
