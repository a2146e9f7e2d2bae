/*
 * server_internal: what the parts of the HTTP front door (api/server*.c)
 * share, and nothing else includes. A request goes
 *
 *   server_accept.c    the acceptor thread takes the connection (per-address
 *                      cap, TLS sniff, deadlines) and hands it to a worker;
 *   server_dispatch.c  the worker's libmicrohttpd calls: the request is made,
 *                      its body buffered, and then
 *   server_admit.c     admitted on its headers: route (server_routes.c),
 *                      port, tenant, bearer token, media type, size;
 *   server_heavy.c     a heavy route's request runs on a heavy thread, any
 *                      other on the worker: the handler (api/handlers.h)
 *                      answers, and server_dispatch.c logs it.
 *
 * server.c starts and stops the whole (http_server_start, the drain).
 */
#ifndef MEMORYD_API_SERVER_INTERNAL_H
#define MEMORYD_API_SERVER_INTERNAL_H

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>

#include "../common/config.h"
#include "../common/error.h"
#include "request.h"

/* Connections the acceptor holds at once until their first byte comes, and
 * how long it waits for it (then libmicrohttpd gets them as they are). */
#define SNIFF_MAX     64
#define SNIFF_WAIT_MS 250

/* Where a connection's current request is: its deadline runs from
 * phase_ms. */
enum conn_phase {
	PH_IDLE,     /* between requests: the request line is due (idle timeout) */
	PH_HEADERS,  /* the request line is in: the headers are due */
	PH_BODY,     /* the headers are in: the body is due */
	PH_HANDLING, /* the whole request is in: no deadline of ours */
};

/* What the drain and the deadlines need to know of one open connection.
 * Created when the worker takes the connection and freed when it is closed,
 * under the worker's lock: while it is on the list, fd is this
 * connection's. phase and phase_ms are written by the worker's thread. */
struct http_conn {
	struct http_conn *prev, *next;
	int fd;
	int phase;              /* enum conn_phase (atomic) */
	long long phase_ms;     /* when it entered phase, monotonic ms (atomic) */
	bool read_shut;         /* the drain has shut its reading side */
	bool cut;               /* a deadline has closed it */
	unsigned char addr[17]; /* the client's address (addr_key) */
};

struct http_server;

/* One libmicrohttpd daemon with one thread of its own and no listen socket:
 * the acceptor hands it connections. */
struct http_worker {
	struct http_server *s;
	struct MHD_Daemon *d;
	int conns; /* connections handed to it and not yet closed (atomic) */
	pthread_mutex_t lock;
	bool lock_init;
	struct http_conn *open; /* under lock */
};

/* The acceptor thread owns the listening socket and gives each new
 * connection to the worker holding the fewest, so every worker serves its
 * share. (libmicrohttpd's own thread pool lets whichever thread wakes first
 * accept: at 32 keep-alive connections over 8 threads some held 8 and some
 * 1, and a request waits behind the others of its thread; the tail latency
 * doubled.) It also keeps HTTP_CONNECTION_LIMIT whole across the workers:
 * at the limit it stops accepting, so new connections wait in the kernel's
 * backlog until one closes. */
struct http_server {
	struct http_worker *w;
	unsigned nw;
	int listen_fd;
	int wake[2]; /* a byte here stops the acceptor */
	pthread_t acceptor;
	bool acceptor_started;
	/* accepted, not yet handed to a worker: waiting for a first byte that
	 * says whether they speak TLS (api/sniff.h) */
	struct sniffing {
		int fd;
		struct sockaddr_storage addr;
		socklen_t alen;
		struct timespec since;
		unsigned char key[17]; /* its HTTP_CONNECTIONS_PER_ADDRESS slot */
	} sniffing[SNIFF_MAX];
	int nsniffing;
	struct tokens *tokens; /* empty: the API is open */
	bool probes_only;      /* the METRICS_PORT listener: probes and /metrics */
	int inflight;          /* requests begun and not yet completed (atomic) */
	int draining;          /* shutting down: Connection: close, /readyz 503 (atomic) */
	pthread_mutex_t addr_lock;
	struct addr_count *addrs[256]; /* open connections by client address, under addr_lock */
	struct vcache *latest_cache;
	const struct config *cfg;
	struct service *svc;
	struct heavy_pool {
		pthread_mutex_t lock;
		pthread_cond_t more;
		struct request **q; /* a ring of cap: head, then n waiting */
		unsigned cap, head, n;
		bool stop; /* nothing more is taken: the threads end once q is empty */
		pthread_t *t;
		unsigned nt; /* started */
		bool init;
	} heavy;
};

/* Open connections per client address (HTTP_CONNECTIONS_PER_ADDRESS). */
struct addr_count {
	struct addr_count *next;
	unsigned char key[17];
	int n;
};

enum method { M_GET = 1, M_POST = 2, M_PUT = 4, M_DELETE = 8, M_PATCH = 16, M_HEAD = 32 };

/* Who may call a route: anyone (probes, metrics), a token for the tenant of
 * the request, or the admin token. */
enum access { OPEN, TENANT, ADMIN };

struct http_route {
	const char *pattern; /* segments; "{name}" matches one non-empty segment */
	unsigned method;
	enum MHD_Result (*handler)(struct request *r);
	bool body; /* takes a JSON body */
	enum access access;
	bool heavy; /* costs far more than a get: runs on a heavy thread */
	/* > 0: heavy only when the request's limit (or, without one, the route's
	 * default, CONV_WINDOW_DEFAULT) is above it: a conversation's window is
	 * an agent's most frequent read and as cheap as a get; a page of 1000
	 * messages is not */
	long heavy_above_limit;
};

/* server_routes.c */
/* Count each route in metrics; once, before the first request. */
void routes_init(void);
const struct http_route *route_find(struct request *r, char *allow, size_t allow_len,
                                    struct mem_error *err);

/* server_admit.c */
const struct http_route *admit(struct http_server *s, struct request *r, enum MHD_Result *ret);

/* server_dispatch.c: libmicrohttpd's callbacks, and what the others use */
enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                           const char *method, const char *version, const char *upload_data,
                           size_t *upload_data_size, void **con_cls);
void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn);
void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                  enum MHD_RequestTerminationCode toe);
size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s);
void mhd_log(void *cls, const char *fmt, va_list ap);
void new_request_id(char out[33]);
bool buffer_take(const struct config *cfg, struct request *r, long long n);
enum MHD_Result respond_over_buffer(struct request *r);

/* server_heavy.c */
bool heavy_submit(struct heavy_pool *p, struct request *r);
int heavy_start(struct heavy_pool *p, unsigned threads, struct mem_error *err);
void heavy_stop(struct heavy_pool *p);
void heavy_free(struct heavy_pool *p);
bool heavy_here(const struct http_server *s, struct request *r);

/* server_accept.c */
void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode code);
void accept_waiting(struct http_server *s, unsigned *next);
void flush_sniffing(struct http_server *s, unsigned *next);
void *acceptor_main(void *arg);
int listen_on(const struct sockaddr_storage *ss);
void acceptor_stop(struct http_server *s);

#endif
