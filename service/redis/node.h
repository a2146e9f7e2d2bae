/*
 * redis_node: one connection to one Redis server, over TCP or TLS, that this
 * module owns end to end (redis/conn.h routes a store's commands over one
 * node, or over a cluster's nodes). hiredis (Debian's 0.14, which has no TLS) is used only for the
 * protocol: redisFormatCommandArgv to encode and redisReader to parse.
 *
 * A connection belongs to one thread at a time; it is not locked. It connects
 * lazily, AUTHs and SELECTs, makes sure the given Lua scripts are loaded, and
 * after a failure reconnects with exponential backoff (50 ms doubling to
 * 500 ms). While a backoff delay runs, calls fail at once with
 * MEM_EUNAVAILABLE rather than blocking an HTTP worker; after
 * max_reconnect_attempts failures in a row the state is REDIS_STATE_ERROR and
 * a new attempt is made every 5 s.
 *
 * State and counters are published to a struct redis_health that many
 * connections share, for health reporting.
 */
#ifndef MEMORYD_REDIS_NODE_H
#define MEMORYD_REDIS_NODE_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

#include "../../common/error.h"

enum redis_state {
	REDIS_STATE_CONNECTED = 0,
	REDIS_STATE_RECONNECTING = 1,
	REDIS_STATE_ERROR = 2,
};

/* Shared by every connection of one store; all fields are atomics. */
struct redis_health {
	int state;                     /* enum redis_state, last observed */
	unsigned reconnect_attempts;   /* failures in a row, last observed */
	unsigned long long reconnects; /* successful reconnects after a failure */
	unsigned long long commands;   /* round trips */
};

struct redis_tls; /* opaque: an SSL_CTX with its verification settings */
struct redis_cluster;

/* Who says where the primary is, when a node does not take its host and
 * port from the options (redis/sentinel.h makes one from the sentinels):
 * primary() is asked before each connect and gives an epoch, stale(epoch)
 * says that answer proved wrong, epoch() moves when the primary does. */
struct redis_locator {
	void *ctx;
	int (*primary)(void *ctx, char *host, size_t hostlen, int *port, unsigned long *epoch,
	               struct mem_error *err);
	void (*stale)(void *ctx, unsigned long epoch);
	unsigned long (*epoch)(const void *ctx);
};

struct redis_conn_opts {
	const char *host;
	int port;
	struct redis_tls *tls; /* borrowed; NULL for plain TCP */
	const char *user;      /* NULL: AUTH with password only */
	const char *password;  /* NULL: no AUTH */
	int db;
	int connect_timeout_ms;
	int socket_timeout_ms;
	int max_reconnect_attempts;
	const char *const *scripts; /* Lua sources loaded on connect; borrowed */
	size_t nscripts;
	/* Borrowed; when set, host and port are ignored: the connection asks it
	 * where the primary is before each connect, checks ROLE after, and
	 * reconnects when its epoch moves, when a round trip fails and on a
	 * READONLY answer (REDIS_SENTINELS: redis/sentinel.h). */
	const struct redis_locator *locator;
	/* REDIS_WAIT_REPLICAS: > 0 ends every round trip with WAIT wait_replicas
	 * wait_timeout_ms, and a round trip whose writes fewer replicas
	 * acknowledged fails (MEM_EUNAVAILABLE) although the primary holds them. */
	int wait_replicas;
	int wait_timeout_ms;
	/* Borrowed; for redis/conn.h only (a node ignores it): when set, host
	 * and port are unused and the commands go to the cluster's nodes. */
	struct redis_cluster *cluster;
};

struct redis_cmd {
	int argc;
	const char **argv;
	const size_t *argvlen;
};

/* TLS context for rediss://: verifies the server certificate against ca_file
 * (or the system store when NULL) and the host name. */
struct redis_tls *redis_tls_new(const char *ca_file, struct mem_error *err);
void redis_tls_free(struct redis_tls *tls);

/* opts' strings must outlive the connection. Never fails: connecting is lazy. */
struct redis_node *redis_node_new(const struct redis_conn_opts *opts, struct redis_health *health);
void redis_node_free(struct redis_node *c);
/* Whether the connection is open now (its last round trip did not break it);
 * asks nothing of the server. */
bool redis_node_connected(const struct redis_node *c);

/*
 * Send n commands in one round trip and read their n replies into replies[]
 * (caller frees each with freeReplyObject). Error replies are returned as
 * replies, except NOSCRIPT, which reloads the scripts and retries once.
 * When the connection breaks, or a reply says READONLY (the server became a
 * replica), and retry_idempotent is set, it reconnects at once and sends the
 * commands again, once. On -1, replies[] are all NULL and
 * err says why (MEM_EUNAVAILABLE for transport trouble).
 */
int redis_node_pipeline(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                        redisReply **replies, bool retry_idempotent,
                        struct mem_error *err) MEM_MUST_CHECK;

/*
 * redis_node_pipeline in two halves, so that one thread can have round
 * trips out to several nodes at once (redis/conn.h: a cluster's): send
 * writes the commands (connecting first as the pipeline does; its failure
 * is kept for recv to report), recv reads their replies and does all the
 * rest of the pipeline above: NOSCRIPT, READONLY, a broken connection's
 * retry, WAIT. Every send must be followed by one recv of the same
 * commands on that connection before its next use; the round trip's
 * socket timeout runs from the send.
 */
void redis_node_send(struct redis_node *c, size_t n, const struct redis_cmd *cmds);
int redis_node_recv(struct redis_node *c, size_t n, const struct redis_cmd *cmds,
                    redisReply **replies, bool retry_idempotent,
                    struct mem_error *err) MEM_MUST_CHECK;

/*
 * For a connection that SUBSCRIBEd (redis_node_command sent it): the next
 * message, waiting up to wait_ms. 1 and *reply (caller frees), 0 when none
 * came in time, -1 and err when the connection broke (it is closed; the next
 * command reconnects).
 */
int redis_node_wait_reply(struct redis_node *c, redisReply **reply, int wait_ms,
                          struct mem_error *err) MEM_MUST_CHECK;

/* Replicas the last round trip of this thread waited for (REDIS_WAIT_REPLICAS;
 * -1 when it did not wait, or since redis_conn_forget_replicas). */
int redis_conn_last_replicas(void);
void redis_conn_forget_replicas(void);

/* One command; *reply as above. Variadic strings, argv style. */
int redis_node_command(struct redis_node *c, redisReply **reply, struct mem_error *err, int argc,
                       const char **argv, const size_t *argvlen) MEM_MUST_CHECK;

/* The SHA1 (40 hex + NUL) of a script source, as EVALSHA wants it. */
void redis_script_sha(const char *src, char out[41]);

const char *redis_state_name(enum redis_state s);

#endif
