/*
 * cluster: what a Redis Cluster client needs to know before it talks to any
 * node, as pure functions over strings and redisReply (no I/O, so unit tests
 * and fuzz targets drive them directly).
 *
 *  - the hash slot of a key: CRC16 (XMODEM: polynomial 0x1021, initial value
 *    0) of the key, or of its hash tag, modulo 16384. The hash tag is what
 *    lies between the first '{' and the first '}' after it, when that is not
 *    empty; "{}" and an unclosed '{' hash the whole key (Redis Cluster
 *    specification, "Hash tags");
 *  - the slot map: which primary serves each slot, and every node (primaries
 *    and replicas), from a CLUSTER SLOTS reply;
 *  - a redirection: "MOVED <slot> <host>:<port>" (the slot lives there now:
 *    refresh the map) or "ASK <slot> <host>:<port>" (this one command goes
 *    there, after ASKING; the map stays).
 *
 * Which of memoryd's keys share a slot, and which scripts would not run on a
 * cluster today, is in README.md, "Redis keys", "On Redis Cluster".
 */
#ifndef MEMORYD_REDIS_CLUSTER_H
#define MEMORYD_REDIS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "../../common/error.h"

#define CLUSTER_SLOTS    16384
#define CLUSTER_HOST_MAX 255

/* The slot (0..16383) of a key of len bytes (any bytes, NULs included). */
unsigned cluster_key_slot(const char *key, size_t len);

struct cluster_node {
	char *host; /* owned; 1..CLUSTER_HOST_MAX bytes, an IPv6 literal unbracketed */
	int port;
	char *id;    /* owned; the node's id, "" when the reply did not give it */
	int primary; /* index in nodes[] of its primary; -1: it is a primary */
};

struct cluster_map {
	struct cluster_node *nodes; /* owned; each (host, port) once */
	size_t nnodes;
	size_t nprimaries;            /* nodes that serve at least one slot */
	size_t nassigned;             /* slots with a primary */
	int slot_node[CLUSTER_SLOTS]; /* index in nodes[] of the slot's primary; -1: none */
};

/*
 * Build the map from a CLUSTER SLOTS reply: an array of
 * [start, end, primary, replica...], each node [endpoint, port, id?, ...].
 * The endpoint is the node's preferred one: NULL or "" means "the host you
 * asked" (same_host, the host the command went to), "?" a node with no
 * known endpoint (its slots stay unassigned, its replicas are left out).
 * Refused (-1, *out NULL, err MEM_EINTERNAL saying what is wrong): anything
 * not of that shape, a slot outside 0..16383 or a range backwards, a port
 * outside 1..65535, a host too long or with a space or control byte, a slot
 * given to two primaries, a node that is the primary of one range and a
 * replica in another, or a replica of two primaries. A map with unassigned
 * slots is accepted (a cluster being formed or resharded has them):
 * nassigned says how many are served. Replicas are there as the reply
 * lists them: Redis 7.0 leaves out one whose replication offset it has not
 * heard of yet (a fresh replica, before its primary's first ping). Caller
 * frees *out with cluster_map_free.
 */
int cluster_map_from_slots(const redisReply *r, const char *same_host, struct cluster_map **out,
                           struct mem_error *err) MEM_MUST_CHECK;
void cluster_map_free(struct cluster_map *m);

/* The primary serving a slot or a key; NULL when none does. Borrowed from m. */
const struct cluster_node *cluster_map_slot_node(const struct cluster_map *m, unsigned slot);
const struct cluster_node *cluster_map_key_node(const struct cluster_map *m, const char *key,
                                                size_t len);

enum cluster_redirect_kind {
	CLUSTER_MOVED = 1,
	CLUSTER_ASK = 2,
};

struct cluster_redirect {
	enum cluster_redirect_kind kind;
	unsigned slot;
	char host[CLUSTER_HOST_MAX + 1];
	int port;
};

/*
 * Read an error reply's text (without the leading '-') as a redirection:
 * "MOVED 3999 127.0.0.1:6381", "ASK 3999 [::1]:6381" or "ASK 3999 ::1:6381"
 * (the port follows the last ':'), "MOVED 3999 :6381" (an empty endpoint:
 * the host the command went to, same_host, with that port). 0 and *out
 * when it is one, with a slot in 0..16383, a port in 1..65535 and a host as
 * in the map; -1 for any other error (CLUSTERDOWN, TRYAGAIN, CROSSSLOT...)
 * or a malformed one, *out then zeroed.
 */
int cluster_parse_redirect(const char *msg, size_t len, const char *same_host,
                           struct cluster_redirect *out) MEM_MUST_CHECK;

#endif
