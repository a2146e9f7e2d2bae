/*
 * service_conversations.c: the conversation requests. The rules (ids, sizes,
 * trimming, what goes to the archive) are conv_service.c's; this file gives
 * it the stores of one routing snapshot and RESPONSE_MAX_BYTES.
 */
#include "service_internal.h"

#include "conv_service.h"

/* From one routing snapshot: with Redis primary, PostgreSQL (when
 * configured) takes what Redis trims and answers for history Redis no
 * longer holds. */
static struct conv_stores conv_stores_of(struct service *svc)
{
	struct svc_route rt = svc_route_take(svc);
	struct store *pg = svc->stores[STORE_POSTGRES];
	return (struct conv_stores){.cfg = svc->cfg,
	                            .primary = rt.primary,
	                            .archive = rt.primary != pg ? pg : NULL,
	                            .secondary = rt.dual_write ? rt.other : NULL,
	                            .other = rt.other};
}

int service_conv_append(struct service *svc, const char *tenant, const struct conv_append *req,
                        struct conv_append_result *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_append(&st, tenant, req, out, err);
}

int service_conv_read(struct service *svc, const char *tenant, const struct conv_read *req,
                      struct conv_page *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	struct conv_read r = *req;
	r.max_bytes = (size_t)svc->cfg->response_max_bytes;
	return conv_svc_read(&st, tenant, &r, out, err);
}

int service_conv_meta(struct service *svc, const char *tenant, const char *conversation_id,
                      struct conv_meta *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_meta(&st, tenant, conversation_id, out, err);
}

int service_conv_update(struct service *svc, const char *tenant, const struct conv_update *req,
                        struct conv_meta *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_update(&st, tenant, req, out, err);
}

int service_conv_list(struct service *svc, const char *tenant, const struct conv_list *req,
                      struct conv_list_result *out, struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_list(&st, tenant, req, out, err);
}

int service_conv_delete(struct service *svc, const char *tenant, const char *conversation_id,
                        struct mem_error *err)
{
	struct conv_stores st = conv_stores_of(svc);
	return conv_svc_delete(&st, tenant, conversation_id, err);
}
