#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "../common/log.h"
#include "../common/metrics.h"

void store_keys_release(struct store_keys *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->v[i].name);
		free(k->v[i].type);
	}
	free(k->v);
	memset(k, 0, sizeof(*k));
}

void store_dual_write_missed(const struct store *secondary, const struct store *primary,
                             const char *op, const char *tenant, const char *what_key,
                             const char *what, const char *id_key, const char *id,
                             const char *error)
{
	metrics_dual_write_error();
	log_warn(NULL, "dual write missed: the secondary store does not hold this write",
	         LF_STR("op", op), LF_STR("store", secondary->ops->name),
	         LF_STR("primary", primary->ops->name), LF_STR("tenant", tenant),
	         LF_STR(what_key, what ? what : ""), LF_STR(id_key ? id_key : "id", id ? id : ""),
	         LF_STR("error", error));
}

void store_refs_release(struct store_refs *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++) {
		free(r->v[i].tenant);
		free(r->v[i].id);
	}
	free(r->v);
	memset(r, 0, sizeof(*r));
}
