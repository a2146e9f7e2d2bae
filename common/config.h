/*
 * config: every setting memoryd reads, in one table (config.c).
 *
 * Each entry names its environment variable, type, default, bounds and one
 * line of help. The same table drives loading, `memoryd --help` and the
 * README's configuration section (`memoryd --help-markdown`), so the three
 * never disagree.
 */
#ifndef MEMORYD_CONFIG_H
#define MEMORYD_CONFIG_H

#include <stdio.h>

#include "error.h"

struct config {
	long port;
	char *bind_address;
	long http_threads;
	long heavy_threads;
	long max_body_bytes;
	long response_max_bytes;
	long metrics_port;
	long http_connection_limit;
	long http_connection_timeout_seconds;
	long http_header_timeout_seconds;
	long http_body_timeout_seconds;
	long http_connections_per_address;
	long max_buffered_bytes;
	long max_json_tokens;
	long log_level;
	long shutdown_grace_seconds;

	char *store_primary;    /* "redis" or "postgres" ("mongo" is read as "postgres") */
	long dual_write;        /* CONV_DUAL_WRITE: writes also go to the other store */
	long failover_auto;     /* FAILOVER_AUTO: move to postgres when redis stays down */
	long failover_after_ms; /* FAILOVER_AFTER_MS: how long "stays down" is */

	char *redis_url;
	char *redis_password;
	char *redis_tls_ca_file;
	char *redis_cluster_nodes;     /* REDIS_CLUSTER_NODES: host:port,...; NULL: not a cluster */
	char *redis_sentinels;         /* REDIS_SENTINELS: host:port,...; NULL: REDIS_URL's host */
	char *redis_sentinel_master;   /* REDIS_SENTINEL_MASTER */
	char *redis_sentinel_password; /* REDIS_SENTINEL_PASSWORD */
	long redis_wait_replicas;      /* REDIS_WAIT_REPLICAS: WAIT after each round trip */
	long redis_wait_timeout_ms;    /* REDIS_WAIT_TIMEOUT_MS */
	long redis_connect_timeout_ms;
	long redis_socket_timeout_ms;
	long max_reconnect_attempts;

	char *database_url;
	long database_connect_timeout_ms;
	long database_statement_timeout_ms;
	long database_sweep_interval_seconds;

	long checkpoint_ttl_seconds;
	long checkpoint_cache_bytes;
	char *key_prefix;

	char *api_tokens;
	char *admin_token;

	/* conversations */
	char *conv_key_prefix;
	long conv_ttl_seconds;
	long conv_max_messages;
	long conv_window_default;
	long conv_max_message_bytes;
	long conv_max_batch;
	long memory_default_ttl_seconds;
	long memory_allow_persistent;
	long memory_max_value_bytes;
	long memory_work_budget;

	/* the archiver (service/archive.h) */
	long archive_after_seconds;
	long archive_interval_seconds;
	char *archive_timezone;
	long archive_retry_attempts;
	long archive_retry_delay_seconds;
	char *archiver_health_file;
	char *archive_shard; /* "i/n", parsed into the two below */
	long archive_shard_index, archive_shard_count;
	long archive_retention_days;
};

/*
 * Load from the environment (getenv). On a bad value returns -1 and fills
 * err with one line naming the variable and what it accepts. Release with
 * config_release either way.
 */
int config_load(struct config *cfg, struct mem_error *err) MEM_MUST_CHECK;
void config_release(struct config *cfg);
/*
 * The archiver's safety rule: ARCHIVE_AFTER_SECONDS plus the interval must be
 * below CHECKPOINT_TTL_SECONDS and CONV_TTL_SECONDS, or data could expire
 * before a pass archives it. -1 and err (one line naming the variables) when
 * it does not hold. Checked by the archive commands at start-up.
 */
int config_check_archive(const struct config *cfg, struct mem_error *err) MEM_MUST_CHECK;
/* The table as text (for --help) or as a Markdown table (for the README). */
void config_print_help(FILE *out);
void config_print_markdown(FILE *out);

#endif
