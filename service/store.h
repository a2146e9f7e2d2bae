/*
 * store: the contract every storage backend fills.
 *
 * A backend (Redis now; PostgreSQL next) provides a const struct store_ops
 * filled with designated initialisers, and a constructor returning a
 * struct store. Everything above this line (the service, the API) calls
 * through the ops and never knows which backend answers.
 *
 * Every call takes the tenant: a backend keeps tenants apart in its keys or
 * rows, so one tenant never reads or touches another's data. Calls are made
 * from many HTTP worker threads at once; a backend is responsible for its own
 * per-thread connections.
 */
#ifndef MEMORYD_STORE_H
#define MEMORYD_STORE_H

#include "../common/error.h"
#include "checkpoint.h"
#include "conversation.h"
#include "memory.h"

struct store;

struct store_status {
	bool reachable;
	double latency_ms;
	const char *state; /* "connected", "reconnecting" or "error" (static) */
	unsigned reconnect_attempts;
	char detail[256]; /* why it is unreachable */
};

/* What an operator wants to know about a store beyond "does it answer". */
struct store_info {
	bool has_memory; /* the fields below are filled (Redis) */
	long long used_memory, maxmemory, evicted_keys;
	long long rdb_last_save_age_seconds; /* -1 when never saved */
	char maxmemory_policy[64];
	bool aof_enabled;
	unsigned long long reconnects; /* connections re-established after a failure */
};

/* One key (or row group) a store holds for a thread, for inspection. */
struct store_key {
	char *name;
	char *type;       /* "hash", "zset", "string", "set" */
	long long ttl_ms; /* -1 none, -2 gone */
	long long bytes;  /* MEMORY USAGE; -1 unknown */
};

struct store_keys {
	struct store_key *v;
	size_t n;
};

void store_keys_release(struct store_keys *k);

/* A conversation or thread named with its tenant: what the archiver finds. */
struct store_ref {
	char *tenant;
	char *id;
};

struct store_refs {
	struct store_ref *v;
	size_t n;
};

void store_refs_release(struct store_refs *r);

struct admin_counts {
	long long scanned;
	long long changed; /* fixed, deleted: what the operation did */
};

struct store_ops {
	const char *name;
	int (*checkpoint_put)(struct store *s, const char *tenant, const struct cp_put *req,
	                      struct mem_error *err);
	/* Optional (NULL: not offered): checkpoint_put in two halves, so the
	 * caller can do other work while this store's round trip runs. send does
	 * not wait for the answer: 0 and *pending set, or -1. collect waits for
	 * it, frees pending and returns what checkpoint_put would have; it must
	 * come on the same thread, before the thread uses this store again. req
	 * is not needed after send. */
	int (*checkpoint_put_send)(struct store *s, const char *tenant, const struct cp_put *req,
	                           void **pending, struct mem_error *err);
	int (*checkpoint_put_collect)(struct store *s, void *pending, struct mem_error *err);
	/* 0 and *out filled, or -1 (MEM_ENOT_FOUND when there is no such checkpoint). */
	int (*checkpoint_get)(struct store *s, const char *tenant, const struct cp_get *req,
	                      struct cp_tuple *out, struct mem_error *err);
	/* The version of the latest checkpoint of (thread, ns): an opaque string
	 * that changes whenever get-latest would answer differently (a put, a
	 * write to it, a delete). *version is NULL when the store has none;
	 * caller frees. A cheap call: it validates cached copies. */
	int (*checkpoint_head)(struct store *s, const char *tenant, const char *thread_id,
	                       const char *ns, char **version, struct mem_error *err);
	int (*checkpoint_list)(struct store *s, const char *tenant, const struct cp_list *req,
	                       struct cp_list_result *out, struct mem_error *err);
	int (*checkpoint_put_writes)(struct store *s, const char *tenant,
	                             const struct cp_put_writes *req, struct mem_error *err);
	int (*thread_delete)(struct store *s, const char *tenant, const char *thread_id,
	                     struct mem_error *err);
	/* A round trip to the store within its timeout; fills st either way. */
	int (*ping)(struct store *s, struct store_status *st);
	/* Operator tools (the /admin routes). backup: snapshot and wait (bounded) for it
	 * to finish; *last_save is its time (Unix seconds). */
	int (*admin_backup)(struct store *s, long long *last_save, struct mem_error *err);
	/* Give every key of ours that has no TTL the default TTL, in batches. */
	int (*admin_ttl_repair)(struct store *s, struct admin_counts *out, struct mem_error *err);
	/* Everything held for a thread, with types, TTLs and sizes. */
	int (*admin_thread_keys)(struct store *s, const char *tenant, const char *thread,
	                         struct store_keys *out, struct mem_error *err);
	/* Remove one checkpoint (and its writes), not the thread; MEM_ENOT_FOUND
	 * when it is not there. */
	int (*admin_checkpoint_delete)(struct store *s, const char *tenant, const char *thread,
	                               const char *ns, const char *checkpoint_id,
	                               struct mem_error *err);
	/* Forget a tenant: every key, in batches. */
	int (*admin_tenant_delete)(struct store *s, const char *tenant, struct admin_counts *out,
	                           struct mem_error *err);
	/* Memory, eviction and persistence figures; -1 and err when unreachable. */
	int (*info)(struct store *s, struct store_info *out, struct mem_error *err);
	/* Conversations (service/conversation.h). append: one atomic step (seqs,
	 * dedupe by message id, the expected_seq precondition: MEM_ECONFLICT);
	 * *out filled on success (release with conv_append_result_release).
	 * read / meta / update: MEM_ENOT_FOUND when there is no such conversation.
	 * list: a customer's conversations, newest update first. delete: gone
	 * everywhere this store holds it (no error when it was not there). */
	int (*conv_append)(struct store *s, const char *tenant, const struct conv_append *req,
	                   struct conv_append_result *out, struct mem_error *err);
	int (*conv_read)(struct store *s, const char *tenant, const struct conv_read *req,
	                 struct conv_page *out, struct mem_error *err);
	int (*conv_meta)(struct store *s, const char *tenant, const char *conversation_id,
	                 struct conv_meta *out, struct mem_error *err);
	int (*conv_update)(struct store *s, const char *tenant, const struct conv_update *req,
	                   struct conv_meta *out, struct mem_error *err);
	int (*conv_list)(struct store *s, const char *tenant, const struct conv_list *req,
	                 struct conv_list_result *out, struct mem_error *err);
	/* Optional: held[i] says whether the store holds conversation ids[i],
	 * for all n in one round trip (the list asks it about what the archive
	 * contributes). NULL: callers use conv_meta per id. */
	int (*conv_held)(struct store *s, const char *tenant, const char *const *ids, size_t n,
	                 bool *held, struct mem_error *err);
	int (*conv_delete)(struct store *s, const char *tenant, const char *conversation_id,
	                   struct mem_error *err);
	/* Optional: seqs[i] is the seq under which the store holds a message
	 * with msgs[i].id (the first, if several), 0 when none or msgs[i] has no
	 * id; one round trip. Where an append continues a history this store
	 * keeps (conv_svc_append). */
	int (*conv_ids)(struct store *s, const char *tenant, const char *conversation_id,
	                const struct conv_message_in *msgs, size_t n, long long *seqs,
	                struct mem_error *err);
	/* Archiving. conv_overflow: the messages beyond CONV_MAX_MESSAGES that the
	 * store keeps until they are archived (oldest first, at most limit), with
	 * the conversation's epoch and customer; NULL op: the store keeps
	 * everything. conv_archive: store msgs as history, ignoring seqs it holds
	 * already. conv_trim: drop the messages conv_overflow gave, only if the
	 * conversation is still the same incarnation (archived->epoch) and they
	 * are exactly those (archived->digest); *trimmed says whether they went. */
	int (*conv_overflow)(struct store *s, const char *tenant, const char *conversation_id,
	                     size_t limit, struct conv_page *out, struct mem_error *err);
	int (*conv_archive)(struct store *s, const char *tenant, const char *conversation_id,
	                    const char *customer_id, const struct conv_message *msgs, size_t n,
	                    struct mem_error *err);
	int (*conv_trim)(struct store *s, const char *tenant, const char *conversation_id,
	                 const struct conv_page *archived, bool *trimmed, struct mem_error *err);
	/* ---- the archiver (service/archive.h) ----
	 * conv_scan: one bounded SCAN step over the conversations the store
	 * holds, every tenant's; cursor "0" starts, and is "0" again when the
	 * scan is done. *out: what this step found (store_refs_release).
	 * conv_dump: for each of the n refs, the whole conversation when it has
	 * not been written for idle_ms (out[i].digest set: what identifies
	 * exactly this state), else out[i] left empty; one round trip.
	 * conv_drop: remove each conversation whose state is still dumps[i]'s
	 * (dropped[i]); a changed one stays. NULL ops: the store keeps
	 * everything (PostgreSQL). */
	int (*conv_scan)(struct store *s, char cursor[32], struct store_refs *out,
	                 struct mem_error *err);
	int (*conv_dump)(struct store *s, const struct store_ref *refs, size_t n, long long idle_ms,
	                 struct conv_page *out, struct mem_error *err);
	int (*conv_drop)(struct store *s, const struct store_ref *refs,
	                 const struct conv_page *dumps, size_t n, bool *dropped,
	                 struct mem_error *err);
	/* The same three for checkpoint threads (every namespace of a thread, its
	 * checkpoints, channel values and pending writes). */
	int (*thread_scan)(struct store *s, char cursor[32], struct store_refs *out,
	                   struct mem_error *err);
	int (*thread_dump)(struct store *s, const struct store_ref *refs, size_t n,
	                   long long idle_ms, struct cp_thread_dump *out, struct mem_error *err);
	int (*thread_drop)(struct store *s, const struct store_ref *refs,
	                   const struct cp_thread_dump *dumps, size_t n, bool *dropped,
	                   struct mem_error *err);
	/* thread_archive: the threads of n dumps as checkpoint rows that expire
	 * keep_seconds from now (an existing row keeps the later expiry), so
	 * read-through serves them once Redis no longer holds them; *rows counts
	 * the checkpoints. */
	int (*thread_archive)(struct store *s, const struct store_ref *refs,
	                      const struct cp_thread_dump *dumps, size_t n, long long keep_seconds,
	                      long long *rows, struct mem_error *err);
	/* history_archive: the messages of n dumps as history and each
	 * conversation's own row (customer, metadata, times, last seq; expiring
	 * keep_seconds after its last write, or later if it already did), in one
	 * statement, ignoring (tenant, conversation, seq) already held and rows
	 * that are further on; *inserted counts the new messages. history_retention: delete history
	 * created before cutoff_ms, at most limit rows per statement; when each_row is given, every
	 * batch is passed to it first and deleted only if it returns 0 (and only the rows it was
	 * given). *deleted counts them. */
	int (*history_archive)(struct store *s, const struct store_ref *refs,
	                       const struct conv_page *dumps, size_t n, long long keep_seconds,
	                       long long *inserted, struct mem_error *err);
	int (*history_retention)(struct store *s, long long cutoff_ms, size_t limit,
	                         int (*each_batch)(void *ctx, const struct history_row *rows,
	                                           size_t n, struct mem_error *err),
	                         void *ctx, long long *deleted, struct mem_error *err);
	/* ---- key-value memory (service/memory.h, the /memory routes) ----
	 * put: upsert with a new version; *out gets version and times (no value).
	 * MEM_EPRECONDITION when req->if_match does not hold; nothing changes. */
	int (*memory_put)(struct store *s, const char *tenant, const struct mem_put *req,
	                  struct mem_item *out, struct mem_error *err);
	/* MEM_ENOT_FOUND when absent or expired. A value written by hand comes
	 * back as it is: the caller checks it is JSON. ref->refresh_ttl: the
	 * item's TTL starts again (as memory_refresh), out->expires_ms the new. */
	int (*memory_get)(struct store *s, const char *tenant, const struct mem_ref *ref,
	                  struct mem_item *out, struct mem_error *err);
	/* *deleted: it existed. MEM_EPRECONDITION as for put. */
	int (*memory_delete)(struct store *s, const char *tenant, const struct mem_ref *ref,
	                     bool *deleted, struct mem_error *err);
	/* Items of the prefix (and below) with version < req->before, highest
	 * first, at most req->n; *more when others may follow. */
	int (*memory_scan)(struct store *s, const char *tenant, const struct mem_scan *req,
	                   struct mem_items *out, bool *more, struct mem_error *err);
	/* A read's refresh (LangGraph's refresh_on_read): each of the n items
	 * read that expires expires its TTL from now; items[i].expires_ms gets
	 * the new expiry. One round trip; an item gone meanwhile is skipped. */
	int (*memory_refresh)(struct store *s, const char *tenant, struct mem_item *items, size_t n,
	                      struct mem_error *err);
	/* Delete every item under the prefix, in batches; *deleted counts them. */
	int (*memory_cleanup)(struct store *s, const char *tenant, const struct mem_ns *prefix,
	                      long long *deleted, struct mem_error *err);
	/* Every namespace holding items at or under the prefix (at most
	 * MEM_NS_LIST_MAX), in byte order. */
	int (*memory_namespaces)(struct store *s, const char *tenant, const struct mem_ns *prefix,
	                         struct mem_ns_list *out, struct mem_error *err);
	void (*free)(struct store *s);
};

struct store {
	const struct store_ops *ops;
};

/* A write the primary holds and the secondary missed: counted
 * (dual_write_errors_total) and logged with what was missed. what names it
 * (a thread, conversation or item), id its id within (may be NULL). */
void store_dual_write_missed(const struct store *secondary, const struct store *primary,
                             const char *op, const char *tenant, const char *what_key,
                             const char *what, const char *id_key, const char *id,
                             const char *error);

/* Calls through the ops; all accept NULL where the backend allows. */
static inline void store_free(struct store *s)
{
	if (s)
		s->ops->free(s);
}

#endif
