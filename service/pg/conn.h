/*
 * pg_conn: one libpq connection to PostgreSQL, used by one thread at a time
 * (it is not locked), and the binary parameter and result helpers the
 * PostgreSQL store builds its queries with.
 *
 * A connection connects lazily (libpq's non-blocking connect, bounded by
 * connect_timeout_ms; sslmode and the rest come from DATABASE_URL), sets
 * statement_timeout, and prepares each statement of its table the first
 * time it runs. After a failure it reconnects with exponential backoff (50 ms
 * doubling to 500 ms): while a delay runs, calls fail at once with
 * MEM_EUNAVAILABLE rather than blocking an HTTP worker; after
 * max_reconnect_attempts failures in a row the state is PG_STATE_ERROR and a
 * new attempt is made every 5 s. A connection found broken when a statement
 * runs (a server restart) is re-established at once and the statement sent
 * again, once: every statement memoryd runs may be repeated safely.
 *
 * Queries are parameterised only; parameters and results travel in binary
 * format (bytea as raw bytes, text as UTF-8 bytes, integers big-endian).
 */
#ifndef MEMORYD_PG_CONN_H
#define MEMORYD_PG_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "../../common/buf.h"
#include "../../common/error.h"

enum pg_state {
	PG_STATE_CONNECTED = 0,
	PG_STATE_RECONNECTING = 1,
	PG_STATE_ERROR = 2,
};

/* Shared by every connection of one store; all fields are atomics. */
struct pg_health {
	int state;                     /* enum pg_state, last observed */
	unsigned reconnect_attempts;   /* failures in a row, last observed */
	unsigned long long reconnects; /* connections re-established after a failure */
};

/* A statement the connection prepares on first use, under its name. */
struct pg_stmt {
	const char *name;
	const char *sql;
};

struct pg_conn_opts {
	const char *conninfo; /* DATABASE_URL: a URL or key=value string */
	int connect_timeout_ms;
	int statement_timeout_ms;
	int max_reconnect_attempts;
	const struct pg_stmt *stmts; /* borrowed; outlives the connection */
	size_t nstmts;
	/* A session with state (an open transaction) must never be replaced
	 * behind its user's back: no reconnect-and-resend. */
	bool no_resend;
	/* No log lines of its own (connection failures): the caller reports. */
	bool quiet;
};

/* opts' strings and table must outlive the connection. Never fails: connecting
 * is lazy. */
struct pg_conn *pg_conn_new(const struct pg_conn_opts *opts, struct pg_health *health);
void pg_conn_free(struct pg_conn *c);

const char *pg_state_name(enum pg_state s);

/* ---------- parameters ---------- */

#define PG_MAX_PARAMS 24

/* Zero-initialise; release with pg_params_release. Every value is copied. */
struct pg_params {
	int n;
	const char *values[PG_MAX_PARAMS];
	int lengths[PG_MAX_PARAMS];
	int formats[PG_MAX_PARAMS];
	char *own[PG_MAX_PARAMS];
};

/* text (NULL: SQL NULL), bytea, bigint, boolean. */
void pg_params_text(struct pg_params *p, const char *s);
void pg_params_bytes(struct pg_params *p, const void *data, size_t len);
void pg_params_int8(struct pg_params *p, long long v);
void pg_params_bool(struct pg_params *p, bool v);
void pg_params_release(struct pg_params *p);

/* A one-dimensional array parameter in binary format (array_recv). */
struct pg_array {
	unsigned elem_oid; /* PG_OID_TEXT, PG_OID_BYTEA, PG_OID_INT8 */
	uint32_t n;
	struct buf elems;
};

#define PG_OID_BOOL  16u
#define PG_OID_BYTEA 17u
#define PG_OID_INT8  20u
#define PG_OID_INT4  23u
#define PG_OID_TEXT  25u

void pg_array_init(struct pg_array *a, unsigned elem_oid);
/* One element: len bytes (text and bytea). */
void pg_array_add(struct pg_array *a, const void *data, size_t len);
void pg_array_add_text(struct pg_array *a, const char *s);
void pg_array_add_int8(struct pg_array *a, long long v);
/* The wire form (header, then the elements) into out; a stays usable. */
void pg_array_encode(const struct pg_array *a, struct buf *out);
void pg_array_release(struct pg_array *a);
/* Add the array as the next parameter (copied). */
void pg_params_array(struct pg_params *p, const struct pg_array *a);

/* ---------- results (binary format) ---------- */

static inline bool pg_isnull(const PGresult *r, int row, int col)
{
	return PQgetisnull(r, row, col) != 0;
}
/* The value's bytes; libpq follows them with a NUL, so text is a C string. */
static inline const char *pg_text(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col);
}
static inline size_t pg_len(const PGresult *r, int row, int col)
{
	return (size_t)PQgetlength(r, row, col);
}
/* int4 / int8 columns; 0 for NULL or a value of another width. */
long long pg_int(const PGresult *r, int row, int col);
/* Decode 4 or 8 big-endian bytes. */
long long pg_decode_int(const char *p, size_t len);

/* ---------- running statements ---------- */

/*
 * Run statement number stmt of the table with p (NULL: none); results in
 * binary format. On success *res is PGRES_TUPLES_OK or PGRES_COMMAND_OK
 * (caller frees with PQclear). On -1 *res is NULL and err says why:
 * MEM_EUNAVAILABLE for a connection that cannot be made or broke, a
 * statement timeout and other conditions worth a retry; MEM_EINTERNAL for
 * anything else (logged with its SQLSTATE).
 */
int pg_conn_exec(struct pg_conn *c, size_t stmt, const struct pg_params *p, PGresult **res,
                 struct mem_error *err) MEM_MUST_CHECK;

/*
 * pg_conn_exec in two halves, so the caller can do other work while the
 * statement runs (dual write overlaps the secondary's round trip with the
 * primary's). pg_conn_send puts statement stmt on the wire when it can and
 * never waits for the answer; pg_conn_collect waits for it, and its result
 * and errors are pg_conn_exec's, including one resend after a broken
 * connection. Between the two nothing else may use the connection, and p
 * must stay valid until pg_conn_collect returns.
 */
void pg_conn_send(struct pg_conn *c, size_t stmt, const struct pg_params *p);
int pg_conn_collect(struct pg_conn *c, PGresult **res, struct mem_error *err) MEM_MUST_CHECK;

/* The same for a statement that is not in the table (cold paths: operator
 * tools), sent unnamed with its parameters. */
int pg_conn_query(struct pg_conn *c, const char *sql, const struct pg_params *p, PGresult **res,
                  struct mem_error *err) MEM_MUST_CHECK;

/* Several statements in one string, by the simple query protocol, without
 * parameters: for the SQL of migrations only, never for values. */
int pg_conn_script(struct pg_conn *c, const char *sql, struct mem_error *err) MEM_MUST_CHECK;

/* Connect now if not connected (for probes); 0 when connected. */
int pg_conn_ensure(struct pg_conn *c, struct mem_error *err) MEM_MUST_CHECK;

#endif
