#include "checkpoints.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/xalloc.h"

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

const struct pg_stmt pg_checkpoint_stmts[PG_NSTMTS] = {
    [PG_ST_PUT] = {"memoryd_put",
                   "SELECT memoryd.checkpoint_put($1::text, $2::text, $3::text, $4::text, $5::text,"
                   " $6::text, $7::text, $8::text[], $9::text[], $10::text[], $11::text[],"
                   " $12::text[], $13::bytea[], $14::int8)"},
    [PG_ST_WRITES] = {"memoryd_writes",
                      "SELECT memoryd.checkpoint_put_writes($1::text, $2::text, $3::text, $4::text,"
                      " $5::text, $6::text, $7::text[], $8::int8[], $9::text[], $10::bytea[],"
                      " $11::bool, $12::int8)"},
    [PG_ST_GET_LATEST] =
        {"memoryd_get_latest",
         "WITH k AS (SELECT 0 AS ord, x.thread_id, x.checkpoint_ns, x.checkpoint_id"
         " FROM memoryd.checkpoints x WHERE x.tenant = $1::text"
         " AND x.thread_id = $2::text AND x.checkpoint_ns = $3::text"
         " AND x.expires_at > now() ORDER BY x.checkpoint_id DESC LIMIT 1)" TUPLE_ROWS " UNION ALL"
         " SELECT 0, 3, h.checkpoint_id, NULL, NULL, NULL, h.generation, NULL"
         " FROM memoryd.checkpoint_heads h WHERE h.tenant = $1::text"
         " AND h.thread_id = $2::text AND h.checkpoint_ns = $3::text"
         " AND h.expires_at > now()" TUPLE_ORDER},
    [PG_ST_GET_BY_ID] =
        {"memoryd_get_by_id",
         "WITH k AS (SELECT 0 AS ord, $2::text AS thread_id,"
         " $3::text AS checkpoint_ns, $4::text AS checkpoint_id)" TUPLE_ROWS TUPLE_ORDER},
    [PG_ST_HEAD] = {"memoryd_head",
                    "SELECT h.generation, h.checkpoint_id FROM memoryd.checkpoint_heads h"
                    " WHERE h.tenant = $1::text AND h.thread_id = $2::text"
                    " AND h.checkpoint_ns = $3::text AND h.expires_at > now()"},
    [PG_ST_HEAD_REPAIR] = {"memoryd_head_repair",
                           "SELECT memoryd.checkpoint_head_repair($1::text, $2::text, $3::text)"},
    [PG_ST_LIST_KEYS] = {"memoryd_list_keys",
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
    [PG_ST_LIST_TUPLES] =
        {"memoryd_list_tuples",
         "WITH k AS (SELECT u.ord, u.thread_id, u.checkpoint_ns, u.checkpoint_id"
         " FROM unnest($2::text[], $3::text[], $4::text[]) WITH ORDINALITY"
         " AS u(thread_id, checkpoint_ns, checkpoint_id, ord))" TUPLE_ROWS TUPLE_ORDER},
    [PG_ST_THREAD_DELETE] = {"memoryd_thread_delete",
                             "SELECT memoryd.thread_delete($1::text, $2::text)"},
};

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
	c->conn = pg_store_conn(&ps->base);
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

int pg_checkpoint_put(struct store *s, const char *tenant, const struct cp_put *r,
                      struct mem_error *err)
{
	struct put_call *c = put_call_new(pg_store_of(s), tenant, r);
	PGresult *res = NULL;
	int rc = pg_conn_exec(c->conn, PG_ST_PUT, &c->p, &res, err);
	PQclear(res);
	put_call_free(c);
	return rc;
}

int pg_checkpoint_put_send(struct store *s, const char *tenant, const struct cp_put *r,
                           void **pending, struct mem_error *err)
{
	(void)err;
	struct put_call *c = put_call_new(pg_store_of(s), tenant, r);
	pg_conn_send(c->conn, PG_ST_PUT, &c->p);
	*pending = c;
	return 0;
}

int pg_checkpoint_put_collect(struct store *s, void *pending, struct mem_error *err)
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
				*head_id = pg_col_dup(r, i, COL_A);
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
			t->checkpoint_id = pg_col_dup(r, i, COL_A);
			t->checkpoint_json = pg_col_dup(r, i, COL_B);
			t->metadata_json = pg_col_dup(r, i, COL_C);
			if (!t->metadata_json)
				t->metadata_json = xstrdup("{}");
			t->parent_id = pg_col_dup(r, i, COL_D);
		} else if (kind == 1) {
			const char *type = pg_text(r, i, COL_B);
			if (!strcmp(type, "empty"))
				continue; /* the channel has no value */
			struct cp_channel_value *cv = &t->values[t->nvalues++];
			cv->channel = pg_col_dup(r, i, COL_A);
			col_value(r, i, type, &cv->value);
		} else if (kind == 2) {
			struct cp_pending_write *w = &t->writes[t->nwrites++];
			w->task_id = pg_col_dup(r, i, COL_A);
			w->task_path = pg_col_dup(r, i, COL_B);
			w->channel = pg_col_dup(r, i, COL_C);
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
	int rc = pg_conn_exec(conn, PG_ST_GET_LATEST, &p, &res, err);
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

int pg_checkpoint_get(struct store *s, const char *tenant, const struct cp_get *req,
                      struct cp_tuple *out, struct mem_error *err)
{
	struct pg_conn *conn = pg_store_conn(s);
	int found;

	memset(out, 0, sizeof(*out));
	if (req->checkpoint_id) {
		struct pg_params p = {0};
		PGresult *res = NULL;
		pg_params_text(&p, tenant);
		pg_params_text(&p, req->thread_id);
		pg_params_text(&p, req->ns);
		pg_params_text(&p, req->checkpoint_id);
		int rc = pg_conn_exec(conn, PG_ST_GET_BY_ID, &p, &res, err);
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
			int rc = pg_conn_exec(conn, PG_ST_HEAD_REPAIR, &p, &res, err);
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
int pg_checkpoint_head(struct store *s, const char *tenant, const char *thread, const char *ns,
                       char **version, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;

	*version = NULL;
	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	pg_params_text(&p, ns);
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_HEAD, &p, &res, err);
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
int pg_checkpoint_list(struct store *s, const char *tenant, const struct cp_list *req,
                       struct cp_list_result *out, struct mem_error *err)
{
	struct pg_conn *conn = pg_store_conn(s);
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
		int rc = pg_conn_exec(conn, PG_ST_LIST_KEYS, &p, &keys, err);
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
		int rc = pg_conn_exec(conn, PG_ST_LIST_TUPLES, &p, &res, err);
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

int pg_checkpoint_put_writes(struct store *s, const char *tenant, const struct cp_put_writes *r,
                             struct mem_error *err)
{
	struct pg_store *ps = pg_store_of(s);
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
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_WRITES, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&ch);
	pg_array_release(&idx);
	pg_array_release(&type);
	pg_array_release(&bytes);
	return rc;
}

/* ---------- delete ---------- */

int pg_thread_delete(struct store *s, const char *tenant, const char *thread, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;

	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_THREAD_DELETE, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	return rc;
}
