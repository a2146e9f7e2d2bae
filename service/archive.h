/*
 * archive: the archiver. A pass takes what Redis holds and nobody wrote for
 * ARCHIVE_AFTER_SECONDS to PostgreSQL, and only then removes it from Redis,
 * so nothing expires from Redis unarchived.
 *
 * One pass: SCAN (bounded steps, never KEYS) over the conversations, then the
 * checkpoint threads, in Redis; for this shard's (ARCHIVE_SHARD, a hash of
 * tenant and id), one pipelined Lua call per step dumps those idle long
 * enough, with a digest of their state. Messages go to conversation_history
 * in one statement per chunk (ON CONFLICT DO NOTHING on (tenant,
 * conversation, seq): a pass re-run after a crash duplicates nothing);
 * threads go to the checkpoint tables (upserts on their keys, expiring
 * ARCHIVE_RETENTION_DAYS later), where read-through serves them. Once
 * PostgreSQL has committed, a Lua call removes each from Redis only if its
 * digest is unchanged: one written meanwhile stays for a later pass. A failed step is
 * tried ARCHIVE_RETRY_ATTEMPTS times, ARCHIVE_RETRY_DELAY_SECONDS apart; then
 * "Failed to archive <id> after retry, skipping" and the pass goes on.
 *
 * Memory is bounded by one SCAN step's conversations, whatever the
 * keyspace holds. Every pass logs its start, what it found and its end,
 * updates the archiver metrics and writes ARCHIVER_HEALTH_FILE.
 *
 * redis and pg are borrowed stores (redis_store, pg_store); cfg is borrowed.
 */
#ifndef MEMORYD_ARCHIVE_H
#define MEMORYD_ARCHIVE_H

#include <stdbool.h>
#include <time.h>

#include "../common/config.h"
#include "../common/error.h"
#include "store.h"

struct archive_report {
	char last_run[40]; /* the pass's start, ISO 8601 with ARCHIVE_TIMEZONE's offset */
	time_t started;
	double duration_s;
	long long found;                  /* idle conversations and threads this shard found */
	long long conversations_archived; /* archived and removed from Redis */
	long long threads_archived;       /* checkpoint threads archived and removed from Redis */
	long long checkpoints_archived;   /* the two together */
	long long messages_archived;      /* history rows newly written to PostgreSQL */
	long long left_changed;           /* written during the pass: left for the next */
	long long errors;                 /* conversations skipped after retries, failed scans */
	bool healthy;                     /* errors == 0 */
	bool stopped;                     /* archive_request_stop ended it early */
};

/* One pass. Fills *out either way (logged, counted in the metrics, written
 * to ARCHIVER_HEALTH_FILE); 0 when it was healthy, -1 otherwise. */
int archive_pass(const struct config *cfg, struct store *redis, struct store *pg,
                 struct archive_report *out);

/*
 * Stop: the pass running now (and any later one) ends at its next safe
 * point, and soon: the batch being written to PostgreSQL is finished and
 * what it committed removed from Redis; what was read and not written stays
 * in Redis, and so does a chunk whose write failed (no retry, no waiting).
 * Nothing leaves Redis that PostgreSQL has not committed, and a later pass
 * takes up what is left (its writes ignore rows already archived). Safe
 * from any thread; for SIGTERM.
 */
void archive_request_stop(void);

/* Write the health file for r (a temporary file beside it, then rename). */
int archive_health_write(const char *path, const struct archive_report *r,
                         struct mem_error *err) MEM_MUST_CHECK;

/* Read a health file back (for /health/memory): last_run, status and the
 * three counts into *r; -1 when there is none or it is not one. */
int archive_health_read(const char *path, struct archive_report *r);

/* t as ISO 8601 in the process's zone (TZ, set from ARCHIVE_TIMEZONE at
 * start-up), offset included: 2025-10-28T14:00:00+01:00. */
void archive_iso_time(time_t t, char out[40]);

/* When `memoryd archiver` runs next after now: the next multiple of
 * interval_s in local time (3600: on the hour; 86400: at local midnight). */
time_t archive_next_run(time_t now, long interval_s);

/* Which of n shards a conversation or thread belongs to (0..n-1). */
unsigned archive_shard_of(const char *tenant, const char *id, unsigned n);

/*
 * `memoryd retention`: delete archived history older than
 * ARCHIVE_RETENTION_DAYS, in batches. With export_path, each batch is first
 * appended there as JSON lines (and flushed to disk); only the rows written
 * are deleted. *deleted counts them.
 */
int archive_retention(const struct config *cfg, struct store *pg, const char *export_path,
                      long long *deleted, struct mem_error *err) MEM_MUST_CHECK;

#endif
