#include "pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"
#include "conn.h"
#include "conversations.h"
#include "memory.h"

/* ---------- statements ---------- */

/* Rows of the tuples named by a CTE k(ord, thread_id, checkpoint_ns,
 * checkpoint_id), one statement, one snapshot, binary columns:
 *   ord int4, kind int4, a text, b text, c text, d text, n int8, bytes bytea
 *   kind 0 checkpoint: a id, b checkpoint, c metadata, d parent
 *   kind 1 channel value: a channel, b type, n position, bytes
 *   kind 2 pending write: a task_id, b task_path, c channel, d type, n idx, bytes
 *   kind 3 head (latest only): a checkpoint id, n generation */
#define TUPLE_ROWS                                                                                 \
	", c AS ("                                                                                 \
	" SELECT k.ord, x.thread_id, x.checkpoint_ns, x.checkpoint_id, x.checkpoint, x.metadata,"  \
	"  x.parent_id, x.channels, x.versions"                                                    \
	" FROM k JOIN memoryd.checkpoints x ON x.tenant = $1::text AND x.thread_id = k.thread_id"  \
	"  AND x.checkpoint_ns = k.checkpoint_ns AND x.checkpoint_id = k.checkpoint_id"            \
	" WHERE x.expires_at > now())"                                                             \
	" SELECT c.ord::int4, 0::int4, c.checkpoint_id, c.checkpoint, c.metadata, c.parent_id,"    \
	"  0::int8, NULL::bytea FROM c"                                                            \
	" UNION ALL"                                                                               \
	" SELECT c.ord::int4, 1, b.channel, b.type, NULL, NULL, v.pos, b.bytes"                    \
	" FROM c CROSS JOIN LATERAL unnest(c.channels, c.versions) WITH ORDINALITY"                \
	"  AS v(channel, version, pos)"                                                            \
	" JOIN memoryd.checkpoint_blobs b ON b.tenant = $1::text AND b.thread_id = c.thread_id"    \
	"  AND b.checkpoint_ns = c.checkpoint_ns AND b.channel = v.channel"                        \
	"  AND b.version = v.version"                                                              \
	" WHERE b.expires_at > now()"                                                              \
	" UNION ALL"                                                                               \
	" SELECT c.ord::int4, 2, w.task_id, w.task_path, w.channel, w.type, w.idx, w.bytes"        \
	" FROM c JOIN memoryd.checkpoint_writes w ON w.tenant = $1::text"                          \
	"  AND w.thread_id = c.thread_id AND w.checkpoint_ns = c.checkpoint_ns"                    \
	"  AND w.checkpoint_id = c.checkpoint_id"                                                  \
	" WHERE w.expires_at > now()"

#define TUPLE_ORDER " ORDER BY 1, 2, 7"

#define SWEEP_BATCH 1000
/* Expired rows of one table, a batch at a time; rows another sweeper holds
 * are skipped. */
#define SWEEP(table)                                                                               \
	"DELETE FROM memoryd." table " WHERE expires_at <= now() AND ctid = ANY(ARRAY("            \
	"SELECT ctid FROM memoryd." table " WHERE expires_at <= now() LIMIT 1000"                  \
	" FOR UPDATE SKIP LOCKED))"

enum {
	ST_PUT,
	ST_WRITES,
	ST_GET_LATEST,
	ST_GET_BY_ID,
	ST_HEAD,
	ST_HEAD_REPAIR,
	ST_LIST_KEYS,
	ST_LIST_TUPLES,
	ST_THREAD_DELETE,
	ST_PING,
	ST_SWEEP_CHECKPOINTS,
	ST_SWEEP_BLOBS,
	ST_SWEEP_WRITES,
	ST_SWEEP_HEADS,
	ST_ARCHIVE_BLOBS,
	ST_ARCHIVE_WRITES,
	ST_ARCHIVE_CHECKPOINTS,
	ST_ARCHIVE_HEADS,
	NSTMTS
};

static const struct pg_stmt stmts[NSTMTS] = {
    [ST_PUT] = {"memoryd_put",
                "SELECT memoryd.checkpoint_put($1::text, $2::text, $3::text, $4::text, $5::text,"
                " $6::text, $7::text, $8::text[], $9::text[], $10::text[], $11::text[],"
                " $12::text[], $13::bytea[], $14::int8)"},
    [ST_WRITES] = {"memoryd_writes",
                   "SELECT memoryd.checkpoint_put_writes($1::text, $2::text, $3::text, $4::text,"
                   " $5::text, $6::text, $7::text[], $8::int8[], $9::text[], $10::bytea[],"
                   " $11::bool, $12::int8)"},
    [ST_GET_LATEST] = {"memoryd_get_latest",
                       "WITH k AS (SELECT 0 AS ord, x.thread_id, x.checkpoint_ns, x.checkpoint_id"
                       " FROM memoryd.checkpoints x WHERE x.tenant = $1::text"
                       " AND x.thread_id = $2::text AND x.checkpoint_ns = $3::text"
                       " AND x.expires_at > now() ORDER BY x.checkpoint_id DESC LIMIT 1)" TUPLE_ROWS
                       " UNION ALL"
                       " SELECT 0, 3, h.checkpoint_id, NULL, NULL, NULL, h.generation, NULL"
                       " FROM memoryd.checkpoint_heads h WHERE h.tenant = $1::text"
                       " AND h.thread_id = $2::text AND h.checkpoint_ns = $3::text"
                       " AND h.expires_at > now()" TUPLE_ORDER},
    [ST_GET_BY_ID] =
        {"memoryd_get_by_id",
         "WITH k AS (SELECT 0 AS ord, $2::text AS thread_id,"
         " $3::text AS checkpoint_ns, $4::text AS checkpoint_id)" TUPLE_ROWS TUPLE_ORDER},
    [ST_HEAD] = {"memoryd_head",
                 "SELECT h.generation, h.checkpoint_id FROM memoryd.checkpoint_heads h"
                 " WHERE h.tenant = $1::text AND h.thread_id = $2::text"
                 " AND h.checkpoint_ns = $3::text AND h.expires_at > now()"},
    [ST_HEAD_REPAIR] = {"memoryd_head_repair",
                        "SELECT memoryd.checkpoint_head_repair($1::text, $2::text, $3::text)"},
    [ST_LIST_KEYS] = {"memoryd_list_keys",
                      "SELECT thread_id, checkpoint_ns, checkpoint_id,"
                      " CASE WHEN $6::bool THEN metadata END"
                      " FROM memoryd.checkpoints WHERE tenant = $1::text"
                      " AND ($2::text IS NULL OR thread_id = $2::text)"
                      " AND ($3::text IS NULL OR checkpoint_ns = $3::text)"
                      " AND ($4::text IS NULL OR checkpoint_id < $4::text)"
                      " AND ($7::text IS NULL OR checkpoint_id < $7::text"
                      "  OR (checkpoint_id = $7::text"
                      "      AND (thread_id, checkpoint_ns) > ($8::text, $9::text)))"
                      " AND expires_at > now()"
                      " ORDER BY checkpoint_id DESC, thread_id, checkpoint_ns LIMIT $5::int8"},
    [ST_LIST_TUPLES] =
        {"memoryd_list_tuples",
         "WITH k AS (SELECT u.ord, u.thread_id, u.checkpoint_ns, u.checkpoint_id"
         " FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY"
         " AS u(thread_id, checkpoint_ns, checkpoint_id, ord))" TUPLE_ROWS TUPLE_ORDER},
    [ST_THREAD_DELETE] = {"memoryd_thread_delete",
                          "SELECT memoryd.thread_delete($1::text, $2::text)"},
    [ST_PING] = {"memoryd_ping", "SELECT 1"},
    [ST_SWEEP_CHECKPOINTS] = {"memoryd_sweep_checkpoints", SWEEP("checkpoints")},
    [ST_SWEEP_BLOBS] = {"memoryd_sweep_blobs", SWEEP("checkpoint_blobs")},
    [ST_SWEEP_WRITES] = {"memoryd_sweep_writes", SWEEP("checkpoint_writes")},
    [ST_SWEEP_HEADS] = {"memoryd_sweep_heads", SWEEP("checkpoint_heads")},
    /* the archiver: whole threads, many per statement; a row already there
     * takes what Redis held and keeps the later expiry */
    [ST_ARCHIVE_BLOBS] = {"memoryd_archive_blobs",
                          "INSERT INTO memoryd.checkpoint_blobs AS b (tenant, thread_id,"
                          " checkpoint_ns, channel, version, type, bytes, expires_at)"
                          " SELECT u.t, u.th, u.ns, u.ch, u.ve, u.ty, u.by,"
                          " now() + make_interval(secs => $8::int8)"
                          " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
                          " $6::text[], $7::bytea[]) AS u(t, th, ns, ch, ve, ty, by)"
                          " ON CONFLICT (tenant, thread_id, checkpoint_ns, channel, version)"
                          " DO UPDATE SET type = EXCLUDED.type, bytes = EXCLUDED.bytes,"
                          " expires_at = GREATEST(b.expires_at, EXCLUDED.expires_at)"},
    [ST_ARCHIVE_WRITES] =
        {"memoryd_archive_writes",
         "INSERT INTO memoryd.checkpoint_writes AS w (tenant, thread_id,"
         " checkpoint_ns, checkpoint_id, task_id, idx, task_path, channel, type,"
         " bytes, expires_at)"
         " SELECT u.t, u.th, u.ns, u.id, u.task, u.idx, u.path, u.ch, u.ty, u.by,"
         " now() + make_interval(secs => $11::int8)"
         " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
         " $6::int8[], $7::text[], $8::text[], $9::text[], $10::bytea[])"
         " AS u(t, th, ns, id, task, idx, path, ch, ty, by)"
         " ON CONFLICT (tenant, thread_id, checkpoint_ns, checkpoint_id, task_id,"
         " idx) DO UPDATE SET task_path = EXCLUDED.task_path,"
         " channel = EXCLUDED.channel, type = EXCLUDED.type,"
         " bytes = EXCLUDED.bytes,"
         " expires_at = GREATEST(w.expires_at, EXCLUDED.expires_at)"},
    [ST_ARCHIVE_CHECKPOINTS] = {"memoryd_archive_checkpoints",
                                "WITH ins AS (INSERT INTO memoryd.checkpoints AS c (tenant,"
                                " thread_id, checkpoint_ns, checkpoint_id, parent_id, checkpoint,"
                                " metadata, channels, versions, expires_at)"
                                " SELECT u.t, u.th, u.ns, u.id, nullif(u.parent, ''), u.cp, u.md,"
                                " string_to_array(u.ch, E'\\n'), string_to_array(u.ve, E'\\n'),"
                                " now() + make_interval(secs => $10::int8)"
                                " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
                                " $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])"
                                " AS u(t, th, ns, id, parent, cp, md, ch, ve)"
                                " ON CONFLICT (tenant, thread_id, checkpoint_ns, checkpoint_id)"
                                " DO UPDATE SET parent_id = EXCLUDED.parent_id,"
                                " checkpoint = EXCLUDED.checkpoint, metadata = EXCLUDED.metadata,"
                                " channels = EXCLUDED.channels, versions = EXCLUDED.versions,"
                                " expires_at = GREATEST(c.expires_at, EXCLUDED.expires_at)"
                                " RETURNING 1) SELECT count(*)::int8 FROM ins"},
    /* each namespace's head names its latest live checkpoint */
    [ST_ARCHIVE_HEADS] = {"memoryd_archive_heads",
                          "SELECT count(memoryd.checkpoint_head_repair(u.t, u.th, u.ns))::int8"
                          " FROM (SELECT DISTINCT t, th, ns FROM unnest($1::text[], $2::text[],"
                          " $3::text[]) AS x(t, th, ns)) u"},
};

/* ---------- the store ---------- */

struct conn_slot {
	struct pg_store *ps;
	struct pg_conn *conn;
	struct conn_slot *prev, *next;
};

struct pg_store {
	struct store base;
	char *conninfo;
	struct pg_conn_opts opts;
	long ttl;
	struct pg_health health;
	pthread_key_t key;
	bool key_made;
	pthread_mutex_t lock;
	struct conn_slot *slots;

	/* the sweep */
	long sweep_interval_s;
	struct pg_health sweep_health;
	pthread_t sweeper;
	bool sweeper_running;
	pthread_mutex_t sweep_lock;
	pthread_cond_t sweep_cond;
	bool stop; /* under sweep_lock; read atomically between batches */

	/* the conversation ops (pg/conversations.h): their statements follow ours */
	struct pg_stmt *all_stmts;
	long conv_ttl;
};

static void slot_unlink_free(struct conn_slot *slot)
{
	struct pg_store *ps = slot->ps;
	pthread_mutex_lock(&ps->lock);
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		ps->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
	pthread_mutex_unlock(&ps->lock);
	pg_conn_free(slot->conn);
	free(slot);
}

static void slot_destructor(void *p)
{
	slot_unlink_free(p);
}

/* The calling thread's connection, created on first use. */
static struct pg_conn *conn_get(struct pg_store *ps)
{
	struct conn_slot *slot = pthread_getspecific(ps->key);
	if (slot)
		return slot->conn;
	slot = xcalloc(1, sizeof(*slot));
	slot->ps = ps;
	slot->conn = pg_conn_new(&ps->opts, &ps->health);
	pthread_mutex_lock(&ps->lock);
	slot->next = ps->slots;
	if (ps->slots)
		ps->slots->prev = slot;
	ps->slots = slot;
	pthread_mutex_unlock(&ps->lock);
	pthread_setspecific(ps->key, slot);
	return slot->conn;
}

struct pg_conn *pg_store_conn(struct store *s)
{
	return conn_get((struct pg_store *)s);
}

/* ---------- put ---------- */

/* The parameters of one put, kept until its answer is in (they may be sent
 * again after a broken connection). */
struct put_call {
	struct pg_conn *conn;
	struct pg_params p;
	struct pg_array ch, ver, bch, bver, btype, bbytes;
};

static struct put_call *put_call_new(struct pg_store *ps, const char *tenant,
                                     const struct cp_put *r)
{
	struct put_call *c = xcalloc(1, sizeof(*c));
	c->conn = conn_get(ps);
	pg_array_init(&c->ch, PG_OID_TEXT);
	pg_array_init(&c->ver, PG_OID_TEXT);
	pg_array_init(&c->bch, PG_OID_TEXT);
	pg_array_init(&c->bver, PG_OID_TEXT);
	pg_array_init(&c->btype, PG_OID_TEXT);
	pg_array_init(&c->bbytes, PG_OID_BYTEA);
	for (size_t i = 0; i < r->nversions; i++) {
		pg_array_add_text(&c->ch, r->versions[i].channel);
		pg_array_add_text(&c->ver, r->versions[i].version);
	}
	for (size_t i = 0; i < r->nblobs; i++) {
		pg_array_add_text(&c->bch, r->blobs[i].channel);
		pg_array_add_text(&c->bver, r->blobs[i].version);
		pg_array_add_text(&c->btype, r->blobs[i].value.type);
		pg_array_add(&c->bbytes, r->blobs[i].value.data, r->blobs[i].value.len);
	}
	pg_params_text(&c->p, tenant);
	pg_params_text(&c->p, r->thread_id);
	pg_params_text(&c->p, r->ns);
	pg_params_text(&c->p, r->checkpoint_id);
	pg_params_text(&c->p, r->parent_id);
	pg_params_text(&c->p, r->checkpoint_json);
	pg_params_text(&c->p, r->metadata_json ? r->metadata_json : "{}");
	pg_params_array(&c->p, &c->ch);
	pg_params_array(&c->p, &c->ver);
	pg_params_array(&c->p, &c->bch);
	pg_params_array(&c->p, &c->bver);
	pg_params_array(&c->p, &c->btype);
	pg_params_array(&c->p, &c->bbytes);
	pg_params_int8(&c->p, ps->ttl);
	return c;
}

static void put_call_free(struct put_call *c)
{
	pg_params_release(&c->p);
	pg_array_release(&c->ch);
	pg_array_release(&c->ver);
	pg_array_release(&c->bch);
	pg_array_release(&c->bver);
	pg_array_release(&c->btype);
	pg_array_release(&c->bbytes);
	free(c);
}

static int ps_put(struct store *s, const char *tenant, const struct cp_put *r,
                  struct mem_error *err)
{
	struct put_call *c = put_call_new((struct pg_store *)s, tenant, r);
	PGresult *res = NULL;
	int rc = pg_conn_exec(c->conn, ST_PUT, &c->p, &res, err);
	PQclear(res);
	put_call_free(c);
	return rc;
}

static int ps_put_send(struct store *s, const char *tenant, const struct cp_put *r, void **pending,
                       struct mem_error *err)
{
	(void)err;
	struct put_call *c = put_call_new((struct pg_store *)s, tenant, r);
	pg_conn_send(c->conn, ST_PUT, &c->p);
	*pending = c;
	return 0;
}

static int ps_put_collect(struct store *s, void *pending, struct mem_error *err)
{
	(void)s;
	struct put_call *c = pending;
	PGresult *res = NULL;
	int rc = pg_conn_collect(c->conn, &res, err);
	PQclear(res);
	put_call_free(c);
	return rc;
}

/* ---------- reading tuples ---------- */

enum { COL_ORD, COL_KIND, COL_A, COL_B, COL_C, COL_D, COL_N, COL_BYTES };

static char *col_str(const PGresult *r, int row, int col)
{
	return pg_isnull(r, row, col) ? NULL : xstrndup(pg_text(r, row, col), pg_len(r, row, col));
}

static void col_value(const PGresult *r, int row, const char *type, struct owned_value *v)
{
	size_t n = pg_len(r, row, COL_BYTES);
	v->type = xstrdup(type);
	v->data = xmalloc(n + 1);
	if (n)
		memcpy(v->data, pg_text(r, row, COL_BYTES), n);
	v->len = n;
}

/*
 * Fill items[0..n) from the rows of a TUPLE_ROWS statement (ord indexes
 * items, minus base). Each item must hold its thread and namespace already;
 * an item left without checkpoint_id was not found. *head_id and *head_gen
 * get the head row when there is one (head_id NULL otherwise; caller frees).
 */
static void tuples_from_rows(const PGresult *r, int base, struct cp_tuple *items, size_t n,
                             char **head_id, long long *head_gen)
{
	int rows = PQntuples(r);
	size_t *nv = xcalloc(n + 1, sizeof(*nv)), *nw = xcalloc(n + 1, sizeof(*nw));

	if (head_id)
		*head_id = NULL;
	for (int i = 0; i < rows; i++) {
		long long ord = pg_int(r, i, COL_ORD) - base, kind = pg_int(r, i, COL_KIND);
		if (ord < 0 || (size_t)ord >= n)
			continue;
		if (kind == 1)
			nv[ord]++;
		else if (kind == 2)
			nw[ord]++;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].values = xcalloc(nv[i] + 1, sizeof(*items[i].values));
		items[i].writes = xcalloc(nw[i] + 1, sizeof(*items[i].writes));
	}
	for (int i = 0; i < rows; i++) {
		long long ord = pg_int(r, i, COL_ORD) - base, kind = pg_int(r, i, COL_KIND);
		if (kind == 3) {
			if (head_id && !*head_id) {
				*head_id = col_str(r, i, COL_A);
				*head_gen = pg_int(r, i, COL_N);
			}
			continue;
		}
		if (ord < 0 || (size_t)ord >= n)
			continue;
		struct cp_tuple *t = &items[ord];
		if (kind == 0) {
			free(t->checkpoint_id);
			free(t->checkpoint_json);
			free(t->metadata_json);
			free(t->parent_id);
			t->checkpoint_id = col_str(r, i, COL_A);
			t->checkpoint_json = col_str(r, i, COL_B);
			t->metadata_json = col_str(r, i, COL_C);
			if (!t->metadata_json)
				t->metadata_json = xstrdup("{}");
			t->parent_id = col_str(r, i, COL_D);
		} else if (kind == 1) {
			const char *type = pg_text(r, i, COL_B);
			if (!strcmp(type, "empty"))
				continue; /* the channel has no value */
			struct cp_channel_value *cv = &t->values[t->nvalues++];
			cv->channel = col_str(r, i, COL_A);
			col_value(r, i, type, &cv->value);
		} else if (kind == 2) {
			struct cp_pending_write *w = &t->writes[t->nwrites++];
			w->task_id = col_str(r, i, COL_A);
			w->task_path = col_str(r, i, COL_B);
			w->channel = col_str(r, i, COL_C);
			w->idx = (long)pg_int(r, i, COL_N);
			col_value(r, i, pg_text(r, i, COL_D), &w->value);
		}
	}
	for (size_t i = 0; i < n; i++)
		cp_sort_writes(&items[i]);
	free(nv);
	free(nw);
}

/* Read the latest tuple of (thread, ns) with the head it was read at.
 * 1 found, 0 not found, -1 error. */
static int read_latest(struct pg_conn *conn, const char *tenant, const char *thread, const char *ns,
                       struct cp_tuple *t, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	char *head_id = NULL;
	long long gen = 0;

	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	pg_params_text(&p, ns);
	int rc = pg_conn_exec(conn, ST_GET_LATEST, &p, &res, err);
	pg_params_release(&p);
	if (rc < 0)
		return -1;
	t->thread_id = xstrdup(thread);
	t->ns = xstrdup(ns);
	tuples_from_rows(res, 0, t, 1, &head_id, &gen);
	PQclear(res);
	int found = t->checkpoint_id != NULL;
	if (found && head_id && !strcmp(head_id, t->checkpoint_id))
		t->version = xasprintf("%lld|%s", gen, t->checkpoint_id);
	free(head_id);
	if (!found)
		cp_tuple_release(t);
	return found;
}

static int ps_get(struct store *s, const char *tenant, const struct cp_get *req,
                  struct cp_tuple *out, struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_conn *conn = conn_get(ps);
	int found;

	memset(out, 0, sizeof(*out));
	if (req->checkpoint_id) {
		struct pg_params p = {0};
		PGresult *res = NULL;
		pg_params_text(&p, tenant);
		pg_params_text(&p, req->thread_id);
		pg_params_text(&p, req->ns);
		pg_params_text(&p, req->checkpoint_id);
		int rc = pg_conn_exec(conn, ST_GET_BY_ID, &p, &res, err);
		pg_params_release(&p);
		if (rc < 0)
			return -1;
		out->thread_id = xstrdup(req->thread_id);
		out->ns = xstrdup(req->ns);
		tuples_from_rows(res, 0, out, 1, NULL, NULL);
		PQclear(res);
		found = out->checkpoint_id != NULL;
		if (!found)
			cp_tuple_release(out);
	} else {
		found = read_latest(conn, tenant, req->thread_id, req->ns, out, err);
		if (found > 0 && !out->version) {
			/* The head is missing or names another checkpoint: repair it
			 * (under the thread's lock) and read again, so the version
			 * returned always describes the tuple returned. */
			struct pg_params p = {0};
			PGresult *res = NULL;
			pg_params_text(&p, tenant);
			pg_params_text(&p, req->thread_id);
			pg_params_text(&p, req->ns);
			int rc = pg_conn_exec(conn, ST_HEAD_REPAIR, &p, &res, err);
			pg_params_release(&p);
			PQclear(res);
			if (rc == 0) {
				cp_tuple_release(out);
				found =
				    read_latest(conn, tenant, req->thread_id, req->ns, out, err);
			} else {
				found = 1; /* the tuple stands, uncached */
			}
		}
	}
	if (found < 0)
		return -1;
	if (!found)
		return mem_fail(err, MEM_ENOT_FOUND, NULL, "no checkpoint %s%s in thread %s",
		                req->checkpoint_id ? req->checkpoint_id : "(latest)",
		                *req->ns ? " in that namespace" : "", req->thread_id);
	return 0;
}

/* The head of (thread, ns): one primary-key read. */
static int ps_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                   char **version, struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_params p = {0};
	PGresult *res = NULL;

	*version = NULL;
	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	pg_params_text(&p, ns);
	int rc = pg_conn_exec(conn_get(ps), ST_HEAD, &p, &res, err);
	pg_params_release(&p);
	if (rc < 0)
		return -1;
	if (PQntuples(res) == 1)
		*version = xasprintf("%lld|%s", pg_int(res, 0, 0), pg_text(res, 0, 1));
	PQclear(res);
	return 0;
}

/* ---------- list ---------- */

/* Candidates read per statement while a metadata filter picks among them. */
#define LIST_PAGE 200

struct pick {
	char *thread, *ns, *id;
};

/*
 * Newest first across threads and namespaces, as the Redis store lists:
 * candidates (thread, ns, id) in pages, keyset-paginated in the order of the
 * answer, each page read only if the filter still needs more; then the tuples
 * of the picked ones, as many a statement as the bytes left would hold at the
 * largest tuple seen (one first; all of them without req->max_bytes), so a
 * page of tuples sharing one large blob never loads much more than
 * max_bytes. Without a filter the first page is the answer (limit + 1 rows
 * tell whether it is truncated).
 */
static int ps_list(struct store *s, const char *tenant, const struct cp_list *req,
                   struct cp_list_result *out, struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_conn *conn = conn_get(ps);
	struct pg_params p = {0};
	PGresult *keys = NULL, *res = NULL;
	struct pick *picks = xcalloc(req->limit + 1, sizeof(*picks));
	char *after_id = NULL, *after_th = NULL, *after_ns = NULL;
	const int page = req->filter_json ? LIST_PAGE : (int)req->limit;
	size_t npick = 0;
	int ret = -1;

	memset(out, 0, sizeof(*out));

	/* 1. the first `limit` candidates that match */
	for (;;) {
		pg_params_text(&p, tenant);
		pg_params_text(&p, req->thread_id);
		pg_params_text(&p, req->ns);
		pg_params_text(&p, req->before);
		pg_params_int8(&p, page + 1);
		pg_params_bool(&p, req->filter_json != NULL);
		pg_params_text(&p, after_id);
		pg_params_text(&p, after_th);
		pg_params_text(&p, after_ns);
		int rc = pg_conn_exec(conn, ST_LIST_KEYS, &p, &keys, err);
		pg_params_release(&p);
		if (rc < 0)
			goto out;
		int rows = PQntuples(keys), usable = rows > page ? page : rows, i = 0;
		for (; i < usable && npick < req->limit; i++) {
			if (req->filter_json &&
			    !cp_metadata_matches(pg_text(keys, i, 3), req->filter_json))
				continue;
			picks[npick].thread = xstrdup(pg_text(keys, i, 0));
			picks[npick].ns = xstrdup(pg_text(keys, i, 1));
			picks[npick].id = xstrdup(pg_text(keys, i, 2));
			npick++;
		}
		if (npick >= req->limit) {
			out->truncated = i < rows; /* candidates left over */
			break;
		}
		if (rows <= page)
			break; /* none left */
		free(after_id);
		free(after_th);
		free(after_ns);
		after_th = xstrdup(pg_text(keys, usable - 1, 0));
		after_ns = xstrdup(pg_text(keys, usable - 1, 1));
		after_id = xstrdup(pg_text(keys, usable - 1, 2));
		PQclear(keys);
		keys = NULL;
	}
	if (!npick) {
		ret = 0;
		goto out;
	}

	/* 2. their tuples */
	out->items = xcalloc(npick + 1, sizeof(*out->items));
	size_t at = 0, bytes = 0, largest = 0;
	bool cut = false;
	while (at < npick && !cut) {
		size_t n = npick - at;
		if (req->max_bytes && !largest) {
			n = 1;
		} else if (req->max_bytes) {
			size_t fit =
			    bytes < req->max_bytes ? (req->max_bytes - bytes) / largest : 0;
			n = n < fit ? n : fit ? fit : 1;
		}
		struct pg_array th, ns, id;
		pg_array_init(&th, PG_OID_TEXT);
		pg_array_init(&ns, PG_OID_TEXT);
		pg_array_init(&id, PG_OID_TEXT);
		for (size_t i = at; i < at + n; i++) {
			pg_array_add_text(&th, picks[i].thread);
			pg_array_add_text(&ns, picks[i].ns);
			pg_array_add_text(&id, picks[i].id);
		}
		pg_params_text(&p, tenant);
		pg_params_array(&p, &th);
		pg_params_array(&p, &ns);
		pg_params_array(&p, &id);
		int rc = pg_conn_exec(conn, ST_LIST_TUPLES, &p, &res, err);
		pg_params_release(&p);
		pg_array_release(&th);
		pg_array_release(&ns);
		pg_array_release(&id);
		if (rc < 0)
			goto out;
		struct cp_tuple *items = xcalloc(n + 1, sizeof(*items));
		for (size_t i = 0; i < n; i++) {
			items[i].thread_id = picks[at + i].thread;
			items[i].ns = picks[at + i].ns;
			picks[at + i].thread = picks[at + i].ns = NULL;
		}
		tuples_from_rows(res, 1, items, n, NULL, NULL);
		PQclear(res);
		res = NULL;
		/* keep those still there (one may have expired or gone since step 1) */
		for (size_t i = 0; i < n; i++) {
			size_t tb = items[i].checkpoint_id ? cp_tuple_bytes(&items[i]) : 0;
			largest = tb > largest ? tb : largest;
			if (!items[i].checkpoint_id || cut) {
				cp_tuple_release(&items[i]);
			} else if (req->max_bytes && out->n && bytes + tb > req->max_bytes) {
				cp_tuple_release(&items[i]); /* the next page starts with it */
				cut = out->truncated = true;
			} else {
				bytes += tb;
				out->items[out->n++] = items[i];
			}
		}
		free(items);
		at += n;
	}
	ret = 0;
out:
	if (ret < 0)
		cp_list_result_release(out);
	for (size_t i = 0; i < npick; i++) {
		free(picks[i].thread);
		free(picks[i].ns);
		free(picks[i].id);
	}
	free(picks);
	free(after_id);
	free(after_th);
	free(after_ns);
	pg_params_release(&p);
	PQclear(keys);
	PQclear(res);
	return ret;
}

/* ---------- put writes ---------- */

static int ps_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                         struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_params p = {0};
	struct pg_array ch, idx, type, bytes;
	PGresult *res = NULL;
	bool all_special = r->nwrites > 0;

	pg_array_init(&ch, PG_OID_TEXT);
	pg_array_init(&idx, PG_OID_INT8);
	pg_array_init(&type, PG_OID_TEXT);
	pg_array_init(&bytes, PG_OID_BYTEA);
	for (size_t i = 0; i < r->nwrites; i++) {
		const struct cp_write *w = &r->writes[i];
		bool special;
		long n = cp_write_idx(w->channel, i, &special);
		if (!special)
			all_special = false;
		pg_array_add_text(&ch, w->channel);
		pg_array_add_int8(&idx, n);
		pg_array_add_text(&type, w->value.type);
		pg_array_add(&bytes, w->value.data, w->value.len);
	}
	pg_params_text(&p, tenant);
	pg_params_text(&p, r->thread_id);
	pg_params_text(&p, r->ns);
	pg_params_text(&p, r->checkpoint_id);
	pg_params_text(&p, r->task_id);
	pg_params_text(&p, r->task_path);
	pg_params_array(&p, &ch);
	pg_params_array(&p, &idx);
	pg_params_array(&p, &type);
	pg_params_array(&p, &bytes);
	pg_params_bool(&p, all_special);
	pg_params_int8(&p, ps->ttl);
	int rc = pg_conn_exec(conn_get(ps), ST_WRITES, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&ch);
	pg_array_release(&idx);
	pg_array_release(&type);
	pg_array_release(&bytes);
	return rc;
}

/* ---------- delete ---------- */

static int ps_thread_delete(struct store *s, const char *tenant, const char *thread,
                            struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_params p = {0};
	PGresult *res = NULL;

	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	int rc = pg_conn_exec(conn_get(ps), ST_THREAD_DELETE, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	return rc;
}

/* ---------- operator tools ---------- */

static int ps_admin_backup(struct store *s, long long *last_save, struct mem_error *err)
{
	(void)s;
	*last_save = 0;
	return mem_fail(err, MEM_EINVALID_FIELD, NULL,
	                "backup is not supported on postgres: memoryd holds no snapshot of its "
	                "own there; use the database's backups (pg_dump, base backups, PITR)");
}

static int ps_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err)
{
	(void)s;
	memset(out, 0, sizeof(*out));
	return mem_fail(err, MEM_EINVALID_FIELD, NULL,
	                "ttl-repair is not supported on postgres: every row has an expires_at "
	                "(NOT NULL), and expired rows are swept every "
	                "DATABASE_SWEEP_INTERVAL_SECONDS");
}

/* The name an operator sees for a row group, shaped like the Redis keys:
 * postgres:<kind>:{<tenant>:<thread>}:<ns>[:<a>[:<b>]], components encoded. */
static char *row_name(const char *kind, const char *tenant, const char *thread, const char *ns,
                      const char *a, const char *b)
{
	struct buf n = {0};
	buf_puts(&n, "postgres:");
	buf_puts(&n, kind);
	buf_puts(&n, ":{");
	key_encode(&n, tenant, strlen(tenant));
	buf_putc(&n, ':');
	key_encode(&n, thread, strlen(thread));
	buf_puts(&n, "}:");
	key_encode(&n, ns, strlen(ns));
	const char *parts[] = {a, b};
	for (int i = 0; i < 2; i++)
		if (parts[i]) {
			buf_putc(&n, ':');
			key_encode(&n, parts[i], strlen(parts[i]));
		}
	return buf_detach(&n, NULL);
}

#define ROW_TTL_MS "GREATEST((extract(epoch FROM expires_at - now()) * 1000)::int8, 1)"

/* Every live row of a thread, grouped like the Redis keys (a checkpoint, a
 * blob, the writes of a checkpoint, a head), with expiry and size. */
static int ps_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
                                struct store_keys *out, struct mem_error *err)
{
	static const char sql[] =
	    "SELECT 'checkpoint', checkpoint_ns, checkpoint_id, NULL, " ROW_TTL_MS ","
	    " pg_column_size(x.*)::int8 FROM memoryd.checkpoints x"
	    " WHERE tenant = $1::text AND thread_id = $2::text AND expires_at > now()"
	    " UNION ALL"
	    " SELECT 'blob', checkpoint_ns, channel, version, " ROW_TTL_MS ","
	    " pg_column_size(x.*)::int8 FROM memoryd.checkpoint_blobs x"
	    " WHERE tenant = $1::text AND thread_id = $2::text AND expires_at > now()"
	    " UNION ALL"
	    " SELECT 'writes', checkpoint_ns, checkpoint_id, NULL, max(" ROW_TTL_MS "),"
	    " sum(pg_column_size(x.*))::int8 FROM memoryd.checkpoint_writes x"
	    " WHERE tenant = $1::text AND thread_id = $2::text AND expires_at > now()"
	    " GROUP BY checkpoint_ns, checkpoint_id"
	    " UNION ALL"
	    " SELECT 'head', checkpoint_ns, NULL, NULL, " ROW_TTL_MS ","
	    " pg_column_size(x.*)::int8 FROM memoryd.checkpoint_heads x"
	    " WHERE tenant = $1::text AND thread_id = $2::text AND expires_at > now()"
	    " ORDER BY 1, 2, 3, 4";
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_params p = {0};
	PGresult *res = NULL;

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	int rc = pg_conn_query(conn_get(ps), sql, &p, &res, err);
	pg_params_release(&p);
	if (rc < 0)
		return -1;
	int n = PQntuples(res);
	out->v = xcalloc((size_t)n + 1, sizeof(*out->v));
	for (int i = 0; i < n; i++) {
		const char *kind = pg_text(res, i, 0);
		struct store_key *k = &out->v[out->n++];
		k->name = row_name(kind, tenant, thread, pg_text(res, i, 1),
		                   pg_isnull(res, i, 2) ? NULL : pg_text(res, i, 2),
		                   pg_isnull(res, i, 3) ? NULL : pg_text(res, i, 3));
		k->type = xstrdup(strcmp(kind, "writes") ? "row" : "rows");
		k->ttl_ms = pg_int(res, i, 4);
		k->bytes = pg_int(res, i, 5);
	}
	PQclear(res);
	return 0;
}

static int ps_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                                      const char *ns, const char *id, struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_params p = {0};
	PGresult *res = NULL;

	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	pg_params_text(&p, ns);
	pg_params_text(&p, id);
	int rc = pg_conn_query(conn_get(ps),
	                       "SELECT memoryd.checkpoint_delete($1::text, $2::text, $3::text,"
	                       " $4::text)",
	                       &p, &res, err);
	pg_params_release(&p);
	if (rc < 0)
		return -1;
	long long n = pg_int(res, 0, 0);
	PQclear(res);
	if (n == 0)
		return mem_fail(err, MEM_ENOT_FOUND, NULL, "no checkpoint %s in thread %s", id,
		                thread);
	log_warn(NULL, "checkpoint removed by an operator", LF_STR("tenant", tenant),
	         LF_STR("thread_id", thread), LF_STR("checkpoint_ns", ns),
	         LF_STR("checkpoint_id", id), LF_STR("store", "postgres"));
	return 0;
}

/* Every row of a tenant, 1000 per statement. Heads go first (no cached
 * tuple is served while the rest goes) and last (one a concurrent read may
 * have repaired meanwhile). */
static int ps_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                                  struct mem_error *err)
{
#define TENANT_BATCH(table)                                                                        \
	"DELETE FROM memoryd." table " WHERE tenant = $1::text AND ctid = ANY(ARRAY("              \
	"SELECT ctid FROM memoryd." table " WHERE tenant = $1::text LIMIT 1000))"
	static const char *const batches[] = {
	    TENANT_BATCH("checkpoint_heads"),     TENANT_BATCH("checkpoints"),
	    TENANT_BATCH("checkpoint_blobs"),     TENANT_BATCH("checkpoint_writes"),
	    TENANT_BATCH("checkpoint_heads"),     TENANT_BATCH("conversations"),
	    TENANT_BATCH("conversation_history"), TENANT_BATCH("memory_items"),
	};
#undef TENANT_BATCH
	struct pg_store *ps = (struct pg_store *)s;
	struct pg_conn *conn = conn_get(ps);
	struct pg_params p = {0};

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		long long n;
		do {
			PGresult *res = NULL;
			if (pg_conn_query(conn, batches[i], &p, &res, err) < 0) {
				pg_params_release(&p);
				return -1;
			}
			n = atoll(PQcmdTuples(res));
			PQclear(res);
			out->scanned += n;
			out->changed += n;
		} while (n >= SWEEP_BATCH);
	}
	pg_params_release(&p);
	log_warn(NULL, "tenant forgotten by an operator", LF_STR("tenant", tenant),
	         LF_INT("rows_deleted", out->changed), LF_STR("store", "postgres"));
	return 0;
}

/* ---------- health ---------- */

/* ---------- the archiver (store_ops.thread_archive) ---------- */

/* Text arrays, one per column, filled row by row. */
struct columns {
	struct pg_array a[10];
	int n;
};

static void columns_init(struct columns *c, const unsigned *oids, int n)
{
	c->n = n;
	for (int i = 0; i < n; i++)
		pg_array_init(&c->a[i], oids[i]);
}

static void columns_release(struct columns *c)
{
	for (int i = 0; i < c->n; i++)
		pg_array_release(&c->a[i]);
}

/* Run stmt with the columns, then extra (NULL: none) as the last parameter. */
static int columns_exec(struct pg_conn *conn, int stmt, const struct columns *c,
                        const long long *extra, long long *count, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	for (int i = 0; i < c->n; i++)
		pg_params_array(&p, &c->a[i]);
	if (extra)
		pg_params_int8(&p, *extra);
	int rc = pg_conn_exec(conn, (size_t)stmt, &p, &res, err);
	if (rc == 0 && count && PQntuples(res) == 1)
		*count = pg_int(res, 0, 0);
	PQclear(res);
	pg_params_release(&p);
	return rc;
}

static int ps_thread_archive(struct store *s, const struct store_ref *refs,
                             const struct cp_thread_dump *dumps, size_t n, long long keep_seconds,
                             long long *rows, struct mem_error *err)
{
	struct pg_conn *conn = pg_store_conn(s);
	static const unsigned blob_oids[] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
	                                     PG_OID_TEXT, PG_OID_TEXT, PG_OID_BYTEA};
	static const unsigned write_oids[] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
	                                      PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT,
	                                      PG_OID_TEXT, PG_OID_BYTEA};
	static const unsigned cp_oids[] = {PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
	                                   PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
	                                   PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT};
	struct columns b, w, c;
	columns_init(&b, blob_oids, 7);
	columns_init(&w, write_oids, 10);
	columns_init(&c, cp_oids, 9);
	*rows = 0;
	for (size_t i = 0; i < n; i++) {
		const struct cp_thread_dump *d = &dumps[i];
		const char *t = refs[i].tenant, *th = refs[i].id;
		for (size_t j = 0; j < d->nblobs; j++) {
			const struct cp_archived_blob *x = &d->blobs[j];
			const char *v[] = {t, th, x->ns, x->channel, x->version, x->value.type};
			for (int k = 0; k < 6; k++)
				pg_array_add_text(&b.a[k], v[k]);
			pg_array_add(&b.a[6], x->value.data, x->value.len);
		}
		for (size_t j = 0; j < d->nwrites; j++) {
			const struct cp_archived_write *x = &d->writes[j];
			const char *v[] = {t, th, x->ns, x->checkpoint_id, x->w.task_id};
			for (int k = 0; k < 5; k++)
				pg_array_add_text(&w.a[k], v[k]);
			pg_array_add_int8(&w.a[5], x->w.idx);
			pg_array_add_text(&w.a[6], x->w.task_path);
			pg_array_add_text(&w.a[7], x->w.channel);
			pg_array_add_text(&w.a[8], x->w.value.type);
			pg_array_add(&w.a[9], x->w.value.data, x->w.value.len);
		}
		for (size_t j = 0; j < d->ncps; j++) {
			const struct cp_archived_checkpoint *x = &d->cps[j];
			const char *v[] = {t,
			                   th,
			                   x->ns,
			                   x->id,
			                   x->parent ? x->parent : "",
			                   x->checkpoint,
			                   x->metadata,
			                   x->channels,
			                   x->versions};
			for (int k = 0; k < 9; k++)
				pg_array_add_text(&c.a[k], v[k]);
		}
	}
	/* the values and writes first: a checkpoint row is readable only once
	 * what it references is there */
	int rc = columns_exec(conn, ST_ARCHIVE_BLOBS, &b, &keep_seconds, NULL, err);
	if (rc == 0)
		rc = columns_exec(conn, ST_ARCHIVE_WRITES, &w, &keep_seconds, NULL, err);
	if (rc == 0)
		rc = columns_exec(conn, ST_ARCHIVE_CHECKPOINTS, &c, &keep_seconds, rows, err);
	if (rc == 0) {
		c.n = 3; /* tenant, thread, ns */
		rc = columns_exec(conn, ST_ARCHIVE_HEADS, &c, NULL, NULL, err);
		c.n = 9;
	}
	columns_release(&b);
	columns_release(&w);
	columns_release(&c);
	return rc;
}

static int ps_ping(struct store *s, struct store_status *st)
{
	struct pg_store *ps = (struct pg_store *)s;
	struct mem_error err = {0};
	PGresult *res = NULL;
	struct timespec t0, t1;

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = pg_conn_exec(conn_get(ps), ST_PING, NULL, &res, &err);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	PQclear(res);
	st->latency_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (rc < 0)
		snprintf(st->detail, sizeof(st->detail), "%s", err.message);
	st->reachable = rc == 0;
	st->state =
	    pg_state_name((enum pg_state)__atomic_load_n(&ps->health.state, __ATOMIC_RELAXED));
	st->reconnect_attempts = __atomic_load_n(&ps->health.reconnect_attempts, __ATOMIC_RELAXED);
	return rc;
}

static int ps_info(struct store *s, struct store_info *out, struct mem_error *err)
{
	struct pg_store *ps = (struct pg_store *)s;
	(void)err;
	memset(out, 0, sizeof(*out));
	out->has_memory = false; /* no Redis memory figures: PostgreSQL manages its own */
	out->rdb_last_save_age_seconds = -1;
	out->reconnects = __atomic_load_n(&ps->health.reconnects, __ATOMIC_RELAXED);
	return 0;
}

/* ---------- the sweep ---------- */

static bool sweep_stopping(struct pg_store *ps)
{
	return __atomic_load_n(&ps->stop, __ATOMIC_RELAXED);
}

/* Delete expired rows of every table, SWEEP_BATCH per statement, until none
 * is left or memoryd stops. */
static void sweep_once(struct pg_store *ps, struct pg_conn *conn)
{
	static const struct {
		int stmt;
		const char *table;
	} tables[] = {
	    {ST_SWEEP_CHECKPOINTS, "checkpoints"},    {ST_SWEEP_BLOBS, "checkpoint_blobs"},
	    {ST_SWEEP_WRITES, "checkpoint_writes"},   {ST_SWEEP_HEADS, "checkpoint_heads"},
	    {NSTMTS + PGCONV_SWEEP, "conversations"},
	};
	long long total = 0;
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		long long n, deleted = 0;
		do {
			struct mem_error err = {0};
			PGresult *res = NULL;
			if (pg_conn_exec(conn, (size_t)tables[i].stmt, NULL, &res, &err) < 0) {
				log_warn(NULL, "expired rows not swept",
				         LF_STR("table", tables[i].table),
				         LF_STR("error", err.message));
				return;
			}
			n = atoll(PQcmdTuples(res));
			PQclear(res);
			deleted += n;
		} while (n >= SWEEP_BATCH && !sweep_stopping(ps));
		if (deleted)
			log_debug(NULL, "expired rows swept", LF_STR("table", tables[i].table),
			          LF_INT("rows", deleted));
		total += deleted;
	}
	struct mem_error merr = {0};
	long long items = pg_memory_sweep(conn, &merr);
	if (items < 0)
		log_warn(NULL, "expired rows not swept", LF_STR("table", "memory_items"),
		         LF_STR("error", merr.message));
	else
		total += items;
	if (total)
		log_info(NULL, "expired postgres rows swept", LF_INT("rows", total));
}

static void *sweeper_main(void *arg)
{
	struct pg_store *ps = arg;
	struct pg_conn *conn = pg_conn_new(&ps->opts, &ps->sweep_health);

	pthread_mutex_lock(&ps->sweep_lock);
	while (!ps->stop) {
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += ps->sweep_interval_s;
		int rc = 0;
		while (!ps->stop && rc != ETIMEDOUT)
			rc = pthread_cond_timedwait(&ps->sweep_cond, &ps->sweep_lock, &until);
		if (ps->stop)
			break;
		pthread_mutex_unlock(&ps->sweep_lock);
		sweep_once(ps, conn);
		pthread_mutex_lock(&ps->sweep_lock);
	}
	pthread_mutex_unlock(&ps->sweep_lock);
	pg_conn_free(conn);
	return NULL;
}

/* ---------- lifecycle ---------- */

static void ps_free(struct store *s)
{
	struct pg_store *ps = (struct pg_store *)s;
	if (!ps)
		return;
	if (ps->sweeper_running) {
		pthread_mutex_lock(&ps->sweep_lock);
		__atomic_store_n(&ps->stop, true, __ATOMIC_RELAXED);
		pthread_cond_signal(&ps->sweep_cond);
		pthread_mutex_unlock(&ps->sweep_lock);
		pthread_join(ps->sweeper, NULL);
	}
	if (ps->key_made)
		pthread_key_delete(ps->key);
	while (ps->slots) {
		struct conn_slot *slot = ps->slots;
		ps->slots = slot->next;
		pg_conn_free(slot->conn);
		free(slot);
	}
	pthread_cond_destroy(&ps->sweep_cond);
	pthread_mutex_destroy(&ps->sweep_lock);
	pthread_mutex_destroy(&ps->lock);
	free(ps->conninfo);
	free(ps->all_stmts);
	free(ps);
}

const struct store_ops pg_store_ops = {
    .name = "postgres",
    .checkpoint_put = ps_put,
    .checkpoint_put_send = ps_put_send,
    .checkpoint_put_collect = ps_put_collect,
    .checkpoint_get = ps_get,
    .checkpoint_head = ps_head,
    .checkpoint_list = ps_list,
    .checkpoint_put_writes = ps_put_writes,
    .thread_delete = ps_thread_delete,
    .ping = ps_ping,
    .admin_backup = ps_admin_backup,
    .admin_ttl_repair = ps_admin_ttl_repair,
    .admin_thread_keys = ps_admin_thread_keys,
    .admin_checkpoint_delete = ps_admin_checkpoint_delete,
    .admin_tenant_delete = ps_admin_tenant_delete,
    .info = ps_info,
    .conv_append = pgconv_append,
    .conv_read = pgconv_read,
    .conv_meta = pgconv_meta,
    .conv_update = pgconv_update,
    .conv_list = pgconv_list,
    .conv_delete = pgconv_delete,
    .conv_ids = pgconv_ids,
    .conv_archive = pgconv_archive,
    .history_archive = pgconv_history_archive,
    .thread_archive = ps_thread_archive,
    .history_retention = pgconv_history_retention,
    .memory_put = pg_memory_put,
    .memory_get = pg_memory_get,
    .memory_delete = pg_memory_delete,
    .memory_scan = pg_memory_scan,
    .memory_cleanup = pg_memory_cleanup,
    .memory_namespaces = pg_memory_namespaces,
    .free = ps_free,
};

/* What the conversation ops (pg/conversations.c) borrow from this store (and
 * pg_store_conn, above). */
size_t pg_store_conv_stmt(int i)
{
	return NSTMTS + (size_t)i;
}

long pg_store_conv_ttl(const struct store *s)
{
	return ((const struct pg_store *)s)->conv_ttl;
}

struct store *pg_store_new(const struct config *cfg, struct mem_error *err)
{
	if (!cfg->database_url || !*cfg->database_url) {
		mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		         "the postgres store needs DATABASE_URL (postgresql://...)");
		return NULL;
	}
	struct pg_store *ps = xcalloc(1, sizeof(*ps));
	ps->base.ops = &pg_store_ops;
	pthread_mutex_init(&ps->lock, NULL);
	pthread_mutex_init(&ps->sweep_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ps->sweep_cond, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_key_create(&ps->key, slot_destructor) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot create a thread key");
		goto fail;
	}
	ps->key_made = true;
	ps->conninfo = xstrdup(cfg->database_url);
	ps->ttl = cfg->checkpoint_ttl_seconds;
	ps->sweep_interval_s = cfg->database_sweep_interval_seconds;
	ps->conv_ttl = cfg->conv_ttl_seconds;
	ps->all_stmts = xcalloc(NSTMTS + PGCONV_NSTMTS, sizeof(*ps->all_stmts));
	memcpy(ps->all_stmts, stmts, sizeof(stmts));
	memcpy(ps->all_stmts + NSTMTS, pgconv_stmts, sizeof(pgconv_stmts));
	ps->opts = (struct pg_conn_opts){
	    .conninfo = ps->conninfo,
	    .connect_timeout_ms = (int)cfg->database_connect_timeout_ms,
	    .statement_timeout_ms = (int)cfg->database_statement_timeout_ms,
	    .max_reconnect_attempts = (int)cfg->max_reconnect_attempts,
	    .stmts = ps->all_stmts,
	    .nstmts = NSTMTS + PGCONV_NSTMTS,
	};
	ps->health.state = PG_STATE_RECONNECTING;
	if (pthread_create(&ps->sweeper, NULL, sweeper_main, ps) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot start the postgres sweep thread");
		goto fail;
	}
	ps->sweeper_running = true;
	return &ps->base;
fail:
	ps_free(&ps->base);
	return NULL;
}
