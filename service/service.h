/*
 * service: the domain entry point the API calls. It validates domain rules
 * (ids, sizes) and routes each call to the store behind struct store_ops.
 * The primary store is Redis or PostgreSQL (CONV_STORE_PRIMARY, switched at
 * runtime by /admin/failover); with dual write (CONV_DUAL_WRITE) writes also
 * reach the other store; reads fall through from Redis to PostgreSQL. No
 * handler ever chooses a store: see the routing comment in
 * service_internal.h.
 *
 * The one header api/ includes. service.c holds the life, the routing and the
 * stores as a whole; each resource's requests are in service_<resource>.c
 * (checkpoints, conversations, memory, admin, archive), as the sections below
 * say.
 *
 * Thread-safe: HTTP worker threads call it concurrently.
 */
#ifndef MEMORYD_SERVICE_H
#define MEMORYD_SERVICE_H

#include "../common/config.h"
#include "../common/error.h"
#include "archive.h"
#include "checkpoint.h"
#include "conversation.h"
#include "routing.h"
#include "store.h"

struct service;

/* cfg is borrowed and must outlive the service. */
struct service *service_new(const struct config *cfg, struct mem_error *err);
void service_free(struct service *svc);

/* Where a write landed, for the X-Memory-Stored header: the names of the
 * stores that hold it, primary first ("redis" or "redis,postgres"). Write
 * calls take a char stored[SERVICE_STORED_MAX] (or NULL) and fill it on
 * success; it is "" when nothing was written. */
#define SERVICE_STORED_MAX 32

/* Validate a tenant name (the X-Tenant-Id header). */
int service_check_tenant(const char *tenant, struct mem_error *err) MEM_MUST_CHECK;

/* ---- checkpoints (service_checkpoints.c) ---- */
int service_checkpoint_put(struct service *svc, const char *tenant, const struct cp_put *req,
                           char *stored, struct mem_error *err) MEM_MUST_CHECK;
/* *out is filled on success; release with cp_tuple_release. */
int service_checkpoint_get(struct service *svc, const char *tenant, const struct cp_get *req,
                           struct cp_tuple *out, struct mem_error *err) MEM_MUST_CHECK;
/* *version: see store_ops.checkpoint_head. */
int service_checkpoint_head(struct service *svc, const char *tenant, const char *thread_id,
                            const char *ns, char **version, struct mem_error *err) MEM_MUST_CHECK;
int service_checkpoint_list(struct service *svc, const char *tenant, const struct cp_list *req,
                            struct cp_list_result *out, struct mem_error *err) MEM_MUST_CHECK;
int service_checkpoint_put_writes(struct service *svc, const char *tenant,
                                  const struct cp_put_writes *req, char *stored,
                                  struct mem_error *err) MEM_MUST_CHECK;
int service_thread_delete(struct service *svc, const char *tenant, const char *thread_id,
                          char *stored, struct mem_error *err) MEM_MUST_CHECK;

/* ---- the stores as a whole (service.c) ----
 * Readiness: the primary store answers within its timeout. */
int service_ready(struct service *svc, const char **store_name, struct store_status *st);

/* The primary store's name, whether writes also go to a secondary, and the
 * primary's figures for /health/memory and /metrics. */
const char *service_primary(struct service *svc);
bool service_dual_write(struct service *svc);
int service_store_info(struct service *svc, struct store_info *out, struct mem_error *err);

/* One store as /health/memory and /metrics report it. */
struct service_store_report {
	const char *name; /* "redis", "postgres" (static) */
	bool primary;
	bool reachable;
	struct store_status st;
};
#define SERVICE_MAX_STORES 2
/* A round trip to each configured store, primary first; returns how many
 * reports it filled. */
size_t service_stores(struct service *svc, struct service_store_report out[SERVICE_MAX_STORES]);

/* /admin/failover. get: the routing state in force here; *automatic is
 * FAILOVER_AUTO. set: switch every replica (service/failover.h); primary NULL
 * keeps the primary, dual_write -1 keeps dual write. MEM_EINVALID_FIELD for an
 * unknown store, MEM_ECONFLICT without DATABASE_URL, MEM_EUNAVAILABLE when
 * PostgreSQL cannot record it; the state is unchanged on every error. */
void service_failover_get(struct service *svc, struct route_state *out, bool *automatic);
int service_failover_set(struct service *svc, const char *primary, int dual_write,
                         struct route_state *out, struct mem_error *err) MEM_MUST_CHECK;

/* ---- operator tools (service_admin.c); see store_ops for each ---- */
int service_admin_backup(struct service *svc, long long *last_save,
                         struct mem_error *err) MEM_MUST_CHECK;
int service_admin_ttl_repair(struct service *svc, struct admin_counts *out,
                             struct mem_error *err) MEM_MUST_CHECK;
int service_admin_thread_keys(struct service *svc, const char *tenant, const char *thread_id,
                              struct store_keys *out, struct mem_error *err) MEM_MUST_CHECK;
int service_admin_checkpoint_delete(struct service *svc, const char *tenant, const char *thread_id,
                                    const char *ns, const char *checkpoint_id, char *stored,
                                    struct mem_error *err) MEM_MUST_CHECK;
int service_admin_tenant_delete(struct service *svc, const char *tenant, struct admin_counts *out,
                                char *stored, struct mem_error *err) MEM_MUST_CHECK;

/* ---- the archiver (service_archive.c, over service/archive.h) ----
 * One pass over the Redis store into PostgreSQL. MEM_EINVALID_FIELD without
 * DATABASE_URL or when config_check_archive refuses the settings;
 * MEM_ECONFLICT while another pass of this process runs. Otherwise 0 and *out
 * filled, healthy or not (out->healthy). */
int service_archive_pass(struct service *svc, struct archive_report *out,
                         struct mem_error *err) MEM_MUST_CHECK;
/* The last pass: this process's, or else what ARCHIVER_HEALTH_FILE says (an
 * archiver beside it). false when neither knows one, or a pass is running
 * and the file has none. */
bool service_archive_last(struct service *svc, struct archive_report *out);
/* `memoryd retention`: see archive_retention. */
int service_retention(struct service *svc, const char *export_path, long long *deleted,
                      struct mem_error *err) MEM_MUST_CHECK;

#define LIST_LIMIT_MAX 1000

/* ---- conversations (service_conversations.c, over conversation.h and
 * conv_service.h) ----
 * Results are released with their conv_*_release function. */
int service_conv_append(struct service *svc, const char *tenant, const struct conv_append *req,
                        struct conv_append_result *out, struct mem_error *err) MEM_MUST_CHECK;
int service_conv_read(struct service *svc, const char *tenant, const struct conv_read *req,
                      struct conv_page *out, struct mem_error *err) MEM_MUST_CHECK;
int service_conv_meta(struct service *svc, const char *tenant, const char *conversation_id,
                      struct conv_meta *out, struct mem_error *err) MEM_MUST_CHECK;
int service_conv_update(struct service *svc, const char *tenant, const struct conv_update *req,
                        struct conv_meta *out, struct mem_error *err) MEM_MUST_CHECK;
int service_conv_list(struct service *svc, const char *tenant, const struct conv_list *req,
                      struct conv_list_result *out, struct mem_error *err) MEM_MUST_CHECK;
int service_conv_delete(struct service *svc, const char *tenant, const char *conversation_id,
                        struct mem_error *err) MEM_MUST_CHECK;
/* ---- key-value memory (service_memory.c, over service/memory.h; the
 * /memory routes) ----
 * put: checks the namespace, key, value size (MEM_ETOO_LARGE over
 * MEMORY_MAX_VALUE_BYTES) and TTL (-1: the default; 0 only with
 * MEMORY_ALLOW_PERSISTENT=1); *out gets the version and times.
 * MEM_EPRECONDITION when If-Match does not hold. */
int service_memory_put(struct service *svc, const char *tenant, const struct mem_put *req,
                       struct mem_item *out, struct mem_error *err) MEM_MUST_CHECK;
/* REDIS_WAIT_REPLICAS (service.c): call service_request_begin before a request's
 * service calls; service_replicas then says how many Redis replicas
 * acknowledged its last Redis round trip (which covers every write before it
 * on the thread's connection), -1 when it waited for none. Per thread. */
void service_request_begin(void);
int service_replicas(void);

/* MEM_ENOT_FOUND; MEM_ECORRUPT (logged with its key) for a stored value that
 * is not JSON. Release *out with mem_item_release. */
int service_memory_get(struct service *svc, const char *tenant, const struct mem_ref *ref,
                       struct mem_item *out, struct mem_error *err) MEM_MUST_CHECK;
int service_memory_delete(struct service *svc, const char *tenant, const struct mem_ref *ref,
                          bool *deleted, struct mem_error *err) MEM_MUST_CHECK;
/* What one /memory request may spend (memory.h): a batch shares one. */
struct mem_budget service_memory_budget(const struct service *svc);
/* A page of items matching the filter, most recently updated first;
 * malformed values are skipped, logged and counted. The page ends early,
 * truncated with a next_cursor, when req->budget runs short; a budget spent
 * before the page could start is MEM_ETOO_LARGE. */
int service_memory_search(struct service *svc, const char *tenant, const struct mem_search *req,
                          struct mem_search_result *out, struct mem_error *err) MEM_MUST_CHECK;
int service_memory_cleanup(struct service *svc, const char *tenant, const struct mem_ns *prefix,
                           long long *deleted, struct mem_error *err) MEM_MUST_CHECK;
int service_memory_namespaces(struct service *svc, const char *tenant,
                              const struct mem_list_ns *req, struct mem_ns_list *out,
                              struct mem_error *err) MEM_MUST_CHECK;

#endif
