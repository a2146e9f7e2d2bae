/*
 * service: the domain entry point the API calls. It validates domain rules
 * (ids, sizes) and routes each call to the store behind struct store_ops.
 * The primary store is Redis or PostgreSQL (CONV_STORE_PRIMARY); dual write
 * and failover will live here too, so no handler ever chooses a store.
 *
 * Thread-safe: HTTP worker threads call it concurrently.
 */
#ifndef MEMORYD_SERVICE_H
#define MEMORYD_SERVICE_H

#include "../common/config.h"
#include "../common/error.h"
#include "checkpoint.h"
#include "conversation.h"
#include "store.h"

struct service;

/* cfg is borrowed and must outlive the service. */
struct service *service_new(const struct config *cfg, struct mem_error *err);
void service_free(struct service *svc);

/* Validate a tenant name (the X-Tenant-Id header). */
int service_check_tenant(const char *tenant, struct mem_error *err) MEM_MUST_CHECK;

int service_checkpoint_put(struct service *svc, const char *tenant, const struct cp_put *req,
                           struct mem_error *err) MEM_MUST_CHECK;
/* *out is filled on success; release with cp_tuple_release. */
int service_checkpoint_get(struct service *svc, const char *tenant, const struct cp_get *req,
                           struct cp_tuple *out, struct mem_error *err) MEM_MUST_CHECK;
/* *version: see store_ops.checkpoint_head. */
int service_checkpoint_head(struct service *svc, const char *tenant, const char *thread_id,
                            const char *ns, char **version, struct mem_error *err) MEM_MUST_CHECK;
int service_checkpoint_list(struct service *svc, const char *tenant, const struct cp_list *req,
                            struct cp_list_result *out, struct mem_error *err) MEM_MUST_CHECK;
int service_checkpoint_put_writes(struct service *svc, const char *tenant,
                                  const struct cp_put_writes *req,
                                  struct mem_error *err) MEM_MUST_CHECK;
int service_thread_delete(struct service *svc, const char *tenant, const char *thread_id,
                          struct mem_error *err) MEM_MUST_CHECK;

/* Readiness: the primary store answers within its timeout. */
int service_ready(struct service *svc, const char **store_name, struct store_status *st);

/* The primary store's name, whether writes also go to a secondary, and the
 * primary's figures for /health/memory and /metrics. */
const char *service_primary(struct service *svc);
bool service_dual_write(struct service *svc);
int service_store_info(struct service *svc, struct store_info *out, struct mem_error *err);

/* Operator tools; see store_ops for each. */
int service_admin_backup(struct service *svc, long long *last_save,
                         struct mem_error *err) MEM_MUST_CHECK;
int service_admin_ttl_repair(struct service *svc, struct admin_counts *out,
                             struct mem_error *err) MEM_MUST_CHECK;
int service_admin_thread_keys(struct service *svc, const char *tenant, const char *thread_id,
                              struct store_keys *out, struct mem_error *err) MEM_MUST_CHECK;
int service_admin_checkpoint_delete(struct service *svc, const char *tenant, const char *thread_id,
                                    const char *ns, const char *checkpoint_id,
                                    struct mem_error *err) MEM_MUST_CHECK;
int service_admin_tenant_delete(struct service *svc, const char *tenant, struct admin_counts *out,
                                struct mem_error *err) MEM_MUST_CHECK;

#define LIST_LIMIT_MAX 1000

/* ---- conversations (service/conversation.h, conv_service.h) ----
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

#endif
