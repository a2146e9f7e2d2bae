/*
 * redis_batch: the commands of one pipelined round trip and, once sent,
 * their replies. Every resource of the Redis store (checkpoints,
 * conversations, memory, archive, admin) builds its commands here, so an
 * argument is added, owned and freed one way everywhere.
 *
 * Zero-initialise (struct redis_batch b = {0}), start each command with
 * redis_batch_cmd and add its arguments, send with redis_batch_send, read
 * b.rep[0..b.n), and release with redis_batch_release, which frees the
 * arguments the batch owns and every reply (take one with
 * redis_batch_take to keep it). Borrowed arguments must outlive the send.
 *
 * Also here: the reply helpers every resource shares.
 */
#ifndef MEMORYD_REDIS_BATCH_H
#define MEMORYD_REDIS_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "../../common/buf.h"
#include "../../common/error.h"
#include "conn.h"

struct redis_batch {
	size_t n;         /* commands */
	redisReply **rep; /* after redis_batch_send: n replies, owned by the batch */
	/* private */
	size_t nrep;   /* replies in rep (n at the last send) */
	size_t *first; /* per command, the index of its first argument */
	size_t cap;
	const char **v;
	size_t *l;
	size_t nargs, capargs;
	char **own;
	size_t nown, capown;
};

/* Begin the next command; name (borrowed) is its first argument. */
void redis_batch_cmd(struct redis_batch *b, const char *name);
/* Add an argument to the current command: borrowed (arg, str), stolen
 * (own: s was malloc'd), formatted (fmt) or taken from k (buf: k is left
 * empty, ready for the next key; an empty k gives ""). */
void redis_batch_arg(struct redis_batch *b, const char *s, size_t len);
void redis_batch_str(struct redis_batch *b, const char *s);
void redis_batch_own(struct redis_batch *b, char *s, size_t len);
void redis_batch_fmt(struct redis_batch *b, long long v);
void redis_batch_buf(struct redis_batch *b, struct buf *k);

/*
 * Send the batch in one round trip (redis_conn_pipeline: error replies are
 * replies; retry_idempotent as there) and read its n replies into b->rep.
 * An empty batch sends nothing. A batch may be sent again: its earlier
 * replies are freed first. On -1, err says why and b->rep holds no reply.
 */
int redis_batch_send(struct redis_batch *b, struct redis_conn *c, bool retry_idempotent,
                     struct mem_error *err) MEM_MUST_CHECK;

/* Reply i, which the caller now frees with freeReplyObject. */
redisReply *redis_batch_take(struct redis_batch *b, size_t i);

/* Frees the owned arguments and the replies; b is left empty, reusable. */
void redis_batch_release(struct redis_batch *b);

/* ---------- replies ---------- */

/* A string or status reply (not NULL). */
bool redis_reply_str(const redisReply *r);
/* An integer reply, or a string one read as a number; 0 otherwise. */
long long redis_reply_ll(const redisReply *r);
/* -1 and err for an unexpected reply r to command what: an error reply from
 * a Redis that cannot take it now (OOM, READONLY, LOADING, ...) is
 * MEM_EUNAVAILABLE, any other MEM_EINTERNAL (and logged). */
int redis_reply_fail(const redisReply *r, struct mem_error *err, const char *what);
/* freeReplyObject of r[0..n); NULLs are fine. */
void redis_replies_free(size_t n, redisReply **r);

#endif
