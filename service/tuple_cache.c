#include "tuple_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "../common/xalloc.h"

#define NSHARDS  32
#define NBUCKETS 256 /* per shard */

struct entry {
	char *key;
	char *version;
	struct cp_tuple t;
	size_t bytes;
	unsigned long h;
	struct entry *prev, *next; /* LRU: head is the most recent */
	struct entry *hnext;       /* bucket chain */
};

struct shard {
	pthread_mutex_t lock;
	struct entry *head, *tail;
	struct entry *buckets[NBUCKETS];
	size_t bytes;
	size_t max_bytes;
};

struct tuple_cache {
	struct shard shards[NSHARDS];
};

static unsigned long hash(const char *s)
{
	unsigned long h = 5381;
	while (*s)
		h = h * 33 ^ (unsigned char)*s++;
	return h;
}

static char *dupn(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void copy_value(struct owned_value *dst, const struct owned_value *src)
{
	dst->type = xstrdup(src->type);
	dst->len = src->len;
	dst->data = xmalloc(src->len + 1);
	memcpy(dst->data, src->data, src->len);
}

static size_t tuple_copy(struct cp_tuple *d, const struct cp_tuple *s)
{
	size_t bytes = sizeof(*d);
	memset(d, 0, sizeof(*d));
	d->thread_id = dupn(s->thread_id);
	d->ns = dupn(s->ns);
	d->checkpoint_id = dupn(s->checkpoint_id);
	d->checkpoint_json = dupn(s->checkpoint_json);
	d->metadata_json = dupn(s->metadata_json);
	d->parent_id = dupn(s->parent_id);
	bytes += strlen(s->checkpoint_json) + strlen(s->metadata_json) + 128;
	d->values = xcalloc(s->nvalues + 1, sizeof(*d->values));
	d->nvalues = s->nvalues;
	for (size_t i = 0; i < s->nvalues; i++) {
		d->values[i].channel = xstrdup(s->values[i].channel);
		copy_value(&d->values[i].value, &s->values[i].value);
		bytes += s->values[i].value.len + 64;
	}
	d->writes = xcalloc(s->nwrites + 1, sizeof(*d->writes));
	d->nwrites = s->nwrites;
	for (size_t i = 0; i < s->nwrites; i++) {
		const struct cp_pending_write *w = &s->writes[i];
		d->writes[i].task_id = xstrdup(w->task_id);
		d->writes[i].task_path = xstrdup(w->task_path);
		d->writes[i].channel = xstrdup(w->channel);
		d->writes[i].idx = w->idx;
		copy_value(&d->writes[i].value, &w->value);
		bytes += w->value.len + 96;
	}
	return bytes;
}

struct tuple_cache *tuple_cache_new(size_t max_bytes)
{
	if (!max_bytes)
		return NULL;
	struct tuple_cache *c = xcalloc(1, sizeof(*c));
	for (int i = 0; i < NSHARDS; i++) {
		pthread_mutex_init(&c->shards[i].lock, NULL);
		c->shards[i].max_bytes = max_bytes / NSHARDS;
	}
	return c;
}

static void entry_free(struct entry *e)
{
	free(e->key);
	free(e->version);
	cp_tuple_release(&e->t);
	free(e);
}

static void bucket_remove(struct shard *s, struct entry *e)
{
	struct entry **pp = &s->buckets[(e->h / NSHARDS) % NBUCKETS];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
}

/* Off the LRU list (and, when drop, out of the table too). */
static void unlink_entry(struct shard *s, struct entry *e, int drop)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		s->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->tail = e->prev;
	e->prev = e->next = NULL;
	s->bytes -= e->bytes;
	if (drop)
		bucket_remove(s, e);
}

static void push_front(struct shard *s, struct entry *e)
{
	e->prev = NULL;
	e->next = s->head;
	if (s->head)
		s->head->prev = e;
	s->head = e;
	if (!s->tail)
		s->tail = e;
	s->bytes += e->bytes;
}

static struct entry *find(struct shard *s, const char *key, unsigned long h)
{
	for (struct entry *e = s->buckets[(h / NSHARDS) % NBUCKETS]; e; e = e->hnext)
		if (e->h == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

void tuple_cache_free(struct tuple_cache *c)
{
	if (!c)
		return;
	for (int i = 0; i < NSHARDS; i++) {
		struct entry *e = c->shards[i].head;
		while (e) {
			struct entry *n = e->next;
			entry_free(e);
			e = n;
		}
		pthread_mutex_destroy(&c->shards[i].lock);
	}
	free(c);
}

int tuple_cache_get(struct tuple_cache *c, const char *key, const char *version,
                    struct cp_tuple *out)
{
	if (!c)
		return 0;
	unsigned long h = hash(key);
	struct shard *s = &c->shards[h % NSHARDS];
	int hit = 0;
	pthread_mutex_lock(&s->lock);
	struct entry *e = find(s, key, h);
	if (e && !strcmp(e->version, version)) {
		unlink_entry(s, e, 0);
		push_front(s, e);
		tuple_copy(out, &e->t);
		hit = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void tuple_cache_put(struct tuple_cache *c, const char *key, const char *version,
                     const struct cp_tuple *t)
{
	if (!c)
		return;
	unsigned long h = hash(key);
	struct shard *s = &c->shards[h % NSHARDS];
	struct entry *n = xcalloc(1, sizeof(*n));
	n->key = xstrdup(key);
	n->version = xstrdup(version);
	n->h = h;
	n->bytes = tuple_copy(&n->t, t) + strlen(key) + strlen(version);
	if (n->bytes > s->max_bytes) {
		entry_free(n);
		return;
	}
	pthread_mutex_lock(&s->lock);
	struct entry *old = find(s, key, h);
	if (old) {
		unlink_entry(s, old, 1);
		entry_free(old);
	}
	push_front(s, n);
	struct entry **b = &s->buckets[(h / NSHARDS) % NBUCKETS];
	n->hnext = *b;
	*b = n;
	while (s->bytes > s->max_bytes && s->tail) {
		struct entry *victim = s->tail;
		unlink_entry(s, victim, 1);
		entry_free(victim);
	}
	pthread_mutex_unlock(&s->lock);
}
