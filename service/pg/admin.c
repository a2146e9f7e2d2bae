#include "admin.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"

int pg_admin_backup(struct store *s, long long *last_save, struct mem_error *err)
{
	(void)s;
	*last_save = 0;
	return mem_fail(err, MEM_EINVALID_FIELD, NULL,
	                "backup is not supported on postgres: memoryd holds no snapshot of its "
	                "own there; use the database's backups (pg_dump, base backups, PITR)");
}

int pg_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err)
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
int pg_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
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
	struct pg_params p = {0};
	PGresult *res = NULL;

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	int rc = pg_conn_query(pg_store_conn(s), sql, &p, &res, err);
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

int pg_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                               const char *ns, const char *id, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;

	pg_params_text(&p, tenant);
	pg_params_text(&p, thread);
	pg_params_text(&p, ns);
	pg_params_text(&p, id);
	int rc = pg_conn_query(pg_store_conn(s),
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
int pg_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
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
	struct pg_conn *conn = pg_store_conn(s);
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
		} while (n >= PG_DELETE_BATCH);
	}
	pg_params_release(&p);
	log_warn(NULL, "tenant forgotten by an operator", LF_STR("tenant", tenant),
	         LF_INT("rows_deleted", out->changed), LF_STR("store", "postgres"));
	return 0;
}
