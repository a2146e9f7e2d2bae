/*
 * redis_sentinel: where the Redis primary that Redis Sentinel manages is now.
 *
 * One per store, shared by all of its connections (redis_conn asks it before
 * each connect and compares its epoch before each round trip); thread-safe.
 * It asks the sentinels in turn (SENTINEL GET-MASTER-ADDR-BY-NAME) when the
 * address is unknown or was marked stale, and a watcher thread subscribed to
 * +promoted-slave and +switch-master on one sentinel at a time moves the
 * address the moment a replica is promoted (again, if need be, when the
 * failover ends), and checks the address every second besides (a missed
 * message, a sentinel restarted). Every change of address bumps the epoch,
 * so connections to the old primary are closed before their next command.
 *
 * A primary is only ever taken from the sentinels' answer; redis_conn checks
 * ROLE after connecting and never writes to a replica.
 */
#ifndef MEMORYD_REDIS_SENTINEL_H
#define MEMORYD_REDIS_SENTINEL_H

#include <stddef.h>

#include "../../common/error.h"

struct redis_sentinel;

/* addrs: "host:port,host:port" (REDIS_SENTINELS); master: the name the
 * sentinels monitor (REDIS_SENTINEL_MASTER); password: the sentinels' own
 * (REDIS_SENTINEL_PASSWORD), NULL for none. Strings are copied. NULL and err
 * when addrs is not such a list (redis_addr_list_parse) or master is empty.
 * Starts the watcher thread. */
struct redis_sentinel *redis_sentinel_new(const char *addrs, const char *master,
                                          const char *password, int timeout_ms,
                                          struct mem_error *err);
/* Stops the watcher; NULL is fine. */
void redis_sentinel_free(struct redis_sentinel *s);

/* The sentinels as a node's locator (redis/node.h); borrowed from s. */
const struct redis_locator *redis_sentinel_locator(struct redis_sentinel *s);

/*
 * The primary's address: host (NUL-terminated, at most hostlen - 1 bytes),
 * port and the epoch it belongs to. Asks the sentinels when the address is
 * unknown or stale. -1 and err (MEM_EUNAVAILABLE) when no sentinel knows it.
 */
int redis_sentinel_master(struct redis_sentinel *s, char *host, size_t hostlen, int *port,
                          unsigned long *epoch, struct mem_error *err) MEM_MUST_CHECK;

/* The address of epoch did not hold up (a replica answered, the connection
 * broke, READONLY): the next redis_sentinel_master asks the sentinels again.
 * Nothing happens when the epoch has moved on meanwhile. */
void redis_sentinel_stale(struct redis_sentinel *s, unsigned long epoch);

/* The current epoch (an atomic load). */
unsigned long redis_sentinel_epoch(const struct redis_sentinel *s);

#endif
