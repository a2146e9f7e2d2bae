/*
 * service_internal.h: what the files of the domain facade share. Included by
 * service.c, which defines all of it, and by the service_<resource>.c files;
 * api/ includes service.h only.
 *
 * Routing. A call takes the routing state once (routing.h) and makes every
 * store operation by that snapshot:
 *  - reads go to the primary; when the primary is Redis and it holds nothing
 *    for what was asked, PostgreSQL (where dual-written and archived data
 *    lives) is read before the answer is "not found" (read-through);
 *  - a write goes to the primary first and is acknowledged only once the
 *    primary holds it; with dual write it then goes to the other store, and a
 *    failure there never fails the request: it is counted
 *    (dual_write_errors_total) and logged with what was missed. Deletes
 *    reach every configured store whatever the primary and dual write: read-
 *    through (PostgreSQL) and a failback (Redis) never bring a deleted thread
 *    or tenant back.
 * svc_routed_write and svc_routed_read are the two helpers every resource
 * uses: a resource adds an adapter of one line per store op and calls them.
 */
#ifndef MEMORYD_SERVICE_INTERNAL_H
#define MEMORYD_SERVICE_INTERNAL_H

#include <stdbool.h>

#include "service.h"

struct service {
	const struct config *cfg;
	struct store *stores[STORE_COUNT]; /* postgres: NULL without DATABASE_URL */
	struct routing *routing;
	struct failover *failover; /* NULL without DATABASE_URL: routing by the configuration */
	int archive_running;       /* atomic: a pass of this process is running */
	bool archive_ran;          /* under archive_running: last_archive holds a pass */
	struct archive_report last_archive;
};

/* The stores of one call, from one routing snapshot. */
struct svc_route {
	struct store *primary;
	struct store *other; /* the other store; NULL when it is not configured */
	bool dual_write;
};

/* Take the routing state once per call; make every store operation of the
 * call by what it returns. */
struct svc_route svc_route_take(struct service *svc);

/*
 * One write, as svc_routed_write runs it on each store. on() makes the call on
 * one store: out is the caller's result for the primary and NULL for the
 * other store. thread_id and checkpoint_id (either may be NULL) name what
 * was written in the log line of a missed dual write.
 */
struct routed_write {
	const char *op;
	const char *tenant;
	const char *thread_id;
	const char *checkpoint_id;
	int (*on)(struct store *s, const char *tenant, const void *req, void *out,
	          struct mem_error *err);
	const void *req;
	void *out;
	bool is_delete; /* reaches the other store even without dual write; absent is fine */
	/* Optional: on() in two halves, for a write whose secondary copy does
	 * not depend on the primary's answer. send returns 1 when the store
	 * does not offer them; else as the store's send and collect. */
	int (*send)(struct store *s, const char *tenant, const void *req, void **pending,
	            struct mem_error *err);
	int (*collect)(struct store *s, void *pending, struct mem_error *err);
};

/* Run w on the primary, then (dual write, or a delete, which every store
 * must see) on the other store. 0 once the primary holds it; stored (may be
 * NULL) lists the stores that do. A write with send/collect goes to the
 * secondary first and is collected after the primary's, so the two round
 * trips overlap (a dual write then costs the slower store's time, not the
 * sum); when the primary fails, the secondary may hold a write the client
 * was refused, as it may after any lost answer: such writes are upserts
 * that a retry repeats. */
int svc_routed_write(struct service *svc, const struct routed_write *w, char *stored,
                     struct mem_error *err) MEM_MUST_CHECK;

/*
 * One read. on() reads one store into out. When the primary is Redis and it
 * answers "not found" (MEM_ENOT_FOUND, or empty(out) when empty is set),
 * PostgreSQL is read too; release(out) drops the first answer before. A
 * read-through that fails leaves the primary's answer standing (logged):
 * PostgreSQL being down must not fail reads Redis can answer.
 */
struct routed_read {
	const char *op;
	const char *tenant;
	int (*on)(struct store *s, const char *tenant, const void *req, void *out,
	          struct mem_error *err);
	const void *req;
	void *out;
	bool (*empty)(const void *out);
	void (*release)(void *out);
	struct store *from; /* set by svc_routed_read: the store that answered */
	bool through;       /* set by svc_routed_read: the answer came from read-through */
};

int svc_routed_read(struct service *svc, struct routed_read *r,
                    struct mem_error *err) MEM_MUST_CHECK;

/* An id of a request (at most ID_MAX_BYTES, empty only with allow_empty):
 * 0, or -1 and err naming field. */
int svc_check_id(const char *s, bool allow_empty, const char *field,
                 struct mem_error *err) MEM_MUST_CHECK;

#endif
