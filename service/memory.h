/*
 * memory: key-value memory per tenant (the /memory resource), the domain of
 * LangGraph's BaseStore, independent of HTTP and of any store.
 *
 * An item lives in a namespace (a path of 1..MEM_NS_MAX_DEPTH non-empty
 * labels, e.g. ["governance", "decision"]) under a key, and holds a JSON
 * value kept as the exact text received (whitespace apart). Every write gives
 * the item a new version, an opaque decimal string that grows with each
 * write of the tenant: it is the item's ETag for If-Match, and "most recently
 * updated first" is "highest version first", which is also the search
 * cursor. An item expires after its TTL unless it was put without one
 * (MEMORY_ALLOW_PERSISTENT=1); a read asking for it (refresh_ttl) starts
 * the TTL of what it returns again.
 *
 * Request structs borrow their strings (from the parsed request, which
 * outlives the call); result structs own everything and are released with
 * their *_release function.
 */
#ifndef MEMORYD_MEMORY_H
#define MEMORYD_MEMORY_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/error.h"

#define MEM_NS_MAX_DEPTH     16
#define MEM_SEARCH_LIMIT_MAX 1000
#define MEM_SEARCH_LIMIT_DEF 10
#define MEM_OFFSET_MAX       10000
#define MEM_NS_LIST_MAX      10000 /* namespaces one listing considers */
#define MEM_BATCH_MAX_OPS    1000
#define MEM_TTL_MAX          315360000L
/* What one request may spend; a /memory/batch shares one across its
 * operations. work: index entries and namespaces its scans read (and one
 * per other operation); bytes: item values its answer carries. */
struct mem_budget {
	long long work;
	long long bytes;
};

/* A namespace path; labels borrowed. n == 0 only as a prefix (everything). */
struct mem_ns {
	const char *const *labels;
	size_t n;
};

struct mem_put {
	struct mem_ns ns;
	const char *key;
	const char *value_json; /* compact JSON text, NUL-terminated */
	size_t value_len;
	long ttl_seconds;     /* > 0, 0 for no expiry; -1: MEMORY_DEFAULT_TTL_SECONDS */
	const char *if_match; /* NULL: unconditional; "*": must exist; else a version */
	/* NULL: the store gives the write a new version. Else a dual write: the
	 * version the primary gave it, kept so that ETags hold across a switch
	 * (the store's own numbering moves past it). */
	const char *version;
};

/* The item named by (ns, key); if_match as for put (delete only). */
struct mem_ref {
	struct mem_ns ns;
	const char *key;
	const char *if_match;
	/* get: the item's TTL starts again from now (LangGraph's
	 * refresh_on_read); an item without expiry is left alone. */
	bool refresh_ttl;
};

/* One stored item; owns its strings. */
struct mem_item {
	char **ns; /* nns labels */
	size_t nns;
	char *key;
	char *value_json; /* as stored; may be malformed when written by hand */
	size_t value_len;
	char *version;        /* "" for an item not written by memoryd */
	long long created_ms; /* Unix ms; 0 unknown */
	long long updated_ms; /* Unix ms; 0 unknown */
	long long expires_ms; /* Unix ms; 0: no expiry */
	bool malformed;       /* the stored value is not JSON */
	char *store_key;      /* where it lives, for the log (Redis key or row) */
};

struct mem_items {
	struct mem_item *v;
	size_t n;
};

struct mem_ns_list {
	char ***v;     /* each a labels array */
	size_t *depth; /* labels per entry */
	size_t n;
};

/* What a store's scan returns: up to n items of the prefix whose version is
 * below before (NULL: from the newest), highest version first, and whether
 * more may follow. */
struct mem_scan {
	struct mem_ns prefix;
	const char *before; /* a version, exclusive; NULL for the start */
	size_t n;
	/* Value bytes the scan returns at most (the first item always comes;
	 * fewer items then, and *more); 0: no bound. */
	size_t max_bytes;
	/* The request's work budget (Redis entries its scripts may read),
	 * charged by the scan; a scan it cannot pay for fails MEM_ETOO_LARGE
	 * and a step never starts on an empty one. NULL: unbounded. */
	long long *work;
};

/* A search as the API asks for it; the service walks scans to fill a page. */
struct mem_search {
	struct mem_ns prefix;
	const char *filter_json; /* a JSON object or NULL: top-level equality */
	size_t limit;
	size_t offset;
	const char *cursor;        /* next_cursor of the previous page, or NULL */
	struct mem_budget *budget; /* charged; NULL: one of its own (service_memory_budget) */
	bool refresh_ttl;          /* the page's items' TTLs start again, as for a get */
};

struct mem_search_result {
	struct mem_items items;
	char *next_cursor; /* NULL when there is nothing after this page */
	bool truncated;    /* a budget ended the page before limit: next_cursor goes on */
};

struct mem_list_ns {
	struct mem_ns prefix;
	struct mem_ns suffix; /* n == 0: none */
	size_t max_depth;     /* 0: no limit */
	size_t limit;
	size_t offset;
	struct mem_budget *budget; /* charged the namespaces read; NULL: none */
};

void mem_item_release(struct mem_item *it);
void mem_items_release(struct mem_items *items);
void mem_search_result_release(struct mem_search_result *r);
void mem_ns_list_release(struct mem_ns_list *l);
/* Append a copy of labels[0..n) to l. */
void mem_ns_list_add(struct mem_ns_list *l, const char *const *labels, size_t n);

/* Check a namespace: 1..MEM_NS_MAX_DEPTH labels (0.. when is_prefix), each a
 * non-empty id (UTF-8, no control characters, at most ID_MAX_BYTES). */
int mem_ns_check(const struct mem_ns *ns, bool is_prefix, const char *field,
                 struct mem_error *err) MEM_MUST_CHECK;

/* True when value (a JSON text) is an object whose top-level members match
 * every member of filter (a JSON object text; NULL: true): JSON equality, or,
 * for an operator object ({"$gt": 3, "$lt": 9}), every operator: $eq, $ne,
 * $in, $nin (JSON equality; a missing member is not equal), $gt, $gte, $lt,
 * $lte (between two numbers or two strings, byte order), $exists. */
bool mem_value_matches(const char *value_json, size_t len, const char *filter_json);

/* Checks a search filter's operator objects (known operators, the argument
 * each takes): 0, or -1 with err (invalid_field, field "filter"). */
int mem_filter_check(const char *filter_json, struct mem_error *err) MEM_MUST_CHECK;

/* True when the text is one valid JSON value (any type). */
bool mem_json_valid(const char *text, size_t len);

/* Normalise an If-Match value: strips W/ and quotes. Returns a fresh string
 * ("*" or a version), or NULL and err when it is not one ETag. */
char *mem_if_match_parse(const char *header, struct mem_error *err);

/* Split a namespace given as a JSON array of strings (a query parameter) into
 * labels; *labels (caller frees each and the array). */
int mem_ns_from_json(const char *text, char ***labels, size_t *n, const char *field,
                     struct mem_error *err) MEM_MUST_CHECK;

#endif
