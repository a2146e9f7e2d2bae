/*
 * handlers: one function per route. Each reads the request (request.h),
 * calls the service and queues exactly one response. The route table that
 * maps paths and methods to them is in server_routes.c.
 */
#ifndef MEMORYD_API_HANDLERS_H
#define MEMORYD_API_HANDLERS_H

#include "request.h"

enum MHD_Result h_healthz(struct request *r);
enum MHD_Result h_readyz(struct request *r);
enum MHD_Result h_health_memory(struct request *r);
enum MHD_Result h_metrics(struct request *r);

enum MHD_Result h_checkpoint_put(struct request *r);
enum MHD_Result h_checkpoint_list(struct request *r);
enum MHD_Result h_checkpoint_get(struct request *r);
enum MHD_Result h_checkpoint_delete(struct request *r);
enum MHD_Result h_checkpoint_writes(struct request *r);

enum MHD_Result h_admin_backup(struct request *r);
enum MHD_Result h_admin_ttl_repair(struct request *r);
enum MHD_Result h_admin_thread(struct request *r);
enum MHD_Result h_admin_checkpoint_delete(struct request *r);
enum MHD_Result h_admin_tenant_delete(struct request *r);
enum MHD_Result h_admin_failover_get(struct request *r);
enum MHD_Result h_admin_failover_set(struct request *r);
enum MHD_Result h_admin_archive(struct request *r);
/* An archival pass as JSON (health file fields; full: and the rest). */
struct archive_report;
json_t *archive_report_json(const struct archive_report *r, bool full);

enum MHD_Result h_conv_append(struct request *r);
enum MHD_Result h_conv_messages(struct request *r);
enum MHD_Result h_conv_get(struct request *r);
enum MHD_Result h_conv_update(struct request *r);
enum MHD_Result h_conv_delete(struct request *r);
enum MHD_Result h_conv_list(struct request *r);
enum MHD_Result h_memory_put(struct request *r);
enum MHD_Result h_memory_get(struct request *r);
enum MHD_Result h_memory_delete(struct request *r);
enum MHD_Result h_memory_search(struct request *r);
enum MHD_Result h_memory_cleanup(struct request *r);
enum MHD_Result h_memory_namespaces(struct request *r);
enum MHD_Result h_memory_batch(struct request *r);

#endif
