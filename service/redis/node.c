#include "node.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "../../common/buf.h"
#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/metrics.h"
#include "../../common/pace.h"
#include "../../common/xalloc.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 500
#define ERROR_RETRY_MS 5000
#define READ_CHUNK     16384

struct redis_tls {
	SSL_CTX *ctx;
};

struct redis_node {
	struct redis_conn_opts o;
	struct redis_health *health;
	int fd;
	SSL *ssl;
	redisReader *reader;
	int failures; /* connection failures in a row */
	int backoff_ms;
	long long next_try_ms; /* no attempt before this (monotonic ms) */
	bool ever_connected;
	bool timed_out; /* the last failure was a timeout, not a closed connection */
	char last_error[160];
	/* where it connects: o.host and o.port, or the locator's answer */
	char host[256];
	int port;
	unsigned long epoch; /* the locator's epoch host and port belong to */
};

const char *redis_state_name(enum redis_state s)
{
	switch (s) {
	case REDIS_STATE_CONNECTED:
		return "connected";
	case REDIS_STATE_RECONNECTING:
		return "reconnecting";
	case REDIS_STATE_ERROR:
		return "error";
	}
	return "error";
}

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void redis_script_sha(const char *src, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	static const char hex[] = "0123456789abcdef";
	SHA1((const unsigned char *)src, strlen(src), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[40] = '\0';
}

struct redis_tls *redis_tls_new(const char *ca_file, struct mem_error *err)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		mem_fail(err, MEM_EINTERNAL, "REDIS_URL", "cannot create a TLS context");
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	int ok = ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL)
	                 : SSL_CTX_set_default_verify_paths(ctx);
	if (ok != 1) {
		SSL_CTX_free(ctx);
		mem_fail(err, MEM_EINVALID_FIELD, "REDIS_TLS_CA_FILE",
		         "REDIS_TLS_CA_FILE=%s cannot be loaded as a PEM CA bundle",
		         ca_file ? ca_file : "(system)");
		return NULL;
	}
	struct redis_tls *t = xcalloc(1, sizeof(*t));
	t->ctx = ctx;
	return t;
}

void redis_tls_free(struct redis_tls *tls)
{
	if (!tls)
		return;
	SSL_CTX_free(tls->ctx);
	free(tls);
}

struct redis_node *redis_node_new(const struct redis_conn_opts *opts, struct redis_health *health)
{
	struct redis_node *c = xcalloc(1, sizeof(*c));
	c->o = *opts;
	c->health = health;
	c->fd = -1;
	c->backoff_ms = BACKOFF_MIN_MS;
	snprintf(c->host, sizeof(c->host), "%s", opts->host ? opts->host : "");
	c->port = opts->port;
	return c;
}

static void conn_close(struct redis_node *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->reader) {
		redisReaderFree(c->reader);
		c->reader = NULL;
	}
}

bool redis_node_connected(const struct redis_node *c)
{
	return c->fd >= 0;
}

void redis_node_free(struct redis_node *c)
{
	if (!c)
		return;
	conn_close(c);
	free(c);
}

/* Wait for fd to be ready for events until deadline; -1 on timeout/error. */
static int wait_fd(int fd, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - clock_mono_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

static int fail_io(struct redis_node *c, struct mem_error *err, const char *what)
{
	snprintf(c->last_error, sizeof(c->last_error), "%s", what);
	c->timed_out = false;
	return mem_fail(err, MEM_EUNAVAILABLE, NULL, "redis %s:%d: %s", c->host, c->port, what);
}

static int fail_timeout(struct redis_node *c, struct mem_error *err, const char *what)
{
	fail_io(c, err, what);
	c->timed_out = true;
	return -1;
}

static int tcp_connect(struct redis_node *c, long long deadline, struct mem_error *err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof(port), "%d", c->port);
	int rc = getaddrinfo(c->host, port, &hints, &res);
	if (rc != 0) {
		char why[128];
		snprintf(why, sizeof(why), "cannot resolve host: %s", gai_strerror(rc));
		return fail_io(c, err, why);
	}
	int fd = -1;
	int last_errno = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0) {
			int soerr = 0;
			socklen_t sl = sizeof(soerr);
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
			if (soerr == 0)
				break;
			last_errno = soerr;
		} else {
			last_errno = errno == EINPROGRESS ? ETIMEDOUT : errno;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		char why[128];
		snprintf(why, sizeof(why), "connect: %s",
		         strerror(last_errno ? last_errno : ETIMEDOUT));
		return fail_io(c, err, why);
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	c->fd = fd;
	return 0;
}

static int tls_handshake(struct redis_node *c, long long deadline, struct mem_error *err)
{
	c->ssl = SSL_new(c->o.tls->ctx);
	if (!c->ssl)
		return fail_io(c, err, "TLS: SSL_new failed");
	SSL_set_fd(c->ssl, c->fd);
	struct in6_addr a6;
	struct in_addr a4;
	bool is_ip =
	    inet_pton(AF_INET, c->o.host, &a4) == 1 || inet_pton(AF_INET6, c->o.host, &a6) == 1;
	X509_VERIFY_PARAM *vp = SSL_get0_param(c->ssl);
	if (is_ip) {
		X509_VERIFY_PARAM_set1_ip_asc(vp, c->o.host);
	} else {
		SSL_set_tlsext_host_name(c->ssl, c->o.host);
		X509_VERIFY_PARAM_set1_host(vp, c->o.host, 0);
	}
	for (;;) {
		ERR_clear_error();
		int r = SSL_connect(c->ssl);
		if (r == 1)
			return 0;
		int e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			if (wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) <
			    0)
				return fail_io(c, err, "TLS handshake timed out");
			continue;
		}
		char why[160];
		long vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK)
			snprintf(why, sizeof(why), "TLS certificate verification failed: %s",
			         X509_verify_cert_error_string(vr));
		else
			snprintf(why, sizeof(why), "TLS handshake failed: %s",
			         ERR_reason_error_string(ERR_peek_last_error())
			             ? ERR_reason_error_string(ERR_peek_last_error())
			             : "connection closed");
		return fail_io(c, err, why);
	}
}

static int io_write_all(struct redis_node *c, const char *p, size_t n, long long deadline,
                        struct mem_error *err)
{
	while (n) {
		ssize_t w;
		short want = POLLOUT;
		if (c->ssl) {
			ERR_clear_error();
			int r = SSL_write(c->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
			if (r > 0) {
				w = r;
			} else {
				int e = SSL_get_error(c->ssl, r);
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					return fail_io(c, err, "TLS write failed");
				want = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
				w = -1;
			}
		} else {
			w = send(c->fd, p, n, MSG_NOSIGNAL);
			if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				char why[96];
				snprintf(why, sizeof(why), "write: %s", strerror(errno));
				return fail_io(c, err, why);
			}
		}
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (wait_fd(c->fd, want, deadline) < 0)
			return fail_timeout(c, err, "write timed out");
	}
	return 0;
}

/* Read what is available (waiting until deadline) and feed the reader.
 * wait_first: the request was just sent, so the answer is rarely there yet:
 * poll before reading saves a read that would only say EAGAIN. */
static int io_read_some(struct redis_node *c, long long deadline, bool wait_first,
                        struct mem_error *err)
{
	char chunk[READ_CHUNK];
	if (wait_first && !(c->ssl && SSL_pending(c->ssl)) && wait_fd(c->fd, POLLIN, deadline) < 0)
		return fail_timeout(c, err, "read timed out");
	for (;;) {
		ssize_t r;
		short want = POLLIN;
		if (c->ssl) {
			ERR_clear_error();
			int n = SSL_read(c->ssl, chunk, sizeof(chunk));
			if (n > 0) {
				r = n;
			} else {
				int e = SSL_get_error(c->ssl, n);
				if (e == SSL_ERROR_ZERO_RETURN)
					return fail_io(c, err, "connection closed by server");
				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					return fail_io(c, err, "TLS read failed");
				want = e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN;
				r = -1;
			}
		} else {
			r = recv(c->fd, chunk, sizeof(chunk), 0);
			if (r == 0)
				return fail_io(c, err, "connection closed by server");
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				char why[96];
				snprintf(why, sizeof(why), "read: %s", strerror(errno));
				return fail_io(c, err, why);
			}
		}
		if (r > 0) {
			if (redisReaderFeed(c->reader, chunk, (size_t)r) != REDIS_OK)
				return fail_io(c, err, "protocol error");
			return 0;
		}
		if (wait_fd(c->fd, want, deadline) < 0)
			return fail_timeout(c, err, "read timed out");
	}
}

static bool has_readonly(size_t n, redisReply **replies)
{
	for (size_t i = 0; i < n; i++)
		if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR &&
		    !strncmp(replies[i]->str, "READONLY", 8))
			return true;
	return false;
}

static __thread int last_replicas = -1;

/* The probes' round trips (PING, INFO) write nothing and wait for no
 * replica: a probe says whether the primary answers, not how its replicas
 * are doing (a replica resyncing after a failover would fail /readyz). */
static bool never_writes(size_t n, const struct redis_cmd *cmds)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = cmds[i].argv[0];
		if (strcasecmp(a, "PING") && strcasecmp(a, "INFO"))
			return false;
	}
	return true;
}

int redis_conn_last_replicas(void)
{
	return last_replicas;
}

void redis_conn_forget_replicas(void)
{
	last_replicas = -1;
}

static int raw_pipeline_once(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                             redisReply **replies, struct mem_error *err);

/* Raw round trip on an established connection; no retry, no reconnect. With
 * wait_replicas, a WAIT ends it: its reply is checked here, not returned. */
static int raw_pipeline(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                        redisReply **replies, struct mem_error *err)
{
	last_replicas = -1;
	if (c->o.wait_replicas <= 0 || never_writes(n, cmds))
		return raw_pipeline_once(c, n, cmds, replies, err);
	char nrep[16], tmo[16];
	snprintf(nrep, sizeof(nrep), "%d", c->o.wait_replicas);
	snprintf(tmo, sizeof(tmo), "%d", c->o.wait_timeout_ms);
	const char *wait_argv[] = {"WAIT", nrep, tmo};
	struct redis_cmd *all = xcalloc(n + 1, sizeof(*all));
	redisReply **rep = xcalloc(n + 1, sizeof(*rep));
	memcpy(all, cmds, n * sizeof(*all));
	all[n] = (struct redis_cmd){.argc = 3, .argv = wait_argv, .argvlen = NULL};
	int ret = raw_pipeline_once(c, n + 1, all, rep, err);
	if (ret == 0) {
		memcpy(replies, rep, n * sizeof(*rep));
		redisReply *w = rep[n];
		if (w->type == REDIS_REPLY_INTEGER && w->integer >= c->o.wait_replicas) {
			last_replicas = (int)w->integer;
		} else if (w->type == REDIS_REPLY_ERROR && has_readonly(n, replies)) {
			/* a replica now (WAIT is refused there too): the caller
			 * reconnects to the primary */
		} else {
			mem_fail(err, MEM_EUNAVAILABLE, NULL,
			         "redis %s:%d: %lld of %d replicas acknowledged the write within "
			         "%d ms (REDIS_WAIT_REPLICAS); the primary holds it",
			         c->host, c->port,
			         w->type == REDIS_REPLY_INTEGER ? (long long)w->integer : -1LL,
			         c->o.wait_replicas, c->o.wait_timeout_ms);
			for (size_t i = 0; i < n; i++) {
				freeReplyObject(replies[i]);
				replies[i] = NULL;
			}
			ret = -2; /* the connection is fine: no reconnect */
		}
		freeReplyObject(w);
	}
	free(all);
	free(rep);
	return ret;
}

static int raw_pipeline_io(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                           redisReply **replies, struct mem_error *err);

/* Raw round trip on an established connection; no retry, no reconnect. On
 * a heavy request's thread, paced (common/pace.h). */
static int raw_pipeline_once(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                             redisReply **replies, struct mem_error *err)
{
	long long began = pace_begin();
	int ret = raw_pipeline_io(c, n, cmds, replies, err);
	pace_end(began);
	return ret;
}

static int raw_pipeline_io(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                           redisReply **replies, struct mem_error *err)
{
	struct buf out = {0};
	int ret = -1;
	for (size_t i = 0; i < n; i++) {
		char *cmd = NULL;
		int len = redisFormatCommandArgv(&cmd, cmds[i].argc, cmds[i].argv, cmds[i].argvlen);
		if (len < 0) {
			mem_fail(err, MEM_EINTERNAL, NULL, "cannot format a Redis command");
			goto out;
		}
		buf_append(&out, cmd, (size_t)len);
		free(cmd);
	}
	long long deadline = clock_mono_ms() + c->o.socket_timeout_ms;
	long long started_us = now_us();
	if (io_write_all(c, out.data, out.len, deadline, err) < 0)
		goto out;
	bool first_read = true;
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		for (;;) {
			if (redisReaderGetReply(c->reader, &r) != REDIS_OK) {
				fail_io(c, err, "protocol error");
				goto out;
			}
			if (r)
				break;
			if (io_read_some(c, deadline, first_read, err) < 0)
				goto out;
			first_read = false;
		}
		replies[i] = r;
	}
	__atomic_add_fetch(&c->health->commands, 1, __ATOMIC_RELAXED);
	metrics_redis_latency((double)(now_us() - started_us) / 1000.0);
	ret = 0;
out:
	if (ret < 0)
		for (size_t i = 0; i < n; i++) {
			freeReplyObject(replies[i]);
			replies[i] = NULL;
		}
	buf_release(&out);
	return ret;
}

static int simple_ok(struct redis_node *c, int argc, const char **argv, struct mem_error *err,
                     const char *what)
{
	redisReply *r = NULL;
	struct redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = NULL};
	if (raw_pipeline_once(c, 1, &cmd, &r, err) < 0)
		return -1;
	int ret = 0;
	if (r->type == REDIS_REPLY_ERROR) {
		char why[160];
		snprintf(why, sizeof(why), "%s refused: %.100s", what, r->str);
		ret = fail_io(c, err, why);
	}
	freeReplyObject(r);
	return ret;
}

static int load_scripts(struct redis_node *c, struct mem_error *err)
{
	for (size_t i = 0; i < c->o.nscripts; i++) {
		const char *argv[] = {"SCRIPT", "LOAD", c->o.scripts[i]};
		if (simple_ok(c, 3, argv, err, "SCRIPT LOAD") < 0)
			return -1;
	}
	return 0;
}

/* With a locator (the sentinels): the server must say it is the primary. */
static int check_role(struct redis_node *c, struct mem_error *err)
{
	const char *argv[] = {"ROLE"};
	struct redis_cmd cmd = {.argc = 1, .argv = argv, .argvlen = NULL};
	redisReply *r = NULL;
	if (raw_pipeline_once(c, 1, &cmd, &r, err) < 0)
		return -1;
	bool primary = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	               r->element[0]->type == REDIS_REPLY_STRING &&
	               !strcmp(r->element[0]->str, "master");
	freeReplyObject(r);
	if (primary)
		return 0;
	c->o.locator->stale(c->o.locator->ctx, c->epoch);
	return fail_io(c, err, "the sentinels' primary answers ROLE as a replica");
}

static int connect_once(struct redis_node *c, struct mem_error *err)
{
	long long deadline = clock_mono_ms() + c->o.connect_timeout_ms;
	if (c->o.locator && c->o.locator->primary(c->o.locator->ctx, c->host, sizeof(c->host),
	                                          &c->port, &c->epoch, err) < 0) {
		snprintf(c->last_error, sizeof(c->last_error), "%.159s", err ? err->message : "");
		return -1;
	}
	c->reader = redisReaderCreate();
	if (tcp_connect(c, deadline, err) < 0)
		goto fail;
	if (c->o.tls && tls_handshake(c, deadline, err) < 0)
		goto fail;
	if (c->o.password) {
		const char *a3[] = {"AUTH", c->o.user ? c->o.user : "", c->o.password};
		const char *a2[] = {"AUTH", c->o.password};
		if (c->o.user ? simple_ok(c, 3, a3, err, "AUTH") : simple_ok(c, 2, a2, err, "AUTH"))
			goto fail;
	}
	if (c->o.db) {
		char db[16];
		snprintf(db, sizeof(db), "%d", c->o.db);
		const char *a[] = {"SELECT", db};
		if (simple_ok(c, 2, a, err, "SELECT") < 0)
			goto fail;
	}
	if (c->o.locator && check_role(c, err) < 0)
		goto fail;
	if (load_scripts(c, err) < 0)
		goto fail;
	return 0;
fail:
	if (c->o.locator && c->fd >= 0)
		c->o.locator->stale(c->o.locator->ctx, c->epoch);
	conn_close(c);
	return -1;
}

static void publish(struct redis_node *c, enum redis_state s)
{
	__atomic_store_n(&c->health->state, (int)s, __ATOMIC_RELAXED);
	__atomic_store_n(&c->health->reconnect_attempts, (unsigned)c->failures, __ATOMIC_RELAXED);
}

static int ensure_connected(struct redis_node *c, bool force_now, struct mem_error *err)
{
	if (c->fd >= 0)
		return 0;
	long long now = clock_mono_ms();
	if (!force_now && now < c->next_try_ms)
		return mem_fail(err, MEM_EUNAVAILABLE, NULL, "redis %s:%d is %s (attempt %d): %s",
		                c->host, c->port,
		                c->failures >= c->o.max_reconnect_attempts ? "in error"
		                                                           : "reconnecting",
		                c->failures, c->last_error);
	if (connect_once(c, err) == 0) {
		if (c->failures || c->ever_connected) {
			__atomic_add_fetch(&c->health->reconnects, 1, __ATOMIC_RELAXED);
			log_info(NULL, "redis reconnected", LF_STR("host", c->host),
			         LF_INT("port", c->port), LF_INT("attempts", c->failures));
		}
		c->ever_connected = true;
		c->failures = 0;
		c->backoff_ms = BACKOFF_MIN_MS;
		publish(c, REDIS_STATE_CONNECTED);
		return 0;
	}
	c->failures++;
	if (c->failures >= c->o.max_reconnect_attempts) {
		c->next_try_ms = clock_mono_ms() + ERROR_RETRY_MS;
		publish(c, REDIS_STATE_ERROR);
		if (c->failures == c->o.max_reconnect_attempts)
			log_error(NULL, "redis connection in error state", LF_STR("host", c->host),
			          LF_INT("port", c->port), LF_INT("attempts", c->failures),
			          LF_STR("error", c->last_error));
	} else {
		c->next_try_ms = clock_mono_ms() + c->backoff_ms;
		c->backoff_ms =
		    c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
		publish(c, REDIS_STATE_RECONNECTING);
		log_warn(NULL, "redis connection failed", LF_STR("host", c->host),
		         LF_INT("port", c->port), LF_INT("attempt", c->failures),
		         LF_STR("error", c->last_error));
	}
	return -1;
}

static bool has_noscript(size_t n, redisReply **replies)
{
	for (size_t i = 0; i < n; i++)
		if (replies[i] && replies[i]->type == REDIS_REPLY_ERROR &&
		    !strncmp(replies[i]->str, "NOSCRIPT", 8))
			return true;
	return false;
}

static void free_replies(size_t n, redisReply **replies)
{
	for (size_t i = 0; i < n; i++) {
		freeReplyObject(replies[i]);
		replies[i] = NULL;
	}
}

/* A connection that cannot be trusted to reach the primary any more: closed,
 * and with a locator, its address asked again. */
static void conn_drop(struct redis_node *c)
{
	if (c->o.locator)
		c->o.locator->stale(c->o.locator->ctx, c->epoch);
	conn_close(c);
}

int redis_node_pipeline(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                        redisReply **replies, bool retry_idempotent, struct mem_error *err)
{
	for (size_t i = 0; i < n; i++)
		replies[i] = NULL;
	/* the sentinels moved the primary: this connection goes to the old one */
	if (c->o.locator && c->fd >= 0 && c->o.locator->epoch(c->o.locator->ctx) != c->epoch)
		conn_close(c);
	bool was_connected = c->fd >= 0;
	if (ensure_connected(c, false, err) < 0)
		return -1;
	c->timed_out = false;
	int rc = raw_pipeline(c, n, cmds, replies, err);
	if (rc == -2)
		return -1; /* too few replicas: the connection is fine */
	bool readonly = rc == 0 && has_readonly(n, replies);
	if (readonly || rc < 0) {
		/* READONLY: the server was demoted under us, nothing was written.
		 * Broken: a connection that was idle may have been closed by a
		 * server restart; one immediate reconnect makes that invisible.
		 * Timed out: the server is slow or gone, not restarted, and a
		 * second try would wait as long; not retried at once, but with a
		 * locator (Sentinel), which may name another primary by now. */
		bool timed_out = rc < 0 && c->timed_out && !c->o.locator;
		conn_drop(c);
		if (readonly && !retry_idempotent)
			return 0;
		if (!readonly && (!retry_idempotent || !was_connected || timed_out))
			goto down;
		free_replies(n, replies);
		if (ensure_connected(c, true, err) < 0)
			return -1;
		rc = raw_pipeline(c, n, cmds, replies, err);
		if (rc == -2)
			return -1;
		if (rc < 0) {
			conn_drop(c);
			goto down;
		}
	}
	if (has_noscript(n, replies)) {
		free_replies(n, replies);
		if (load_scripts(c, err) < 0)
			goto broken;
		rc = raw_pipeline(c, n, cmds, replies, err);
		if (rc == -2)
			return -1;
		if (rc < 0)
			goto broken;
	}
	return 0;
broken:
	conn_close(c);
down:
	c->failures++;
	c->next_try_ms = clock_mono_ms();
	publish(c, REDIS_STATE_RECONNECTING);
	return -1;
}

int redis_node_wait_reply(struct redis_node *c, redisReply **reply, int wait_ms,
                          struct mem_error *err)
{
	void *r = NULL;
	*reply = NULL;
	if (c->fd < 0)
		return mem_fail(err, MEM_EUNAVAILABLE, NULL, "redis %s:%d: not connected", c->host,
		                c->port);
	if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
		goto broken;
	if (!r) {
		if (!(c->ssl && SSL_pending(c->ssl)) &&
		    wait_fd(c->fd, POLLIN, clock_mono_ms() + wait_ms) < 0)
			return 0;
		if (io_read_some(c, clock_mono_ms() + c->o.socket_timeout_ms, false, err) < 0)
			goto closed;
		if (redisReaderGetReply(c->reader, &r) != REDIS_OK)
			goto broken;
		if (!r)
			return 0; /* part of a message: the rest comes with the next call */
	}
	*reply = r;
	return 1;
broken:
	fail_io(c, err, "protocol error");
closed:
	conn_close(c);
	return -1;
}

int redis_node_command(struct redis_node *c, redisReply **reply, struct mem_error *err, int argc,
                       const char **argv, const size_t *argvlen)
{
	struct redis_cmd cmd = {.argc = argc, .argv = argv, .argvlen = argvlen};
	return redis_node_pipeline(c, 1, &cmd, reply, true, err);
}
