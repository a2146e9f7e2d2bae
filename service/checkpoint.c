#include "checkpoint.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"

long cp_write_idx(const char *channel, size_t pos, bool *special)
{
	static const struct {
		const char *name;
		long idx;
	} map[] = {
	    {"__error__", CP_IDX_ERROR},
	    {"__scheduled__", CP_IDX_SCHEDULED},
	    {"__interrupt__", CP_IDX_INTERRUPT},
	    {"__resume__", CP_IDX_RESUME},
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(channel, map[i].name)) {
			*special = true;
			return map[i].idx;
		}
	*special = false;
	return (long)pos;
}

static void owned_value_release(struct owned_value *v)
{
	free(v->type);
	free(v->data);
}

static void pending_write_release(struct cp_pending_write *w)
{
	free(w->task_id);
	free(w->task_path);
	free(w->channel);
	owned_value_release(&w->value);
}

void cp_tuple_release(struct cp_tuple *t)
{
	if (!t)
		return;
	free(t->thread_id);
	free(t->ns);
	free(t->checkpoint_id);
	free(t->checkpoint_json);
	free(t->metadata_json);
	free(t->parent_id);
	free(t->version);
	for (size_t i = 0; i < t->nvalues; i++) {
		free(t->values[i].channel);
		owned_value_release(&t->values[i].value);
	}
	free(t->values);
	for (size_t i = 0; i < t->nwrites; i++)
		pending_write_release(&t->writes[i]);
	free(t->writes);
	memset(t, 0, sizeof(*t));
}

void cp_thread_dump_release(struct cp_thread_dump *d)
{
	if (!d)
		return;
	free(d->digest);
	for (size_t i = 0; i < d->ncps; i++) {
		struct cp_archived_checkpoint *c = &d->cps[i];
		free(c->ns);
		free(c->id);
		free(c->parent);
		free(c->checkpoint);
		free(c->metadata);
		free(c->channels);
		free(c->versions);
	}
	free(d->cps);
	for (size_t i = 0; i < d->nblobs; i++) {
		free(d->blobs[i].ns);
		free(d->blobs[i].channel);
		free(d->blobs[i].version);
		owned_value_release(&d->blobs[i].value);
	}
	free(d->blobs);
	for (size_t i = 0; i < d->nwrites; i++) {
		free(d->writes[i].ns);
		free(d->writes[i].checkpoint_id);
		pending_write_release(&d->writes[i].w);
	}
	free(d->writes);
	memset(d, 0, sizeof(*d));
}

static int write_cmp(const void *a, const void *b)
{
	const struct cp_pending_write *x = a, *y = b;
	int c = strcmp(x->task_path, y->task_path);
	if (c)
		return c;
	c = strcmp(x->task_id, y->task_id);
	if (c)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

void cp_sort_writes(struct cp_tuple *t)
{
	if (t->nwrites > 1)
		qsort(t->writes, t->nwrites, sizeof(t->writes[0]), write_cmp);
}

void cp_list_result_release(struct cp_list_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		cp_tuple_release(&r->items[i]);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

bool cp_metadata_matches(const char *metadata_json, const char *filter_json)
{
	if (!filter_json)
		return true;
	json_t *f = json_loads(filter_json, JSON_DECODE_ANY, NULL);
	json_t *m = json_loads(metadata_json ? metadata_json : "{}", JSON_DECODE_ANY, NULL);
	bool ok = json_is_object(f) && json_is_object(m);
	const char *k;
	json_t *v;
	if (ok)
		json_object_foreach(f, k, v)
		{
			json_t *mv = json_object_get(m, k);
			if (!mv || !json_equal(mv, v)) {
				ok = false;
				break;
			}
		}
	json_decref(f);
	json_decref(m);
	return ok;
}

size_t cp_tuple_bytes(const struct cp_tuple *t)
{
	size_t n = (t->checkpoint_json ? strlen(t->checkpoint_json) : 0) +
	           (t->metadata_json ? strlen(t->metadata_json) : 0);
	for (size_t i = 0; i < t->nvalues; i++)
		n += t->values[i].value.len;
	for (size_t i = 0; i < t->nwrites; i++)
		n += t->writes[i].value.len;
	return n;
}

static uint64_t blob_hash(const char *channel, const char *version)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a over channel, NUL, version */
	for (const char *c = channel; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	h *= 1099511628211ULL;
	for (const char *c = version; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	return h;
}

/* An open-addressing set of the blobs (their index plus one; 0 is empty),
 * at most half full. */
void cp_put_blobs_written(const struct cp_put *r, bool *written)
{
	size_t cap = 16;
	while (cap < 2 * r->nblobs)
		cap *= 2;
	size_t *slot = xcalloc(cap, sizeof(*slot));
	for (size_t i = 0; i < r->nblobs; i++) {
		size_t k = (size_t)blob_hash(r->blobs[i].channel, r->blobs[i].version) & (cap - 1);
		while (slot[k])
			k = (k + 1) & (cap - 1);
		slot[k] = i + 1;
	}
	for (size_t v = 0; v < r->nversions; v++) {
		const struct cp_channel_version *cv = &r->versions[v];
		size_t k = (size_t)blob_hash(cv->channel, cv->version) & (cap - 1);
		written[v] = false;
		for (; slot[k] && !written[v]; k = (k + 1) & (cap - 1)) {
			const struct cp_blob *b = &r->blobs[slot[k] - 1];
			written[v] =
			    !strcmp(b->channel, cv->channel) && !strcmp(b->version, cv->version);
		}
	}
	free(slot);
}
