/*
 * failover: the routing state shared by every replica, and automatic
 * failover.
 *
 * The state a replica routes by lives in service/routing.h. With
 * DATABASE_URL set, failover keeps it in PostgreSQL (memoryd.routing_state,
 * migration 0004) so that a switch made on one replica reaches all of them:
 *  - failover_set (POST /admin/failover) writes the new state there first and
 *    applies it locally only once PostgreSQL holds it, so replicas never
 *    disagree for longer than it takes the others to hear of it;
 *  - a watcher thread LISTENs on the channel memoryd_routing and applies what
 *    it is told at once, and reads the row every second as a safety net (a
 *    notification lost while its connection was down), so every replica
 *    applies a change within 2 s;
 *  - at start-up the persisted state, when there is one, overrides
 *    CONV_STORE_PRIMARY and CONV_DUAL_WRITE: a pod restarted after a failover
 *    stays failed over.
 * With FAILOVER_AUTO=1 the watcher also pings Redis; once Redis has been
 * primary and unreachable for FAILOVER_AFTER_MS, it moves the primary to
 * PostgreSQL (changed_by "auto", logged). Failback is an operator's
 * failover_set.
 *
 * Thread-safe. The watcher uses its own connections to PostgreSQL and (for
 * the pings) to Redis.
 */
#ifndef MEMORYD_FAILOVER_H
#define MEMORYD_FAILOVER_H

#include <stdbool.h>

#include "../common/config.h"
#include "../common/error.h"
#include "routing.h"
#include "store.h"

struct failover;

/*
 * Start watching. cfg, rt and redis (pinged for FAILOVER_AUTO; may be NULL)
 * are borrowed and must outlive the failover. Reads the persisted state
 * once before it returns (bounded by DATABASE_CONNECT_TIMEOUT_MS) and
 * applies it to rt. Never fails: PostgreSQL being down at start-up only
 * delays that until the watcher reaches it.
 */
struct failover *failover_start(const struct config *cfg, struct routing *rt, struct store *redis);
/* Stop the watcher and close its connections. NULL-safe. */
void failover_stop(struct failover *f);

/*
 * Persist {primary, dual_write} as the new state (changed_by names who asked:
 * "admin", "auto") and apply it here. *out is the state now in force.
 * MEM_EUNAVAILABLE when PostgreSQL cannot be reached: nothing changes.
 */
int failover_set(struct failover *f, enum store_id primary, bool dual_write, const char *changed_by,
                 struct route_state *out, struct mem_error *err) MEM_MUST_CHECK;

#endif
