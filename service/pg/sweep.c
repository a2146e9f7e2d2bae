#include "sweep.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "../../common/log.h"
#include "memory.h"

/* Expired rows of one table, a batch at a time; rows another sweeper holds
 * are skipped. */
#define SWEEP(table)                                                                               \
	"DELETE FROM memoryd." table " WHERE expires_at <= now() AND ctid = ANY(ARRAY("            \
	"SELECT ctid FROM memoryd." table " WHERE expires_at <= now() LIMIT 1000"                  \
	" FOR UPDATE SKIP LOCKED))"

const struct pg_stmt pg_sweep_stmts[PG_NSTMTS] = {
    [PG_ST_SWEEP_CHECKPOINTS] = {"memoryd_sweep_checkpoints", SWEEP("checkpoints")},
    [PG_ST_SWEEP_BLOBS] = {"memoryd_sweep_blobs", SWEEP("checkpoint_blobs")},
    [PG_ST_SWEEP_WRITES] = {"memoryd_sweep_writes", SWEEP("checkpoint_writes")},
    [PG_ST_SWEEP_HEADS] = {"memoryd_sweep_heads", SWEEP("checkpoint_heads")},
    [PG_ST_SWEEP_CONVERSATIONS] = {"memoryd_sweep_conversations", SWEEP("conversations")},
};

static bool sweep_stopping(struct pg_store *ps)
{
	return __atomic_load_n(&ps->stop, __ATOMIC_RELAXED);
}

/* Delete expired rows of every table, PG_DELETE_BATCH per statement, until none
 * is left or memoryd stops. */
static void sweep_once(struct pg_store *ps, struct pg_conn *conn)
{
	static const struct {
		int stmt;
		const char *table;
	} tables[] = {
	    {PG_ST_SWEEP_CHECKPOINTS, "checkpoints"},     {PG_ST_SWEEP_BLOBS, "checkpoint_blobs"},
	    {PG_ST_SWEEP_WRITES, "checkpoint_writes"},    {PG_ST_SWEEP_HEADS, "checkpoint_heads"},
	    {PG_ST_SWEEP_CONVERSATIONS, "conversations"},
	};
	long long total = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		long long n, deleted = 0;
		do {
			struct mem_error err = {0};
			PGresult *res = NULL;
			if (pg_conn_exec(conn, (size_t)tables[i].stmt, NULL, &res, &err) < 0) {
				log_warn(NULL, "expired rows not swept",
				         LF_STR("table", tables[i].table),
				         LF_STR("error", err.message));
				return;
			}
			n = atoll(PQcmdTuples(res));
			PQclear(res);
			deleted += n;
		} while (n >= PG_DELETE_BATCH && !sweep_stopping(ps));
		if (deleted)
			log_debug(NULL, "expired rows swept", LF_STR("table", tables[i].table),
			          LF_INT("rows", deleted));
		total += deleted;
	}
	struct mem_error merr = {0};
	long long items = pg_memory_sweep(conn, &merr);
	if (items < 0)
		log_warn(NULL, "expired rows not swept", LF_STR("table", "memory_items"),
		         LF_STR("error", merr.message));
	else
		total += items;
	if (total)
		log_info(NULL, "expired postgres rows swept", LF_INT("rows", total));
}

void *pg_sweep_main(void *arg)
{
	struct pg_store *ps = arg;
	struct pg_conn *conn = pg_conn_new(&ps->opts, &ps->sweep_health);

	pthread_mutex_lock(&ps->sweep_lock);
	while (!ps->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ps->sweep_interval_s;
		int rc = 0;
		while (!ps->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&ps->sweep_cond, &ps->sweep_lock, &until);
		if (ps->stop)
			break;
		pthread_mutex_unlock(&ps->sweep_lock);
		sweep_once(ps, conn);
		pthread_mutex_lock(&ps->sweep_lock);
	}
	pthread_mutex_unlock(&ps->sweep_lock);
	pg_conn_free(conn);
	return NULL;
}
