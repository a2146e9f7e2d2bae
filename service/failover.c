#include "failover.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "../common/log.h"
#include "../common/xalloc.h"
#include "pg/conn.h"

/* The safety net: how often the row is read whatever LISTEN says. */
#define POLL_MS 1000
/* How soon a lost LISTEN connection is made again. */
#define RELISTEN_MS 1000

#define STATE_COLUMNS                                                                              \
	"primary_store, dual_write, version, "                                                     \
	"to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), changed_by, "     \
	"reason"

enum { ST_GET, ST_SET, NSTMTS };

static const struct pg_stmt stmts[NSTMTS] = {
    [ST_GET] = {"memoryd_routing_get",
                "SELECT " STATE_COLUMNS " FROM memoryd.routing_state WHERE id = 1"},
    [ST_SET] = {"memoryd_routing_set",
                "SELECT " STATE_COLUMNS " FROM memoryd.routing_set($1, $2, $3, $4, $5)"},
};

struct failover {
	const struct config *cfg;
	struct routing *rt;
	struct store *redis;
	struct pg_conn_opts opts;
	struct pg_health health;
	pthread_mutex_t lock; /* conn is used by one thread at a time */
	struct pg_conn *conn;
	int wake[2]; /* a byte on wake[1] stops the watcher */
	pthread_t watcher;
	bool running;
	long long redis_down_since; /* ms, monotonic; 0: Redis answers */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void copy_text(char *dst, size_t cap, const PGresult *r, int col)
{
	size_t n = pg_len(r, 0, col);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, pg_text(r, 0, col), n);
	dst[n] = '\0';
}

/* Row 0 of res into *st; 0, or -1 when the row is not a state we know. */
static int decode_state(const PGresult *res, struct route_state *st)
{
	memset(st, 0, sizeof(*st));
	if (PQntuples(res) < 1 || store_id_parse(pg_text(res, 0, 0), &st->primary) < 0)
		return -1;
	st->dual_write = pg_len(res, 0, 1) == 1 && pg_text(res, 0, 1)[0] != 0;
	st->version = pg_int(res, 0, 2);
	copy_text(st->since, sizeof(st->since), res, 3);
	copy_text(st->changed_by, sizeof(st->changed_by), res, 4);
	copy_text(st->reason, sizeof(st->reason), res, 5);
	return 0;
}

/* Apply st when it is newer than what this replica routes by, and say so. */
static void apply(struct failover *f, const struct route_state *st)
{
	struct route before = routing_take(f->rt);
	if (!routing_apply(f->rt, st, false) && before.version >= st->version)
		return;
	log_warn(NULL, "routing changed", LF_STR("primary", store_id_name(st->primary)),
	         LF_BOOL("dual_write", st->dual_write), LF_STR("changed_by", st->changed_by),
	         LF_STR("since", st->since), LF_INT("routing_version", st->version),
	         LF_STR("reason", st->reason),
	         LF_STR("previous_primary", store_id_name(before.primary)));
}

/* Read the persisted state and apply it. 0 (also when there is none yet). */
static int read_and_apply(struct failover *f, struct mem_error *err)
{
	PGresult *res = NULL;
	struct route_state st;
	pthread_mutex_lock(&f->lock);
	int rc = pg_conn_exec(f->conn, ST_GET, NULL, &res, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		return -1;
	if (decode_state(res, &st) == 0)
		apply(f, &st);
	PQclear(res);
	return 0;
}

/* Write a state (only_if_primary: only while that store is primary) and
 * apply what PostgreSQL then holds. */
static int persist(struct failover *f, enum store_id primary, bool dual_write,
                   const char *changed_by, const char *reason, const char *only_if_primary,
                   struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	struct route_state st;
	int ret = -1;
	pg_params_text(&p, store_id_name(primary));
	pg_params_bool(&p, dual_write);
	pg_params_text(&p, changed_by);
	pg_params_text(&p, reason);
	pg_params_text(&p, only_if_primary);
	pthread_mutex_lock(&f->lock);
	int rc = pg_conn_exec(f->conn, ST_SET, &p, &res, err);
	pthread_mutex_unlock(&f->lock);
	if (rc < 0)
		goto out;
	if (decode_state(res, &st) == 0)
		apply(f, &st);
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	return ret;
}

int failover_set(struct failover *f, enum store_id primary, bool dual_write, const char *changed_by,
                 struct route_state *out, struct mem_error *err)
{
	if (persist(f, primary, dual_write, changed_by, "", NULL, err) < 0)
		return -1;
	routing_get(f->rt, out);
	return 0;
}

/* FAILOVER_AUTO: ping Redis; move to PostgreSQL once it has been primary and
 * unreachable for FAILOVER_AFTER_MS. */
static void auto_check(struct failover *f, long long now)
{
	struct store_status st = {0};
	if (f->redis->ops->ping(f->redis, &st) == 0) {
		if (f->redis_down_since)
			log_info(NULL, "redis answers again", LF_DBL("latency_ms", st.latency_ms));
		f->redis_down_since = 0;
		return;
	}
	if (!f->redis_down_since) {
		f->redis_down_since = now;
		log_warn(NULL, "redis unreachable", LF_STR("error", st.detail),
		         LF_INT("failover_after_ms", f->cfg->failover_after_ms));
	}
	struct route r = routing_take(f->rt);
	long long down_ms = now - f->redis_down_since;
	if (r.primary != STORE_REDIS || down_ms < f->cfg->failover_after_ms)
		return;
	char reason[256];
	snprintf(reason, sizeof(reason), "redis unreachable for %lld ms: %.200s", down_ms,
	         st.detail);
	struct mem_error err = {0};
	if (persist(f, STORE_POSTGRES, r.dual_write, "auto", reason, "redis", &err) < 0) {
		log_error(NULL, "automatic failover to postgres failed: postgres cannot be reached",
		          LF_STR("error", err.message), LF_STR("redis_error", st.detail));
		return;
	}
	if (routing_take(f->rt).primary == STORE_POSTGRES)
		log_error(NULL,
		          "automatic failover: redis is unreachable, postgres is now primary on "
		          "every replica; fail back with POST /admin/failover",
		          LF_INT("down_ms", down_ms), LF_STR("error", st.detail));
}

/* A connection that LISTENs on memoryd_routing; NULL when it cannot be had. */
static PGconn *listen_open(struct failover *f)
{
	char timeout[24];
	long secs = (f->cfg->database_connect_timeout_ms + 999) / 1000;
	snprintf(timeout, sizeof(timeout), "%ld", secs < 2 ? 2 : secs);
	const char *const keys[] = {"dbname", "connect_timeout", "application_name", NULL};
	const char *const vals[] = {f->cfg->database_url, timeout, "memoryd-routing", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 1);
	PGresult *r = NULL;
	if (PQstatus(c) != CONNECTION_OK)
		goto fail;
	r = PQexec(c, "LISTEN memoryd_routing");
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		goto fail;
	PQclear(r);
	return c;
fail:
	PQclear(r);
	PQfinish(c);
	return NULL;
}

static void *watcher_main(void *arg)
{
	struct failover *f = arg;
	PGconn *ln = NULL;
	bool automatic = f->cfg->failover_auto && f->redis;
	long long tick = f->cfg->failover_after_ms / 4;
	if (tick > 250)
		tick = 250;
	long long next_read = 0, next_ping = 0, next_listen = 0;
	bool listen_warned = false;

	for (;;) {
		long long now = now_ms();
		bool read_now = now >= next_read;
		if (!ln && now >= next_listen) {
			ln = listen_open(f);
			if (!ln) {
				next_listen = now + RELISTEN_MS;
				if (!listen_warned)
					log_warn(NULL,
					         "cannot LISTEN for routing changes; polling");
				listen_warned = true;
			} else {
				read_now = true; /* what was missed while not listening */
				listen_warned = false;
			}
		}
		if (read_now) {
			struct mem_error err = {0};
			(void)read_and_apply(f, &err); /* the next poll tries again */
			next_read = now_ms() + POLL_MS;
		}
		if (automatic && now >= next_ping) {
			auto_check(f, now);
			next_ping = now_ms() + tick;
		}

		now = now_ms();
		long long until = next_read;
		if (automatic && next_ping < until)
			until = next_ping;
		if (!ln && next_listen < until)
			until = next_listen;
		struct pollfd fds[2] = {{.fd = f->wake[0], .events = POLLIN},
		                        {.fd = ln ? PQsocket(ln) : -1, .events = POLLIN}};
		int rc = poll(fds, 2, until > now ? (int)(until - now) : 0);
		if (rc < 0 && errno != EINTR)
			break;
		if (fds[0].revents)
			break;
		if (ln && fds[1].revents) {
			if (!PQconsumeInput(ln)) {
				PQfinish(ln);
				ln = NULL;
				next_listen = now_ms() + RELISTEN_MS;
				continue;
			}
			PGnotify *n;
			while ((n = PQnotifies(ln))) {
				PQfreemem(n);
				next_read = 0;
			}
		}
	}
	PQfinish(ln);
	return NULL;
}

struct failover *failover_start(const struct config *cfg, struct routing *rt, struct store *redis)
{
	struct failover *f = xcalloc(1, sizeof(*f));
	f->cfg = cfg;
	f->rt = rt;
	f->redis = redis;
	f->opts = (struct pg_conn_opts){
	    .conninfo = cfg->database_url,
	    .connect_timeout_ms = (int)cfg->database_connect_timeout_ms,
	    .statement_timeout_ms = (int)cfg->database_statement_timeout_ms,
	    .max_reconnect_attempts = (int)cfg->max_reconnect_attempts,
	    .stmts = stmts,
	    .nstmts = NSTMTS,
	    .quiet = true,
	};
	f->health.state = PG_STATE_RECONNECTING;
	f->conn = pg_conn_new(&f->opts, &f->health);
	pthread_mutex_init(&f->lock, NULL);
	struct mem_error err = {0};
	if (read_and_apply(f, &err) < 0)
		log_warn(NULL,
		         "cannot read the routing state from postgres; routing by the "
		         "configuration until it answers",
		         LF_STR("error", err.message));
	if (pipe(f->wake) == 0) {
		fcntl(f->wake[0], F_SETFD, FD_CLOEXEC);
		fcntl(f->wake[1], F_SETFD, FD_CLOEXEC);
		f->running = pthread_create(&f->watcher, NULL, watcher_main, f) == 0;
	}
	if (!f->running)
		log_error(NULL, "cannot start the routing watcher: switches made on other replicas "
		                "reach this one only at its restart");
	return f;
}

void failover_stop(struct failover *f)
{
	if (!f)
		return;
	if (f->running) {
		ssize_t w = write(f->wake[1], "x", 1);
		(void)w;
		pthread_join(f->watcher, NULL);
	}
	if (f->wake[0] > 0) {
		close(f->wake[0]);
		close(f->wake[1]);
	}
	pg_conn_free(f->conn);
	pthread_mutex_destroy(&f->lock);
	free(f);
}
