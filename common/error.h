/*
 * mem_error: the error object every fallible function fills.
 *
 * Functions return 0 on success or -1 on failure and then fill a
 * caller-provided struct mem_error. The code maps to an HTTP status in api/;
 * the message is meant for a person and never contains secrets; field names
 * the request field at fault when there is one.
 */
#ifndef MEMORYD_ERROR_H
#define MEMORYD_ERROR_H

#define MEM_MUST_CHECK __attribute__((warn_unused_result))

enum mem_errcode {
	MEM_OK = 0,
	MEM_EINVALID_JSON,  /* 400: body is not JSON */
	MEM_EINVALID_FIELD, /* 400: a field has the wrong type or value */
	MEM_EMISSING_FIELD, /* 400: a required field is absent */
	MEM_EUNAUTHORIZED,  /* 401: no or unknown bearer token */
	MEM_EFORBIDDEN,     /* 403: the token may not act for this tenant */
	MEM_ENOT_FOUND,     /* 404 */
	MEM_ECONFLICT,      /* 409 */
	MEM_ETOO_LARGE,     /* 413 */
	MEM_EUNAVAILABLE,   /* 503: a store cannot be reached */
	MEM_EINTERNAL,      /* 500: a bug or an unexpected store answer */
	MEM_EPRECONDITION,  /* 412: If-Match does not hold */
	MEM_ECORRUPT,       /* 500: stored data memoryd cannot read (written by hand) */
};

struct mem_error {
	enum mem_errcode code;
	char field[64];
	char message[256];
};

/* Fill err (may be NULL) and return -1, so callers can `return mem_fail(...)`. */
int mem_fail(struct mem_error *err, enum mem_errcode code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void mem_error_clear(struct mem_error *err);
/* The machine-readable code used in JSON error bodies, e.g. "invalid_field". */
const char *mem_errcode_name(enum mem_errcode code);

#endif
