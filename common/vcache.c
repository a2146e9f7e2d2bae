#include "vcache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

#define NSHARDS  32
#define NBUCKETS 256 /* per shard */

struct entry {
	char *key;
	char *version;
	char *data;
	size_t len;
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

struct vcache {
	struct shard shards[NSHARDS];
};

static unsigned long hash(const char *s)
{
	unsigned long h = 5381;
	while (*s)
		h = h * 33 ^ (unsigned char)*s++;
	return h;
}

struct vcache *vcache_new(size_t max_bytes)
{
	if (!max_bytes)
		return NULL;
	struct vcache *c = xcalloc(1, sizeof(*c));
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
	free(e->data);
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

void vcache_free(struct vcache *c)
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

int vcache_get(struct vcache *c, const char *key, const char *version, char **data, size_t *len)
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
		*data = xmalloc(e->len + 1);
		memcpy(*data, e->data, e->len);
		(*data)[e->len] = '\0';
		*len = e->len;
		hit = 1;
	}
	pthread_mutex_unlock(&s->lock);
	return hit;
}

void vcache_put(struct vcache *c, const char *key, const char *version, const char *data,
                size_t len)
{
	if (!c)
		return;
	unsigned long h = hash(key);
	struct shard *s = &c->shards[h % NSHARDS];
	struct entry *n = xcalloc(1, sizeof(*n));
	n->key = xstrdup(key);
	n->version = xstrdup(version);
	n->h = h;
	n->data = xmalloc(len + 1);
	memcpy(n->data, data, len);
	n->len = len;
	n->bytes = sizeof(*n) + len + strlen(key) + strlen(version);
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

int vcache_has(struct vcache *c, const char *key)
{
	if (!c)
		return 0;
	unsigned long h = hash(key);
	struct shard *s = &c->shards[h % NSHARDS];
	pthread_mutex_lock(&s->lock);
	int has = find(s, key, h) != NULL;
	pthread_mutex_unlock(&s->lock);
	return has;
}

void vcache_drop(struct vcache *c, const char *key)
{
	if (!c)
		return;
	unsigned long h = hash(key);
	struct shard *s = &c->shards[h % NSHARDS];
	pthread_mutex_lock(&s->lock);
	struct entry *e = find(s, key, h);
	if (e)
		unlink_entry(s, e, 1);
	pthread_mutex_unlock(&s->lock);
	if (e)
		entry_free(e);
}
