/*
 * redis/internal.h: what the files of the Redis backend share, included by
 * no file outside service/redis/: the store's struct, the numbers of its Lua
 * scripts, the conversation settings, the calling thread's connection and
 * the wall clock.
 *
 * The arrows run one way. Each resource file (keys.c, checkpoints.c,
 * conversations.c, memory.c, archive.c, admin.c) includes its own header and
 * this one; redis.c includes them all, loads every script on each connection
 * and fills redis_store_ops. Nothing here knows a resource file.
 */
#ifndef MEMORYD_REDIS_INTERNAL_H
#define MEMORYD_REDIS_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "../../common/redis_url.h"
#include "../store.h"
#include "conn.h"

/*
 * The Lua scripts of the store (service/redis/lua/), by number. Each
 * resource file numbers its own scripts and defines their sources;
 * redis_store_new puts them all in scripts[], in this order, so every
 * connection loads them.
 */
/* checkpoints.c, and archive.c (thread_archive.lua) */
enum { SCRIPT_PUT, SCRIPT_GET, SCRIPT_WRITES, SCRIPT_DELETE, SCRIPT_ARCHIVE, NSCRIPTS };
/* conversations.c: sources in rconv_scripts, SHAs in struct rconv */
enum {
	RCONV_APPEND,
	RCONV_READ,
	RCONV_META,
	RCONV_DELETE,
	RCONV_OVERFLOW,
	RCONV_TRIM,
	RCONV_ARCHIVE,
	RCONV_NSCRIPTS
};
/* memory.c: sources in redis_memory_scripts */
enum {
	MEMORY_SCRIPT_PUT,
	MEMORY_SCRIPT_DELETE,
	MEMORY_SCRIPT_SCAN,
	MEMORY_SCRIPT_CLEANUP,
	MEMORY_SCRIPT_NAMESPACES,
	MEMORY_SCRIPT_TOUCH,
	REDIS_MEMORY_NSCRIPTS
};
/* scripts[]: the checkpoint scripts, the conversation ops', then the memory ops'. */
#define MEMORY_SCRIPTS_AT (NSCRIPTS + RCONV_NSCRIPTS)
#define NALLSCRIPTS       (MEMORY_SCRIPTS_AT + REDIS_MEMORY_NSCRIPTS)

/* The conversation settings of a Redis store (rconv_init, conversations.h). */
struct rconv {
	char *prefix;
	long ttl;
	char ttl_str[24];
	long max_messages;
	char max_str[24];
	bool keep_overflow; /* an archive takes what is beyond max_messages */
	char sha[RCONV_NSCRIPTS][41];
};

struct conn_slot; /* redis.c: one thread's connection */

/* Made by redis_store_new, freed by the ops' free (redis.c); the resource
 * files read its settings and never change them. */
struct redis_store {
	struct store base;
	struct redis_url url;
	char *password;
	struct redis_tls *tls;
	struct redis_sentinel *sentinel; /* REDIS_SENTINELS; NULL: REDIS_URL's host */
	struct redis_cluster *cluster;   /* REDIS_CLUSTER_NODES; NULL: one primary */
	struct redis_conn_opts opts;
	const char *scripts[NALLSCRIPTS];
	char sha[NALLSCRIPTS][41]; /* the conversation ops keep theirs (redis/conversations.c) */
	long ttl;
	char *ttl_str;
	/* ms between refreshes of a thread's entry in its tenant's thread index
	 * (CHECKPOINT_TTL_SECONDS / 10): see redis_checkpoint_put */
	long long index_every_ms;
	char *mem_ttl_str;   /* MEMORY_DEFAULT_TTL_SECONDS, for ttl-repair */
	bool mem_persistent; /* MEMORY_ALLOW_PERSISTENT: /memory keys may lack a TTL */
	char *prefix;
	struct redis_health health;
	pthread_key_t key;
	pthread_mutex_t lock;
	struct conn_slot *slots;
	struct rconv conv; /* the conversation ops' settings */
};

/* The calling thread's connection, made on first use. Borrowed: the store
 * frees it when the thread ends or the store is freed. Never NULL (the
 * connection itself connects lazily). */
struct redis_conn *redis_store_conn(struct store *s);

/* KEY_PREFIX, the conversation settings, and the SHA of memory script i. */
static inline const char *redis_store_prefix(const struct store *s)
{
	return ((const struct redis_store *)s)->prefix;
}

static inline const struct rconv *redis_store_conv(const struct store *s)
{
	return &((const struct redis_store *)s)->conv;
}

static inline const char *redis_store_memory_sha(const struct store *s, int i)
{
	return ((const struct redis_store *)s)->sha[MEMORY_SCRIPTS_AT + i];
}

/* Milliseconds since the epoch (CLOCK_REALTIME), the score of the indexes. */
static inline long long redis_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
