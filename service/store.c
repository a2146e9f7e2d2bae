#include "store.h"

#include <stdlib.h>
#include <string.h>

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
