#include "conversations.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/xalloc.h"

#define TTL_LEFT(col) "GREATEST(0, ceil(extract(epoch FROM " col " - now())))::int8"
#define CONV_KEY      "tenant = $1::text AND conversation_id = $2::text"

/* A page: one header row (kind 0: last seq, first seq held, epoch,
 * customer), absent when the conversation has neither a live row nor
 * history, then the messages (kind 1: seq, -, id, role, content, metadata,
 * created ms). A conversation without a live row (archived history only) is
 * described by its history. The messages stop where their content and
 * metadata pass a number of bytes (the first always comes): a parameter of
 * each statement, counted in the order the statement reads. */
#define PAGE_HEAD                                                                                  \
	"WITH c AS (SELECT last_seq, epoch, customer_id FROM memoryd.conversations"                \
	" WHERE " CONV_KEY " AND expires_at > now()),"                                             \
	" lo AS (SELECT seq FROM memoryd.conversation_history WHERE " CONV_KEY                     \
	" ORDER BY seq LIMIT 1),"                                                                  \
	" hi AS (SELECT seq, customer_id FROM memoryd.conversation_history WHERE " CONV_KEY        \
	" ORDER BY seq DESC LIMIT 1)"                                                              \
	" SELECT 0::int4, coalesce((SELECT last_seq FROM c), (SELECT seq FROM hi)),"               \
	" (SELECT seq FROM lo), (SELECT epoch FROM c),"                                            \
	" coalesce((SELECT customer_id FROM c), (SELECT customer_id FROM hi)), NULL::text,"        \
	" NULL::text, NULL::int8"                                                                  \
	" WHERE EXISTS (SELECT 1 FROM c) OR EXISTS (SELECT 1 FROM hi)"                             \
	" UNION ALL SELECT k, seq, x, message_id, role, content, md, ms FROM (SELECT *,"           \
	" row_number() OVER w AS rn, sum(octet_length(content) + octet_length(md)) OVER w AS run"  \
	" FROM (SELECT 1::int4 AS k, seq, NULL::int8 AS x, message_id, role, content,"             \
	" metadata::text AS md, " PG_MS("created_at") " AS ms FROM memoryd.conversation_history"   \
	                                              " WHERE " CONV_KEY

const struct pg_stmt pgconv_stmts[PG_NSTMTS] = {
    [PG_ST_CONV_APPEND] =
        {"memoryd_conv_append",
         "SELECT r.status, r.created::int4, r.count_before, r.last_seq,"
         " array_to_string(r.seqs, ','),"
         " (SELECT string_agg(CASE WHEN d THEN '1' ELSE '0' END, '' ORDER BY o)"
         "  FROM unnest(r.dups) WITH ORDINALITY u(d, o))"
         " FROM memoryd.conversation_append($1::text, $2::text, $3::text, $4::text,"
         " $5::int8, $6::text[], $7::text[], $8::text[], $9::text[], $10::int8) r"},
    [PG_ST_CONV_PAGE_DESC] = {"memoryd_conv_page_desc", PAGE_HEAD
                              " AND seq < $3::int8 ORDER BY seq DESC LIMIT $4::int8) m"
                              " WINDOW w AS (ORDER BY seq DESC ROWS UNBOUNDED PRECEDING)) b"
                              " WHERE rn = 1 OR run <= $5::int8"},
    [PG_ST_CONV_PAGE_ASC] = {"memoryd_conv_page_asc",
                             PAGE_HEAD " AND seq > $3::int8 AND seq <= $5::int8"
                                       " ORDER BY seq LIMIT $4::int8) m"
                                       " WINDOW w AS (ORDER BY seq ROWS UNBOUNDED PRECEDING)) b"
                                       " WHERE rn = 1 OR run <= $6::int8"},
    [PG_ST_CONV_META] =
        {"memoryd_conv_meta",
         "WITH c AS (SELECT * FROM memoryd.conversations WHERE " CONV_KEY
         " AND expires_at > now()),"
         " h AS (SELECT min(seq) AS lo, max(seq) AS hi, min(created_at) AS first_at,"
         "  max(created_at) AS last_at FROM memoryd.conversation_history "
         "WHERE " CONV_KEY ")"
         " SELECT c.customer_id, c.metadata, " PG_MS("c.created_at") ", " PG_MS(
             "c.updated_at") ","
                             " c.last_seq, h.lo, " TTL_LEFT(
                                 "c.expires_at") " FROM c, h"
                                                 " UNION ALL"
                                                 " SELECT (SELECT x.customer_id FROM "
                                                 "memoryd.conversation_history x WHERE "
                                                 "x." CONV_KEY "  ORDER BY x.seq DESC LIMIT 1), "
                                                 "'{}', " PG_MS("h.first_at") ", " PG_MS(
                                                     "h.last_at") ","
                                                                  " h.hi, h.lo, "
                                                                  "-1::int8 FROM h "
                                                                  "WHERE h.hi IS NOT "
                                                                  "NULL AND NOT EXISTS "
                                                                  "(SELECT 1 FROM c)"},
    [PG_ST_CONV_UPDATE] = {"memoryd_conv_update",
                           "UPDATE memoryd.conversations SET"
                           " customer_id = CASE WHEN $3::text IS NULL THEN customer_id"
                           "  ELSE nullif($3::text, '') END,"
                           " metadata = coalesce($4::text, metadata),"
                           " updated_at = date_trunc('milliseconds', clock_timestamp()),"
                           " expires_at = now() + make_interval(secs => $5::int8)"
                           " WHERE " CONV_KEY " AND expires_at > now()"},
    [PG_ST_CONV_LIST] =
        {"memoryd_conv_list",
         "SELECT c.conversation_id, c.customer_id, c.metadata, " PG_MS(
             "c.created_at") ","
                             " " PG_MS(
                                 "c.updated_at") ", c.last_seq,"
                                                 " (SELECT h.seq FROM memoryd.conversation_history "
                                                 "h WHERE h.tenant = c.tenant"
                                                 "  AND h.conversation_id = c.conversation_id "
                                                 "ORDER BY h.seq LIMIT 1),"
                                                 " " TTL_LEFT(
                                                     "c.expires_at") " FROM memoryd.conversations c"
                                                                     " WHERE c.tenant = $1::text "
                                                                     "AND c.customer_id = $2::text"
                                                                     " AND c.expires_at > now() "
                                                                     "AND ($4::text IS NULL"
                                                                     "  OR (c.updated_at, "
                                                                     "c.conversation_id) < "
                                                                     "(" PG_FROM_MS(
                                                                         "$3") ", $4::text))"
                                                                               " ORDER BY "
                                                                               "c.updated_at DESC, "
                                                                               "c.conversation_id "
                                                                               "DESC LIMIT "
                                                                               "$5::int8"},
    [PG_ST_CONV_DELETE] = {"memoryd_conv_delete",
                           "WITH c AS (DELETE FROM memoryd.conversations WHERE " CONV_KEY ")"
                           " DELETE FROM memoryd.conversation_history WHERE " CONV_KEY},
    [PG_ST_CONV_ARCHIVE] =
        {"memoryd_conv_archive",
         "INSERT INTO memoryd.conversation_history (tenant, conversation_id,"
         " customer_id, seq, message_id, role, content, metadata, created_at)"
         " SELECT $1::text, $2::text, $3::text, u.seq, nullif(u.id, ''), u.role,"
         " u.content, coalesce(nullif(u.md, '')::jsonb, '{}'::jsonb), " PG_FROM_MS(
             "u.ms") " FROM unnest($4::int8[], $5::text[], $6::text[], $7::text[],"
                     " $8::text[], $9::int8[]) AS u(seq, id, role, content, md, ms)"
                     " ON CONFLICT DO NOTHING"},
    /* per id of $3 (in order), the first seq holding it, or NULL */
    [PG_ST_CONV_IDS] = {"memoryd_conv_ids",
                        "SELECT (SELECT h.seq FROM memoryd.conversation_history h WHERE h." CONV_KEY
                        " AND h.message_id = u.id ORDER BY h.seq LIMIT 1)"
                        " FROM unnest($3::text[]) WITH ORDINALITY AS u(id, o) ORDER BY u.o"},
};

static int exec(struct store *s, int stmt, const struct pg_params *p, PGresult **res,
                struct mem_error *err)
{
	return pg_conn_exec(pg_store_conn(s), (size_t)stmt, p, res, err);
}

/* ---------- append ---------- */

int pgconv_append(struct store *s, const char *tenant, const struct conv_append *r,
                  struct conv_append_result *out, struct mem_error *err)
{
	struct pg_params p = {0};
	struct pg_array ids, roles, contents, mds;
	PGresult *res = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	pg_array_init(&ids, PG_OID_TEXT);
	pg_array_init(&roles, PG_OID_TEXT);
	pg_array_init(&contents, PG_OID_TEXT);
	pg_array_init(&mds, PG_OID_TEXT);
	for (size_t i = 0; i < r->n; i++) {
		const struct conv_message_in *m = &r->messages[i];
		pg_array_add_text(&ids, m->id ? m->id : "");
		pg_array_add_text(&roles, m->role);
		pg_array_add(&contents, m->content, m->content_len);
		pg_array_add_text(&mds, m->metadata_json ? m->metadata_json : "");
	}
	pg_params_text(&p, tenant);
	pg_params_text(&p, r->conversation_id);
	pg_params_text(&p, r->customer_id && *r->customer_id ? r->customer_id : NULL);
	pg_params_text(&p, r->metadata_json);
	pg_params_int8(&p, r->expected_seq);
	pg_params_array(&p, &ids);
	pg_params_array(&p, &roles);
	pg_params_array(&p, &contents);
	pg_params_array(&p, &mds);
	pg_params_int8(&p, pg_store_of(s)->conv_ttl);
	if (exec(s, PG_ST_CONV_APPEND, &p, &res, err) < 0)
		goto out;
	if (PQntuples(res) != 1) {
		mem_fail(err, MEM_EINTERNAL, NULL, "conversation append: unexpected answer");
		goto out;
	}
	const char *status = pg_text(res, 0, 0);
	if (!strcmp(status, "conflict")) {
		mem_fail(err, MEM_ECONFLICT, "expected_seq",
		         "expected_seq is %lld but the conversation's last seq is %lld: someone "
		         "appended first; nothing was stored",
		         r->expected_seq, pg_int(res, 0, 2));
		goto out;
	}
	if (!strcmp(status, "customer")) {
		mem_fail(err, MEM_ECONFLICT, "customer_id",
		         "the conversation belongs to another customer; nothing was stored");
		goto out;
	}
	out->created = pg_int(res, 0, 1) != 0;
	out->msg_count_before = pg_int(res, 0, 2);
	out->last_seq = pg_int(res, 0, 3);
	out->n = r->n;
	out->seqs = xcalloc(r->n + 1, sizeof(*out->seqs));
	out->duplicate = xcalloc(r->n + 1, sizeof(*out->duplicate));
	const char *seqs = pg_text(res, 0, 4), *dups = pg_text(res, 0, 5);
	for (size_t i = 0; i < r->n; i++) {
		char *end;
		out->seqs[i] = strtoll(seqs, &end, 10);
		seqs = *end == ',' ? end + 1 : end;
		out->duplicate[i] = dups[i] == '1';
		if (!out->duplicate[i])
			out->stored++;
	}
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&ids);
	pg_array_release(&roles);
	pg_array_release(&contents);
	pg_array_release(&mds);
	return ret;
}

int pgconv_ids(struct store *s, const char *tenant, const char *conversation_id,
               const struct conv_message_in *msgs, size_t n, long long *seqs, struct mem_error *err)
{
	struct pg_params p = {0};
	struct pg_array ids;
	PGresult *res = NULL;
	int ret = -1;

	pg_array_init(&ids, PG_OID_TEXT);
	for (size_t i = 0; i < n; i++)
		pg_array_add_text(&ids, msgs[i].id ? msgs[i].id : "");
	pg_params_text(&p, tenant);
	pg_params_text(&p, conversation_id);
	pg_params_array(&p, &ids);
	if (exec(s, PG_ST_CONV_IDS, &p, &res, err) < 0)
		goto out;
	if ((size_t)PQntuples(res) != n) {
		mem_fail(err, MEM_EINTERNAL, NULL, "conversation ids: unexpected answer");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		seqs[i] = msgs[i].id && *msgs[i].id && !pg_isnull(res, (int)i, 0)
		              ? pg_int(res, (int)i, 0)
		              : 0;
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&ids);
	return ret;
}

/* ---------- reads ---------- */

static int msg_cmp(const void *x, const void *y)
{
	const struct conv_message *a = x, *b = y;
	return (a->seq > b->seq) - (a->seq < b->seq);
}

int pgconv_read(struct store *s, const char *tenant, const struct conv_read *r,
                struct conv_page *out, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	int ret = -1, stmt = PG_ST_CONV_PAGE_ASC;

	long long most = r->max_bytes ? (long long)r->max_bytes : INT64_MAX;
	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, r->conversation_id);
	switch (r->mode) {
	case CONV_READ_WINDOW:
	case CONV_READ_BEFORE:
		stmt = PG_ST_CONV_PAGE_DESC;
		pg_params_int8(&p, r->mode == CONV_READ_WINDOW ? INT64_MAX : r->seq);
		pg_params_int8(&p, (long long)r->limit);
		pg_params_int8(&p, most);
		break;
	case CONV_READ_AFTER:
		pg_params_int8(&p, r->seq);
		pg_params_int8(&p, (long long)r->limit);
		pg_params_int8(&p, INT64_MAX);
		pg_params_int8(&p, most);
		break;
	case CONV_READ_RANGE:
		pg_params_int8(&p, r->from - 1);
		pg_params_int8(&p, r->to - r->from + 1 > 0 ? r->to - r->from + 1 : 0);
		pg_params_int8(&p, r->to);
		pg_params_int8(&p, INT64_MAX);
		break;
	}
	if (exec(s, stmt, &p, &res, err) < 0)
		goto out;
	int rows = PQntuples(res);
	if (!rows || pg_int(res, 0, 0) != 0) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no conversation %s", r->conversation_id);
		goto out;
	}
	out->last_seq = pg_int(res, 0, 1);
	out->first_seq = pg_isnull(res, 0, 2) ? out->last_seq + 1 : pg_int(res, 0, 2);
	out->epoch = pg_col_dup(res, 0, 3);
	out->customer_id = pg_col_dup(res, 0, 4);
	out->v = xcalloc((size_t)rows, sizeof(*out->v));
	for (int i = 1; i < rows; i++) {
		struct conv_message *m = &out->v[out->n++];
		m->seq = pg_int(res, i, 1);
		m->id = pg_col_dup(res, i, 3);
		m->role = pg_col_dup(res, i, 4);
		m->content = pg_col_dup(res, i, 5);
		m->content_len = pg_len(res, i, 5);
		m->metadata_json = pg_col_dup(res, i, 6);
		m->created_at_ms = pg_int(res, i, 7);
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), msg_cmp);
	/* fewer than the limit, with more that way: the bytes cut the page */
	if (r->mode != CONV_READ_RANGE && out->n && out->n < r->limit)
		out->truncated = r->mode == CONV_READ_AFTER ? out->v[out->n - 1].seq < out->last_seq
		                                            : out->v[0].seq > out->first_seq;
	ret = 0;
out:
	if (ret < 0)
		conv_page_release(out);
	PQclear(res);
	pg_params_release(&p);
	return ret;
}

/* A row of the meta or list statements from column `at`: customer,
 * metadata, created ms, updated ms, last seq, first seq, ttl. */
static void meta_from_row(const PGresult *res, int row, int at, const char *id, struct conv_meta *m)
{
	m->conversation_id = xstrdup(id);
	m->customer_id = pg_col_dup(res, row, at);
	m->metadata_json = pg_col_dup(res, row, at + 1);
	m->created_at_ms = pg_int(res, row, at + 2);
	m->updated_at_ms = pg_int(res, row, at + 3);
	m->message_count = pg_int(res, row, at + 4);
	m->first_seq =
	    pg_isnull(res, row, at + 5) ? m->message_count + 1 : pg_int(res, row, at + 5);
	m->ttl_seconds = pg_int(res, row, at + 6);
	m->in_postgres = true;
}

int pgconv_meta(struct store *s, const char *tenant, const char *conversation_id,
                struct conv_meta *out, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, conversation_id);
	if (exec(s, PG_ST_CONV_META, &p, &res, err) < 0)
		goto out;
	if (PQntuples(res) < 1) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no conversation %s", conversation_id);
		goto out;
	}
	meta_from_row(res, 0, 0, conversation_id, out);
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	return ret;
}

int pgconv_update(struct store *s, const char *tenant, const struct conv_update *r,
                  struct conv_meta *out, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, r->conversation_id);
	pg_params_text(&p, r->customer_id);
	pg_params_text(&p, r->metadata_json);
	pg_params_int8(&p, pg_store_of(s)->conv_ttl);
	int rc = exec(s, PG_ST_CONV_UPDATE, &p, &res, err);
	bool found = rc == 0 && atoll(PQcmdTuples(res)) > 0;
	PQclear(res);
	pg_params_release(&p);
	if (rc < 0)
		return -1;
	if (!found)
		return mem_fail(err, MEM_ENOT_FOUND, NULL, "no conversation %s",
		                r->conversation_id);
	return pgconv_meta(s, tenant, r->conversation_id, out, err);
}

int pgconv_list(struct store *s, const char *tenant, const struct conv_list *r,
                struct conv_list_result *out, struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	pg_params_text(&p, tenant);
	pg_params_text(&p, r->customer_id);
	pg_params_int8(&p, r->after_id ? r->after_updated_ms : 0);
	pg_params_text(&p, r->after_id);
	pg_params_int8(&p, (long long)r->limit + 1);
	if (exec(s, PG_ST_CONV_LIST, &p, &res, err) < 0)
		goto out;
	size_t rows = (size_t)PQntuples(res);
	out->more = rows > r->limit;
	out->n = out->more ? r->limit : rows;
	out->items = xcalloc(out->n + 1, sizeof(*out->items));
	for (size_t i = 0; i < out->n; i++)
		meta_from_row(res, (int)i, 1, pg_text(res, (int)i, 0), &out->items[i]);
	ret = 0;
out:
	PQclear(res);
	pg_params_release(&p);
	return ret;
}

int pgconv_delete(struct store *s, const char *tenant, const char *conversation_id,
                  struct mem_error *err)
{
	struct pg_params p = {0};
	PGresult *res = NULL;
	pg_params_text(&p, tenant);
	pg_params_text(&p, conversation_id);
	int rc = exec(s, PG_ST_CONV_DELETE, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	return rc;
}

/* ---------- archive ---------- */

int pgconv_archive(struct store *s, const char *tenant, const char *conversation_id,
                   const char *customer_id, const struct conv_message *msgs, size_t n,
                   struct mem_error *err)
{
	struct pg_params p = {0};
	struct pg_array seqs, ids, roles, contents, mds, ms;
	PGresult *res = NULL;

	pg_array_init(&seqs, PG_OID_INT8);
	pg_array_init(&ids, PG_OID_TEXT);
	pg_array_init(&roles, PG_OID_TEXT);
	pg_array_init(&contents, PG_OID_TEXT);
	pg_array_init(&mds, PG_OID_TEXT);
	pg_array_init(&ms, PG_OID_INT8);
	for (size_t i = 0; i < n; i++) {
		pg_array_add_int8(&seqs, msgs[i].seq);
		pg_array_add_text(&ids, msgs[i].id ? msgs[i].id : "");
		pg_array_add_text(&roles, msgs[i].role);
		pg_array_add(&contents, msgs[i].content, msgs[i].content_len);
		pg_array_add_text(&mds, msgs[i].metadata_json ? msgs[i].metadata_json : "");
		pg_array_add_int8(&ms, msgs[i].created_at_ms);
	}
	pg_params_text(&p, tenant);
	pg_params_text(&p, conversation_id);
	pg_params_text(&p, customer_id);
	pg_params_array(&p, &seqs);
	pg_params_array(&p, &ids);
	pg_params_array(&p, &roles);
	pg_params_array(&p, &contents);
	pg_params_array(&p, &mds);
	pg_params_array(&p, &ms);
	int rc = exec(s, PG_ST_CONV_ARCHIVE, &p, &res, err);
	PQclear(res);
	pg_params_release(&p);
	pg_array_release(&seqs);
	pg_array_release(&ids);
	pg_array_release(&roles);
	pg_array_release(&contents);
	pg_array_release(&mds);
	pg_array_release(&ms);
	return rc;
}
