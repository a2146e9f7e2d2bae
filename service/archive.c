#include "archive.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <jansson.h>

#include "../common/buf.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"

/* Rows (messages; checkpoints, values and writes) per INSERT: big enough to
 * cost about what COPY does, small enough that one statement stays well
 * within DATABASE_STATEMENT_TIMEOUT_MS. */
#define CHUNK_ROWS 5000
/* Conversations or threads read from Redis at once (one pipelined call). */
#define BATCH_MAX 128
/* History rows per retention statement. */
#define RETENTION_BATCH 1000

void archive_iso_time(time_t t, char out[40])
{
	struct tm tm;
	char z[8];
	localtime_r(&t, &tm);
	size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
	strftime(z, sizeof(z), "%z", &tm); /* +0100 */
	snprintf(out + n, 40 - n, "%.3s:%.2s", z, z + 3);
}

time_t archive_next_run(time_t now, long interval_s)
{
	struct tm tm;
	localtime_r(&now, &tm);
	long long local = (long long)now + tm.tm_gmtoff;
	return now + (time_t)(interval_s - local % interval_s);
}

unsigned archive_shard_of(const char *tenant, const char *id, unsigned n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a over tenant NUL id */
	for (const char *p = tenant;; p++) {
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
		if (!*p)
			break;
	}
	for (const char *p = id; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	return n ? (unsigned)(h % n) : 0;
}

/* Set once by archive_request_stop (a SIGTERM); read at every step. */
static int stop_requested;

void archive_request_stop(void)
{
	__atomic_store_n(&stop_requested, 1, __ATOMIC_RELEASE);
}

static bool stopping(void)
{
	return __atomic_load_n(&stop_requested, __ATOMIC_ACQUIRE);
}

static double now_s(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* The state of one pass. errors and messages_archived of r are also
 * counted by the writer thread: under lock (count()). */
struct pass {
	const struct config *cfg;
	struct store *redis, *pg;
	struct archive_report *r;
	pthread_mutex_t lock;
};

static void count(struct pass *p, long long *field, long long n)
{
	pthread_mutex_lock(&p->lock);
	*field += n;
	pthread_mutex_unlock(&p->lock);
}

/*
 * What the pass archives: conversations and checkpoint threads, each found by
 * a SCAN, dumped and dropped by Redis, stored by PostgreSQL. A dump is a
 * struct conv_page or a struct cp_thread_dump (size bytes); store adds what
 * it wrote to the report when it succeeds.
 */
struct kind {
	const char *name;     /* "conversation", "thread" (log field kind) */
	const char *id_field; /* how the log names the id */
	size_t size;
	long long *archived; /* in the report: how many went */
	int (*scan)(struct pass *p, char cursor[32], struct store_refs *out, struct mem_error *err);
	int (*dump)(struct pass *p, const struct store_ref *refs, size_t n, void *dumps,
	            struct mem_error *err);
	const char *(*digest)(const void *dump); /* NULL: nothing to archive */
	bool (*malformed)(const void *dump);
	size_t (*weight)(const void *dump); /* rows it makes */
	int (*store)(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
	             struct mem_error *err);
	int (*drop)(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
	            bool *dropped, struct mem_error *err);
	void (*release)(void *dump);
};

/* ---- conversations ---- */

static int conv_scan(struct pass *p, char cursor[32], struct store_refs *out, struct mem_error *err)
{
	return p->redis->ops->conv_scan(p->redis, cursor, out, err);
}

static int conv_dump(struct pass *p, const struct store_ref *refs, size_t n, void *dumps,
                     struct mem_error *err)
{
	return p->redis->ops->conv_dump(p->redis, refs, n, p->cfg->archive_after_seconds * 1000,
	                                dumps, err);
}

static const char *conv_digest(const void *d)
{
	return ((const struct conv_page *)d)->digest;
}

static bool conv_malformed(const void *d)
{
	(void)d;
	return false;
}

static size_t conv_weight(const void *d)
{
	return ((const struct conv_page *)d)->n;
}

static int conv_store(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
                      struct mem_error *err)
{
	long long ins = 0;
	if (p->pg->ops->history_archive(p->pg, refs, dumps, n,
	                                p->cfg->archive_retention_days * 86400LL, &ins, err) < 0)
		return -1;
	count(p, &p->r->messages_archived, ins);
	return 0;
}

static int conv_drop(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
                     bool *dropped, struct mem_error *err)
{
	return p->redis->ops->conv_drop(p->redis, refs, dumps, n, dropped, err);
}

static void conv_release(void *d)
{
	conv_page_release(d);
}

/* ---- checkpoint threads ---- */

static int thread_scan(struct pass *p, char cursor[32], struct store_refs *out,
                       struct mem_error *err)
{
	return p->redis->ops->thread_scan(p->redis, cursor, out, err);
}

static int thread_dump(struct pass *p, const struct store_ref *refs, size_t n, void *dumps,
                       struct mem_error *err)
{
	return p->redis->ops->thread_dump(p->redis, refs, n, p->cfg->archive_after_seconds * 1000,
	                                  dumps, err);
}

static const char *thread_digest(const void *d)
{
	return ((const struct cp_thread_dump *)d)->digest;
}

static bool thread_malformed(const void *d)
{
	return ((const struct cp_thread_dump *)d)->malformed;
}

static size_t thread_weight(const void *d)
{
	const struct cp_thread_dump *t = d;
	return t->ncps + t->nblobs + t->nwrites;
}

static int thread_store(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
                        struct mem_error *err)
{
	long long rows = 0;
	return p->pg->ops->thread_archive(p->pg, refs, dumps, n,
	                                  p->cfg->archive_retention_days * 86400LL, &rows, err);
}

static int thread_drop(struct pass *p, const struct store_ref *refs, const void *dumps, size_t n,
                       bool *dropped, struct mem_error *err)
{
	return p->redis->ops->thread_drop(p->redis, refs, dumps, n, dropped, err);
}

static void thread_release(void *d)
{
	cp_thread_dump_release(d);
}

/* ---- the steps ---- */

/* Wait ARCHIVE_RETRY_DELAY_SECONDS before a retry; false when a stop came
 * (before or meanwhile): then the step is not tried again. */
static bool pause_before_retry(const struct pass *p)
{
	for (long ms = p->cfg->archive_retry_delay_seconds * 1000; ms > 0 && !stopping(); ms -= 50)
		usleep(50 * 1000);
	return !stopping();
}

static void skipped(struct pass *p, const struct kind *k, const struct store_ref *ref,
                    const char *why)
{
	char msg[600];
	snprintf(msg, sizeof(msg), "Failed to archive %s after retry, skipping", ref->id);
	log_error(NULL, msg, LF_STR("kind", k->name), LF_STR("tenant", ref->tenant),
	          LF_STR(k->id_field, ref->id), LF_STR("error", why));
	count(p, &p->r->errors, 1);
}

static void *at(const struct kind *k, void *dumps, size_t i)
{
	return (char *)dumps + i * k->size;
}

/* Write dumps[0..n) to PostgreSQL, ARCHIVE_RETRY_ATTEMPTS tries; if the
 * chunk still fails, each one alone once more, so one that cannot be stored
 * does not hold back the others. ok[i]: dumps[i] is committed. */
static void store_chunk(struct pass *p, const struct kind *k, const struct store_ref *refs,
                        void *dumps, size_t n, bool *ok)
{
	struct mem_error err = {0};
	for (long t = 0; t < p->cfg->archive_retry_attempts; t++) {
		if (t && !pause_before_retry(p))
			return; /* stopping: the chunk stays in Redis for the next pass */
		mem_error_clear(&err);
		if (k->store(p, refs, dumps, n, &err) == 0) {
			for (size_t i = 0; i < n; i++)
				ok[i] = true;
			return;
		}
		log_warn(NULL, "archive insert failed", LF_STR("kind", k->name), LF_INT("items", n),
		         LF_INT("try", t + 1), LF_STR("error", err.message));
	}
	if (stopping())
		return;
	for (size_t i = 0; i < n; i++) {
		struct mem_error e1 = {0};
		ok[i] = n > 1 && k->store(p, &refs[i], at(k, dumps, i), 1, &e1) == 0;
		if (!ok[i])
			skipped(p, k, &refs[i], n > 1 ? e1.message : err.message);
	}
}

/* Remove from Redis what PostgreSQL now holds (ok[i]), if unchanged. */
static void drop_archived(struct pass *p, const struct kind *k, const struct store_ref *refs,
                          void *dumps, size_t n, const bool *ok)
{
	struct store_ref *r = xcalloc(n + 1, sizeof(*r));
	char *d = xcalloc(n + 1, k->size);
	bool *dropped = xcalloc(n + 1, sizeof(*dropped));
	struct mem_error err = {0};
	size_t m = 0;
	int rc = -1;
	for (size_t i = 0; i < n; i++)
		if (ok[i]) {
			r[m] = refs[i];
			memcpy(d + m++ * k->size, at(k, dumps, i), k->size); /* borrowed */
		}
	for (long t = 0; m && rc < 0 && t < p->cfg->archive_retry_attempts; t++) {
		if (t && !pause_before_retry(p))
			break;
		mem_error_clear(&err);
		rc = k->drop(p, r, d, m, dropped, &err);
	}
	for (size_t i = 0; i < m; i++) {
		if (rc < 0)
			skipped(p, k, &r[i], err.message);
		else if (dropped[i])
			(*k->archived)++;
		else {
			p->r->left_changed++;
			char msg[96];
			snprintf(msg, sizeof(msg),
			         "%s written during archival: left for the next pass", k->name);
			log_info(NULL, msg, LF_STR("tenant", r[i].tenant),
			         LF_STR(k->id_field, r[i].id));
		}
	}
	free(r);
	free(d);
	free(dropped);
}

/* One SCAN step's idle items, from their dump to their drop. */
struct batch {
	const struct kind *k;
	struct store_refs found; /* owns the refs below */
	struct store_ref *mine;  /* the idle ones of this shard */
	void *dumps;
	bool *ok; /* committed to PostgreSQL */
	size_t n;
};

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++)
		b->k->release(at(b->k, b->dumps, i));
	free(b->ok);
	free(b->dumps);
	free(b->mine);
	store_refs_release(&b->found);
	free(b);
}

/* Dump what of found (stolen) is this shard's and idle; NULL when nothing. */
static struct batch *batch_dump(struct pass *p, const struct kind *k, struct store_refs *found)
{
	struct batch *b = xcalloc(1, sizeof(*b));
	b->k = k;
	b->found = *found;
	memset(found, 0, sizeof(*found));
	b->mine = xcalloc(b->found.n + 1, sizeof(*b->mine));
	size_t n = 0;
	for (size_t i = 0; i < b->found.n; i++)
		if (archive_shard_of(b->found.v[i].tenant, b->found.v[i].id,
		                     (unsigned)p->cfg->archive_shard_count) ==
		    (unsigned)p->cfg->archive_shard_index)
			b->mine[n++] = b->found.v[i];
	b->dumps = xcalloc(n + 1, k->size);
	struct mem_error err = {0};
	int rc = n ? -1 : 0;
	for (long t = 0; rc < 0 && t < p->cfg->archive_retry_attempts; t++) {
		if (t && !pause_before_retry(p))
			break;
		mem_error_clear(&err);
		rc = k->dump(p, b->mine, n, b->dumps, &err);
	}
	if (rc < 0) {
		for (size_t i = 0; i < n; i++)
			skipped(p, k, &b->mine[i], err.message);
		n = 0;
	}
	/* keep only the idle ones */
	for (size_t i = 0; i < n; i++) {
		if (k->malformed(at(k, b->dumps, i)))
			skipped(p, k, &b->mine[i], "Redis holds what cannot be read (logged)");
		if (!k->digest(at(k, b->dumps, i))) {
			k->release(at(k, b->dumps, i));
			continue;
		}
		b->mine[b->n] = b->mine[i];
		memmove(at(k, b->dumps, b->n++), at(k, b->dumps, i), k->size);
	}
	if (!b->n) {
		batch_free(b);
		return NULL;
	}
	char msg[96];
	snprintf(msg, sizeof(msg), "Found %zu expired checkpoints to archive", b->n);
	log_info(NULL, msg, LF_INT("count", b->n), LF_STR("kind", k->name));
	p->r->found += (long long)b->n;
	b->ok = xcalloc(b->n + 1, sizeof(*b->ok));
	return b;
}

/* Write a batch to PostgreSQL, in chunks of about CHUNK_ROWS rows. */
static void batch_store(struct pass *p, struct batch *b)
{
	const struct kind *k = b->k;
	for (size_t from = 0; from < b->n && !stopping();) {
		size_t end = from, rows = 0;
		while (end < b->n &&
		       (end == from || rows + k->weight(at(k, b->dumps, end)) <= CHUNK_ROWS))
			rows += k->weight(at(k, b->dumps, end++));
		store_chunk(p, k, b->mine + from, at(k, b->dumps, from), end - from, b->ok + from);
		from = end;
	}
}

/*
 * The PostgreSQL writer: batch_store of one batch at a time on a thread of
 * its own (with its own connection), so the next step is read from Redis
 * while this one is written: a pass costs about the larger of the two, not
 * their sum. A batch is dropped from Redis only after writer_wait says it was
 * written.
 */
struct writer {
	struct pass *p;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct batch *todo; /* under lock: given, not yet written */
	bool quit;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->todo && !w->quit)
			pthread_cond_wait(&w->cond, &w->lock);
		if (!w->todo)
			break;
		struct batch *b = w->todo;
		pthread_mutex_unlock(&w->lock);
		batch_store(w->p, b);
		pthread_mutex_lock(&w->lock);
		w->todo = NULL;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Wait until the batch given last (if any) is written. */
static void writer_wait(struct writer *w)
{
	pthread_mutex_lock(&w->lock);
	while (w->todo)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
}

static void writer_give(struct writer *w, struct batch *b)
{
	pthread_mutex_lock(&w->lock);
	w->todo = b;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Every SCAN step of one kind: scan and dump step k+1 while step k is
 * written, then drop step k. */
static void archive_kind(struct pass *p, const struct kind *k, struct writer *w)
{
	char cursor[32] = "0";
	struct mem_error err = {0};
	struct batch *writing = NULL;
	do {
		struct store_refs found = {0};
		int rc = -1;
		for (long t = 0; rc < 0 && t < p->cfg->archive_retry_attempts; t++) {
			if (t && !pause_before_retry(p))
				break;
			mem_error_clear(&err);
			rc = k->scan(p, cursor, &found, &err);
		}
		if (rc < 0 && stopping()) {
			store_refs_release(&found);
			break;
		}
		if (rc < 0) {
			/* the rest of the keyspace waits for the next pass */
			log_error(
			    NULL,
			    "archival scan failed after retry; the rest waits for the next pass",
			    LF_STR("kind", k->name), LF_STR("error", err.message));
			count(p, &p->r->errors, 1);
			break;
		}
		/* SCAN's COUNT is a hint (a step returns more as the table shrinks):
		 * slices of at most BATCH_MAX keep memory bounded */
		size_t from = 0;
		for (; from < found.n && !stopping(); from += BATCH_MAX) {
			struct store_refs part = {.n = found.n - from < BATCH_MAX ? found.n - from
			                                                          : BATCH_MAX};
			part.v = xcalloc(part.n + 1, sizeof(*part.v));
			memcpy(part.v, found.v + from, part.n * sizeof(*part.v));
			struct batch *next = batch_dump(p, k, &part);
			if (!next)
				continue;
			writer_wait(w);
			if (writing)
				drop_archived(p, k, writing->mine, writing->dumps, writing->n,
				              writing->ok);
			batch_free(writing);
			writing = next;
			if (stopping()) {
				/* dumped, not written: it stays in Redis */
				batch_free(writing);
				writing = NULL;
				from += BATCH_MAX; /* this slice's refs went with it */
				break;
			}
			writer_give(w, writing);
		}
		/* its refs went to the slices, but for those a stop skipped */
		for (size_t i = from; i < found.n; i++) {
			free(found.v[i].tenant);
			free(found.v[i].id);
		}
		free(found.v);
	} while (strcmp(cursor, "0") && !stopping());
	writer_wait(w);
	if (writing)
		drop_archived(p, k, writing->mine, writing->dumps, writing->n, writing->ok);
	batch_free(writing);
}

int archive_pass(const struct config *cfg, struct store *redis, struct store *pg,
                 struct archive_report *out)
{
	struct pass p = {
	    .cfg = cfg, .redis = redis, .pg = pg, .r = out, .lock = PTHREAD_MUTEX_INITIALIZER};
	const struct kind kinds[] = {
	    {"conversation", "conversation_id", sizeof(struct conv_page),
	     &out->conversations_archived, conv_scan, conv_dump, conv_digest, conv_malformed,
	     conv_weight, conv_store, conv_drop, conv_release},
	    {"thread", "thread_id", sizeof(struct cp_thread_dump), &out->threads_archived,
	     thread_scan, thread_dump, thread_digest, thread_malformed, thread_weight, thread_store,
	     thread_drop, thread_release},
	};
	char msg[96];
	struct mem_error err = {0};

	memset(out, 0, sizeof(*out));
	pthread_mutex_init(&p.lock, NULL);
	double t0 = now_s();
	out->started = (time_t)t0;
	archive_iso_time(out->started, out->last_run);
	snprintf(msg, sizeof(msg), "Starting conversation archival run at %s", out->last_run);
	log_info(NULL, msg, LF_STR("shard", cfg->archive_shard),
	         LF_INT("archive_after_seconds", cfg->archive_after_seconds));
	if (!redis->ops->conv_scan || !redis->ops->thread_scan || !pg->ops->history_archive ||
	    !pg->ops->thread_archive) {
		log_error(NULL, "archival needs Redis as the store it scans and PostgreSQL");
		out->errors++;
	} else {
		struct writer w = {.p = &p};
		pthread_mutex_init(&w.lock, NULL);
		pthread_cond_init(&w.cond, NULL);
		bool threaded = pthread_create(&w.thread, NULL, writer_main, &w) == 0;
		if (!threaded) {
			log_error(NULL, "cannot start the archiver's writer thread");
			count(&p, &out->errors, 1);
		}
		for (size_t i = 0; threaded && i < sizeof(kinds) / sizeof(kinds[0]) && !stopping();
		     i++)
			archive_kind(&p, &kinds[i], &w);
		if (threaded) {
			pthread_mutex_lock(&w.lock);
			w.quit = true;
			pthread_cond_broadcast(&w.cond);
			pthread_mutex_unlock(&w.lock);
			pthread_join(w.thread, NULL);
		}
		pthread_cond_destroy(&w.cond);
		pthread_mutex_destroy(&w.lock);
	}
	out->checkpoints_archived = out->conversations_archived + out->threads_archived;
	out->duration_s = now_s() - t0;
	out->healthy = out->errors == 0;
	out->stopped = stopping();
	snprintf(msg, sizeof(msg), "%s archival run in %.2fs",
	         out->stopped ? "Stopped (shutting down)" : "Completed", out->duration_s);
	log_info(NULL, msg, LF_STR("status", out->healthy ? "healthy" : "unhealthy"),
	         LF_INT("found", out->found),
	         LF_INT("checkpoints_archived", out->checkpoints_archived),
	         LF_INT("conversations_archived", out->conversations_archived),
	         LF_INT("threads_archived", out->threads_archived),
	         LF_INT("messages_archived", out->messages_archived),
	         LF_INT("left_changed", out->left_changed), LF_INT("errors", out->errors));
	metrics_archive_run(out->healthy, out->checkpoints_archived, out->messages_archived,
	                    out->errors, (double)out->started, out->duration_s);
	if (archive_health_write(cfg->archiver_health_file, out, &err) < 0)
		log_error(NULL, "archiver health file not written", LF_STR("error", err.message));
	pthread_mutex_destroy(&p.lock);
	return out->healthy ? 0 : -1;
}

int archive_health_write(const char *path, const struct archive_report *r, struct mem_error *err)
{
	struct buf tmp = {0};
	int fd = -1, ret = -1;
	json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I}", "last_run", r->last_run, "status",
	                      r->healthy ? "healthy" : "unhealthy", "checkpoints_archived",
	                      (json_int_t)r->checkpoints_archived, "messages_archived",
	                      (json_int_t)r->messages_archived, "errors", (json_int_t)r->errors);
	/* duration_seconds with three decimals, as people read it: jansson
	 * prints a double in 17 digits (0.12299999999999999) or its shortest
	 * form (2.5), so it is written here after the other members. */
	char *members = json_dumps(j, JSON_COMPACT);
	char *text = xasprintf("%.*s,\"duration_seconds\":%.3f}", (int)(strlen(members) - 1),
	                       members, r->duration_s >= 0 ? r->duration_s : 0.0);
	free(members);
	buf_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "%s: %s", tmp.data, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp.data, path) < 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "%s: %s", path, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret < 0 && tmp.data)
		unlink(tmp.data);
	free(text);
	json_decref(j);
	buf_release(&tmp);
	return ret;
}

int archive_health_read(const char *path, struct archive_report *r)
{
	json_t *j = json_load_file(path, 0, NULL);
	const char *last = NULL, *status = NULL;
	json_int_t cp = 0, msgs = 0, errors = 0;
	double dur = 0;
	int ret = -1;
	memset(r, 0, sizeof(*r));
	if (j && json_unpack(j, "{s:s, s:s, s:I, s:I, s:I, s?F}", "last_run", &last, "status",
	                     &status, "checkpoints_archived", &cp, "messages_archived", &msgs,
	                     "errors", &errors, "duration_seconds", &dur) == 0) {
		snprintf(r->last_run, sizeof(r->last_run), "%s", last);
		r->healthy = !strcmp(status, "healthy");
		r->checkpoints_archived = cp;
		r->messages_archived = msgs;
		r->errors = errors;
		r->duration_s = dur;
		ret = 0;
	}
	json_decref(j);
	return ret;
}

/* ---------- retention ---------- */

struct export
{
	FILE *f;
	const char *path;
};

static json_t *json_text(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* One batch as JSON lines, on disk before the rows are deleted. */
static int export_batch(void *ctx, const struct history_row *rows, size_t n, struct mem_error *err)
{
	struct export *x = ctx;
	for (size_t i = 0; i < n; i++) {
		const struct history_row *h = &rows[i];
		char at[40];
		archive_iso_time((time_t)(h->created_at_ms / 1000), at);
		json_t *md =
		    json_loads(h->metadata_json ? h->metadata_json : "{}", JSON_DECODE_ANY, NULL);
		json_t *j = json_pack(
		    "{s:s, s:s, s:o, s:I, s:o, s:s, s:o, s:o, s:s, s:I}", "tenant", h->tenant,
		    "conversation_id", h->conversation_id, "customer_id", json_text(h->customer_id),
		    "seq", (json_int_t)h->seq, "message_id", json_text(h->message_id), "role",
		    h->role, "content", json_stringn(h->content, h->content_len), "metadata",
		    md ? md : json_object(), "created_at", at, "created_at_ms",
		    (json_int_t)h->created_at_ms);
		int rc = j ? json_dumpf(j, x->f, JSON_COMPACT) : -1;
		json_decref(j);
		if (rc < 0 || fputc('\n', x->f) == EOF)
			return mem_fail(err, MEM_EINTERNAL, NULL, "%s: cannot write the export",
			                x->path);
	}
	if (fflush(x->f) != 0 || fsync(fileno(x->f)) != 0)
		return mem_fail(err, MEM_EINTERNAL, NULL, "%s: %s", x->path, strerror(errno));
	return 0;
}

int archive_retention(const struct config *cfg, struct store *pg, const char *export_path,
                      long long *deleted, struct mem_error *err)
{
	struct export x = {.path = export_path};
	*deleted = 0;
	if (!pg->ops->history_retention)
		return mem_fail(err, MEM_EINTERNAL, NULL, "the %s store keeps no archived history",
		                pg->ops->name);
	if (export_path) {
		x.f = fopen(export_path, "w");
		if (!x.f)
			return mem_fail(err, MEM_EINVALID_FIELD, "--export", "%s: %s", export_path,
			                strerror(errno));
	}
	long long cutoff_ms =
	    ((long long)time(NULL) - cfg->archive_retention_days * 86400LL) * 1000;
	char at[40];
	archive_iso_time((time_t)(cutoff_ms / 1000), at);
	log_info(NULL, "retention run", LF_STR("older_than", at),
	         LF_INT("retention_days", cfg->archive_retention_days),
	         LF_STR("export", export_path ? export_path : ""));
	int rc = pg->ops->history_retention(pg, cutoff_ms, RETENTION_BATCH,
	                                    export_path ? export_batch : NULL, &x, deleted, err);
	if (x.f && fclose(x.f) != 0 && rc == 0)
		rc = mem_fail(err, MEM_EINTERNAL, NULL, "%s: %s", export_path, strerror(errno));
	log_info(NULL, rc == 0 ? "retention run done" : "retention run stopped",
	         LF_INT("deleted", *deleted));
	return rc;
}
