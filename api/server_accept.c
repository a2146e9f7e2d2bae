#define _GNU_SOURCE /* accept4 */
/*
 * server_accept: the connections. The acceptor thread owns the listening
 * socket: it keeps HTTP_CONNECTION_LIMIT and HTTP_CONNECTIONS_PER_ADDRESS,
 * answers a TLS handshake on the plain port (api/sniff.h), enforces each
 * request phase's deadline, and hands each connection to the least loaded
 * worker, whose list of open connections on_connection keeps.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/xalloc.h"
#include "server_internal.h"
#include "sniff.h"

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
void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
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
void flush_sniffing(struct http_server *s, unsigned *next)
{
	for (int k = 0; k < s->nsniffing; k++)
		hand_over(s, s->sniffing[k].fd, &s->sniffing[k].addr, s->sniffing[k].alen,
		          s->sniffing[k].key, next);
	s->nsniffing = 0;
}

/* Hand every connection waiting in the backlog to a worker (through the TLS
 * sniff), within HTTP_CONNECTION_LIMIT. */
void accept_waiting(struct http_server *s, unsigned *next)
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

void *acceptor_main(void *arg)
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
int listen_on(const struct sockaddr_storage *ss)
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

void acceptor_stop(struct http_server *s)
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
