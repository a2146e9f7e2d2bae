#define _GNU_SOURCE /* accept4, pipe2 */

#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/tokens.h"
#include "../common/vcache.h"
#include "../common/xalloc.h"
#include "../service/service.h"
#include "body.h"
#include "handlers.h"
#include "request.h"
#include "sniff.h"

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

/* Every route memoryd serves. Keep openapi.yaml in step with this table. */
static const struct http_route routes[] = {
    {"/healthz", M_GET, h_healthz, false, OPEN, false, 0},
    {"/readyz", M_GET, h_readyz, false, OPEN, false, 0},
    {"/health/memory", M_GET, h_health_memory, false, OPEN, false, 0},
    {"/metrics", M_GET, h_metrics, false, OPEN, false, 0},
    {"/checkpoints", M_GET, h_checkpoint_list, false, TENANT, true, 0},
    {"/checkpoints", M_POST, h_checkpoint_put, true, TENANT, false, 0},
    {"/checkpoints/{thread_id}", M_GET, h_checkpoint_get, false, TENANT, false, 0},
    {"/checkpoints/{thread_id}", M_DELETE, h_checkpoint_delete, false, TENANT, false, 0},
    {"/checkpoints/{thread_id}/writes", M_POST, h_checkpoint_writes, true, TENANT, false, 0},
    {"/admin/backup", M_POST, h_admin_backup, false, ADMIN, true, 0},
    {"/admin/ttl-repair", M_POST, h_admin_ttl_repair, false, ADMIN, true, 0},
    {"/admin/threads/{thread_id}", M_GET, h_admin_thread, false, ADMIN, true, 0},
    {"/admin/threads/{thread_id}/checkpoints/{checkpoint_id}", M_DELETE, h_admin_checkpoint_delete,
     false, ADMIN, true, 0},
    {"/admin/tenants/{tenant}", M_DELETE, h_admin_tenant_delete, false, ADMIN, true, 0},
    {"/admin/failover", M_GET, h_admin_failover_get, false, ADMIN, true, 0},
    {"/admin/failover", M_POST, h_admin_failover_set, true, ADMIN, true, 0},
    {"/admin/archive", M_POST, h_admin_archive, false, ADMIN, true, 0},
    {"/conversations", M_GET, h_conv_list, false, TENANT, true, 0},
    {"/conversations/{conversation_id}", M_GET, h_conv_get, false, TENANT, false, 0},
    {"/conversations/{conversation_id}", M_PATCH, h_conv_update, true, TENANT, false, 0},
    {"/conversations/{conversation_id}", M_DELETE, h_conv_delete, false, TENANT, false, 0},
    {"/conversations/{conversation_id}/messages", M_GET, h_conv_messages, false, TENANT, true, 100},
    {"/conversations/{conversation_id}/messages", M_POST, h_conv_append, true, TENANT, false, 0},
    {"/memory/items", M_PUT, h_memory_put, true, TENANT, false, 0},
    {"/memory/items", M_GET, h_memory_get, false, TENANT, false, 0},
    {"/memory/items", M_DELETE, h_memory_delete, false, TENANT, false, 0},
    {"/memory/search", M_POST, h_memory_search, true, TENANT, true, 0},
    {"/memory/cleanup", M_POST, h_memory_cleanup, true, TENANT, true, 0},
    {"/memory/namespaces", M_POST, h_memory_namespaces, true, TENANT, true, 0},
    {"/memory/batch", M_POST, h_memory_batch, true, TENANT, true, 0},
};

static int route_metric[sizeof(routes) / sizeof(routes[0])];

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static unsigned method_bit(const char *m)
{
	static const struct {
		const char *name;
		unsigned bit;
	} map[] = {{"GET", M_GET},       {"POST", M_POST},   {"PUT", M_PUT},
	           {"DELETE", M_DELETE}, {"PATCH", M_PATCH}, {"HEAD", M_HEAD}};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(m, map[i].name))
			return map[i].bit;
	return 0;
}

/* Match the raw path against pattern; on success the decoded parameters are
 * stored in params (caller frees). 1 match, 0 no match, -1 bad escape. */
static int match(const char *pattern, const char *path, char **params)
{
	const char *p = pattern, *u = path;
	int np = 0;
	size_t qlen = strcspn(u, "?");
	const char *uend = u + qlen;
	while (*p && u < uend) {
		if (*p != '/' || *u != '/')
			goto no;
		p++;
		u++;
		size_t pl = strcspn(p, "/");
		const char *useg_end = memchr(u, '/', (size_t)(uend - u));
		if (!useg_end)
			useg_end = uend;
		size_t ul = (size_t)(useg_end - u);
		if (p[0] == '{') {
			if (!ul)
				goto no;
			size_t dl;
			char *v = url_decode(u, ul, false, &dl);
			if (!v || strlen(v) != dl) {
				free(v);
				for (int i = 0; i < np; i++)
					free(params[i]), params[i] = NULL;
				return -1;
			}
			params[np++] = v;
		} else if (pl != ul || strncmp(p, u, pl)) {
			goto no;
		}
		p += pl;
		u = useg_end;
	}
	if (*p || u != uend) {
		/* Tolerate one trailing slash. */
		if (!*p && u + 1 == uend && *u == '/')
			return 1;
		goto no;
	}
	return 1;
no:
	for (int i = 0; i < np; i++)
		free(params[i]), params[i] = NULL;
	return 0;
}

/* 128 random bits as 32 hex digits, from a per-thread generator seeded
 * once from the kernel: no system call per request. */
static void new_request_id(char out[33])
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

static bool is_json_type(const char *ct)
{
	while (*ct == ' ')
		ct++;
	size_t n = strlen("application/json");
	if (strncasecmp(ct, "application/json", n))
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ';
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

static bool buffer_take(const struct config *cfg, struct request *r, long long n)
{
	if (__atomic_add_fetch(&buffered_bytes, n, __ATOMIC_RELAXED) > cfg->max_buffered_bytes) {
		__atomic_sub_fetch(&buffered_bytes, n, __ATOMIC_RELAXED);
		return false;
	}
	r->buffered += n;
	return true;
}

static enum MHD_Result respond_over_buffer(struct request *r)
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

/* Find the route; on a path match with the wrong method fill allow. */
static const struct http_route *route_find(struct request *r, char *allow, size_t allow_len,
                                           struct mem_error *err)
{
	unsigned m = method_bit(r->method);
	bool path_matched = false;
	allow[0] = '\0';
	for (size_t i = 0; i < NROUTES; i++) {
		char *params[MAX_PATH_PARAMS] = {0};
		int rc = match(routes[i].pattern, r->url, params);
		if (rc < 0) {
			mem_fail(err, MEM_EINVALID_FIELD, "path",
			         "the path has a bad percent-escape or a NUL byte");
			return NULL;
		}
		if (!rc)
			continue;
		if (routes[i].method == m || (m == M_HEAD && routes[i].method == M_GET)) {
			memcpy(r->params, params, sizeof(params));
			r->route = routes[i].pattern;
			r->route_metric = route_metric[i];
			return &routes[i];
		}
		for (int k = 0; k < MAX_PATH_PARAMS; k++)
			free(params[k]);
		if (!path_matched)
			r->route = routes[i].pattern;
		path_matched = true;
		const char *name = routes[i].method == M_GET     ? "GET, HEAD"
		                   : routes[i].method == M_POST  ? "POST"
		                   : routes[i].method == M_PUT   ? "PUT"
		                   : routes[i].method == M_PATCH ? "PATCH"
		                                                 : "DELETE";
		size_t len = strlen(allow);
		snprintf(allow + len, allow_len - len, "%s%s", len ? ", " : "", name);
	}
	if (path_matched)
		mem_fail(err, MEM_EINVALID_FIELD, NULL,
		         "method %s is not allowed here; allowed: %s", r->method, allow);
	else
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no resource at %.120s", r->url);
	return NULL;
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

/*
 * What is decided on the headers alone: the route, the port, the tenant, the
 * token, the media type and the declared size. The matched route, or NULL
 * with the refusal queued (*ret: what queueing it returned).
 */
static const struct http_route *admit(struct http_server *s, struct request *r,
                                      enum MHD_Result *ret)
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

/* Does the request say a body follows? */
static bool declares_body(struct MHD_Connection *conn)
{
	const char *cl =
	    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	return (cl && strtoull(cl, NULL, 10) > 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                   MHD_HTTP_HEADER_TRANSFER_ENCODING);
}

/*
 * Heavy requests (a route marked heavy: lists, searches, batches, pages,
 * admin calls) run on HEAVY_THREADS threads of their own: a worker thread
 * serves every connection it holds, one request at a time, and 8 searches
 * at the work budget on 8 connections held every get behind them. The
 * worker suspends the connection and queues the request; a heavy thread
 * runs the handler, which keeps its response in the request
 * (request.h deferred), and resumes the connection; MHD then calls
 * on_request again on the worker's thread, which queues the response.
 * At most HEAVY_QUEUE_PER_THREAD requests a thread wait: beyond, 503.
 */
#define HEAVY_QUEUE_PER_THREAD 16
#define HEAVY_NICE             5

/* refuse: the server stops and r has not begun: 503, which a client may
 * retry elsewhere, rather than hold the shutdown past its grace period */
static void heavy_run(struct request *r, bool refuse)
{
	if (refuse) {
		respond_errorf(r, MEM_EUNAVAILABLE, NULL, "memoryd is shutting down; retry");
	} else {
		service_request_begin();
		r->route_entry->handler(r);
	}
	if (!r->deferred_resp)
		respond_errorf(r, MEM_EINTERNAL, NULL, "the handler queued no response");
	/* r belongs to the worker again from here */
	MHD_resume_connection(r->conn);
}

static void *heavy_main(void *arg)
{
	struct heavy_pool *p = arg;
	/* Below the workers: on a machine whose cores the heavy requests fill,
	 * a get still finds one (Linux: a thread's own nice value). Nice 5, a
	 * third of a worker's weight, not 19 (a fiftieth), which starved the
	 * heavy requests under steady gets (their p90 4.4 s in ops_heavy). */
	if (setpriority(PRIO_PROCESS, (id_t)gettid(), HEAVY_NICE) < 0)
		log_warn(NULL, "cannot lower the priority of a heavy request thread",
		         LF_STR("detail", strerror(errno)));
	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (!p->n && !p->stop)
			pthread_cond_wait(&p->more, &p->lock);
		if (!p->n) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		struct request *r = p->q[p->head];
		p->head = (p->head + 1) % p->cap;
		p->n--;
		bool refuse = p->stop;
		pthread_mutex_unlock(&p->lock);
		heavy_run(r, refuse);
	}
}

/* Suspend r's connection and queue r for a heavy thread; false (nothing
 * done) when the queue is full or the pool stopping. */
static bool heavy_submit(struct heavy_pool *p, struct request *r)
{
	bool ok = false;
	pthread_mutex_lock(&p->lock);
	if (!p->stop && p->n < p->cap) {
		r->deferred = true;
		MHD_suspend_connection(r->conn);
		p->q[(p->head + p->n) % p->cap] = r;
		p->n++;
		pthread_cond_signal(&p->more);
		ok = true;
	}
	pthread_mutex_unlock(&p->lock);
	return ok;
}

static int heavy_start(struct heavy_pool *p, unsigned threads, struct mem_error *err)
{
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->more, NULL);
	p->init = true;
	p->cap = threads * HEAVY_QUEUE_PER_THREAD;
	p->q = xcalloc(p->cap, sizeof(*p->q));
	p->t = xcalloc(threads, sizeof(*p->t));
	for (; p->nt < threads; p->nt++)
		if (pthread_create(&p->t[p->nt], NULL, heavy_main, p) != 0)
			return mem_fail(err, MEM_EUNAVAILABLE, "HEAVY_THREADS",
			                "cannot start heavy request thread %u of %u", p->nt + 1,
			                threads);
	return 0;
}

/* End the threads: the requests they run finish, those still queued get
 * 503 (each connection is resumed). Called once the grace period is over
 * (http_server_stop), before the daemons stop, which must find no
 * connection suspended. */
static void heavy_stop(struct heavy_pool *p)
{
	if (!p->init)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->more);
	pthread_mutex_unlock(&p->lock);
	for (unsigned k = 0; k < p->nt; k++)
		pthread_join(p->t[k], NULL);
}

/* Once the daemons are stopped (a worker may still call heavy_submit
 * between heavy_stop and then: it is refused). */
static void heavy_free(struct heavy_pool *p)
{
	if (!p->init)
		return;
	pthread_cond_destroy(&p->more);
	pthread_mutex_destroy(&p->lock);
	free(p->q);
	free(p->t);
	p->init = false;
}

/* Whether a request of a heavy route is heavy (http_route.heavy_above_limit). */
static bool heavy_here(const struct http_server *s, struct request *r)
{
	long above = r->route_entry->heavy_above_limit;
	if (above <= 0)
		return true;
	const char *l = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = l && *l ? strtol(l, NULL, 10) : s->cfg->conv_window_default;
	return limit > above || limit <= 0; /* a bad limit: the handler's 400 */
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
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
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)cls;
	(void)uri;
	conn_enter(conn, PH_HEADERS);
	return NULL; /* on_request makes the request */
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
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
static size_t keep_escaped(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[256];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn(NULL, "http", LF_STR("detail", msg));
}

/* Open connections per client address (HTTP_CONNECTIONS_PER_ADDRESS). */
struct addr_count {
	struct addr_count *next;
	unsigned char key[17];
	int n;
};

/* The family and the address bytes, the port left out. */
static void addr_key(const struct sockaddr *a, unsigned char key[17])
{
	memset(key, 0, 17);
	key[0] = (unsigned char)a->sa_family;
	if (a->sa_family == AF_INET)
		memcpy(key + 1, &((const struct sockaddr_in *)a)->sin_addr, 4);
	else if (a->sa_family == AF_INET6)
		memcpy(key + 1, &((const struct sockaddr_in6 *)a)->sin6_addr, 16);
}

static struct addr_count **addr_slot(struct http_server *s, const unsigned char key[17])
{
	unsigned h = 2166136261u;
	for (int i = 0; i < 17; i++)
		h = (h ^ key[i]) * 16777619u;
	struct addr_count **p = &s->addrs[h % (sizeof(s->addrs) / sizeof(s->addrs[0]))];
	while (*p && memcmp((*p)->key, key, 17))
		p = &(*p)->next;
	return p;
}

/* Count one more connection from key; false (nothing counted) at the cap. */
static bool addr_take(struct http_server *s, const unsigned char key[17])
{
	bool ok = true;
	pthread_mutex_lock(&s->addr_lock);
	struct addr_count **p = addr_slot(s, key);
	if (!*p) {
		*p = xcalloc(1, sizeof(**p));
		memcpy((*p)->key, key, 17);
	}
	if ((*p)->n >= s->cfg->http_connections_per_address)
		ok = false;
	else
		(*p)->n++;
	pthread_mutex_unlock(&s->addr_lock);
	return ok;
}

static void addr_give(struct http_server *s, const unsigned char key[17])
{
	pthread_mutex_lock(&s->addr_lock);
	struct addr_count **p = addr_slot(s, key);
	if (*p && --(*p)->n <= 0) {
		struct addr_count *gone = *p;
		*p = gone->next;
		free(gone);
	}
	pthread_mutex_unlock(&s->addr_lock);
}

/* Keep the worker's list of open connections: MHD reports a close before it
 * closes the descriptor, so one on the list (under the lock) is still open. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
	struct http_worker *w = cls;
	struct http_conn *hc = *socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		const union MHD_ConnectionInfo *ai =
		    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		hc = xcalloc(1, sizeof(*hc));
		hc->fd = ci ? ci->connect_fd : -1;
		hc->phase_ms = clock_mono_ms();
		if (ai && ai->client_addr)
			addr_key(ai->client_addr, hc->addr);
		pthread_mutex_lock(&w->lock);
		hc->next = w->open;
		if (w->open)
			w->open->prev = hc;
		w->open = hc;
		pthread_mutex_unlock(&w->lock);
		*socket_context = hc;
		return;
	}
	if (code != MHD_CONNECTION_NOTIFY_CLOSED)
		return;
	if (hc) {
		pthread_mutex_lock(&w->lock);
		if (hc->prev)
			hc->prev->next = hc->next;
		else
			w->open = hc->next;
		if (hc->next)
			hc->next->prev = hc->prev;
		pthread_mutex_unlock(&w->lock);
		addr_give(w->s, hc->addr);
		free(hc);
		*socket_context = NULL;
	}
	__atomic_sub_fetch(&w->conns, 1, __ATOMIC_RELAXED);
}

/* The worker holding the fewest connections; ties go round the workers. */
static struct http_worker *least_loaded(struct http_server *s, unsigned *next, int *total)
{
	struct http_worker *best = NULL;
	int best_n = 0;
	*total = 0;
	for (unsigned k = 0; k < s->nw; k++) {
		struct http_worker *w = &s->w[(*next + k) % s->nw];
		int n = __atomic_load_n(&w->conns, __ATOMIC_RELAXED);
		*total += n;
		if (!best || n < best_n) {
			best = w;
			best_n = n;
		}
	}
	*next = (*next + 1) % s->nw;
	return best;
}

/* Give fd to the worker holding the fewest connections. */
static void hand_over(struct http_server *s, int fd, const struct sockaddr_storage *addr,
                      socklen_t alen, const unsigned char key[17], unsigned *next)
{
	int total;
	struct http_worker *w = least_loaded(s, next, &total);
	__atomic_add_fetch(&w->conns, 1, __ATOMIC_RELAXED);
	/* MHD closes fd on failure; its close notice never comes then */
	if (MHD_add_connection(w->d, fd, (const struct sockaddr *)addr, alen) != MHD_YES) {
		__atomic_sub_fetch(&w->conns, 1, __ATOMIC_RELAXED);
		addr_give(s, key);
		log_warn(NULL, "http connection dropped: the worker could not take it",
		         LF_STR("detail", strerror(errno)));
	}
}

static long ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
}

/* Decide what the first byte allows: a TLS handshake is answered 400 here,
 * anything else (or nothing within SNIFF_WAIT_MS) goes to a worker. false:
 * keep waiting. */
static bool sniffed(struct http_server *s, struct sniffing *c, unsigned *next)
{
	enum sniff_verdict v = sniff_first_byte(c->fd);
	if (v == SNIFF_WAIT && ms_since(&c->since) < SNIFF_WAIT_MS)
		return false;
	if (v == SNIFF_TLS) {
		char rid[33];
		new_request_id(rid);
		sniff_refuse_tls(c->fd, rid); /* closes it */
		addr_give(s, c->key);
	} else
		hand_over(s, c->fd, &c->addr, c->alen, c->key, next);
	return true;
}

/* A connection just accepted: decided at once when its first byte is there
 * (the usual case), else held while there is room. */
static void sniff_connection(struct http_server *s, int fd, const struct sockaddr_storage *addr,
                             socklen_t alen, const unsigned char key[17], unsigned *next)
{
	if (s->nsniffing == SNIFF_MAX) {
		hand_over(s, fd, addr, alen, key, next);
		return;
	}
	struct sniffing *c = &s->sniffing[s->nsniffing];
	c->fd = fd;
	c->addr = *addr;
	c->alen = alen;
	memcpy(c->key, key, sizeof(c->key));
	clock_gettime(CLOCK_MONOTONIC, &c->since);
	if (!sniffed(s, c, next))
		s->nsniffing++;
}

/* The connections still held for their first byte go to the workers as they
 * are (the acceptor stops: nobody would decide for them any more). */
static void flush_sniffing(struct http_server *s, unsigned *next)
{
	for (int k = 0; k < s->nsniffing; k++)
		hand_over(s, s->sniffing[k].fd, &s->sniffing[k].addr, s->sniffing[k].alen,
		          s->sniffing[k].key, next);
	s->nsniffing = 0;
}

/* Hand every connection waiting in the backlog to a worker (through the TLS
 * sniff), within HTTP_CONNECTION_LIMIT. */
static void accept_waiting(struct http_server *s, unsigned *next)
{
	int total = 0;
	for (;;) {
		least_loaded(s, next, &total);
		if (total + s->nsniffing >= s->cfg->http_connection_limit)
			break;
		struct sockaddr_storage addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(s->listen_fd, (struct sockaddr *)&addr, &alen,
		                 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				/* out of descriptors, most likely: back off a little */
				log_warn(NULL, "http accept failed",
				         LF_STR("detail", strerror(errno)));
				usleep(10 * 1000);
			}
			break;
		}
		unsigned char key[17];
		addr_key((const struct sockaddr *)&addr, key);
		if (!addr_take(s, key)) {
			/* one address may not take every slot (slow clients) */
			close(fd);
			log_at(LOG_DEBUG, NULL,
			       "http connection refused: HTTP_CONNECTIONS_PER_ADDRESS",
			       LF_INT("limit", s->cfg->http_connections_per_address));
			continue;
		}
		sniff_connection(s, fd, &addr, alen, key, next);
	}
}

/*
 * Absolute deadlines (slow clients): MHD's HTTP_CONNECTION_TIMEOUT_SECONDS
 * counts from a connection's last byte, so a client sending one byte now
 * and then holds its connection for ever. Here each phase of a request has
 * a deadline from its start, whatever arrives meanwhile: the request line
 * HTTP_CONNECTION_TIMEOUT_SECONDS after the last answer (or the accept), the
 * headers HTTP_HEADER_TIMEOUT_SECONDS after the request line, the body
 * HTTP_BODY_TIMEOUT_SECONDS after the headers. A connection past one is
 * shut both ways; its worker sees that and closes it. Called by the
 * acceptor four times a second.
 */
static void enforce_deadlines(struct http_server *s)
{
	long long now = clock_mono_ms();
	const long long limit_ms[] = {
	    [PH_IDLE] = s->cfg->http_connection_timeout_seconds * 1000,
	    [PH_HEADERS] = s->cfg->http_header_timeout_seconds * 1000,
	    [PH_BODY] = s->cfg->http_body_timeout_seconds * 1000,
	};
	static const char *const what[] = {
	    [PH_IDLE] = "request line", [PH_HEADERS] = "headers", [PH_BODY] = "body"};
	for (unsigned k = 0; k < s->nw; k++) {
		struct http_worker *w = &s->w[k];
		pthread_mutex_lock(&w->lock);
		for (struct http_conn *hc = w->open; hc; hc = hc->next) {
			int phase = __atomic_load_n(&hc->phase, __ATOMIC_SEQ_CST);
			long long since = __atomic_load_n(&hc->phase_ms, __ATOMIC_SEQ_CST);
			if (hc->cut || hc->read_shut || hc->fd < 0 || phase == PH_HANDLING ||
			    now - since <= limit_ms[phase])
				continue;
			shutdown(hc->fd, SHUT_RDWR);
			hc->cut = true;
			log_info(NULL, "http connection closed: too slow",
			         LF_STR("waiting_for", what[phase]),
			         LF_INT("deadline_ms", limit_ms[phase]));
		}
		pthread_mutex_unlock(&w->lock);
	}
}

static void *acceptor_main(void *arg)
{
	struct http_server *s = arg;
	unsigned next = 0;
	long long sweep = 0;
	for (;;) {
		int total = 0;
		least_loaded(s, &next, &total);
		bool full = total + s->nsniffing >= s->cfg->http_connection_limit;
		if (clock_mono_ms() >= sweep) {
			enforce_deadlines(s);
			sweep = clock_mono_ms() + 250;
		}
		/* At the limit, look again every 10 ms; connections wait unaccepted. */
		struct pollfd p[2 + SNIFF_MAX] = {
		    {.fd = s->wake[0], .events = POLLIN},
		    {.fd = full ? -1 : s->listen_fd, .events = POLLIN}};
		for (int k = 0; k < s->nsniffing; k++)
			p[2 + k] = (struct pollfd){.fd = s->sniffing[k].fd, .events = POLLIN};
		int rc = poll(p, (nfds_t)(2 + s->nsniffing),
		              s->nsniffing ? SNIFF_WAIT_MS / 4
		              : full       ? 10
		                           : 250);
		if (rc < 0 && errno != EINTR) {
			log_error(NULL, "http acceptor poll failed",
			          LF_STR("detail", strerror(errno)));
			usleep(10 * 1000);
			continue;
		}
		if (p[0].revents)
			break;
		for (int k = s->nsniffing; k-- > 0;)
			if (sniffed(s, &s->sniffing[k], &next))
				s->sniffing[k] = s->sniffing[--s->nsniffing];
		if (full || !(p[1].revents & POLLIN))
			continue;
		accept_waiting(s, &next);
	}
	flush_sniffing(s, &next);
	return NULL;
}

/* A listening, non-blocking socket on ss, or -1 with errno set. */
static int listen_on(const struct sockaddr_storage *ss)
{
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (ss->ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 || listen(fd, SOMAXCONN) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void acceptor_stop(struct http_server *s)
{
	if (!s->acceptor_started)
		return;
	char b = 1;
	ssize_t n;
	do
		n = write(s->wake[1], &b, 1);
	while (n < 0 && errno == EINTR);
	pthread_join(s->acceptor, NULL);
	s->acceptor_started = false;
}

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
	for (size_t i = 0; i < NROUTES; i++)
		route_metric[i] = metrics_route(routes[i].pattern);
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
