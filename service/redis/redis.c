#include "redis.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/log.h"
#include "../../common/redis_url.h"
#include "../../common/xalloc.h"
#include "admin.h"
#include "archive.h"
#include "batch.h"
#include "checkpoints.h"
#include "conn.h"
#include "conversations.h"
#include "internal.h"
#include "memory.h"
#include "sentinel.h"

/* Lua sources, embedded from service/redis/lua/ at build time: the
 * checkpoint scripts (internal.h numbers them). */
extern const char lua_checkpoint_put[], lua_checkpoint_get[], lua_checkpoint_writes[],
    lua_thread_delete[], lua_thread_archive[];

/* ---------- per-thread connections ---------- */

struct conn_slot {
	struct redis_store *rs;
	struct redis_conn *conn;
	struct conn_slot *prev, *next;
};

static void slot_unlink_free(struct conn_slot *slot)
{
	struct redis_store *rs = slot->rs;
	pthread_mutex_lock(&rs->lock);
	if (slot->prev)
		slot->prev->next = slot->next;
	else
		rs->slots = slot->next;
	if (slot->next)
		slot->next->prev = slot->prev;
	pthread_mutex_unlock(&rs->lock);
	redis_conn_free(slot->conn);
	free(slot);
}

static void slot_destructor(void *p)
{
	slot_unlink_free(p);
}

struct redis_conn *redis_store_conn(struct store *s)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct conn_slot *slot = pthread_getspecific(rs->key);
	if (slot)
		return slot->conn;
	slot = xcalloc(1, sizeof(*slot));
	slot->rs = rs;
	slot->conn = redis_conn_new(&rs->opts, &rs->health);
	pthread_mutex_lock(&rs->lock);
	slot->next = rs->slots;
	if (rs->slots)
		rs->slots->prev = slot;
	rs->slots = slot;
	pthread_mutex_unlock(&rs->lock);
	pthread_setspecific(rs->key, slot);
	return slot->conn;
}

/* ---------- health ---------- */

static int rs_ping(struct store *s, struct store_status *st)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct mem_error err = {0};
	redisReply *rep = NULL;
	struct timespec t0, t1;
	const char *av[] = {"PING"};

	memset(st, 0, sizeof(*st));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int rc = redis_conn_command(redis_store_conn(s), &rep, &err, 1, av, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	st->latency_ms =
	    (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	if (rc == 0 && rep->type == REDIS_REPLY_ERROR) {
		snprintf(st->detail, sizeof(st->detail), "PING: %.120s", rep->str);
		rc = -1;
	} else if (rc < 0) {
		snprintf(st->detail, sizeof(st->detail), "%s", err.message);
	}
	st->reachable = rc == 0;
	st->state = redis_state_name(
	    (enum redis_state)__atomic_load_n(&rs->health.state, __ATOMIC_RELAXED));
	st->reconnect_attempts = __atomic_load_n(&rs->health.reconnect_attempts, __ATOMIC_RELAXED);
	freeReplyObject(rep);
	return rc;
}

/* INFO memory, stats and persistence, parsed into out. */
static int rs_info(struct store *s, struct store_info *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	redisReply *rep = NULL;
	const char *av[] = {"INFO", "memory", "stats", "persistence"};
	int ret = -1;

	memset(out, 0, sizeof(*out));
	out->reconnects = __atomic_load_n(&rs->health.reconnects, __ATOMIC_RELAXED);
	if (redis_conn_command(redis_store_conn(s), &rep, err, 4, av, NULL) < 0)
		goto out;
	if (!redis_reply_str(rep)) {
		redis_reply_fail(rep, err, "INFO");
		goto out;
	}
	long long last_save = 0, now = redis_wall_ms() / 1000;
	out->has_memory = true;
	out->rdb_last_save_age_seconds = -1;
	for (char *line = rep->str; line && *line;) {
		char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		char field[64], value[64];
		const char *colon = memchr(line, ':', n);
		if (colon && (size_t)(colon - line) < sizeof(field)) {
			size_t fl = (size_t)(colon - line), vl = n - fl - 1;
			if (vl && colon[vl] == '\r')
				vl--;
			if (vl >= sizeof(value))
				vl = sizeof(value) - 1;
			memcpy(field, line, fl);
			field[fl] = '\0';
			memcpy(value, colon + 1, vl);
			value[vl] = '\0';
			if (!strcmp(field, "used_memory"))
				out->used_memory = atoll(value);
			else if (!strcmp(field, "maxmemory"))
				out->maxmemory = atoll(value);
			else if (!strcmp(field, "maxmemory_policy"))
				snprintf(out->maxmemory_policy, sizeof(out->maxmemory_policy), "%s",
				         value);
			else if (!strcmp(field, "evicted_keys"))
				out->evicted_keys = atoll(value);
			else if (!strcmp(field, "rdb_last_save_time"))
				last_save = atoll(value);
			else if (!strcmp(field, "aof_enabled"))
				out->aof_enabled = atoi(value) == 1;
		}
		line = eol ? eol + 1 : NULL;
	}
	if (last_save > 0)
		out->rdb_last_save_age_seconds = now > last_save ? now - last_save : 0;
	ret = 0;
out:
	freeReplyObject(rep);
	return ret;
}

/* ---------- lifecycle ---------- */

static void rs_free(struct store *s)
{
	struct redis_store *rs = (struct redis_store *)s;
	if (!rs)
		return;
	pthread_key_delete(rs->key);
	while (rs->slots) {
		struct conn_slot *slot = rs->slots;
		rs->slots = slot->next;
		redis_conn_free(slot->conn);
		free(slot);
	}
	pthread_mutex_destroy(&rs->lock);
	redis_sentinel_free(rs->sentinel);
	redis_cluster_free(rs->cluster);
	redis_tls_free(rs->tls);
	redis_url_release(&rs->url);
	free(rs->password);
	free(rs->prefix);
	free(rs->ttl_str);
	free(rs->mem_ttl_str);
	rconv_release(&rs->conv);
	free(rs);
}

const struct store_ops redis_store_ops = {
    .name = "redis",
    .checkpoint_put = redis_checkpoint_put,
    .checkpoint_get = redis_checkpoint_get,
    .checkpoint_head = redis_checkpoint_head,
    .checkpoint_list = redis_checkpoint_list,
    .checkpoint_put_writes = redis_checkpoint_put_writes,
    .thread_delete = redis_thread_delete,
    .ping = rs_ping,
    .admin_backup = redis_admin_backup,
    .admin_ttl_repair = redis_admin_ttl_repair,
    .admin_thread_keys = redis_admin_thread_keys,
    .admin_checkpoint_delete = redis_admin_checkpoint_delete,
    .admin_tenant_delete = redis_admin_tenant_delete,
    .info = rs_info,
    .conv_append = rconv_append,
    .conv_read = rconv_read,
    .conv_meta = rconv_meta,
    .conv_held = rconv_held,
    .conv_update = rconv_update,
    .conv_list = rconv_list,
    .conv_delete = rconv_delete,
    .conv_overflow = rconv_overflow,
    .conv_trim = rconv_trim,
    .conv_scan = rconv_scan,
    .thread_scan = redis_thread_scan,
    .thread_dump = redis_thread_dump,
    .thread_drop = redis_thread_drop,
    .conv_dump = rconv_dump,
    .conv_drop = rconv_drop,
    .memory_put = redis_memory_put,
    .memory_get = redis_memory_get,
    .memory_delete = redis_memory_delete,
    .memory_scan = redis_memory_scan,
    .memory_refresh = redis_memory_refresh,
    .memory_cleanup = redis_memory_cleanup,
    .memory_namespaces = redis_memory_namespaces,
    .free = rs_free,
};

struct store *redis_store_new(const struct config *cfg, struct mem_error *err)
{
	struct redis_store *rs = xcalloc(1, sizeof(*rs));
	rs->base.ops = &redis_store_ops;
	pthread_mutex_init(&rs->lock, NULL);
	if (pthread_key_create(&rs->key, slot_destructor) != 0) {
		mem_fail(err, MEM_EINTERNAL, NULL, "cannot create a thread key");
		pthread_mutex_destroy(&rs->lock);
		free(rs);
		return NULL;
	}
	if (redis_url_parse(cfg->redis_url, &rs->url, err) < 0)
		goto fail;
	rs->password = rs->url.password      ? xstrdup(rs->url.password)
	               : cfg->redis_password ? xstrdup(cfg->redis_password)
	                                     : NULL;
	if (rs->url.tls) {
		rs->tls = redis_tls_new(cfg->redis_tls_ca_file, err);
		if (!rs->tls)
			goto fail;
	}
	if (cfg->redis_sentinels && *cfg->redis_sentinels) {
		rs->sentinel = redis_sentinel_new(cfg->redis_sentinels, cfg->redis_sentinel_master,
		                                  cfg->redis_sentinel_password,
		                                  (int)cfg->redis_connect_timeout_ms, err);
		if (!rs->sentinel)
			goto fail;
	}
	if (cfg->redis_cluster_nodes && *cfg->redis_cluster_nodes) {
		if (rs->url.db)
			mem_fail(err, MEM_EINVALID_FIELD, "REDIS_URL",
			         "a Redis Cluster has database 0 only: REDIS_URL names %d",
			         rs->url.db);
		rs->cluster = rs->url.db ? NULL : redis_cluster_new(cfg->redis_cluster_nodes, err);
		if (!rs->cluster)
			goto fail;
	}
	rs->prefix = xstrdup(cfg->key_prefix);
	rs->ttl = cfg->checkpoint_ttl_seconds;
	rs->ttl_str = xasprintf("%ld", rs->ttl);
	rs->index_every_ms = (long long)rs->ttl * 100;
	rs->mem_ttl_str = xasprintf("%ld", cfg->memory_default_ttl_seconds);
	rs->mem_persistent = cfg->memory_allow_persistent != 0;
	rs->scripts[SCRIPT_PUT] = lua_checkpoint_put;
	rs->scripts[SCRIPT_GET] = lua_checkpoint_get;
	rs->scripts[SCRIPT_WRITES] = lua_checkpoint_writes;
	rs->scripts[SCRIPT_DELETE] = lua_thread_delete;
	rs->scripts[SCRIPT_ARCHIVE] = lua_thread_archive;
	for (int i = 0; i < NSCRIPTS; i++)
		redis_script_sha(rs->scripts[i], rs->sha[i]);
	/* With Redis primary and DATABASE_URL, the service archives what is
	 * beyond CONV_MAX_MESSAGES before Redis drops it (conv_service.h). */
	rconv_init(&rs->conv, cfg,
	           cfg->database_url && *cfg->database_url && !strcmp(cfg->store_primary, "redis"));
	for (int i = 0; i < RCONV_NSCRIPTS; i++)
		rs->scripts[NSCRIPTS + i] = rconv_scripts[i];
	for (int i = 0; i < REDIS_MEMORY_NSCRIPTS; i++) {
		rs->scripts[MEMORY_SCRIPTS_AT + i] = redis_memory_scripts[i];
		redis_script_sha(rs->scripts[MEMORY_SCRIPTS_AT + i],
		                 rs->sha[MEMORY_SCRIPTS_AT + i]);
	}
	rs->opts = (struct redis_conn_opts){
	    .host = rs->url.host,
	    .port = rs->url.port,
	    .tls = rs->tls,
	    .user = rs->url.user,
	    .password = rs->password,
	    .db = rs->url.db,
	    .connect_timeout_ms = (int)cfg->redis_connect_timeout_ms,
	    .socket_timeout_ms = (int)cfg->redis_socket_timeout_ms,
	    .max_reconnect_attempts = (int)cfg->max_reconnect_attempts,
	    .scripts = rs->scripts,
	    .nscripts = NALLSCRIPTS,
	    .locator = rs->sentinel ? redis_sentinel_locator(rs->sentinel) : NULL,
	    .cluster = rs->cluster,
	    .wait_replicas = (int)cfg->redis_wait_replicas,
	    .wait_timeout_ms = (int)cfg->redis_wait_timeout_ms,
	};
	rs->health.state = REDIS_STATE_RECONNECTING;
	return &rs->base;
fail:
	rs_free(&rs->base);
	return NULL;
}
