/*
 * redis_conn: what the Redis store's ops send their commands through, one
 * per thread, not locked. Without REDIS_CLUSTER_NODES it is one node
 * (redis/node.h: lazy connect, AUTH, scripts, backoff, Sentinel, WAIT).
 *
 * With a cluster (opts->cluster), the same calls route by hash slot:
 *  - the slot map (redis/cluster.h) is shared by the store's connections
 *    (struct redis_cluster, locked) and read with CLUSTER SLOTS, from a
 *    node it knows or a seed (those this thread has open connections to
 *    first), before the first command, on MOVED, after a node's round trip
 *    fails, and every CLUSTER_REFRESH_MS; one thread reads it at a time,
 *    without the lock, while the others use the map they have;
 *  - a node whose round trip broke (timed out, refused, closed) is asked
 *    by one thread every SILENT_MS; the other commands for it fail at once
 *    until then (MEM_EUNAVAILABLE), so a silent host costs one socket
 *    timeout per SILENT_MS, not one per request;
 *  - a round trip's commands go to the primaries serving their keys' slots:
 *    one sub-pipeline per node, all written before any node's replies are
 *    read (redis_node_send, then redis_node_recv), so a round trip over two
 *    nodes waits for the slower, not for both in turn; the replies are put
 *    back in the order sent. A node that failed (its replies are still
 *    read from the others) fails the round trip. A
 *    command's key is its first (EVAL/EVALSHA: its first KEYS); memoryd's
 *    scripts keep what they touch in one slot (hash tags, README "Redis
 *    keys");
 *  - MOVED: the map is read again and the command goes where it says; ASK:
 *    ASKING and the command go to the node named; TRYAGAIN and CLUSTERDOWN:
 *    sent again after 25, 50, 100, then every 200 ms, for 1.5 s per round
 *    trip. Each is safe to repeat: a redirected command did not run;
 *  - commands without a key (PING, INFO, BGSAVE, LASTSAVE) go to the
 *    primary of slot 0; SCAN walks every primary in turn (its cursor reads
 *    "<primary>:<cursor>", "0" once the last primary is done); DEL and
 *    UNLINK of several keys go key by key, their counts added;
 *  - each node connection is a redis_node (made on first use, one per node
 *    per thread), so scripts are loaded on every node, NOSCRIPT handled,
 *    and REDIS_WAIT_REPLICAS waits on each node a round trip wrote to.
 *
 * Owns: a redis_conn owns its node connections and its hold on the map; the
 * redis_cluster belongs to the store and outlives its connections.
 */
#ifndef MEMORYD_REDIS_CONN_H
#define MEMORYD_REDIS_CONN_H

#include "node.h"

/* REDIS_CLUSTER_NODES: "host:port,..." seeds. NULL and err when the list
 * does not parse. Never connects: the first command reads the map. */
struct redis_cluster *redis_cluster_new(const char *nodes, struct mem_error *err);
void redis_cluster_free(struct redis_cluster *cl);

/* opts' strings (and opts->cluster) must outlive the connection. Never
 * fails: connecting is lazy. */
struct redis_conn *redis_conn_new(const struct redis_conn_opts *opts, struct redis_health *health);
void redis_conn_free(struct redis_conn *c);

/* As redis_node_pipeline (redis/node.h), over one node or the cluster. On
 * a cluster a failure may come after some nodes ran their commands, as a
 * broken connection may on one node: retry_idempotent says the caller's
 * commands are safe to repeat. */
int redis_conn_pipeline(struct redis_conn *c, size_t n, const struct redis_cmd *cmds,
                        redisReply **replies, bool retry_idempotent,
                        struct mem_error *err) MEM_MUST_CHECK;

/* One command; *reply as above. */
int redis_conn_command(struct redis_conn *c, redisReply **reply, struct mem_error *err, int argc,
                       const char **argv, const size_t *argvlen) MEM_MUST_CHECK;

#endif
