#include "memory.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/buf.h"
#include "../../common/xalloc.h"

/* Items one cleanup statement deletes. */
#define CLEANUP_BATCH 1000

/* The namespace p (param $2, labels joined by U+001F; '' for all) and
 * everything below it: a range of the primary key. */
#define UNDER_PREFIX                                                                               \
	" ($2::text = '' OR ns = $2::text"                                                         \
	"  OR (ns >= $2::text || E'\\x1f' AND ns < $2::text || ' '))"
#define LIVE    " (expires_at IS NULL OR expires_at > now())"
#define MS(col) " (extract(epoch FROM " col ") * 1000)::int8"

/* Labels joined by U+001F: labels hold no control characters. */
static char *ns_join(const struct mem_ns *ns)
{
	struct buf b = {0};
	buf_append(&b, "", 0);
	for (size_t i = 0; i < ns->n; i++) {
		if (i)
			buf_putc(&b, '\x1f');
		buf_puts(&b, ns->labels[i]);
	}
	return buf_detach(&b, NULL);
}

static char **ns_split(const char *s, size_t *n)
{
	size_t cap = 1;
	for (const char *p = s; *p; p++)
		cap += *p == '\x1f';
	char **v = xcalloc(cap + 1, sizeof(*v));
	size_t k = 0;
	for (const char *p = s;;) {
		const char *e = strchr(p, '\x1f');
		v[k++] = e ? xstrndup(p, (size_t)(e - p)) : xstrdup(p);
		if (!e)
			break;
		p = e + 1;
	}
	*n = k;
	return v;
}

/* Where an item lives, for the log: postgres:memory:{tenant}:<labels>:<key>. */
static char *row_name(const char *tenant, char *const *labels, size_t n, const char *key)
{
	struct buf b = {0};
	buf_printf(&b, "postgres:memory:{%s}", tenant);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, ":%s", labels[i]);
	buf_printf(&b, ":%s", key);
	return buf_detach(&b, NULL);
}

/* A statement about one tenant and namespace: $1 tenant, $2 the namespace
 * joined; the caller adds the rest. */
struct q {
	struct pg_params p;
	PGresult *res;
	char *ns;
};

static void q_init(struct q *q, const char *tenant, const struct mem_ns *ns)
{
	memset(q, 0, sizeof(*q));
	q->ns = ns_join(ns);
	pg_params_text(&q->p, tenant);
	pg_params_text(&q->p, q->ns);
}

static int q_run(struct q *q, struct store *s, const char *sql, struct mem_error *err)
{
	PQclear(q->res);
	q->res = NULL;
	return pg_conn_query(pg_store_conn(s), sql, &q->p, &q->res, err);
}

static void q_release(struct q *q)
{
	PQclear(q->res);
	pg_params_release(&q->p);
	free(q->ns);
}

static long long col_ms(const PGresult *r, int row, int col)
{
	return pg_isnull(r, row, col) ? 0 : pg_int(r, row, col);
}

static char *col_text(const PGresult *r, int row, int col)
{
	return pg_isnull(r, row, col) ? xstrdup("")
	                              : xstrndup(pg_text(r, row, col), pg_len(r, row, col));
}

static int precondition(const PGresult *res, int col, const char *if_match, const char *key,
                        struct mem_error *err)
{
	if (pg_isnull(res, 0, col))
		return mem_fail(err, MEM_EPRECONDITION, "If-Match",
		                "If-Match %s does not hold: there is no item %s in that namespace",
		                if_match, key);
	return mem_fail(err, MEM_EPRECONDITION, "If-Match",
	                "If-Match %s does not hold: item %s is at version \"%lld\"", if_match, key,
	                pg_int(res, 0, col));
}

int pg_memory_put(struct store *s, const char *tenant, const struct mem_put *req,
                  struct mem_item *out, struct mem_error *err)
{
	struct q q;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	q_init(&q, tenant, &req->ns);
	pg_params_text(&q.p, req->key);
	pg_params_text(&q.p, req->value_json);
	pg_params_int8(&q.p, req->ttl_seconds);
	pg_params_text(&q.p, req->if_match);
	pg_params_text(&q.p, req->version);
	if (q_run(&q, s,
	          "SELECT status, version," MS("created_at") "," MS("updated_at") "," MS(
	              "expires_at") " FROM memoryd.memory_put_as($1::text, $2::text, $3::text,"
	                            " $4::text, $5::int8, $6::text, $7::text::int8)",
	          err) < 0)
		goto out;
	if (PQntuples(q.res) != 1) {
		mem_fail(err, MEM_EINTERNAL, NULL, "memory put: %d rows", PQntuples(q.res));
		goto out;
	}
	if (strcmp(pg_text(q.res, 0, 0), "ok")) {
		precondition(q.res, 1, req->if_match, req->key, err);
		goto out;
	}
	out->version = xasprintf("%lld", pg_int(q.res, 0, 1));
	out->created_ms = col_ms(q.res, 0, 2);
	out->updated_ms = col_ms(q.res, 0, 3);
	out->expires_ms = col_ms(q.res, 0, 4);
	ret = 0;
out:
	q_release(&q);
	return ret;
}

/* An item's TTL for a refresh: a row without ttl_seconds (put before 0008)
 * takes expires_at - updated_at. */
#define REFRESH_TTL                                                                                \
	"COALESCE(i.ttl_seconds, round(extract(epoch FROM i.expires_at - i.updated_at))::int8)"

#define ITEM_COLS "value, version," MS("created_at") "," MS("updated_at") "," MS("expires_at")
#define THE_ITEM  " tenant = $1::text AND ns = $2::text AND key = $3::text"
#define GET_ITEM  "SELECT " ITEM_COLS " FROM memoryd.memory_items WHERE" THE_ITEM " AND" LIVE
/* The get with refresh_ttl in one statement: the item's TTL starts again
 * (an item that expires), or it is read as it is (one that does not). */
#define GET_REFRESHED                                                                              \
	"WITH t AS (UPDATE memoryd.memory_items AS i SET ttl_seconds = " REFRESH_TTL ","           \
	" expires_at = now() + make_interval(secs => (" REFRESH_TTL ")::float8)"                   \
	" WHERE" THE_ITEM " AND i.expires_at > now() AND " REFRESH_TTL " > 0"                      \
	" RETURNING i.value, i.version, i.created_at, i.updated_at, i.expires_at)"                 \
	" SELECT " ITEM_COLS " FROM t UNION ALL " GET_ITEM " AND NOT EXISTS (SELECT 1 FROM t)"

int pg_memory_get(struct store *s, const char *tenant, const struct mem_ref *ref,
                  struct mem_item *out, struct mem_error *err)
{
	struct q q;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	q_init(&q, tenant, &ref->ns);
	pg_params_text(&q.p, ref->key);
	if (q_run(&q, s, ref->refresh_ttl ? GET_REFRESHED : GET_ITEM, err) < 0)
		goto out;
	if (PQntuples(q.res) != 1) {
		mem_fail(err, MEM_ENOT_FOUND, "key", "no memory item %s in that namespace",
		         ref->key);
		goto out;
	}
	out->value_json = col_text(q.res, 0, 0);
	out->value_len = pg_len(q.res, 0, 0);
	out->version = xasprintf("%lld", pg_int(q.res, 0, 1));
	out->created_ms = col_ms(q.res, 0, 2);
	out->updated_ms = col_ms(q.res, 0, 3);
	out->expires_ms = col_ms(q.res, 0, 4);
	out->key = xstrdup(ref->key);
	out->ns = ns_split(q.ns, &out->nns);
	out->store_key = row_name(tenant, out->ns, out->nns, ref->key);
	ret = 0;
out:
	q_release(&q);
	return ret;
}

int pg_memory_delete(struct store *s, const char *tenant, const struct mem_ref *ref, bool *deleted,
                     struct mem_error *err)
{
	struct q q;
	int ret = -1;

	*deleted = false;
	q_init(&q, tenant, &ref->ns);
	pg_params_text(&q.p, ref->key);
	pg_params_text(&q.p, ref->if_match);
	if (q_run(&q, s,
	          "SELECT status, deleted, version FROM memoryd.memory_delete($1::text,"
	          " $2::text, $3::text, $4::text)",
	          err) < 0)
		goto out;
	if (PQntuples(q.res) != 1) {
		mem_fail(err, MEM_EINTERNAL, NULL, "memory delete: %d rows", PQntuples(q.res));
		goto out;
	}
	if (strcmp(pg_text(q.res, 0, 0), "ok")) {
		precondition(q.res, 2, ref->if_match, ref->key, err);
		goto out;
	}
	*deleted = pg_int(q.res, 0, 1) > 0;
	ret = 0;
out:
	q_release(&q);
	return ret;
}

int pg_memory_scan(struct store *s, const char *tenant, const struct mem_scan *req,
                   struct mem_items *out, bool *more, struct mem_error *err)
{
	struct q q;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	*more = false;
	q_init(&q, tenant, &req->prefix);
	pg_params_text(&q.p, req->before);
	pg_params_int8(&q.p, (long long)req->n + 1);
	pg_params_int8(&q.p, req->max_bytes ? (long long)req->max_bytes : INT64_MAX);
	/* the rows whose values fit $5 (the first always), and how many the
	 * limit gave before that cut */
	if (q_run(
	        &q, s,
	        "SELECT ns, key, value, version, c, u, x, n FROM (SELECT *, "
	        "sum(octet_length(value))"
	        " OVER (ORDER BY version DESC ROWS UNBOUNDED PRECEDING) - octet_length(value)"
	        " AS run, count(*) OVER () AS n FROM (SELECT ns, key, value, version," MS(
	            "created_at") " AS c," MS("updated_at") " AS u," MS("expires_at") " AS x FROM "
	                                                                              "memoryd."
	                                                                              "memory_"
	                                                                              "items WHERE "
	                                                                              "tenant = "
	                                                                              "$1::text"
	                                                                              " AN"
	                                                                              "D" UNDER_PREFIX
	                                                                              " AND" LIVE
	                                                                              " AND "
	                                                                              "($3::text "
	                                                                              "IS NULL OR "
	                                                                              "version < "
	                                                                              "$3::text::"
	                                                                              "int8)"
	                                                                              " ORDER BY "
	                                                                              "version "
	                                                                              "DESC LIMIT "
	                                                                              "$4::int8) "
	                                                                              "l) w"
	                                                                              " WHERE run "
	                                                                              "= 0 OR run "
	                                                                              "+ "
	                                                                              "octet_"
	                                                                              "length("
	                                                                              "value) <= "
	                                                                              "$5::int8"
	                                                                              " ORDER BY "
	                                                                              "version "
	                                                                              "DESC",
	        err) < 0)
		goto out;
	int rows = PQntuples(q.res);
	bool cut = rows > 0 && pg_int(q.res, 0, 7) > rows;
	if (req->work)
		*req->work -= rows + 1; /* one indexed statement: the rows it read */
	*more = (size_t)rows > req->n || cut;
	if ((size_t)rows > req->n)
		rows = (int)req->n;
	out->v = xcalloc((size_t)rows + 1, sizeof(*out->v));
	for (int i = 0; i < rows; i++) {
		struct mem_item *it = &out->v[out->n++];
		it->ns = ns_split(pg_text(q.res, i, 0), &it->nns);
		it->key = col_text(q.res, i, 1);
		it->value_json = col_text(q.res, i, 2);
		it->value_len = pg_len(q.res, i, 2);
		it->version = xasprintf("%lld", pg_int(q.res, i, 3));
		it->created_ms = col_ms(q.res, i, 4);
		it->updated_ms = col_ms(q.res, i, 5);
		it->expires_ms = col_ms(q.res, i, 6);
		it->store_key = row_name(tenant, it->ns, it->nns, it->key);
	}
	ret = 0;
out:
	q_release(&q);
	return ret;
}

/* Rows are locked in key order, so two refreshes of the same items cannot
 * deadlock. */
int pg_memory_refresh(struct store *s, const char *tenant, struct mem_item *items, size_t n,
                      struct mem_error *err)
{
	struct pg_params p = {0};
	struct pg_array ns, key;
	PGresult *res = NULL;
	size_t m = 0;
	int ret = -1;

	char **joined = xcalloc(n + 1, sizeof(*joined));
	pg_array_init(&ns, PG_OID_TEXT);
	pg_array_init(&key, PG_OID_TEXT);
	for (size_t i = 0; i < n; i++) {
		if (items[i].expires_ms <= 0)
			continue;
		struct mem_ns x = {(const char *const *)items[i].ns, items[i].nns};
		joined[i] = ns_join(&x);
		pg_array_add_text(&ns, joined[i]);
		pg_array_add_text(&key, items[i].key);
		m++;
	}
	if (!m) {
		ret = 0;
		goto out;
	}
	pg_params_text(&p, tenant);
	pg_params_array(&p, &ns);
	pg_params_array(&p, &key);
	if (pg_conn_query(pg_store_conn(s),
	                  "WITH r AS (SELECT i.ns, i.key, " REFRESH_TTL " AS ttl"
	                  " FROM memoryd.memory_items i"
	                  " JOIN unnest($2::text[], $3::text[]) AS x(ns, key)"
	                  " ON i.ns = x.ns AND i.key = x.key"
	                  " WHERE i.tenant = $1::text AND i.expires_at > now()"
	                  " ORDER BY i.ns, i.key FOR UPDATE OF i)"
	                  " UPDATE memoryd.memory_items AS i SET ttl_seconds = r.ttl,"
	                  " expires_at = now() + make_interval(secs => r.ttl::float8)"
	                  " FROM r WHERE i.tenant = $1::text AND i.ns = r.ns AND i.key = r.key"
	                  " AND r.ttl > 0"
	                  " RETURNING i.ns, i.key," MS("i.expires_at"),
	                  &p, &res, err) < 0)
		goto out;
	for (int r = 0; r < PQntuples(res); r++) {
		const char *rns = pg_text(res, r, 0), *rkey = pg_text(res, r, 1);
		for (size_t i = 0; i < n; i++)
			if (joined[i] && !strcmp(joined[i], rns) && !strcmp(items[i].key, rkey))
				items[i].expires_ms = col_ms(res, r, 2);
	}
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&ns);
	pg_array_release(&key);
	for (size_t i = 0; i < n; i++)
		free(joined[i]);
	free(joined);
	return ret;
}

int pg_memory_cleanup(struct store *s, const char *tenant, const struct mem_ns *prefix,
                      long long *deleted, struct mem_error *err)
{
	struct q q;
	long long n;
	int ret = -1;

	*deleted = 0;
	q_init(&q, tenant, prefix);
	do {
		/* LIMIT is CLEANUP_BATCH */
		if (q_run(&q, s,
		          "WITH d AS (DELETE FROM memoryd.memory_items WHERE ctid = ANY(ARRAY("
		          " SELECT ctid FROM memoryd.memory_items"
		          " WHERE tenant = $1::text AND" UNDER_PREFIX " LIMIT 1000 FOR UPDATE))"
		          " RETURNING expires_at)"
		          " SELECT count(*), count(*) FILTER (WHERE" LIVE ") FROM d",
		          err) < 0)
			goto out;
		n = pg_int(q.res, 0, 0);
		*deleted += pg_int(q.res, 0, 1);
	} while (n >= CLEANUP_BATCH);
	ret = 0;
out:
	q_release(&q);
	return ret;
}

int pg_memory_namespaces(struct store *s, const char *tenant, const struct mem_ns *prefix,
                         struct mem_ns_list *out, struct mem_error *err)
{
	struct q q;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	q_init(&q, tenant, prefix);
	pg_params_int8(&q.p, MEM_NS_LIST_MAX);
	if (q_run(&q, s,
	          "SELECT DISTINCT ns FROM memoryd.memory_items WHERE tenant = $1::text"
	          " AND" UNDER_PREFIX " AND" LIVE " ORDER BY ns LIMIT $3::int8",
	          err) < 0)
		goto out;
	for (int i = 0; i < PQntuples(q.res); i++) {
		size_t n;
		char **labels = ns_split(pg_text(q.res, i, 0), &n);
		mem_ns_list_add(out, (const char *const *)labels, n);
		for (size_t k = 0; k < n; k++)
			free(labels[k]);
		free(labels);
	}
	ret = 0;
out:
	q_release(&q);
	return ret;
}

long long pg_memory_sweep(struct pg_conn *conn, struct mem_error *err)
{
	long long total = 0, n;
	do {
		PGresult *res = NULL;
		if (pg_conn_query(conn,
		                  "DELETE FROM memoryd.memory_items WHERE ctid = ANY(ARRAY("
		                  "SELECT ctid FROM memoryd.memory_items WHERE expires_at <= now()"
		                  " LIMIT 1000 FOR UPDATE SKIP LOCKED))",
		                  NULL, &res, err) < 0)
			return -1;
		n = atoll(PQcmdTuples(res));
		PQclear(res);
		total += n;
	} while (n >= CLEANUP_BATCH);
	return total;
}
