#include "pg.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/xalloc.h"
#include "admin.h"
#include "archive.h"
#include "checkpoints.h"
#include "conn.h"
#include "conversations.h"
#include "internal.h"
#include "memory.h"
#include "sweep.h"

/* ---------- statements ---------- */

static const struct pg_stmt pg_own_stmts[PG_NSTMTS] = {
    [PG_ST_PING] = {"memoryd_ping", "SELECT 1"},
};

/*
 * The store's one table: each file's statements at their numbers. NULL and
 * err when a number has no statement or two (a table left out here, or an
 * enum entry without its SQL), so such a mistake stops start-up rather than
 * a request.
 */
static struct pg_stmt *stmts_join(struct mem_error *err)
{
	const struct pg_stmt *const parts[] = {
	    pg_own_stmts, pg_checkpoint_stmts, pgconv_stmts, pg_archive_stmts, pg_sweep_stmts,
	};
	struct pg_stmt *all = xcalloc(PG_NSTMTS, sizeof(*all));
	for (size_t i = 0; i < PG_NSTMTS; i++) {
		for (size_t k = 0; k < sizeof(parts) / sizeof(parts[0]); k++) {
			if (!parts[k][i].name)
				continue;
			if (all[i].name) {
				all[i].name = NULL;
				break;
			}
			all[i] = parts[k][i];
		}
		if (!all[i].name) {
			free(all);
			mem_fail(err, MEM_EINTERNAL, NULL,
			         "postgres statement %zu has no SQL, or two", i);
			return NULL;
		}
	}
	return all;
}

/* ---------- connections: one per thread ---------- */

struct conn_slot {
	struct pg_store *ps;
	struct pg_conn *conn;
	struct conn_slot *prev, *next;
};

static void slot_unlink_free(struct conn_slot *slot)
{
	struct pg_store *ps = slot->ps;
	pthread_mutex_lock(&ps->lock);
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		ps->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
	pthread_mutex_unlock(&ps->lock);
	pg_conn_free(slot->conn);
	free(slot);
}

static void slot_destructor(void *p)
{
	slot_unlink_free(p);
}

/* internal.h */
struct pg_conn *pg_store_conn(struct store *s)
{
	struct pg_store *ps = pg_store_of(s);
	struct conn_slot *slot = pthread_getspecific(ps->key);
	if (slot)
		return slot->conn;
	slot = xcalloc(1, sizeof(*slot));
	slot->ps = ps;
	slot->conn = pg_conn_new(&ps->opts, &ps->health);
	pthread_mutex_lock(&ps->lock);
	slot->next = ps->slots;
	if (ps->slots)
		ps->slots->prev = slot;
	ps->slots = slot;
	pthread_mutex_unlock(&ps->lock);
	pthread_setspecific(ps->key, slot);
	return slot->conn;
}

/* ---------- health ---------- */

static int ps_ping(struct store *s, struct store_status *st)
{
	struct pg_store *ps = pg_store_of(s);
	struct mem_error err = {0};
	PGresult *res = NULL;
	struct timespec t0, t1;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_PING, NULL, &res, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	PQclear(res);
	st->latency_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (rc < 0)
		snprintf(st->detail, sizeof(st->detail), "%s", err.message);
	st->reachable = rc == 0;
	st->state =
	    pg_state_name((enum pg_state)__atomic_load_n(&ps->health.state, __ATOMIC_RELAXED));
	st->reconnect_attempts = __atomic_load_n(&ps->health.reconnect_attempts, __ATOMIC_RELAXED);
	return rc;
}

static int ps_info(struct store *s, struct store_info *out, struct mem_error *err)
{
	struct pg_store *ps = pg_store_of(s);
	(void)err;
	memset(out, 0, sizeof(*out));
	out->has_memory = false; /* no Redis memory figures: PostgreSQL manages its own */
	out->rdb_last_save_age_seconds = -1;
	out->reconnects = __atomic_load_n(&ps->health.reconnects, __ATOMIC_RELAXED);
	return 0;
}

/* ---------- lifecycle ---------- */

static void ps_free(struct store *s)
{
	struct pg_store *ps = pg_store_of(s);
	if (!ps)
		return;
	if (ps->sweeper_running) {
		pthread_mutex_lock(&ps->sweep_lock);
		__atomic_store_n(&ps->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&ps->sweep_cond);
		pthread_mutex_unlock(&ps->sweep_lock);
		pthread_join(ps->sweeper, NULL);
	}
	if (ps->key_made)
		pthread_key_delete(ps->key);
	while (ps->slots) {
		struct conn_slot *slot = ps->slots;
		ps->slots = slot->next;
		pg_conn_free(slot->conn);
		free(slot);
	}
	pthread_cond_destroy(&ps->sweep_cond);
	pthread_mutex_destroy(&ps->sweep_lock);
	pthread_mutex_destroy(&ps->lock);
	free(ps->conninfo);
	free(ps->stmts);
	free(ps);
}

const struct store_ops pg_store_ops = {
    .name = "postgres",
    .checkpoint_put = pg_checkpoint_put,
    .checkpoint_put_send = pg_checkpoint_put_send,
    .checkpoint_put_collect = pg_checkpoint_put_collect,
    .checkpoint_get = pg_checkpoint_get,
    .checkpoint_head = pg_checkpoint_head,
    .checkpoint_list = pg_checkpoint_list,
    .checkpoint_put_writes = pg_checkpoint_put_writes,
    .thread_delete = pg_thread_delete,
    .ping = ps_ping,
    .admin_backup = pg_admin_backup,
    .admin_ttl_repair = pg_admin_ttl_repair,
    .admin_thread_keys = pg_admin_thread_keys,
    .admin_checkpoint_delete = pg_admin_checkpoint_delete,
    .admin_tenant_delete = pg_admin_tenant_delete,
    .info = ps_info,
    .conv_append = pgconv_append,
    .conv_read = pgconv_read,
    .conv_meta = pgconv_meta,
    .conv_update = pgconv_update,
    .conv_list = pgconv_list,
    .conv_delete = pgconv_delete,
    .conv_ids = pgconv_ids,
    .conv_archive = pgconv_archive,
    .history_archive = pg_history_archive,
    .thread_archive = pg_thread_archive,
    .history_retention = pg_history_retention,
    .memory_put = pg_memory_put,
    .memory_get = pg_memory_get,
    .memory_delete = pg_memory_delete,
    .memory_scan = pg_memory_scan,
    .memory_refresh = pg_memory_refresh,
    .memory_cleanup = pg_memory_cleanup,
    .memory_namespaces = pg_memory_namespaces,
    .free = ps_free,
};

struct store *pg_store_new(const struct config *cfg, struct mem_error *err)
{
	if (!cfg->database_url || !*cfg->database_url) {
		mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		         "the postgres store needs DATABASE_URL (postgresql://...)");
		return NULL;
	}
	struct pg_store *ps = xcalloc(1, sizeof(*ps));
	ps->base.ops = &pg_store_ops;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_mutex_init(&ps->sweep_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->sweep_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_key_create(&ps->key, slot_destructor) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot create a thread key");
		goto fail;
	}
	ps->key_made = true;
	ps->conninfo = xstrdup(cfg->database_url);
	ps->ttl = cfg->checkpoint_ttl_seconds;
	ps->sweep_interval_s = cfg->database_sweep_interval_seconds;
	ps->conv_ttl = cfg->conv_ttl_seconds;
	ps->stmts = stmts_join(err);
	if (!ps->stmts)
		goto fail;
	ps->opts = (struct pg_conn_opts){
	    .conninfo = ps->conninfo,
	    .connect_timeout_ms = (int)cfg->database_connect_timeout_ms,
	    .statement_timeout_ms = (int)cfg->database_statement_timeout_ms,
	    .max_reconnect_attempts = (int)cfg->max_reconnect_attempts,
	    .stmts = ps->stmts,
	    .nstmts = PG_NSTMTS,
	};
	ps->health.state = PG_STATE_RECONNECTING;
	if (pthread_create(&ps->sweeper, NULL, pg_sweep_main, ps) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot start the postgres sweep thread");
		goto fail;
	}
	ps->sweeper_running = true;
	return &ps->base;
fail:
	ps_free(&ps->base);
	return NULL;
}
