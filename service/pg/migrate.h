/*
 * pg_migrate: the PostgreSQL schema, as numbered SQL migrations
 * (schemas/sql/NNNN_name.sql, compiled in by cmake/embed.cmake).
 *
 * pg_migrate applies those the database lacks, in order, in ONE transaction
 * that first takes pg_advisory_xact_lock: replicas starting together wait for
 * each other, and the second finds nothing left to do. Each applied version
 * is recorded in memoryd.schema_migrations; running it again is a no-op.
 * Called at start-up when DATABASE_URL is set, and by `memoryd migrate`.
 */
#ifndef MEMORYD_PG_MIGRATE_H
#define MEMORYD_PG_MIGRATE_H

#include "../../common/config.h"
#include "../../common/error.h"

struct pg_migrate_result {
	int applied;       /* migrations applied by this call */
	int version;       /* the schema version afterwards */
	int known_version; /* the newest migration this binary carries */
};

/* Connect with cfg's DATABASE_URL (borrowed during the call), apply what is
 * missing and log each migration applied. MEM_EUNAVAILABLE when the database
 * cannot be reached; MEM_EINTERNAL when a migration fails (nothing of the
 * transaction is kept). */
int pg_migrate(const struct config *cfg, struct pg_migrate_result *out,
               struct mem_error *err) MEM_MUST_CHECK;

/* The version of a migration file name ("0001_checkpoints" -> 1); -1 when the
 * name does not start with four digits and '_'. */
int pg_migration_version(const char *name);

/* Check the embedded migrations: well named, versions strictly increasing.
 * For tests and start-up. */
int pg_migrations_check(struct mem_error *err) MEM_MUST_CHECK;

#endif
