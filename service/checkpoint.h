/*
 * checkpoint: the domain of LangGraph checkpoints, independent of HTTP and of
 * any store. A request struct borrows its strings (from the parsed request
 * body, which outlives the call); a result struct owns everything and is
 * released with its *_release function.
 *
 * The saver contract this implements (LangGraph's BaseCheckpointSaver):
 *   put          upsert a checkpoint and the blobs of its new channel versions
 *   get tuple    by id, or the latest (largest checkpoint_id) of a thread/ns
 *   list         newest first, across namespaces and threads when not given
 *   put writes   pending writes of a task, idempotent per (task_id, idx)
 *   delete       a whole thread, every namespace
 */
#ifndef MEMORYD_CHECKPOINT_H
#define MEMORYD_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

/* An opaque value: a serde type name and its bytes. */
struct typed_value {
	const char *type;
	const unsigned char *data;
	size_t len;
};

struct cp_channel_version {
	const char *channel;
	const char *version; /* canonical string form */
};

struct cp_blob {
	const char *channel;
	const char *version;
	struct typed_value value; /* type "empty": the channel has no value */
};

struct cp_put {
	const char *thread_id;
	const char *ns;
	const char *checkpoint_id;
	const char *parent_id;       /* NULL for a root */
	const char *checkpoint_json; /* without channel_values */
	const char *metadata_json;
	const struct cp_channel_version *versions; /* the checkpoint's channel_versions */
	size_t nversions;
	const struct cp_blob *blobs; /* new_versions */
	size_t nblobs;
};

/*
 * Which of r's channel versions r carries the blob of: written[i] for
 * r->versions[i] (nversions entries, the caller's). Linear in nversions plus
 * nblobs, whatever their order.
 */
void cp_put_blobs_written(const struct cp_put *r, bool *written);

struct cp_write {
	const char *channel;
	struct typed_value value;
};

struct cp_put_writes {
	const char *thread_id;
	const char *ns;
	const char *checkpoint_id;
	const char *task_id;
	const char *task_path;
	const struct cp_write *writes;
	size_t nwrites;
};

/* WRITES_IDX_MAP: the index LangGraph gives a write to a special channel. */
#define CP_IDX_ERROR     (-1) /* __error__ */
#define CP_IDX_SCHEDULED (-2) /* __scheduled__ */
#define CP_IDX_INTERRUPT (-3) /* __interrupt__ */
#define CP_IDX_RESUME    (-4) /* __resume__ */

/* The idx of the write at position pos to channel; special channels get
 * their fixed negative index. *special tells which. */
long cp_write_idx(const char *channel, size_t pos, bool *special);

struct owned_value {
	char *type;
	unsigned char *data;
	size_t len;
};

struct cp_channel_value {
	char *channel;
	struct owned_value value;
};

struct cp_pending_write {
	char *task_id;
	char *task_path;
	char *channel;
	long idx;
	struct owned_value value;
};

struct cp_tuple {
	char *thread_id;
	char *ns;
	char *checkpoint_id;
	char *checkpoint_json;
	char *metadata_json;
	char *parent_id; /* NULL for a root */
	struct cp_channel_value *values;
	size_t nvalues;
	struct cp_pending_write *writes; /* ordered by (task_path, task_id, idx) */
	size_t nwrites;
	/* For a read of the latest checkpoint: the version of the thread/ns head
	 * it was read at (see store_ops.checkpoint_head); NULL otherwise. */
	char *version;
};

void cp_tuple_release(struct cp_tuple *t);
/* The stored bytes a tuple carries: checkpoint, metadata, values, writes. */
size_t cp_tuple_bytes(const struct cp_tuple *t);
/* Sort pending writes by (task_path, task_id, idx). */
void cp_sort_writes(struct cp_tuple *t);

struct cp_get {
	const char *thread_id;
	const char *ns;
	const char *checkpoint_id; /* NULL: latest */
};

struct cp_list {
	const char *thread_id; /* NULL: every thread of the tenant */
	const char *ns;        /* NULL: every namespace */
	const char *before;    /* NULL: no bound */
	size_t limit;
	/* Metadata filter: a JSON object text, every key must match; NULL: none.
	 * The store calls cp_metadata_matches for each candidate. */
	const char *filter_json;
	/* Stored bytes (cp_tuple_bytes) the page carries at most: it ends early,
	 * truncated, once the next tuple would pass them (the first always
	 * comes). 0: no bound. */
	size_t max_bytes;
};

struct cp_list_result {
	struct cp_tuple *items;
	size_t n;
	bool truncated;
};

void cp_list_result_release(struct cp_list_result *r);

/* A whole thread as the archiver moves it (service/archive.h): every
 * checkpoint, channel value and pending write Redis holds for it, decoded
 * from its keys. Everything owned; release with cp_thread_dump_release. */
struct cp_archived_checkpoint {
	char *ns, *id;
	char *parent; /* NULL: none */
	char *checkpoint, *metadata;
	char *channels, *versions; /* channel_versions: names and versions, '\n'-joined */
};

struct cp_archived_blob {
	char *ns, *channel, *version;
	struct owned_value value;
};

struct cp_archived_write {
	char *ns, *checkpoint_id;
	struct cp_pending_write w;
};

struct cp_thread_dump {
	char *digest;   /* NULL: not idle, or gone: nothing to archive */
	bool malformed; /* idle, but Redis holds what cannot be read (logged) */
	struct cp_archived_checkpoint *cps;
	size_t ncps;
	struct cp_archived_blob *blobs;
	size_t nblobs;
	struct cp_archived_write *writes;
	size_t nwrites;
};

void cp_thread_dump_release(struct cp_thread_dump *d);

/* True when every top-level key of filter equals the metadata's. */
bool cp_metadata_matches(const char *metadata_json, const char *filter_json);

#endif
