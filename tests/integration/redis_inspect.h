/* Read-only view of the Redis memoryd writes to (hiredis 0.14, no TLS). */
#ifndef MEMORYD_IT_REDIS_INSPECT_H
#define MEMORYD_IT_REDIS_INSPECT_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

typedef struct {
	char **v;
	size_t n;
} it_strlist;

void it_strlist_free(it_strlist *l);
int it_strlist_contains(const it_strlist *l, const char *s);

/* Connects to REDIS_URL (redis://[user:pass@]host[:port][/db]; REDIS_PASSWORD
 * used when the URL has no password). Fails the test when REDIS_URL is unset
 * or unreachable. */
redisContext *it_redis_connect(void);

/* Redis Cluster: with REDIS_CLUSTER_NODES set (REDIS_URL naming one of its
 * nodes), a command is sent to REDIS_URL's node and MOVED and ASK answers
 * are followed to the node they name (a connection per node, kept by
 * host:port with REDIS_URL's credentials); every helper here does the same,
 * and the scans walk every primary (CLUSTER SLOTS). Without it, nothing
 * changes: one connection, hiredis's own calls.
 * Test files' redisCommand and redisCommandArgv are these wrappers (the
 * defines below), so a test's hand-made key reaches the node holding it. A
 * command naming keys of several slots is refused by the cluster (CROSSSLOT):
 * send one a key. it_redis_monitor sees one node's commands only: the cases
 * counting commands with it are not run on a cluster. */
bool it_redis_is_cluster(void);
void *it_redis_command(redisContext *c, const char *format, ...);
void *it_redis_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen);
#ifndef MEMORYD_IT_REDIS_INSPECT_IMPL
#define redisCommand     it_redis_command
#define redisCommandArgv it_redis_command_argv
#endif

/* All keys matching the glob pattern (SCAN cursor loop; every primary of a cluster). */
void it_redis_scan(redisContext *c, const char *pattern, it_strlist *out);
/* All keys containing `needle` (SCAN of the whole db, filtered here). */
void it_redis_keys_containing(redisContext *c, const char *needle, it_strlist *out);

long long it_redis_ttl(redisContext *c, const char *key);
int it_redis_exists(redisContext *c, const char *key);
/* TYPE of the key ("none" when missing); malloc'd. */
char *it_redis_type(redisContext *c, const char *key);
/* SMEMBERS / HKEYS / ZRANGE 0 -1 into a list. */
void it_redis_smembers(redisContext *c, const char *key, it_strlist *out);
void it_redis_hkeys(redisContext *c, const char *key, it_strlist *out);
void it_redis_zrange(redisContext *c, const char *key, it_strlist *out);
/* HGET; NULL when missing (malloc'd, length in *len). */
char *it_redis_hget(redisContext *c, const char *key, const char *field, size_t *len);
/* ZSCORE; returns 0 and sets *score when the member exists, -1 otherwise. */
int it_redis_zscore(redisContext *c, const char *key, const char *member, double *score);
long long it_redis_card(redisContext *c, const char *cmd, const char *key);

/* A new connection in MONITOR mode (redisFree it): every command Redis runs
 * from now on, one reply line each. */
redisContext *it_redis_monitor(void);
/* Reads m's lines until one holds every string of until (NULL-terminated;
 * fails after 10 s), returning how many lines before it, and it, hold every
 * string of needles (NULL-terminated). */
long it_redis_monitor_count(redisContext *m, const char *const *needles, const char *const *until);

/* Keys of one thread: every key whose name contains "{<enc tenant>:<enc thread>}". */
void it_redis_thread_keys(redisContext *c, const char *tenant, const char *thread, it_strlist *out);
/* Keys belonging to a tenant: containing "{<enc tenant>:" or "{<enc tenant>}". */
void it_redis_tenant_keys(redisContext *c, const char *tenant, it_strlist *out);
/* Fails the test when any key of the tenant exists. */
void it_redis_expect_tenant_empty(redisContext *c, const char *tenant, const char *after);
/* Fails the test when any key of the thread exists. */
void it_redis_expect_thread_empty(redisContext *c, const char *tenant, const char *thread,
                                  const char *after);

#endif
