#include "archive.h"

#include <stdlib.h>

#include "../../common/xalloc.h"

const struct pg_stmt pg_archive_stmts[PG_NSTMTS] = {
    /* whole threads, many per statement; a row already there takes what
     * Redis held and keeps the later expiry */
    [PG_ST_ARCHIVE_BLOBS] =
        {"memoryd_archive_blobs",
         "INSERT INTO memoryd.checkpoint_blobs AS b (tenant, thread_id,"
         " checkpoint_ns, channel, version, type, bytes, expires_at)"
         " SELECT u.t, u.th, u.ns, u.ch, u.ve, u.ty, u.by,"
         " now() + make_interval(secs => $8::int8)"
         " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],"
         " $6::text[], $7::bytea[]) AS u(t, th, ns, ch, ve, ty, by)"
         " ON CONFLICT (tenant, thread_id, checkpoint_ns, channel, version)"
         " DO UPDATE SET type = EXCLUDED.type, bytes = EXCLUDED.bytes,"
         " expires_at = GREATEST(b.expires_at, EXCLUDED.expires_at)"},
    [PG_ST_ARCHIVE_WRITES] =
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
    [PG_ST_ARCHIVE_CHECKPOINTS] =
        {"memoryd_archive_checkpoints",
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
    [PG_ST_ARCHIVE_HEADS] = {"memoryd_archive_heads",
                             "SELECT count(memoryd.checkpoint_head_repair(u.t, u.th, u.ns))::int8"
                             " FROM (SELECT DISTINCT t, th, ns FROM unnest($1::text[], $2::text[],"
                             " $3::text[]) AS x(t, th, ns)) u"},
    /* many conversations' messages in one statement, one row each */
    [PG_ST_HISTORY_ARCHIVE] =
        {"memoryd_history_archive",
         "WITH ins AS (INSERT INTO memoryd.conversation_history (tenant, conversation_id,"
         " customer_id, seq, message_id, role, content, metadata, created_at)"
         " SELECT u.t, u.c, nullif(u.cu, ''), u.seq, nullif(u.id, ''), u.role, u.content,"
         " coalesce(nullif(u.md, '')::jsonb, '{}'::jsonb), " PG_FROM_MS(
             "u.ms") " FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[],"
                     " $6::text[], $7::text[], $8::text[], $9::int8[])"
                     " AS u(t, c, cu, seq, id, role, content, md, ms)"
                     " ON CONFLICT DO NOTHING RETURNING 1),"
                     /* each conversation's row: its metadata survives archival, the
                      * customer list finds it, and its numbering continues */
                     " conv AS (INSERT INTO memoryd.conversations AS c (tenant, conversation_id,"
                     " customer_id, metadata, epoch, last_seq, created_at, updated_at,"
                     " expires_at)"
                     " SELECT v.t, v.c, nullif(v.cu, ''), coalesce(nullif(v.md, ''), '{}'),"
                     " v.ep, v.ls, " PG_FROM_MS("v.cr") ", " PG_FROM_MS("v.up") ", " PG_FROM_MS(
                         "v.up") " + $18::int8 * interval '1 second'"
                                 " FROM unnest($10::text[], $11::text[], $12::text[],"
                                 " $13::text[], $14::text[], $15::int8[], $16::int8[],"
                                 " $17::int8[]) AS v(t, c, cu, md, ep, ls, cr, up)"
                                 " ON CONFLICT (tenant, conversation_id) DO UPDATE SET"
                                 " customer_id = EXCLUDED.customer_id,"
                                 " metadata = EXCLUDED.metadata, epoch = EXCLUDED.epoch,"
                                 " last_seq = EXCLUDED.last_seq,"
                                 " updated_at = EXCLUDED.updated_at,"
                                 " expires_at = greatest(c.expires_at, EXCLUDED.expires_at)"
                                 " WHERE c.last_seq <= EXCLUDED.last_seq RETURNING 1)"
                                 " SELECT count(*)::int8 FROM ins"},
    /* the next rows older than the cutoff, after a key, in key order */
    [PG_ST_HISTORY_OLD] = {"memoryd_history_old",
                           "SELECT tenant, conversation_id, customer_id, seq, message_id, role,"
                           " content, metadata::text, " PG_MS(
                               "created_at") " FROM memoryd.conversation_history"
                                             " WHERE created_at < " PG_FROM_MS(
                                                 "$1") " AND (tenant, conversation_id, seq) >"
                                                       " ($2::text, $3::text, $4::int8)"
                                                       " ORDER BY tenant, conversation_id, seq"
                                                       " LIMIT $5::int8"},
    /* exactly the rows named, if they are still older than the cutoff */
    [PG_ST_HISTORY_DELETE] = {"memoryd_history_delete",
                              "DELETE FROM memoryd.conversation_history h"
                              " USING unnest($2::text[], $3::text[], $4::int8[]) AS k(t, c, s)"
                              " WHERE h.tenant = k.t AND h.conversation_id = k.c AND h.seq = k.s"
                              " AND h.created_at < " PG_FROM_MS("$1")},
};

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

int pg_thread_archive(struct store *s, const struct store_ref *refs,
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
	int rc = columns_exec(conn, PG_ST_ARCHIVE_BLOBS, &b, &keep_seconds, NULL, err);
	if (rc == 0)
		rc = columns_exec(conn, PG_ST_ARCHIVE_WRITES, &w, &keep_seconds, NULL, err);
	if (rc == 0)
		rc = columns_exec(conn, PG_ST_ARCHIVE_CHECKPOINTS, &c, &keep_seconds, rows, err);
	if (rc == 0) {
		c.n = 3; /* tenant, thread, ns */
		rc = columns_exec(conn, PG_ST_ARCHIVE_HEADS, &c, NULL, NULL, err);
		c.n = 9;
	}
	columns_release(&b);
	columns_release(&w);
	columns_release(&c);
	return rc;
}

/* ---------- conversations (store_ops.history_archive, history_retention) ---------- */

int pg_history_archive(struct store *s, const struct store_ref *refs, const struct conv_page *dumps,
                       size_t n, long long keep_seconds, long long *inserted, struct mem_error *err)
{
	enum { NA = 17 }; /* 9 per message, 8 per conversation */
	struct pg_params p = {0};
	struct pg_array a[NA];
	static const unsigned oids[NA] = {
	    PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT,
	    PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_TEXT, PG_OID_TEXT, PG_OID_TEXT,
	    PG_OID_TEXT, PG_OID_TEXT, PG_OID_INT8, PG_OID_INT8, PG_OID_INT8};
	PGresult *res = NULL;

	*inserted = 0;
	for (int k = 0; k < NA; k++)
		pg_array_init(&a[k], oids[k]);
	for (size_t i = 0; i < n; i++) {
		const struct conv_page *d = &dumps[i];
		pg_array_add_text(&a[9], refs[i].tenant);
		pg_array_add_text(&a[10], refs[i].id);
		pg_array_add_text(&a[11], d->customer_id ? d->customer_id : "");
		pg_array_add_text(&a[12], d->metadata_json ? d->metadata_json : "");
		pg_array_add_text(&a[13], d->epoch ? d->epoch : "");
		pg_array_add_int8(&a[14], d->last_seq);
		pg_array_add_int8(&a[15], d->created_ms);
		pg_array_add_int8(&a[16], d->updated_ms ? d->updated_ms : d->created_ms);
		for (size_t j = 0; j < d->n; j++) {
			const struct conv_message *m = &d->v[j];
			pg_array_add_text(&a[0], refs[i].tenant);
			pg_array_add_text(&a[1], refs[i].id);
			pg_array_add_text(&a[2], d->customer_id ? d->customer_id : "");
			pg_array_add_int8(&a[3], m->seq);
			pg_array_add_text(&a[4], m->id ? m->id : "");
			pg_array_add_text(&a[5], m->role);
			pg_array_add(&a[6], m->content, m->content_len);
			pg_array_add_text(&a[7], m->metadata_json ? m->metadata_json : "");
			pg_array_add_int8(&a[8], m->created_at_ms);
		}
	}
	for (int k = 0; k < NA; k++)
		pg_params_array(&p, &a[k]);
	pg_params_int8(&p, keep_seconds);
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_HISTORY_ARCHIVE, &p, &res, err);
	if (rc == 0)
		*inserted = pg_int(res, 0, 0);
	PQclear(res);
	pg_params_release(&p);
	for (int k = 0; k < NA; k++)
		pg_array_release(&a[k]);
	return rc;
}

static void history_rows_release(struct history_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rows[i].tenant);
		free(rows[i].conversation_id);
		free(rows[i].customer_id);
		free(rows[i].message_id);
		free(rows[i].role);
		free(rows[i].content);
		free(rows[i].metadata_json);
	}
	free(rows);
}

/* Delete the rows of one batch (exactly those) still older than cutoff. */
static int history_delete(struct store *s, long long cutoff_ms, const struct history_row *rows,
                          size_t n, long long *deleted, struct mem_error *err)
{
	struct pg_params p = {0};
	struct pg_array t, c, q;
	PGresult *res = NULL;
	pg_array_init(&t, PG_OID_TEXT);
	pg_array_init(&c, PG_OID_TEXT);
	pg_array_init(&q, PG_OID_INT8);
	for (size_t i = 0; i < n; i++) {
		pg_array_add_text(&t, rows[i].tenant);
		pg_array_add_text(&c, rows[i].conversation_id);
		pg_array_add_int8(&q, rows[i].seq);
	}
	pg_params_int8(&p, cutoff_ms);
	pg_params_array(&p, &t);
	pg_params_array(&p, &c);
	pg_params_array(&p, &q);
	int rc = pg_conn_exec(pg_store_conn(s), PG_ST_HISTORY_DELETE, &p, &res, err);
	if (rc == 0)
		*deleted += atoll(PQcmdTuples(res));
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&t);
	pg_array_release(&c);
	pg_array_release(&q);
	return rc;
}

int pg_history_retention(struct store *s, long long cutoff_ms, size_t limit,
                         int (*each_batch)(void *ctx, const struct history_row *rows, size_t n,
                                           struct mem_error *err),
                         void *ctx, long long *deleted, struct mem_error *err)
{
	char *after_t = xstrdup(""), *after_c = xstrdup("");
	long long after_seq = 0;
	int ret = -1;

	*deleted = 0;
	for (;;) {
		struct pg_params p = {0};
		PGresult *res = NULL;
		pg_params_int8(&p, cutoff_ms);
		pg_params_text(&p, after_t);
		pg_params_text(&p, after_c);
		pg_params_int8(&p, after_seq);
		pg_params_int8(&p, (long long)limit);
		int rc = pg_conn_exec(pg_store_conn(s), PG_ST_HISTORY_OLD, &p, &res, err);
		pg_params_release(&p);
		if (rc < 0)
			goto out;
		size_t n = (size_t)PQntuples(res);
		struct history_row *rows = xcalloc(n + 1, sizeof(*rows));
		for (size_t i = 0; i < n; i++) {
			int r = (int)i;
			rows[i].tenant = pg_col_dup(res, r, 0);
			rows[i].conversation_id = pg_col_dup(res, r, 1);
			rows[i].customer_id = pg_col_dup(res, r, 2);
			rows[i].seq = pg_int(res, r, 3);
			rows[i].message_id = pg_col_dup(res, r, 4);
			rows[i].role = pg_col_dup(res, r, 5);
			rows[i].content = pg_col_dup(res, r, 6);
			rows[i].content_len = pg_len(res, r, 6);
			rows[i].metadata_json = pg_col_dup(res, r, 7);
			rows[i].created_at_ms = pg_int(res, r, 8);
		}
		PQclear(res);
		rc = 0;
		if (n && each_batch)
			rc = each_batch(ctx, rows, n, err);
		if (rc == 0 && n)
			rc = history_delete(s, cutoff_ms, rows, n, deleted, err);
		if (rc == 0 && n) {
			free(after_t);
			free(after_c);
			after_t = xstrdup(rows[n - 1].tenant);
			after_c = xstrdup(rows[n - 1].conversation_id);
			after_seq = rows[n - 1].seq;
		}
		history_rows_release(rows, n);
		if (rc < 0)
			goto out;
		if (n < limit)
			break;
	}
	ret = 0;
out:
	free(after_t);
	free(after_c);
	return ret;
}
