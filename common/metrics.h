/*
 * metrics: the process's Prometheus metrics, written by hand in text format
 * 0.0.4 (Debian has no C client library).
 *
 * Counters and histograms are arrays of atomics indexed by small integers
 * (route, method, status code), so recording is lock-free and the label sets
 * are bounded: a route is its template ("/checkpoints/{thread_id}"), never a
 * raw path. Gauges that describe a store are read at scrape time by the
 * caller and passed to metrics_render.
 */
#ifndef MEMORYD_METRICS_H
#define MEMORYD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define METRICS_MAX_ROUTES 64

/* Register the route templates once at start-up, before any request;
 * returns the route's index for metrics_http. Index 0 is "unmatched". */
int metrics_route(const char *route_template);

/* One finished HTTP request. */
void metrics_http(int route, const char *method, int status, double seconds);
/* Latency of one Redis round trip, for the rolling p95. */
void metrics_redis_latency(double ms);
void metrics_checkpoint_written(void);
/* Latency of one PostgreSQL round trip; a write the secondary store missed. */
void metrics_postgres_latency(double ms);
void metrics_dual_write_error(void);
/* Conversations: messages an append found before it (the runbook's
 * msg_count_before), and trimmed messages that could not be archived. */
void metrics_conv_msg_count_before(long long n);
void metrics_history_persist_error(void);
/* A /memory value found not to be JSON (written by hand). */
void metrics_memory_malformed(void);

/* One finished archival pass (service/archive.h): what it archived, its
 * errors, when it started (Unix seconds) and how long it took. */
void metrics_archive_run(bool healthy, long long checkpoints, long long messages, long long errors,
                         double started, double seconds);

/* What the caller learns from the stores at scrape time. */
struct metrics_stores {
	const char *primary;
	bool dual_write;
	bool redis_up;
	unsigned long long redis_reconnects;
	bool postgres_up;
};

/* Append the whole exposition to out. */
void metrics_render(struct buf *out, const char *version, const struct metrics_stores *st);
/* The rolling p95 of recent Redis round trips, in ms (0 when none yet). */
double metrics_redis_p95_ms(void);
double metrics_postgres_p95_ms(void);

#endif
