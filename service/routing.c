#include "routing.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/xalloc.h"

struct routing {
	uint64_t word; /* version << 2 | dual_write << 1 | primary; atomic */
	pthread_mutex_t lock;
	struct route_state state; /* under lock */
};

static const char *const names[STORE_COUNT] = {
    [STORE_REDIS] = "redis", [STORE_POSTGRES] = "postgres"};

const char *store_id_name(enum store_id id)
{
	return (unsigned)id < STORE_COUNT ? names[id] : "unknown";
}

int store_id_parse(const char *name, enum store_id *out)
{
	if (!name)
		return -1;
	if (!strcmp(name, "redis"))
		*out = STORE_REDIS;
	else if (!strcmp(name, "postgres") || !strcmp(name, "mongo"))
		*out = STORE_POSTGRES;
	else
		return -1;
	return 0;
}

static uint64_t pack(const struct route_state *st)
{
	return (uint64_t)st->version << 2 | (uint64_t)(st->dual_write ? 2 : 0) |
	       (uint64_t)(st->primary == STORE_POSTGRES);
}

struct routing *routing_new(const struct route_state *initial)
{
	struct routing *rt = xcalloc(1, sizeof(*rt));
	pthread_mutex_init(&rt->lock, NULL);
	rt->state = *initial;
	__atomic_store_n(&rt->word, pack(initial), __ATOMIC_RELEASE);
	return rt;
}

void routing_free(struct routing *rt)
{
	if (!rt)
		return;
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

struct route routing_take(const struct routing *rt)
{
	uint64_t w = __atomic_load_n(&rt->word, __ATOMIC_ACQUIRE);
	return (struct route){
	    .primary = (w & 1) ? STORE_POSTGRES : STORE_REDIS,
	    .dual_write = (w & 2) != 0,
	    .version = (long long)(w >> 2),
	};
}

void routing_get(struct routing *rt, struct route_state *out)
{
	pthread_mutex_lock(&rt->lock);
	*out = rt->state;
	pthread_mutex_unlock(&rt->lock);
}

bool routing_apply(struct routing *rt, const struct route_state *st, bool force)
{
	bool changed = false;
	pthread_mutex_lock(&rt->lock);
	if (force || st->version > rt->state.version) {
		changed =
		    st->primary != rt->state.primary || st->dual_write != rt->state.dual_write;
		rt->state = *st;
		__atomic_store_n(&rt->word, pack(st), __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&rt->lock);
	return changed;
}

void routing_now_iso(char out[40])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	char s[24];
	strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, 40, "%s.%03ldZ", s, ts.tv_nsec / 1000000);
}
