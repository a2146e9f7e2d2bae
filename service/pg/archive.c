#include "archive.h"

#include "../../common/xalloc.h"

/* the archiver: whole threads, many per statement; a row already there
 * takes what Redis held and keeps the later expiry */
const struct pg_stmt pg_archive_stmts[PG_NSTMTS] = {
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
