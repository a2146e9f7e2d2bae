#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/metrics.h"
#include "../../common/xalloc.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 500
#define ERROR_RETRY_MS 5000
/* How long past statement_timeout we wait for an answer before we give the
 * connection up (the server cancels at statement_timeout; this is for a
 * server or network that went silent). */
#define ANSWER_GRACE_MS 1000

struct pg_conn {
	struct pg_conn_opts o;
	struct pg_health *health;
	PGconn *pg;
	unsigned char *prepared; /* one flag per statement of the table */
	int failures;            /* connection failures in a row */
	int backoff_ms;
	long long next_try_ms; /* no attempt before this (monotonic ms) */
	bool ever_connected;
	char last_error[200];
	/* between pg_conn_send and pg_conn_collect */
	struct {
		bool sent; /* on the wire; else collect runs it whole */
		size_t stmt;
		const struct pg_params *p;
		long long started_us;
	} pend;
};

const char *pg_state_name(enum pg_state s)
{
	switch (s) {
	case PG_STATE_CONNECTED:
		return "connected";
	case PG_STATE_RECONNECTING:
		return "reconnecting";
	case PG_STATE_ERROR:
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

static long long now_ms(void)
{
	return now_us() / 1000;
}

/* ---------- parameters ---------- */

static int params_slot(struct pg_params *p)
{
	if (p->n >= PG_MAX_PARAMS) {
		log_error(NULL, "too many statement parameters", LF_INT("max", PG_MAX_PARAMS));
		abort(); /* a programming error, caught by any test */
	}
	return p->n++;
}

void pg_params_bytes(struct pg_params *p, const void *data, size_t len)
{
	int i = params_slot(p);
	p->values[i] = data ? (const char *)data : "";
	p->lengths[i] = (int)len;
	p->formats[i] = 1;
}

void pg_params_text(struct pg_params *p, const char *s)
{
	if (s) {
		pg_params_bytes(p, s, strlen(s));
		return;
	}
	int i = params_slot(p);
	p->values[i] = NULL;
	p->lengths[i] = 0;
	p->formats[i] = 1;
}

static void params_own(struct pg_params *p, char *data, size_t len)
{
	int i = params_slot(p);
	p->own[i] = data;
	p->values[i] = data;
	p->lengths[i] = (int)len;
	p->formats[i] = 1;
}

static void put_be32(unsigned char *b, uint32_t v)
{
	b[0] = (unsigned char)(v >> 24);
	b[1] = (unsigned char)(v >> 16);
	b[2] = (unsigned char)(v >> 8);
	b[3] = (unsigned char)v;
}

static void put_be64(unsigned char *b, uint64_t v)
{
	put_be32(b, (uint32_t)(v >> 32));
	put_be32(b + 4, (uint32_t)v);
}

void pg_params_int8(struct pg_params *p, long long v)
{
	char *b = xmalloc(8);
	put_be64((unsigned char *)b, (uint64_t)v);
	params_own(p, b, 8);
}

void pg_params_bool(struct pg_params *p, bool v)
{
	char *b = xmalloc(1);
	b[0] = v ? 1 : 0;
	params_own(p, b, 1);
}

void pg_params_release(struct pg_params *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->n; i++)
		free(p->own[i]);
	memset(p, 0, sizeof(*p));
}

void pg_array_init(struct pg_array *a, unsigned elem_oid)
{
	memset(a, 0, sizeof(*a));
	a->elem_oid = elem_oid;
}

void pg_array_add(struct pg_array *a, const void *data, size_t len)
{
	unsigned char n[4];
	put_be32(n, (uint32_t)len);
	buf_append(&a->elems, n, 4);
	if (len)
		buf_append(&a->elems, data, len);
	a->n++;
}

void pg_array_add_text(struct pg_array *a, const char *s)
{
	pg_array_add(a, s, strlen(s));
}

void pg_array_add_int8(struct pg_array *a, long long v)
{
	unsigned char b[8];
	put_be64(b, (uint64_t)v);
	pg_array_add(a, b, 8);
}

void pg_array_encode(const struct pg_array *a, struct buf *out)
{
	unsigned char h[20];
	size_t hl = 12;
	put_be32(h, a->n ? 1 : 0); /* dimensions: none for an empty array */
	put_be32(h + 4, 0);        /* no NULL elements */
	put_be32(h + 8, a->elem_oid);
	if (a->n) {
		put_be32(h + 12, a->n); /* length of the dimension */
		put_be32(h + 16, 1);    /* its lower bound */
		hl = 20;
	}
	buf_reserve(out, hl + a->elems.len);
	buf_append(out, h, hl);
	if (a->elems.len)
		buf_append(out, a->elems.data, a->elems.len);
}

void pg_array_release(struct pg_array *a)
{
	if (!a)
		return;
	buf_release(&a->elems);
	a->n = 0;
}

void pg_params_array(struct pg_params *p, const struct pg_array *a)
{
	struct buf b = {0};
	size_t len;
	pg_array_encode(a, &b);
	char *data = buf_detach(&b, &len);
	params_own(p, data, len);
}

/* ---------- results ---------- */

long long pg_decode_int(const char *p, size_t len)
{
	const unsigned char *u = (const unsigned char *)p;
	if (len == 4)
		return (int32_t)((uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
		                 (uint32_t)u[3]);
	if (len == 8) {
		uint64_t v = 0;
		for (int i = 0; i < 8; i++)
			v = v << 8 | u[i];
		return (long long)v;
	}
	return 0;
}

long long pg_int(const PGresult *r, int row, int col)
{
	if (PQgetisnull(r, row, col))
		return 0;
	return pg_decode_int(PQgetvalue(r, row, col), (size_t)PQgetlength(r, row, col));
}

/* ---------- connection ---------- */

struct pg_conn *pg_conn_new(const struct pg_conn_opts *opts, struct pg_health *health)
{
	struct pg_conn *c = xcalloc(1, sizeof(*c));
	c->o = *opts;
	c->health = health;
	c->prepared = xcalloc(opts->nstmts + 1, 1);
	c->backoff_ms = BACKOFF_MIN_MS;
	return c;
}

static void conn_close(struct pg_conn *c)
{
	if (c->pg) {
		PQfinish(c->pg);
		c->pg = NULL;
	}
	memset(c->prepared, 0, c->o.nstmts + 1);
}

void pg_conn_free(struct pg_conn *c)
{
	if (!c)
		return;
	conn_close(c);
	free(c->prepared);
	free(c);
}

/* libpq's messages end with a newline and may span lines: keep the first. */
static void set_last_error(struct pg_conn *c, const char *msg)
{
	snprintf(c->last_error, sizeof(c->last_error), "%.*s", (int)sizeof(c->last_error) - 1,
	         msg && *msg ? msg : "unknown error");
	c->last_error[strcspn(c->last_error, "\n")] = '\0';
}

/* Wait until fd is ready for events or the deadline passes: 1 ready, 0 timed
 * out, -1 error. *revents gets what happened. */
static int wait_fd(int fd, short events, long long deadline, short *revents)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0) {
			if (revents)
				*revents = p.revents;
			return 1;
		}
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* After a PQsend* call: flush what was queued, then wait (bounded) for the
 * answer. Keeps the first error result, else the last result. *broken when
 * the connection cannot be used any more. */
static int await_result(struct pg_conn *c, PGresult **res, bool *broken, struct mem_error *err)
{
	PGconn *pg = c->pg;
	long long deadline = now_ms() + c->o.statement_timeout_ms + ANSWER_GRACE_MS;
	PGresult *keep = NULL;

	*res = NULL;
	for (;;) {
		int f = PQflush(pg);
		if (f == 0)
			break;
		short rev = 0;
		if (f < 0 || wait_fd(PQsocket(pg), POLLOUT | POLLIN, deadline, &rev) <= 0)
			goto lost;
		if ((rev & POLLIN) && !PQconsumeInput(pg))
			goto lost;
	}
	for (;;) {
		while (PQisBusy(pg)) {
			int w = wait_fd(PQsocket(pg), POLLIN, deadline, NULL);
			if (w == 0) {
				PQclear(keep);
				*broken = true;
				return mem_fail(err, MEM_EUNAVAILABLE, NULL,
				                "postgres did not answer within %d ms",
				                c->o.statement_timeout_ms + ANSWER_GRACE_MS);
			}
			if (w < 0 || !PQconsumeInput(pg))
				goto lost;
		}
		PGresult *r = PQgetResult(pg);
		if (!r)
			break;
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	if (!keep)
		goto lost;
	*res = keep;
	return 0;
lost:
	PQclear(keep);
	*broken = true;
	set_last_error(c, PQerrorMessage(pg));
	return mem_fail(err, MEM_EUNAVAILABLE, NULL, "postgres connection lost: %s", c->last_error);
}

/* Retry-worthy conditions: connection trouble, shutdown, timeouts, lack of
 * resources, conflicts, a read-only server (a standby after a failover). */
static bool sqlstate_transient(const char *s)
{
	static const char *prefixes[] = {"08",    "53",    "57P",   "57014",
	                                 "40001", "40P01", "55P03", "25006"};
	if (!s)
		return false;
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(s, prefixes[i], strlen(prefixes[i])))
			return true;
	return false;
}

/* A result that is not a success into err and st (its SQLSTATE); the
 * result is freed. */
static int result_fail(struct pg_conn *c, PGresult *r, const char *what, bool *broken, char st[8],
                       struct mem_error *err)
{
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	char m[200];
	snprintf(m, sizeof(m), "%s", msg ? msg : PQresStatus(PQresultStatus(r)));
	snprintf(st, 8, "%s", state ? state : "");
	PQclear(r);
	if (PQstatus(c->pg) == CONNECTION_BAD) {
		*broken = true;
		set_last_error(c, m);
		return mem_fail(err, MEM_EUNAVAILABLE, NULL, "postgres connection lost: %s", m);
	}
	if (!strcmp(st, "57014"))
		return mem_fail(err, MEM_EUNAVAILABLE, NULL,
		                "postgres cancelled %s after statement_timeout (%d ms)", what,
		                c->o.statement_timeout_ms);
	if (sqlstate_transient(st))
		return mem_fail(err, MEM_EUNAVAILABLE, NULL, "postgres refused %s: %s (%s)", what,
		                m, st);
	log_error(NULL, "postgres error", LF_STR("statement", what), LF_STR("sqlstate", st),
	          LF_STR("error", m));
	return mem_fail(err, MEM_EINTERNAL, NULL, "postgres error on %s: %s (%s)", what, m, st);
}

/* After sending with a PQsend* call that returned sent: 0 and *res on
 * success; on -1, st holds the SQLSTATE when the server sent one. */
static int finish(struct pg_conn *c, int sent, const char *what, PGresult **res, bool *broken,
                  char st[8], struct mem_error *err)
{
	*res = NULL;
	st[0] = '\0';
	if (!sent) {
		*broken = PQstatus(c->pg) == CONNECTION_BAD;
		set_last_error(c, PQerrorMessage(c->pg));
		return mem_fail(err, *broken ? MEM_EUNAVAILABLE : MEM_EINTERNAL, NULL,
		                "postgres %s not sent: %s", what, c->last_error);
	}
	PGresult *r;
	if (await_result(c, &r, broken, err) < 0)
		return -1;
	ExecStatusType es = PQresultStatus(r);
	if (es != PGRES_TUPLES_OK && es != PGRES_COMMAND_OK)
		return result_fail(c, r, what, broken, st, err);
	*res = r;
	return 0;
}

/* Server notices ("relation already exists, skipping") go to the debug log,
 * not raw to stderr. */
static void notice_to_log(void *arg, const char *msg)
{
	(void)arg;
	char m[256];
	snprintf(m, sizeof(m), "%s", msg);
	m[strcspn(m, "\n")] = '\0';
	log_debug(NULL, "postgres notice", LF_STR("notice", m));
}

/* libpq's non-blocking connect, bounded by connect_timeout_ms, then the
 * session settings. */
static int connect_once(struct pg_conn *c, struct mem_error *err)
{
	/* Keywords before dbname are defaults DATABASE_URL may override. */
	const char *keys[] = {"fallback_application_name", "dbname", NULL};
	const char *vals[] = {"memoryd", c->o.conninfo, NULL};
	long long deadline = now_ms() + c->o.connect_timeout_ms;
	PGconn *pg = PQconnectStartParams(keys, vals, 1);
	PGresult *r = NULL;
	bool broken = false;
	char state[8];

	if (!pg) {
		set_last_error(c, "out of memory");
		goto fail;
	}
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	while (PQstatus(pg) != CONNECTION_BAD && st != PGRES_POLLING_OK &&
	       st != PGRES_POLLING_FAILED) {
		short ev = st == PGRES_POLLING_READING ? POLLIN : POLLOUT;
		int w = wait_fd(PQsocket(pg), ev, deadline, NULL);
		if (w == 0) {
			snprintf(c->last_error, sizeof(c->last_error), "no connection within %d ms",
			         c->o.connect_timeout_ms);
			goto fail;
		}
		if (w < 0)
			break;
		st = PQconnectPoll(pg);
	}
	if (st != PGRES_POLLING_OK || PQstatus(pg) != CONNECTION_OK) {
		set_last_error(c, PQerrorMessage(pg));
		goto fail;
	}
	PQsetNoticeProcessor(pg, notice_to_log, NULL);
	if (PQsetnonblocking(pg, 1) != 0) {
		set_last_error(c, PQerrorMessage(pg));
		goto fail;
	}
	c->pg = pg;
	memset(c->prepared, 0, c->o.nstmts + 1);
	char ms[24];
	snprintf(ms, sizeof(ms), "%d", c->o.statement_timeout_ms);
	const char *values[] = {ms};
	int sent = PQsendQueryParams(pg, "SELECT set_config('statement_timeout', $1, false)", 1,
	                             NULL, values, NULL, NULL, 1);
	if (finish(c, sent, "session setup", &r, &broken, state, err) < 0) {
		set_last_error(c, err->message);
		c->pg = NULL;
		goto fail;
	}
	PQclear(r);
	return 0;
fail:
	PQfinish(pg);
	return mem_fail(err, MEM_EUNAVAILABLE, NULL, "postgres unreachable: %s", c->last_error);
}

static void publish(struct pg_conn *c, enum pg_state s)
{
	__atomic_store_n(&c->health->state, (int)s, __ATOMIC_RELAXED);
	__atomic_store_n(&c->health->reconnect_attempts, (unsigned)c->failures, __ATOMIC_RELAXED);
}

static int ensure_connected(struct pg_conn *c, bool force_now, struct mem_error *err)
{
	if (c->pg)
		return 0;
	if (!force_now && now_ms() < c->next_try_ms)
		return mem_fail(err, MEM_EUNAVAILABLE, NULL, "postgres is %s (attempt %d): %s",
		                c->failures >= c->o.max_reconnect_attempts ? "in error"
		                                                           : "reconnecting",
		                c->failures, c->last_error);
	if (connect_once(c, err) == 0) {
		if (c->failures || c->ever_connected) {
			__atomic_add_fetch(&c->health->reconnects, 1, __ATOMIC_RELAXED);
			log_info(NULL, "postgres reconnected", LF_INT("attempts", c->failures));
		}
		c->ever_connected = true;
		c->failures = 0;
		c->backoff_ms = BACKOFF_MIN_MS;
		publish(c, PG_STATE_CONNECTED);
		return 0;
	}
	c->failures++;
	if (c->failures >= c->o.max_reconnect_attempts) {
		c->next_try_ms = now_ms() + ERROR_RETRY_MS;
		publish(c, PG_STATE_ERROR);
		if (c->failures == c->o.max_reconnect_attempts && !c->o.quiet)
			log_error(NULL, "postgres connection in error state",
			          LF_INT("attempts", c->failures), LF_STR("error", c->last_error));
	} else {
		c->next_try_ms = now_ms() + c->backoff_ms;
		c->backoff_ms =
		    c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
		publish(c, PG_STATE_RECONNECTING);
		if (!c->o.quiet)
			log_warn(NULL, "postgres connection failed", LF_INT("attempt", c->failures),
			         LF_STR("error", c->last_error));
	}
	return -1;
}

int pg_conn_ensure(struct pg_conn *c, struct mem_error *err)
{
	return ensure_connected(c, false, err);
}

/* stmt < nstmts: a statement of the table; otherwise sql, unnamed, or with
 * p NULL and script set, by the simple query protocol. */
static int run(struct pg_conn *c, size_t stmt, const char *sql, const struct pg_params *p,
               bool script, PGresult **res, struct mem_error *err)
{
	static const struct pg_params none = {0};
	bool was_connected = c->pg != NULL;
	const char *what = stmt < c->o.nstmts ? c->o.stmts[stmt].name : "query";
	long long started_us = now_us();

	if (!p)
		p = &none;
	*res = NULL;
	for (int attempt = 0;; attempt++) {
		bool broken = false;
		char state[8] = "";
		int rc = 0;
		if (ensure_connected(c, attempt > 0, err) < 0)
			return -1;
		if (stmt < c->o.nstmts && !c->prepared[stmt]) {
			PGresult *r = NULL;
			int sent = PQsendPrepare(c->pg, c->o.stmts[stmt].name, c->o.stmts[stmt].sql,
			                         0, NULL);
			rc = finish(c, sent, what, &r, &broken, state, err);
			PQclear(r);
			if (rc == 0)
				c->prepared[stmt] = 1;
		}
		if (rc == 0) {
			int sent = stmt < c->o.nstmts
			               ? PQsendQueryPrepared(c->pg, c->o.stmts[stmt].name, p->n,
			                                     p->values, p->lengths, p->formats, 1)
			           : script ? PQsendQuery(c->pg, sql)
			                    : PQsendQueryParams(c->pg, sql, p->n, NULL, p->values,
			                                        p->lengths, p->formats, 1);
			rc = finish(c, sent, what, res, &broken, state, err);
		}
		if (rc == 0) {
			metrics_postgres_latency((double)(now_us() - started_us) / 1000.0);
			return 0;
		}
		if (!broken) {
			/* a pooler or DISCARD ALL dropped our prepared statements */
			if (attempt == 0 && !strcmp(state, "26000")) {
				memset(c->prepared, 0, c->o.nstmts + 1);
				continue;
			}
			return -1;
		}
		conn_close(c);
		/* A connection that was idle may have been closed by a server
		 * restart; one immediate reconnect makes that invisible. */
		if (attempt > 0 || !was_connected || c->o.no_resend) {
			c->failures++;
			c->next_try_ms = now_ms();
			publish(c, PG_STATE_RECONNECTING);
			return -1;
		}
	}
}

int pg_conn_exec(struct pg_conn *c, size_t stmt, const struct pg_params *p, PGresult **res,
                 struct mem_error *err)
{
	return run(c, stmt, NULL, p, false, res, err);
}

void pg_conn_send(struct pg_conn *c, size_t stmt, const struct pg_params *p)
{
	static const struct pg_params none = {0};
	c->pend.sent = false;
	c->pend.stmt = stmt;
	c->pend.p = p ? p : &none;
	c->pend.started_us = now_us();
	/* Anything short of a clean send (not connected, a statement still to
	 * prepare) is left to pg_conn_collect, which runs the whole of it with
	 * pg_conn_exec's connecting, retries and errors. */
	if (stmt >= c->o.nstmts || !c->pg || !c->prepared[stmt])
		return;
	p = c->pend.p;
	c->pend.sent = PQsendQueryPrepared(c->pg, c->o.stmts[stmt].name, p->n, p->values,
	                                   p->lengths, p->formats, 1) == 1;
}

int pg_conn_collect(struct pg_conn *c, PGresult **res, struct mem_error *err)
{
	size_t stmt = c->pend.stmt;
	*res = NULL;
	if (c->pend.sent) {
		bool broken = false;
		char state[8] = "";
		c->pend.sent = false;
		if (finish(c, 1, c->o.stmts[stmt].name, res, &broken, state, err) == 0) {
			metrics_postgres_latency((double)(now_us() - c->pend.started_us) / 1000.0);
			return 0;
		}
		if (!broken && strcmp(state, "26000"))
			return -1;
		if (broken) {
			conn_close(c);
			if (c->o.no_resend) {
				c->failures++;
				c->next_try_ms = now_ms();
				publish(c, PG_STATE_RECONNECTING);
				return -1;
			}
		} else {
			memset(c->prepared, 0, c->o.nstmts + 1);
		}
		/* sent again below, once, as pg_conn_exec does after a restart */
	}
	return run(c, stmt, NULL, c->pend.p, false, res, err);
}

int pg_conn_query(struct pg_conn *c, const char *sql, const struct pg_params *p, PGresult **res,
                  struct mem_error *err)
{
	return run(c, c->o.nstmts, sql, p, false, res, err);
}

int pg_conn_script(struct pg_conn *c, const char *sql, struct mem_error *err)
{
	PGresult *r = NULL;
	int rc = run(c, c->o.nstmts, sql, NULL, true, &r, err);
	PQclear(r);
	return rc;
}
