/*
 * routing: which store is primary and whether writes also go to the other
 * one, as one value that changes at runtime (/admin/failover, automatic
 * failover, a switch made on another replica).
 *
 * The hot path reads the state once per call with routing_take: one atomic
 * load of a word that packs the primary, dual write and the state's
 * version. A call routes every store operation it makes by that snapshot, so
 * a request in flight finishes on the stores it started on whatever happens
 * meanwhile; the stores themselves live as long as the service, so a
 * snapshot never dangles. The descriptive part of the state (since,
 * changed_by, reason) is kept beside it under a mutex, for GET
 * /admin/failover.
 *
 * Thread-safe.
 */
#ifndef MEMORYD_ROUTING_H
#define MEMORYD_ROUTING_H

#include <stdbool.h>

enum store_id { STORE_REDIS = 0, STORE_POSTGRES = 1, STORE_COUNT };

/* "redis" / "postgres". */
const char *store_id_name(enum store_id id);
/* "redis", "postgres" or "mongo" (the old runbook's name of the fallback
 * store, read as postgres); -1 for anything else. */
int store_id_parse(const char *name, enum store_id *out);

/* What a call routes by. */
struct route {
	enum store_id primary;
	bool dual_write;
	long long version;
};

/* The whole state, as GET /admin/failover shows it. */
struct route_state {
	enum store_id primary;
	bool dual_write;
	long long version;   /* grows with every change; 0: from the configuration */
	char since[40];      /* ISO 8601 UTC */
	char changed_by[64]; /* "config", "admin", "auto" */
	char reason[256];    /* why, when changed_by is "auto"; else "" */
};

struct routing;

/* Starts with *initial (copied). */
struct routing *routing_new(const struct route_state *initial);
void routing_free(struct routing *rt);

/* The snapshot a call routes by. */
struct route routing_take(const struct routing *rt);
void routing_get(struct routing *rt, struct route_state *out);
/* Apply st when its version is newer than the current one (force: whatever
 * its version). true when the state changed. */
bool routing_apply(struct routing *rt, const struct route_state *st, bool force);

/* now as ISO 8601 UTC with milliseconds, into out[40]. */
void routing_now_iso(char out[40]);

#endif
