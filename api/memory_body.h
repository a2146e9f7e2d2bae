/*
 * memory_body: reading the arguments of the /memory operations from a JSON
 * request body into the service's request structs (service/memory.h),
 * without HTTP or a store, so the same code serves the handlers
 * (api/memory.c) and the fuzz target (tests/fuzz/fuzz_memory_bodies.c).
 *
 * Each reader takes a body parsed by body_parse and the object token obj
 * holding the operation's fields: 0 for a whole body (PUT /memory/items,
 * POST /memory/search, /memory/cleanup, /memory/namespaces), or one entry of
 * the operations of POST /memory/batch. The request struct filled borrows
 * strings from the body and from the struct mem_args: keep both, unmoved,
 * until the call they are for returns, then mem_args_release the args
 * (whatever the reader returned). Every refusal names the field at fault.
 * The domain rules (labels, keys, TTL policy, versions) are the service's.
 */
#ifndef MEMORYD_API_MEMORY_BODY_H
#define MEMORYD_API_MEMORY_BODY_H

#include <stdbool.h>
#include <stddef.h>

#include "../common/buf.h"
#include "../common/error.h"
#include "../service/memory.h"
#include "body.h"

struct mem_args {
	const char *labels[MEM_NS_MAX_DEPTH];  /* namespace, namespace_prefix or prefix */
	const char *labels2[MEM_NS_MAX_DEPTH]; /* suffix */
	char *if_match;                        /* as mem_if_match_parse gives it */
	struct buf json;                       /* put: the value; search: the filter (compact) */
};

/* The If-Match value raw (a header or a batch member; NULL: none) as
 * mem_if_match_parse normalises it into *out (caller frees; NULL for none). */
int mem_body_if_match(const char *raw, char **out, struct mem_error *err) MEM_MUST_CHECK;

/* A put: namespace, key, value, ttl_seconds?. Alone (PUT /memory/items) the
 * If-Match is if_match_header (NULL: none) and the value is required. In a
 * batch (in_batch) it is the member if_match, and a missing or null value
 * asks for a delete, as BaseStore's put does: then *deletes is true and
 * out->value_json NULL. */
int mem_body_put(struct body *b, size_t obj, const char *if_match_header, bool in_batch,
                 struct mem_args *a, struct mem_put *out, bool *deletes,
                 struct mem_error *err) MEM_MUST_CHECK;

/* A batch get or delete: namespace, key, and for a delete if_match?. */
int mem_body_ref(struct body *b, size_t obj, bool is_delete, struct mem_args *a,
                 struct mem_ref *out, struct mem_error *err) MEM_MUST_CHECK;

/* A search: namespace_prefix?, filter? (an object; {} is none), limit?,
 * offset?, cursor?. A query (semantic search) is refused. */
int mem_body_search(struct body *b, size_t obj, struct mem_args *a, struct mem_search *out,
                    struct mem_error *err) MEM_MUST_CHECK;

/* A cleanup: namespace_prefix (required; [] is everything). */
int mem_body_cleanup(struct body *b, size_t obj, struct mem_args *a, struct mem_ns *out,
                     struct mem_error *err) MEM_MUST_CHECK;

/* A namespace listing: prefix?, suffix?, max_depth?, limit?, offset?. */
int mem_body_namespaces(struct body *b, size_t obj, struct mem_args *a, struct mem_list_ns *out,
                        struct mem_error *err) MEM_MUST_CHECK;

/* The operations of a batch body: *ops the array token, *n its entries (at
 * most MEM_BATCH_MAX_OPS), each an object whose op is get, put, delete,
 * search, list_namespaces or cleanup. Nothing is read of the entries else. */
int mem_body_batch(struct body *b, size_t *ops, size_t *n, struct mem_error *err) MEM_MUST_CHECK;

void mem_args_release(struct mem_args *a);

#endif
