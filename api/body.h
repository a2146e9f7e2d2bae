/*
 * body: reading a JSON request body on the hot path.
 *
 * The body is scanned once by json_scan (common/json_scan.h): validated and
 * tokenised, with no tree of values. Fields are then read by name; strings are
 * decoded into NUL-terminated copies and base64 into bytes, all owned by the
 * struct body and freed by body_release. The JSON of free-form values
 * (a checkpoint, metadata) is kept as compact text, exactly as sent apart from
 * whitespace, so numbers of any size survive.
 *
 * Every reader names the field at fault in err, as the API promises.
 */
#ifndef MEMORYD_API_BODY_H
#define MEMORYD_API_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/error.h"
#include "../common/json_scan.h"

#define BODY_ABSENT SIZE_MAX

struct body {
	struct json_doc doc;
	void **owned; /* decoded strings and bytes */
	size_t nowned, capowned;
};

/* The most JSON tokens (values and keys) body_parse accepts in one body
 * (MAX_JSON_TOKENS; 0: no limit); more is MEM_ETOO_LARGE, before any token
 * is made. Set once at start-up. */
void body_set_max_tokens(size_t max);

/* Scan text as a JSON object with no duplicate keys. Release b either way. */
int body_parse(struct body *b, const char *text, size_t len, struct mem_error *err) MEM_MUST_CHECK;
void body_release(struct body *b);

/* The value token of key in object obj, BODY_ABSENT when missing or null. */
size_t body_get(const struct body *b, size_t obj, const char *key);

/*
 * Field tables: a body type's members as data, each named once.
 *
 *	const struct body_field fields[] = {
 *		BODY_STRING("thread_id", BODY_REQUIRED, &p.thread_id),
 *		BODY_STRING_OR("checkpoint_ns", "", &p.ns),
 *		BODY_OBJECT("checkpoint", BODY_REQUIRED, &checkpoint),
 *	};
 *	if (body_read(&body, 0, fields, BODY_NFIELDS(fields), &err) < 0)
 *
 * Fields are read in table order and the first refusal is the answer, so the
 * order is part of the API. A refusal is MEM_EINVALID_FIELD "<name> <what is
 * wrong>" ("blobs[2].type must be a string"); a missing or null member is
 * MEM_EMISSING_FIELD "<name> is required" when required, else its destination
 * gets the absent value of its type (NULL or the string default, BODY_ABSENT,
 * the integer default, -1 for a bool, 0 labels).
 *
 * Nothing is half-written: the destinations are written only once every field
 * has been read, and not at all on a refusal (a LABELS field's items array is
 * its scratch space, its count is what says how many are read). Strings and
 * bytes read are owned by the body. The destinations are borrowed for the
 * call only. A table has at most BODY_MAX_FIELDS fields.
 */
enum body_type {
	BODY_T_STRING,  /* str: the decoded text, no NUL inside */
	BODY_T_VERSION, /* str: a string as it is, or an integer in decimal */
	BODY_T_OBJECT,  /* tok: the object's token */
	BODY_T_ARRAY,   /* tok: the array's token */
	BODY_T_BASE64,  /* b64: the decoded bytes and their length */
	BODY_T_INT,     /* num: an integer in [min, max] */
	BODY_T_SIZE,    /* size: an integer in [min, max] */
	BODY_T_BOOL,    /* flag: 1 for true, 0 for false, -1 when absent */
	BODY_T_LABELS,  /* labels: an array of at most max strings (a namespace) */
};

enum { BODY_OPTIONAL = 0, BODY_REQUIRED = 1 };

#define BODY_MAX_FIELDS 16

struct body_field {
	const char *key;
	enum body_type type;
	bool required;
	union {
		const char **str;
		size_t *tok;
		struct {
			const unsigned char **data;
			size_t *len;
		} b64;
		long long *num;
		size_t *size;
		int *flag;
		struct {
			const char **items; /* room for max */
			size_t *n;
		} labels;
	};
	const char *str_default;         /* STRING, VERSION: when absent */
	long long min, max, num_default; /* INT, SIZE, LABELS; max LLONG_MAX: no upper bound */
};

/* One initialiser per type; every field is optional unless req says
 * BODY_REQUIRED. INT and SIZE are optional, def when absent. */
// clang-format off
#define BODY_STRING(k, req, out)       {.key = (k), .type = BODY_T_STRING, .required = (req), .str = (out)}
#define BODY_STRING_OR(k, def, out)    {.key = (k), .type = BODY_T_STRING, .str = (out), .str_default = (def)}
#define BODY_VERSION(k, req, out)      {.key = (k), .type = BODY_T_VERSION, .required = (req), .str = (out)}
#define BODY_OBJECT(k, req, out)       {.key = (k), .type = BODY_T_OBJECT, .required = (req), .tok = (out)}
#define BODY_ARRAY(k, req, out)        {.key = (k), .type = BODY_T_ARRAY, .required = (req), .tok = (out)}
#define BODY_BASE64(k, req, data, len) {.key = (k), .type = BODY_T_BASE64, .required = (req), .b64 = {(data), (len)}}
#define BODY_INT(k, lo, hi, def, out)  {.key = (k), .type = BODY_T_INT, .num = (out), .min = (lo), .max = (hi), .num_default = (def)}
#define BODY_SIZE(k, hi, def, out)     {.key = (k), .type = BODY_T_SIZE, .size = (out), .max = (hi), .num_default = (def)}
#define BODY_BOOL(k, out)              {.key = (k), .type = BODY_T_BOOL, .flag = (out)}
#define BODY_LABELS(k, req, hi, items, n) {.key = (k), .type = BODY_T_LABELS, .required = (req), .labels = {(items), (n)}, .max = (hi)}
// clang-format on

#define BODY_NFIELDS(fields) (sizeof(fields) / sizeof((fields)[0]))

/* Read the n fields of object obj; errors name each field by its key. */
int body_read(struct body *b, size_t obj, const struct body_field *fields, size_t n,
              struct mem_error *err) MEM_MUST_CHECK;
/* body_read, refusing any member the table does not name: MEM_EINVALID_FIELD
 * "body", "unknown member: the body takes a, b and c only", after the fields'
 * own refusals. */
int body_read_closed(struct body *b, size_t obj, const struct body_field *fields, size_t n,
                     struct mem_error *err) MEM_MUST_CHECK;
/* body_read naming each field "<prefix>.<key>" ("checkpoint.channel_versions"):
 * for an object inside the body. */
int body_read_in(struct body *b, size_t obj, const char *prefix, const struct body_field *fields,
                 size_t n, struct mem_error *err) MEM_MUST_CHECK;
/* An entry of an array that must be an object ("<prefix> must be an object"),
 * then body_read_in. */
int body_read_item(struct body *b, size_t tok, const char *prefix, const struct body_field *fields,
                   size_t n, struct mem_error *err) MEM_MUST_CHECK;

/* Token readers. */
int body_tok_string(struct body *b, size_t tok, const char *field, const char **out,
                    struct mem_error *err) MEM_MUST_CHECK;
int body_tok_base64(struct body *b, size_t tok, const char *field, const unsigned char **data,
                    size_t *len, struct mem_error *err) MEM_MUST_CHECK;
/* A version: a string as it is, or an integer in decimal. */
int body_tok_version(struct body *b, size_t tok, const char *field, const char **out,
                     struct mem_error *err) MEM_MUST_CHECK;

/* Walk a container in O(1) a step: body_first gives the first element of an
 * array (or the key token of the first member of an object, whose value is
 * the token after it); body_next the one after k. */
size_t body_first(const struct body *b, size_t container);
size_t body_next(const struct body *b, size_t container, size_t k);

/* Append the compact JSON text of tok to out; for an object, members whose
 * key is skip_key (may be NULL) are left out. */
void body_compact(const struct body *b, size_t tok, const char *skip_key, struct buf *out);

#endif
