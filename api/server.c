#define _GNU_SOURCE /* pipe2 */
/*
 * server: the HTTP front door's life: http_server_start sets up the
 * listening socket, the workers (one libmicrohttpd daemon each), the heavy
 * pool and the acceptor; http_server_drain and http_server_stop shut it
 * down without cutting a request. Where a request goes from there:
 * server_internal.h.
 */
#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/tokens.h"
#include "../common/vcache.h"
#include "../common/xalloc.h"
#include "body.h"
#include "server_internal.h"

static void server_free(struct http_server *s)
{
	acceptor_stop(s);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	for (int k = 0; k < 2; k++)
		if (s->wake[k] >= 0)
			close(s->wake[k]);
	heavy_stop(&s->heavy);
	for (unsigned k = 0; k < s->nw; k++) {
		if (s->w[k].d)
			MHD_stop_daemon(s->w[k].d); /* closes what is open: the list empties */
		if (s->w[k].lock_init)
			pthread_mutex_destroy(&s->w[k].lock);
	}
	heavy_free(&s->heavy);
	free(s->w);
	for (size_t i = 0; i < sizeof(s->addrs) / sizeof(s->addrs[0]); i++)
		while (s->addrs[i]) {
			struct addr_count *a = s->addrs[i];
			s->addrs[i] = a->next;
			free(a);
		}
	pthread_mutex_destroy(&s->addr_lock);
	vcache_free(s->latest_cache);
	tokens_free(s->tokens);
	free(s);
}

struct http_server *http_server_start(const struct config *cfg, struct service *svc, long port,
                                      bool probes_only, struct mem_error *err)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
	                 MHD_USE_TURBO | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET |
	                 MHD_ALLOW_SUSPEND_RESUME;
	if (inet_pton(AF_INET, cfg->bind_address, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons((uint16_t)port);
	} else if (inet_pton(AF_INET6, cfg->bind_address, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		mem_fail(err, MEM_EINVALID_FIELD, "BIND_ADDRESS",
		         "BIND_ADDRESS=%s is invalid: expected an IPv4 or IPv6 address",
		         cfg->bind_address);
		return NULL;
	}
	struct http_server *s = xcalloc(1, sizeof(*s));
	s->cfg = cfg;
	s->svc = svc;
	s->probes_only = probes_only;
	s->listen_fd = s->wake[0] = s->wake[1] = -1;
	s->latest_cache = vcache_new((size_t)cfg->checkpoint_cache_bytes);
	s->nw = probes_only ? 1 : (unsigned)cfg->http_threads;
	s->w = xcalloc(s->nw, sizeof(*s->w));
	pthread_mutex_init(&s->addr_lock, NULL);
	if (tokens_parse(cfg->api_tokens, &s->tokens, err) < 0)
		goto fail;
	routes_init();
	body_set_max_tokens((size_t)cfg->max_json_tokens);
	s->listen_fd = listen_on(&ss);
	if (s->listen_fd < 0) {
		mem_fail(err, MEM_EUNAVAILABLE, probes_only ? "METRICS_PORT" : "PORT",
		         "cannot listen on %s:%ld: %s", cfg->bind_address, port, strerror(errno));
		goto fail;
	}
	for (unsigned k = 0; k < s->nw; k++) {
		pthread_mutex_init(&s->w[k].lock, NULL);
		s->w[k].lock_init = true;
		s->w[k].s = s;
		/* The acceptor keeps the limit; each worker's own one only backs it up. */
		s->w[k].d = MHD_start_daemon(
		    flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
		    MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
		    on_connection, &s->w[k], MHD_OPTION_URI_LOG_CALLBACK, on_request_line, NULL,
		    MHD_OPTION_UNESCAPE_CALLBACK, keep_escaped, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
		    (unsigned)cfg->http_connection_timeout_seconds, MHD_OPTION_CONNECTION_LIMIT,
		    (unsigned)cfg->http_connection_limit + 16,
		    /* bounds the request line and headers of one connection. MHD
		     * clears the pool for every request: 64 KiB cost a tenth of
		     * the get-latest rate, and 16 KiB leaves headers ample room */
		    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024, MHD_OPTION_END);
		if (!s->w[k].d) {
			mem_fail(err, MEM_EUNAVAILABLE, "HTTP_THREADS",
			         "cannot start HTTP worker thread %u of %u", k + 1, s->nw);
			goto fail;
		}
	}
	if (!probes_only && heavy_start(&s->heavy, (unsigned)cfg->heavy_threads, err) < 0)
		goto fail;
	if (pipe2(s->wake, O_CLOEXEC) < 0 ||
	    pthread_create(&s->acceptor, NULL, acceptor_main, s) != 0) {
		mem_fail(err, MEM_EUNAVAILABLE, probes_only ? "METRICS_PORT" : "PORT",
		         "cannot start the HTTP acceptor thread: %s", strerror(errno));
		goto fail;
	}
	s->acceptor_started = true;
	return s;
fail:
	server_free(s);
	return NULL;
}

/*
 * Shutting down without cutting a request: from http_server_drain on, every
 * response carries Connection: close, so a connection ends with the answer
 * to the request it is on, and close_idle ends the connections between
 * requests. What it must not do is close a connection a request is arriving
 * on: the client would see a reset, or an end of stream where its answer
 * should be, and cannot tell whether the request was carried out.
 *
 * The race: a keep-alive client may send its next request at any moment,
 * and a server's close may cross it on the wire. HTTP/1.1 cannot rule that
 * out (RFC 9112 9.3.1 leaves the retry to the client); the server can only
 * keep it to requests that had not reached it when it decided. So a
 * connection is closed only when
 *   - no request is begun on it (not PH_IDLE: from its request line to the
 *     end of its answer; MHD calls on_request_line only once the line is in, but
 *     a request whose first bytes sit unread in the socket is caught by the
 *     next test),
 *   - no byte waits in the socket (FIONREAD), and
 *   - it has been idle DRAIN_IDLE_MS: a client that just got an answer sent
 *     before SIGTERM usually sends its next request at once, and that one
 *     is answered with Connection: close rather than raced.
 * And close_idle does not close it itself: it shuts the socket's reading
 * side, which wakes the worker; the worker reads what came meanwhile first
 * (a request that slipped in after the tests is answered, with Connection:
 * close) and closes only on reading the end. What remains is a request
 * whose bytes arrive between the worker's last read and its close, a few
 * microseconds, or that the client sent after our FIN left: a client that
 * looks for the server's close before reusing a pooled connection (curl,
 * urllib3 and Go's transport do) never sends one of those. A request that
 * trickles in over more than one read while the drain closes its connection
 * is cut: shutting the reading side ends the stream at what has arrived.
 */
#define DRAIN_IDLE_MS 250

static void close_idle(struct http_server *s)
{
	long long now = clock_mono_ms();
	for (unsigned k = 0; k < s->nw; k++) {
		struct http_worker *w = &s->w[k];
		pthread_mutex_lock(&w->lock);
		for (struct http_conn *hc = w->open; hc; hc = hc->next) {
			if (hc->read_shut || hc->cut || hc->fd < 0 ||
			    __atomic_load_n(&hc->phase, __ATOMIC_SEQ_CST) != PH_IDLE ||
			    now - __atomic_load_n(&hc->phase_ms, __ATOMIC_SEQ_CST) < DRAIN_IDLE_MS)
				continue;
			int pending = 0;
			if (ioctl(hc->fd, FIONREAD, &pending) < 0 || pending > 0 ||
			    __atomic_load_n(&hc->phase, __ATOMIC_SEQ_CST) != PH_IDLE)
				continue;
			shutdown(hc->fd, SHUT_RD);
			hc->read_shut = true;
		}
		pthread_mutex_unlock(&w->lock);
	}
}

static int open_connections(struct http_server *s)
{
	int n = 0;
	for (unsigned k = 0; k < s->nw; k++)
		n += __atomic_load_n(&s->w[k].conns, __ATOMIC_RELAXED);
	return n;
}

void http_server_drain(struct http_server *s, bool stop_accepting)
{
	if (!s)
		return;
	if (stop_accepting && s->listen_fd >= 0) {
		/* Connections already in the backlog are taken, not reset by the
		 * close; later ones are refused, which any client can retry
		 * elsewhere (nothing was sent). */
		acceptor_stop(s);
		unsigned next = 0;
		accept_waiting(s, &next);
		flush_sniffing(s, &next);
		close(s->listen_fd);
		s->listen_fd = -1;
	}
	__atomic_store_n(&s->draining, 1, __ATOMIC_RELEASE);
}

void http_server_stop(struct http_server *s, int grace_ms)
{
	if (!s)
		return;
	http_server_drain(s, true);
	long long until = clock_mono_ms() + grace_ms;
	for (;;) {
		close_idle(s);
		if (!open_connections(s) || clock_mono_ms() >= until)
			break;
		usleep(5 * 1000);
	}
	int conns = open_connections(s);
	if (conns > 0)
		log_warn(NULL, "shutdown grace period over with connections open",
		         LF_INT("requests", __atomic_load_n(&s->inflight, __ATOMIC_RELAXED)),
		         LF_INT("connections", conns), LF_INT("grace_ms", grace_ms));
	server_free(s);
}
