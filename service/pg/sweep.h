/*
 * pg/sweep: the thread that deletes expired rows. Every
 * DATABASE_SWEEP_INTERVAL_SECONDS it empties each table of its expired rows,
 * PG_DELETE_BATCH per statement (rows another sweeper holds are skipped), on
 * a connection of its own. pg/pg.c starts and stops it.
 */
#ifndef MEMORYD_PG_SWEEP_H
#define MEMORYD_PG_SWEEP_H

#include "internal.h"

/* PG_ST_SWEEP_*; the other entries are empty. */
extern const struct pg_stmt pg_sweep_stmts[PG_NSTMTS];

/* The thread's body (pthread_create with the struct pg_store *). It returns
 * once ps->stop is set under ps->sweep_lock and sweep_cond signalled. */
void *pg_sweep_main(void *ps);

#endif
