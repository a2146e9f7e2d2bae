/*
 * pg/internal.h: what the files of the PostgreSQL backend share, included by
 * no file outside service/pg/: the store's struct, the numbers of its
 * prepared statements, the calling thread's connection and a column helper.
 *
 * The arrows run one way. Each resource file (checkpoints.c, conversations.c,
 * memory.c, archive.c, admin.c, sweep.c) includes its own header and this one;
 * pg.c includes them all, joins their statement tables and fills
 * pg_store_ops. Nothing here knows a resource file.
 */
#ifndef MEMORYD_PG_INTERNAL_H
#define MEMORYD_PG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>

#include "../../common/xalloc.h"
#include "../store.h"
#include "conn.h"

/*
 * Every prepared statement of the store, by number. The file that runs a
 * statement defines its name and SQL in a table of PG_NSTMTS entries where
 * only its own numbers are filled ([PG_ST_PUT] = {"memoryd_put", ...});
 * pg_store_new joins those tables into the one every connection prepares
 * from, each statement on its first use.
 */
enum pg_stmt_id {
	/* checkpoints.c */
	PG_ST_PUT,
	PG_ST_WRITES,
	PG_ST_GET_LATEST,
	PG_ST_GET_BY_ID,
	PG_ST_HEAD,
	PG_ST_HEAD_REPAIR,
	PG_ST_LIST_KEYS,
	PG_ST_LIST_TUPLES,
	PG_ST_THREAD_DELETE,
	/* pg.c */
	PG_ST_PING,
	/* sweep.c */
	PG_ST_SWEEP_CHECKPOINTS,
	PG_ST_SWEEP_BLOBS,
	PG_ST_SWEEP_WRITES,
	PG_ST_SWEEP_HEADS,
	PG_ST_SWEEP_CONVERSATIONS,
	/* archive.c */
	PG_ST_ARCHIVE_BLOBS,
	PG_ST_ARCHIVE_WRITES,
	PG_ST_ARCHIVE_CHECKPOINTS,
	PG_ST_ARCHIVE_HEADS,
	PG_ST_HISTORY_ARCHIVE,
	PG_ST_HISTORY_OLD,
	PG_ST_HISTORY_DELETE,
	/* conversations.c */
	PG_ST_CONV_APPEND,
	PG_ST_CONV_PAGE_DESC,
	PG_ST_CONV_PAGE_ASC,
	PG_ST_CONV_META,
	PG_ST_CONV_UPDATE,
	PG_ST_CONV_LIST,
	PG_ST_CONV_DELETE,
	PG_ST_CONV_ARCHIVE,
	PG_ST_CONV_IDS,
	PG_NSTMTS
};

/* Rows one batched DELETE removes (the sweep, forgetting a tenant); the SQL
 * of those statements says LIMIT 1000 itself. */
#define PG_DELETE_BATCH 1000

/* SQL: milliseconds since the epoch of a timestamptz column, and back. */
#define PG_MS(col)        "(extract(epoch FROM " col ") * 1000)::int8"
#define PG_FROM_MS(param) "(timestamptz 'epoch' + " param "::int8 * interval '1 millisecond')"

struct conn_slot; /* pg.c: one thread's connection */

/* Made by pg_store_new, freed by the ops' free (pg.c); the resource files
 * read its settings and never change them. */
struct pg_store {
	struct store base;
	char *conninfo; /* owned; opts.conninfo borrows it */
	struct pg_conn_opts opts;
	long ttl; /* CHECKPOINT_TTL_SECONDS */
	struct pg_health health;
	pthread_key_t key;
	bool key_made;
	pthread_mutex_t lock; /* guards slots */
	struct conn_slot *slots;

	/* the sweep (sweep.c) */
	long sweep_interval_s;
	struct pg_health sweep_health;
	pthread_t sweeper;
	bool sweeper_running;
	pthread_mutex_t sweep_lock;
	pthread_cond_t sweep_cond;
	bool stop; /* under sweep_lock; read atomically between batches */

	struct pg_stmt *stmts; /* owned: the joined table, PG_NSTMTS entries */
	long conv_ttl;         /* CONV_TTL_SECONDS */
};

static inline struct pg_store *pg_store_of(struct store *s)
{
	return (struct pg_store *)s;
}

/* The calling thread's connection, made on first use. Borrowed: the store
 * frees it when the thread ends or the store is freed. Never NULL (the
 * connection itself connects lazily). */
struct pg_conn *pg_store_conn(struct store *s);

/* A text or bytea column as a NUL-terminated copy; NULL for SQL NULL. The
 * caller frees it. */
static inline char *pg_col_dup(const PGresult *r, int row, int col)
{
	return pg_isnull(r, row, col) ? NULL : xstrndup(pg_text(r, row, col), pg_len(r, row, col));
}

#endif
