#include "config.h"
#include "log.h"
#include "redis_url.h"
#include "tokens.h"
#include "xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum cfg_type { CFG_INT, CFG_STR, CFG_LOGLEVEL };

struct cfg_entry {
	const char *env;
	enum cfg_type type;
	const char *def; /* NULL: unset */
	long min, max;   /* CFG_INT bounds */
	size_t offset;
	int secret; /* never printed */
	int (*check)(const char *value, struct mem_error *err);
	const char *help;
};

static int check_redis_url(const char *v, struct mem_error *err)
{
	struct redis_url u;
	if (redis_url_parse(v, &u, err) < 0)
		return -1;
	redis_url_release(&u);
	return 0;
}

static int check_sentinels(const char *v, struct mem_error *err)
{
	struct redis_addr *a;
	size_t n;
	if (redis_addr_list_parse(v, "REDIS_SENTINELS", &a, &n, err) < 0)
		return -1;
	redis_addr_list_free(a, n);
	return 0;
}

static int check_cluster_nodes(const char *v, struct mem_error *err)
{
	struct redis_addr *a;
	size_t n;
	if (redis_addr_list_parse(v, "REDIS_CLUSTER_NODES", &a, &n, err) < 0)
		return -1;
	redis_addr_list_free(a, n);
	return 0;
}

static int check_key_prefix(const char *v, struct mem_error *err)
{
	if (!*v || strlen(v) > 64)
		return mem_fail(err, MEM_EINVALID_FIELD, "KEY_PREFIX", "must be 1..64 bytes");
	for (const char *c = v; *c; c++)
		if (strchr("{}*?[]\\: ", *c) || (unsigned char)*c < 0x20)
			return mem_fail(err, MEM_EINVALID_FIELD, "KEY_PREFIX",
			                "must not contain braces, glob characters, ':' or spaces");
	return 0;
}

static int check_api_tokens(const char *v, struct mem_error *err)
{
	struct tokens *t;
	if (tokens_parse(v, &t, err) < 0)
		return -1;
	int rc = tokens_check_strength(t, err);
	tokens_free(t);
	return rc;
}

static int check_admin_token(const char *v, struct mem_error *err)
{
	return tokens_check_secret(v, "ADMIN_TOKEN", "the value", err);
}

static int check_database_url(const char *v, struct mem_error *err)
{
	if (*v && strncmp(v, "postgres://", 11) && strncmp(v, "postgresql://", 13) &&
	    !strchr(v, '='))
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "must be a postgres:// or postgresql:// URL or a key=value "
		                "connection string");
	return 0;
}

static int check_store_primary(const char *v, struct mem_error *err)
{
	if (strcmp(v, "redis") && strcmp(v, "postgres") && strcmp(v, "mongo"))
		return mem_fail(err, MEM_EINVALID_FIELD, "CONV_STORE_PRIMARY",
		                "expected redis or postgres (mongo is an alias of postgres)");
	return 0;
}

/* A zone of the tz database (tzdata): glibc silently reads an unknown TZ as
 * UTC, so the zone file must be there. */
static int check_timezone(const char *v, struct mem_error *err)
{
	if (!*v || strlen(v) > 64 || v[0] == '/' || strstr(v, ".."))
		return mem_fail(err, MEM_EINVALID_FIELD, "ARCHIVE_TIMEZONE",
		                "must be a tz database zone name such as Europe/Madrid");
	for (const char *c = v; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("/_+-", *c))
			return mem_fail(err, MEM_EINVALID_FIELD, "ARCHIVE_TIMEZONE",
			                "must be a tz database zone name such as Europe/Madrid");
	const char *dir = getenv("TZDIR");
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", v);
	if (access(path, R_OK) != 0)
		return mem_fail(err, MEM_EINVALID_FIELD, "ARCHIVE_TIMEZONE",
		                "no zone %s in the tz database (%s; install tzdata)", v, path);
	return 0;
}

/* "i/n": shard i of n, 0 <= i < n <= 1024. */
static int parse_shard(const char *v, long *i, long *n)
{
	char *end;
	errno = 0;
	*i = strtol(v, &end, 10);
	if (errno || end == v || *end != '/' || !isdigit((unsigned char)end[1]))
		return -1;
	const char *at = end + 1;
	*n = strtol(at, &end, 10);
	if (errno || end == at || *end || *n < 1 || *n > 1024 || *i < 0 || *i >= *n)
		return -1;
	return 0;
}

static int check_shard(const char *v, struct mem_error *err)
{
	long i, n;
	if (parse_shard(v, &i, &n) < 0)
		return mem_fail(err, MEM_EINVALID_FIELD, "ARCHIVE_SHARD",
		                "expected i/n with 0 <= i < n <= 1024 (0/1: one worker)");
	return 0;
}

#define OFF(f) offsetof(struct config, f)

static const struct cfg_entry table[] = {
    {"PORT", CFG_INT, "8080", 1, 65535, OFF(port), 0, NULL, "TCP port of the HTTP API"},
    {"BIND_ADDRESS", CFG_STR, "127.0.0.1", 0, 0, OFF(bind_address), 0, NULL,
     "address to listen on (0.0.0.0 in containers)"},
    {"HTTP_THREADS", CFG_INT, "8", 1, 256, OFF(http_threads), 0, NULL,
     "HTTP worker threads; each keeps its own connection to the primary store"},
    {"HEAVY_THREADS", CFG_INT, "2", 1, 256, OFF(heavy_threads), 0, NULL,
     "threads that run the expensive requests (checkpoint lists, memory search, batch, "
     "namespaces and cleanup, conversation lists and pages, admin calls) apart from the HTTP "
     "workers and at a lower priority, so these never hold up a get; their Redis round trips "
     "go one at a time, each followed by a pause as long, so they take at most half of "
     "Redis's time; more than the cores memoryd may use adds no throughput. At most 16 per "
     "thread wait; beyond, 503 with Retry-After"},
    {"MAX_BODY_BYTES", CFG_INT, "8388608", 1024, 1073741824, OFF(max_body_bytes), 0, NULL,
     "largest request body accepted; larger ones get 413 before they are read"},
    {"RESPONSE_MAX_BYTES", CFG_INT, "4194304", 1024, 1073741824, OFF(response_max_bytes), 0, NULL,
     "stored bytes one answer carries at most (a list or search page, a message page, a batch): "
     "a page ends early with a cursor; one element always fits"},
    {"MAX_BUFFERED_BYTES", CFG_INT, "67108864", 1048576, 68719476736L, OFF(max_buffered_bytes), 0,
     NULL,
     "most request body bytes held at once over all connections; a request whose body would "
     "pass it gets 503 with Retry-After before its body is read"},
    {"MAX_JSON_TOKENS", CFG_INT, "262144", 16, 16777216, OFF(max_json_tokens), 0, NULL,
     "most JSON values and keys in one request body (each costs 20 bytes to parse); more get "
     "413"},
    {"METRICS_PORT", CFG_INT, "0", 0, 65535, OFF(metrics_port), 0, NULL,
     "a second port serving only the probes and /metrics (0: none; they stay on PORT too)"},
    {"HTTP_CONNECTION_LIMIT", CFG_INT, "1024", 1, 65536, OFF(http_connection_limit), 0, NULL,
     "most client connections served at once, over all HTTP threads; more wait unaccepted"},
    {"HTTP_CONNECTION_TIMEOUT_SECONDS", CFG_INT, "30", 1, 3600,
     OFF(http_connection_timeout_seconds), 0, NULL,
     "a connection idle or stalled this long is closed, so slow clients cannot pin threads; "
     "also the most time a request line may take to arrive after the last answer"},
    {"HTTP_HEADER_TIMEOUT_SECONDS", CFG_INT, "10", 1, 3600, OFF(http_header_timeout_seconds), 0,
     NULL,
     "a request's headers must all arrive within this long of its request line, however "
     "steadily they trickle in; else the connection is closed"},
    {"HTTP_BODY_TIMEOUT_SECONDS", CFG_INT, "60", 1, 3600, OFF(http_body_timeout_seconds), 0, NULL,
     "a request's body must all arrive within this long of its headers; else the connection "
     "is closed"},
    {"HTTP_CONNECTIONS_PER_ADDRESS", CFG_INT, "256", 1, 65536, OFF(http_connections_per_address), 0,
     NULL,
     "most connections open at once from one client address; more are closed as soon as "
     "they are accepted"},
    {"LOG_LEVEL", CFG_LOGLEVEL, "info", 0, 0, OFF(log_level), 0, NULL, "how much to log"},
    {"SHUTDOWN_GRACE_SECONDS", CFG_INT, "20", 0, 3600, OFF(shutdown_grace_seconds), 0, NULL,
     "on SIGTERM, how long requests in flight (or an archival step) may take to finish "
     "before memoryd exits; it exits sooner once they have"},
    {"CONV_STORE_PRIMARY", CFG_STR, "redis", 0, 0, OFF(store_primary), 0, check_store_primary,
     "the store that serves reads and acknowledges writes: redis or postgres (mongo: an alias "
     "of postgres, as in the old runbook); postgres needs DATABASE_URL. Once POST "
     "/admin/failover has switched, every replica routes by the state kept in PostgreSQL "
     "instead"},
    {"CONV_DUAL_WRITE", CFG_INT, "0", 0, 1, OFF(dual_write), 0, NULL,
     "1: every write (checkpoints, conversations, /memory) also goes to the other store once "
     "the primary holds it, with the same seqs and versions (a failure there is counted and "
     "logged, never returned); needs DATABASE_URL. /admin/failover changes it at runtime"},
    {"FAILOVER_AUTO", CFG_INT, "0", 0, 1, OFF(failover_auto), 0, NULL,
     "1: when Redis is primary and stays unreachable for FAILOVER_AFTER_MS, reads and writes "
     "move to PostgreSQL on every replica (failback is an operator's POST /admin/failover); "
     "needs DATABASE_URL; with CONV_DUAL_WRITE=1, what Redis held is in PostgreSQL too"},
    {"FAILOVER_AFTER_MS", CFG_INT, "5000", 100, 600000, OFF(failover_after_ms), 0, NULL,
     "how long Redis must stay unreachable before FAILOVER_AUTO moves to PostgreSQL"},
    {"REDIS_URL", CFG_STR, "redis://127.0.0.1:6379/0", 0, 0, OFF(redis_url), 0, check_redis_url,
     "primary store: redis://[user:password@]host:port/db, rediss:// for TLS"},
    {"REDIS_PASSWORD", CFG_STR, NULL, 0, 0, OFF(redis_password), 1, NULL,
     "Redis password when it is not in REDIS_URL"},
    {"REDIS_TLS_CA_FILE", CFG_STR, NULL, 0, 0, OFF(redis_tls_ca_file), 0, NULL,
     "CA bundle that verifies the Redis server certificate (rediss://); default: system CAs"},
    {"REDIS_CLUSTER_NODES", CFG_STR, NULL, 0, 0, OFF(redis_cluster_nodes), 0, check_cluster_nodes,
     "Redis Cluster: host:port,... of some of its nodes; memoryd reads the slot map from them, "
     "sends each command to the primary serving its key's slot, follows MOVED and ASK, and "
     "walks every primary for scans (REDIS_URL then gives only TLS, user and password)"},
    {"REDIS_SENTINELS", CFG_STR, NULL, 0, 0, OFF(redis_sentinels), 0, check_sentinels,
     "Redis Sentinel: host:port,... of the sentinels; memoryd asks them where the primary "
     "REDIS_SENTINEL_MASTER is, follows +switch-master, and writes only to a server whose ROLE "
     "is master (REDIS_URL then gives only TLS, user, password and db)"},
    {"REDIS_SENTINEL_MASTER", CFG_STR, NULL, 0, 0, OFF(redis_sentinel_master), 0, NULL,
     "the name the sentinels monitor the primary under (needed with REDIS_SENTINELS)"},
    {"REDIS_SENTINEL_PASSWORD", CFG_STR, NULL, 0, 0, OFF(redis_sentinel_password), 1, NULL,
     "the sentinels' own password (requirepass in sentinel.conf), when they have one"},
    {"REDIS_WAIT_REPLICAS", CFG_INT, "0", 0, 64, OFF(redis_wait_replicas), 0, NULL,
     "durability: N > 0 makes every Redis round trip end with WAIT N, so a 2xx means N "
     "replicas hold the write too (it survives the loss of its primary; the answer's "
     "Memoryd-Replicas header says how many); fewer within REDIS_WAIT_TIMEOUT_MS is 503"},
    {"REDIS_WAIT_TIMEOUT_MS", CFG_INT, "1000", 1, 60000, OFF(redis_wait_timeout_ms), 0, NULL,
     "how long a write waits for REDIS_WAIT_REPLICAS replicas before it is answered 503"},
    {"REDIS_CONNECT_TIMEOUT_MS", CFG_INT, "1000", 10, 60000, OFF(redis_connect_timeout_ms), 0, NULL,
     "timeout of one Redis connection attempt, TLS handshake and AUTH included"},
    {"REDIS_SOCKET_TIMEOUT_MS", CFG_INT, "2000", 10, 600000, OFF(redis_socket_timeout_ms), 0, NULL,
     "timeout of one Redis command round trip"},
    {"MEMORY_MAX_RECONNECT_ATTEMPTS", CFG_INT, "10", 1, 1000, OFF(max_reconnect_attempts), 0, NULL,
     "reconnect attempts (50 ms doubling to 500 ms) before the connection is in error"},
    {"DATABASE_URL", CFG_STR, NULL, 0, 0, OFF(database_url), 1, check_database_url,
     "PostgreSQL, the fallback store and archive (postgresql://...; sslmode and the other libpq "
     "parameters honoured); when set, migrations run at start-up"},
    {"DATABASE_CONNECT_TIMEOUT_MS", CFG_INT, "2000", 10, 60000, OFF(database_connect_timeout_ms), 0,
     NULL, "timeout of one PostgreSQL connection attempt, TLS included"},
    {"DATABASE_STATEMENT_TIMEOUT_MS", CFG_INT, "2000", 10, 600000,
     OFF(database_statement_timeout_ms), 0, NULL,
     "statement_timeout of memoryd's PostgreSQL sessions (migrations excepted)"},
    {"DATABASE_SWEEP_INTERVAL_SECONDS", CFG_INT, "60", 1, 86400,
     OFF(database_sweep_interval_seconds), 0, NULL,
     "how often expired PostgreSQL rows are deleted, 1000 per statement"},
    {"CHECKPOINT_TTL_SECONDS", CFG_INT, "86400", 1, 315360000, OFF(checkpoint_ttl_seconds), 0, NULL,
     "TTL of every checkpoint key, refreshed on each put to the thread"},
    {"CHECKPOINT_CACHE_BYTES", CFG_INT, "8388608", 0, 1073741824, OFF(checkpoint_cache_bytes), 0,
     NULL,
     "memory for cached latest checkpoints, each validated against Redis on every read; 0 turns "
     "the cache off"},
    {"API_TOKENS", CFG_STR, NULL, 0, 0, OFF(api_tokens), 1, check_api_tokens,
     "bearer tokens and their tenants: TOKEN:TENANT[,TENANT];TOKEN:* (unset: the API is open); "
     "each token at least 16 bytes, none a CHANGE_ME placeholder, or memoryd does not start"},
    {"ADMIN_TOKEN", CFG_STR, NULL, 0, 0, OFF(admin_token), 1, check_admin_token,
     "bearer token for /admin/* and the store details of /readyz and /health/memory (unset: "
     "admin endpoints answer 403); at least 16 bytes, not blank, not a CHANGE_ME placeholder"},
    {"KEY_PREFIX", CFG_STR, "langgraph", 0, 0, OFF(key_prefix), 0, check_key_prefix,
     "first component of every Redis key"},
    {"CONV_KEY_PREFIX", CFG_STR, "conv", 0, 0, OFF(conv_key_prefix), 0, check_key_prefix,
     "first component of every conversation key in Redis"},
    {"CONV_TTL_SECONDS", CFG_INT, "2592000", 1, 315360000, OFF(conv_ttl_seconds), 0, NULL,
     "TTL of every conversation key (30 days), refreshed on each append or update"},
    {"CONV_MAX_MESSAGES", CFG_INT, "1000", 1, 1000000, OFF(conv_max_messages), 0, NULL,
     "messages of a conversation kept in Redis; older ones go to PostgreSQL's "
     "conversation_history first (without DATABASE_URL they are deleted)"},
    {"CONV_WINDOW_DEFAULT", CFG_INT, "20", 1, 1000, OFF(conv_window_default), 0, NULL,
     "messages a read returns when it names no limit (the last N)"},
    {"CONV_MAX_MESSAGE_BYTES", CFG_INT, "262144", 1, 67108864, OFF(conv_max_message_bytes), 0, NULL,
     "largest message content accepted (bytes of UTF-8); larger ones get 413"},
    {"CONV_MAX_BATCH", CFG_INT, "100", 1, 10000, OFF(conv_max_batch), 0, NULL,
     "most messages one append may carry"},
    {"MEMORY_DEFAULT_TTL_SECONDS", CFG_INT, "86400", 1, 315360000, OFF(memory_default_ttl_seconds),
     0, NULL, "TTL of a /memory item put without ttl_seconds"},
    {"MEMORY_ALLOW_PERSISTENT", CFG_INT, "0", 0, 1, OFF(memory_allow_persistent), 0, NULL,
     "1: a /memory item may be put with ttl_seconds 0 (no expiry); 0: every item expires"},
    {"MEMORY_MAX_VALUE_BYTES", CFG_INT, "1048576", 2, 1073741824, OFF(memory_max_value_bytes), 0,
     NULL, "largest /memory value (compact JSON text); larger ones get 413"},
    {"MEMORY_WORK_BUDGET", CFG_INT, "1000000", 100, 1000000000, OFF(memory_work_budget), 0, NULL,
     "Redis index entries and namespaces one /memory request (a whole batch) may read; a search "
     "past it ends its page early with a cursor, or is 413 when it could not start one"},
    {"ARCHIVE_AFTER_SECONDS", CFG_INT, "82800", 1, 315360000, OFF(archive_after_seconds), 0, NULL,
     "the archiver takes conversations and checkpoint threads idle (not written) this long to "
     "PostgreSQL, then removes them from Redis; plus the interval it must stay below the TTLs"},
    {"ARCHIVE_INTERVAL_SECONDS", CFG_INT, "3600", 1, 86400, OFF(archive_interval_seconds), 0, NULL,
     "`memoryd archiver` runs a pass at every multiple of this in ARCHIVE_TIMEZONE (3600: on "
     "the hour); also the schedule the safety check assumes for `memoryd archive`"},
    {"ARCHIVE_TIMEZONE", CFG_STR, "Europe/Madrid", 0, 0, OFF(archive_timezone), 0, check_timezone,
     "tz database zone of the archiver's schedule, log timestamps and health file"},
    {"ARCHIVE_RETRY_ATTEMPTS", CFG_INT, "2", 1, 100, OFF(archive_retry_attempts), 0, NULL,
     "tries of each step of a pass (scan, read, insert, delete) when Redis or PostgreSQL fails; "
     "then what it held is skipped until the next pass"},
    {"ARCHIVE_RETRY_DELAY_SECONDS", CFG_INT, "5", 0, 3600, OFF(archive_retry_delay_seconds), 0,
     NULL, "wait between those tries"},
    {"ARCHIVER_HEALTH_FILE", CFG_STR, "/tmp/archiver_health.json", 0, 0, OFF(archiver_health_file),
     0, NULL,
     "written (temp file, then rename) after every archival pass: last_run, status, "
     "checkpoints_archived, messages_archived, errors"},
    {"ARCHIVE_SHARD", CFG_STR, "0/1", 0, 0, OFF(archive_shard), 0, check_shard,
     "i/n: this archiver takes only the conversations and threads whose tenant and id hash to i "
     "of n, so n workers split a pass without overlap"},
    {"ARCHIVE_RETENTION_DAYS", CFG_INT, "180", 1, 36500, OFF(archive_retention_days), 0, NULL,
     "`memoryd retention` deletes archived conversation history older than this; archived "
     "checkpoint threads expire from PostgreSQL this long after their archival"},
};

#define NENTRIES (sizeof(table) / sizeof(table[0]))

static int load_entry(struct config *cfg, const struct cfg_entry *e, struct mem_error *err)
{
	const char *v = getenv(e->env);
	if (v && !*v && e->type != CFG_STR)
		v = NULL; /* an empty value means "use the default" */
	if (!v)
		v = e->def;
	char *base = (char *)cfg;
	switch (e->type) {
	case CFG_INT: {
		char *end;
		errno = 0;
		long n = strtol(v, &end, 10);
		if (errno || end == v || *end || n < e->min || n > e->max)
			return mem_fail(err, MEM_EINVALID_FIELD, e->env,
			                "%s=%s is invalid: expected an integer from %ld to %ld",
			                e->env, v, e->min, e->max);
		*(long *)(base + e->offset) = n;
		return 0;
	}
	case CFG_LOGLEVEL: {
		int l = log_level_parse(v);
		if (l < 0)
			return mem_fail(err, MEM_EINVALID_FIELD, e->env,
			                "%s=%s is invalid: expected debug, info, warn or error",
			                e->env, v);
		*(long *)(base + e->offset) = l;
		return 0;
	}
	case CFG_STR:
		if (v && e->check && e->check(v, err) < 0) {
			/* Rewrite the checker's message into one start-up line;
			 * secrets are never echoed. */
			char why[256];
			snprintf(why, sizeof(why), "%s", err->message);
			return mem_fail(err, MEM_EINVALID_FIELD, e->env, "%s is invalid: %s",
			                e->env, why);
		}
		*(char **)(base + e->offset) = v ? xstrdup(v) : NULL;
		return 0;
	}
	return 0;
}

int config_load(struct config *cfg, struct mem_error *err)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < NENTRIES; i++)
		if (load_entry(cfg, &table[i], err) < 0)
			return -1;
	/* The old runbook's name for the fallback store. */
	if (!strcmp(cfg->store_primary, "mongo")) {
		free(cfg->store_primary);
		cfg->store_primary = xstrdup("postgres");
	}
	if (!strcmp(cfg->store_primary, "postgres") && (!cfg->database_url || !*cfg->database_url))
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "CONV_STORE_PRIMARY=postgres needs DATABASE_URL "
		                "(postgresql://user:password@host:5432/db)");
	if ((cfg->dual_write || cfg->failover_auto) && (!cfg->database_url || !*cfg->database_url))
		return mem_fail(err, MEM_EINVALID_FIELD, "DATABASE_URL",
		                "%s=1 needs DATABASE_URL: PostgreSQL is the other store",
		                cfg->dual_write ? "CONV_DUAL_WRITE" : "FAILOVER_AUTO");
	if (cfg->redis_cluster_nodes && *cfg->redis_cluster_nodes && cfg->redis_sentinels &&
	    *cfg->redis_sentinels)
		return mem_fail(
		    err, MEM_EINVALID_FIELD, "REDIS_CLUSTER_NODES",
		    "REDIS_CLUSTER_NODES and REDIS_SENTINELS exclude each other: a cluster "
		    "fails its primaries over itself");
	if (cfg->redis_sentinels && *cfg->redis_sentinels &&
	    (!cfg->redis_sentinel_master || !*cfg->redis_sentinel_master))
		return mem_fail(
		    err, MEM_EINVALID_FIELD, "REDIS_SENTINEL_MASTER",
		    "REDIS_SENTINELS needs REDIS_SENTINEL_MASTER, the name the sentinels "
		    "monitor the primary under");
	if (parse_shard(cfg->archive_shard, &cfg->archive_shard_index, &cfg->archive_shard_count) <
	    0)
		return check_shard(cfg->archive_shard, err);
	return 0;
}

int config_check_archive(const struct config *cfg, struct mem_error *err)
{
	long reach = cfg->archive_after_seconds + cfg->archive_interval_seconds;
	const char *ttl = cfg->checkpoint_ttl_seconds <= cfg->conv_ttl_seconds
	                      ? "CHECKPOINT_TTL_SECONDS"
	                      : "CONV_TTL_SECONDS";
	long least = cfg->checkpoint_ttl_seconds <= cfg->conv_ttl_seconds
	                 ? cfg->checkpoint_ttl_seconds
	                 : cfg->conv_ttl_seconds;
	if (reach < least)
		return 0;
	long most = least - cfg->archive_interval_seconds - 1;
	char fix[96];
	if (most >= 1)
		snprintf(fix, sizeof(fix), "set ARCHIVE_AFTER_SECONDS to at most %ld", most);
	else
		snprintf(fix, sizeof(fix), "shorten ARCHIVE_INTERVAL_SECONDS or lengthen %s", ttl);
	return mem_fail(
	    err, MEM_EINVALID_FIELD, "ARCHIVE_AFTER_SECONDS",
	    "ARCHIVE_AFTER_SECONDS (%ld) + ARCHIVE_INTERVAL_SECONDS (%ld) = %ld is not "
	    "below %s (%ld): data could expire from Redis before a pass archives it; %s",
	    cfg->archive_after_seconds, cfg->archive_interval_seconds, reach, ttl, least, fix);
}

void config_release(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < NENTRIES; i++) {
		if (table[i].type != CFG_STR)
			continue;
		char **p = (char **)((char *)cfg + table[i].offset);
		free(*p);
		*p = NULL;
	}
}

static void entry_bounds(const struct cfg_entry *e, char *out, size_t n)
{
	if (e->type == CFG_INT)
		snprintf(out, n, "%ld..%ld", e->min, e->max);
	else if (e->type == CFG_LOGLEVEL)
		snprintf(out, n, "debug, info, warn, error");
	else
		snprintf(out, n, "string");
}

void config_print_help(FILE *out)
{
	fprintf(out, "usage: memoryd [--help | --help-markdown | --version | migrate | archive |\n"
	             "                archiver | retention [--export FILE]]\n\n"
	             "migrate: apply the PostgreSQL migrations DATABASE_URL lacks, then exit\n"
	             "archive: run one archival pass (Redis to PostgreSQL), then exit\n"
	             "archiver: run an archival pass every ARCHIVE_INTERVAL_SECONDS until SIGTERM\n"
	             "retention: delete archived history older than ARCHIVE_RETENTION_DAYS (with\n"
	             "  --export FILE, written there as JSON lines first), then exit\n\n"
	             "memoryd is configured by environment variables:\n\n");
	for (size_t i = 0; i < NENTRIES; i++) {
		const struct cfg_entry *e = &table[i];
		char b[64];
		entry_bounds(e, b, sizeof(b));
		fprintf(out, "  %-30s %s (default: %s; %s)\n", e->env, e->help,
		        e->def ? e->def : "unset", b);
	}
}

void config_print_markdown(FILE *out)
{
	fprintf(out, "| Variable | Default | Accepts | Meaning |\n|---|---|---|---|\n");
	for (size_t i = 0; i < NENTRIES; i++) {
		const struct cfg_entry *e = &table[i];
		char b[64];
		entry_bounds(e, b, sizeof(b));
		fprintf(out, "| `%s` | %s%s%s | %s | %s |\n", e->env, e->def ? "`" : "",
		        e->def ? e->def : "unset", e->def ? "`" : "", b, e->help);
	}
}
