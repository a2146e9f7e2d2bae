/* redis/admin: see admin.h. */
#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/buf.h"
#include "../../common/ids.h"
#include "../../common/log.h"
#include "../../common/xalloc.h"
#include "batch.h"
#include "keys.h"

/* ---------- operator tools ---------- */

static long long info_field(const char *info, const char *field)
{
	size_t n = strlen(field);
	for (const char *p = info; p && *p;) {
		if (!strncmp(p, field, n) && p[n] == ':')
			return atoll(p + n + 1);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

#define BACKUP_WAIT_MS 60000

/* BGSAVE, then wait until no background save is in progress (bounded). */
int redis_admin_backup(struct store *s, long long *last_save, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = redis_store_conn(s);
	redisReply *rep = NULL;
	const char *bg[] = {"BGSAVE"};
	const char *inf[] = {"INFO", "persistence"};
	const char *ls[] = {"LASTSAVE"};
	int ret = -1;

	if (rs->cluster)
		return mem_fail(
		    err, MEM_EINVALID_FIELD, NULL,
		    "on a Redis Cluster, back up each primary (BGSAVE on every node, or "
		    "their persistence): memoryd's commands reach one slot at a time");
	if (redis_conn_command(conn, &rep, err, 1, bg, NULL) < 0)
		goto out;
	if (rep->type == REDIS_REPLY_ERROR && !strstr(rep->str, "already in progress")) {
		redis_reply_fail(rep, err, "BGSAVE");
		goto out;
	}
	for (long long waited = 0;; waited += 100) {
		freeReplyObject(rep);
		rep = NULL;
		if (redis_conn_command(conn, &rep, err, 2, inf, NULL) < 0)
			goto out;
		if (!redis_reply_str(rep)) {
			redis_reply_fail(rep, err, "INFO persistence");
			goto out;
		}
		if (info_field(rep->str, "rdb_bgsave_in_progress") == 0) {
			if (strstr(rep->str, "rdb_last_bgsave_status:err")) {
				mem_fail(err, MEM_EUNAVAILABLE, NULL,
				         "redis reports the background save failed");
				goto out;
			}
			break;
		}
		if (waited >= BACKUP_WAIT_MS) {
			mem_fail(err, MEM_EUNAVAILABLE, NULL,
			         "the background save still runs after %d s",
			         BACKUP_WAIT_MS / 1000);
			goto out;
		}
		struct timespec ts = {0, 100 * 1000000L};
		nanosleep(&ts, NULL);
	}
	freeReplyObject(rep);
	rep = NULL;
	if (redis_conn_command(conn, &rep, err, 1, ls, NULL) < 0)
		goto out;
	if (rep->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep, err, "LASTSAVE");
		goto out;
	}
	*last_save = rep->integer;
	ret = 0;
out:
	freeReplyObject(rep);
	return ret;
}

#define SCAN_COUNT "1000"

/* SCAN our prefix; for each batch, TTL of every key in one pipeline, then
 * EXPIRE for those without one. */
int redis_admin_ttl_repair(struct store *s, struct admin_counts *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = redis_store_conn(s);
	char cursor[32] = "0";
	char *pattern = xasprintf("%s:*", rs->prefix);
	size_t plen = strlen(rs->prefix); /* every key SCAN gives starts with it */
	redisReply *scan = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	do {
		if (redis_scan_step(conn, cursor, pattern, SCAN_COUNT, &scan, err) < 0)
			goto out;
		redisReply *keys = scan->element[1];
		size_t n = keys->elements;
		struct redis_batch ttls = {0}, fix = {0};
		for (size_t i = 0; i < n; i++) {
			redis_batch_cmd(&ttls, "TTL");
			redis_batch_arg(&ttls, keys->element[i]->str, keys->element[i]->len);
		}
		int rc = redis_batch_send(&ttls, conn, true, err);
		for (size_t i = 0; rc == 0 && i < n; i++) {
			if (ttls.rep[i]->type != REDIS_REPLY_INTEGER || ttls.rep[i]->integer != -1)
				continue;
			/* /memory keys: their own default, and none at all when
			 * items may be persistent (no TTL is then deliberate) */
			bool mem = !strncmp(keys->element[i]->str + plen, ":memory", 7);
			if (mem && rs->mem_persistent)
				continue;
			redis_batch_cmd(&fix, "EXPIRE");
			redis_batch_arg(&fix, keys->element[i]->str, keys->element[i]->len);
			redis_batch_str(&fix, mem ? rs->mem_ttl_str : rs->ttl_str);
		}
		if (rc == 0)
			rc = redis_batch_send(&fix, conn, true, err);
		for (size_t i = 0; rc == 0 && i < fix.n; i++)
			if (fix.rep[i]->type == REDIS_REPLY_INTEGER && fix.rep[i]->integer == 1)
				out->changed++;
		out->scanned += (long long)n;
		redis_batch_release(&ttls);
		redis_batch_release(&fix);
		if (rc < 0)
			goto out;
		freeReplyObject(scan);
		scan = NULL;
	} while (strcmp(cursor, "0"));
	if (out->changed)
		log_warn(NULL, "ttl repair gave keys without a TTL the default TTL",
		         LF_INT("fixed", out->changed), LF_INT("scanned", out->scanned));
	ret = 0;
out:
	freeReplyObject(scan);
	free(pattern);
	return ret;
}

/* Every key in the thread's registry, with TYPE, PTTL and MEMORY USAGE. */
int redis_admin_thread_keys(struct store *s, const char *tenant, const char *thread,
                            struct store_keys *out, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct redis_conn *conn = redis_store_conn(s);
	struct buf key = {0};
	struct redis_batch b = {0};
	redisReply *members = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	redis_key_thread_base(&key, rs, "thread", tenant, thread);
	buf_puts(&key, ":keys");
	const char *av[] = {"SMEMBERS", key.data};
	if (redis_conn_command(conn, &members, err, 2, av, NULL) < 0)
		goto out;
	if (members->type != REDIS_REPLY_ARRAY) {
		redis_reply_fail(members, err, "SMEMBERS");
		goto out;
	}
	size_t n = members->elements;
	/* the registry itself and the namespace set are the thread's too */
	size_t total = n + 2;
	const char **names = xcalloc(total, sizeof(*names));
	struct buf extra[2] = {{0}, {0}};
	redis_key_thread_base(&extra[0], rs, "thread", tenant, thread);
	buf_puts(&extra[0], ":keys");
	redis_key_thread_base(&extra[1], rs, "thread", tenant, thread);
	buf_puts(&extra[1], ":ns");
	for (size_t i = 0; i < total; i++) {
		const char *k = i < n ? members->element[i]->str : extra[i - n].data;
		size_t kl = i < n ? members->element[i]->len : extra[i - n].len;
		names[i] = k;
		redis_batch_cmd(&b, "TYPE");
		redis_batch_arg(&b, k, kl);
		redis_batch_cmd(&b, "PTTL");
		redis_batch_arg(&b, k, kl);
		redis_batch_cmd(&b, "MEMORY");
		redis_batch_str(&b, "USAGE");
		redis_batch_arg(&b, k, kl);
	}
	if (redis_batch_send(&b, conn, true, err) == 0) {
		out->v = xcalloc(total, sizeof(*out->v));
		for (size_t i = 0; i < total; i++) {
			redisReply *t = b.rep[3 * i], *ttl = b.rep[3 * i + 1],
			           *mem = b.rep[3 * i + 2];
			if (!redis_reply_str(t) || !strcmp(t->str, "none"))
				continue; /* listed but expired or never written */
			struct store_key *k = &out->v[out->n++];
			k->name = xstrdup(names[i]);
			k->type = xstrdup(t->str);
			k->ttl_ms = ttl->type == REDIS_REPLY_INTEGER ? ttl->integer : -2;
			k->bytes = mem->type == REDIS_REPLY_INTEGER ? mem->integer : -1;
		}
		ret = 0;
	}
	free(names);
	buf_release(&extra[0]);
	buf_release(&extra[1]);
out:
	redis_batch_release(&b);
	freeReplyObject(members);
	buf_release(&key);
	return ret;
}

/* Remove one checkpoint: its hash, its writes and its index entry; the head
 * of the namespace goes too when it named it (the next read repairs it). */
int redis_admin_checkpoint_delete(struct store *s, const char *tenant, const char *thread,
                                  const char *ns, const char *id, struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf k = {0}, hk = {0};
	struct redis_batch b = {0};
	redisReply *del = NULL;
	char *head_id = NULL;
	int ret = -1;

	redis_key_head(&hk, rs, tenant, thread, ns);
	redis_batch_cmd(&b, "GET");
	redis_batch_str(&b, hk.data);
	redis_batch_cmd(&b, "UNLINK");
	redis_key_thread_base(&k, rs, "checkpoint", tenant, thread);
	redis_key_part(&k, ns);
	redis_key_part(&k, id);
	redis_batch_buf(&b, &k);
	redis_key_thread_base(&k, rs, "writes", tenant, thread);
	redis_key_part(&k, ns);
	redis_key_part(&k, id);
	redis_batch_buf(&b, &k);
	redis_batch_cmd(&b, "ZREM");
	redis_key_thread_base(&k, rs, "checkpoints", tenant, thread);
	redis_key_part(&k, ns);
	redis_batch_buf(&b, &k);
	redis_batch_str(&b, id);
	if (redis_batch_send(&b, redis_store_conn(s), true, err) < 0)
		goto out;
	redisReply **rep = b.rep;
	if (rep[1]->type != REDIS_REPLY_INTEGER || rep[2]->type != REDIS_REPLY_INTEGER) {
		redis_reply_fail(rep[1]->type != REDIS_REPLY_INTEGER ? rep[1] : rep[2], err,
		                 "checkpoint delete");
		goto out;
	}
	if (redis_reply_str(rep[0])) {
		const char *bar = strchr(rep[0]->str, '|');
		head_id = bar ? xstrdup(bar + 1) : NULL;
	}
	if (head_id && !strcmp(head_id, id)) {
		const char *a3[] = {"DEL", hk.data};
		if (redis_conn_command(redis_store_conn(s), &del, err, 2, a3, NULL) < 0)
			goto out;
	}
	if (rep[1]->integer == 0 && rep[2]->integer == 0) {
		mem_fail(err, MEM_ENOT_FOUND, NULL, "no checkpoint %s in thread %s", id, thread);
		goto out;
	}
	log_warn(NULL, "checkpoint removed by an operator", LF_STR("tenant", tenant),
	         LF_STR("thread_id", thread), LF_STR("checkpoint_ns", ns),
	         LF_STR("checkpoint_id", id));
	ret = 0;
out:
	free(head_id);
	freeReplyObject(del);
	redis_batch_release(&b);
	buf_release(&k);
	buf_release(&hk);
	return ret;
}

/* SCAN for keys matching pattern (its glob characters are ours: ids are
 * encoded) and UNLINK them batch by batch. */
static int unlink_matching(struct store *s, const char *pattern, struct admin_counts *out,
                           struct mem_error *err)
{
	struct redis_conn *conn = redis_store_conn(s);
	redisReply *scan = NULL, *del = NULL;
	char cursor[32] = "0";
	int ret = -1;

	do {
		if (redis_scan_step(conn, cursor, pattern, SCAN_COUNT, &scan, err) < 0)
			goto out;
		redisReply *keys = scan->element[1];
		out->scanned += (long long)keys->elements;
		if (keys->elements) {
			size_t n = keys->elements + 1;
			const char **argv = xcalloc(n, sizeof(*argv));
			size_t *lens = xcalloc(n, sizeof(*lens));
			argv[0] = "UNLINK";
			lens[0] = 6;
			for (size_t i = 1; i < n; i++) {
				argv[i] = keys->element[i - 1]->str;
				lens[i] = keys->element[i - 1]->len;
			}
			int rc = redis_conn_command(conn, &del, err, (int)n, argv, lens);
			free(argv);
			free(lens);
			if (rc < 0)
				goto out;
			if (del->type == REDIS_REPLY_INTEGER)
				out->changed += del->integer;
			freeReplyObject(del);
			del = NULL;
		}
		freeReplyObject(scan);
		scan = NULL;
	} while (strcmp(cursor, "0"));
	ret = 0;
out:
	freeReplyObject(scan);
	freeReplyObject(del);
	return ret;
}

/* Unlink every conversation key of the tenant (CONV_KEY_PREFIX), adding to
 * *out. */
static int conv_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                              struct mem_error *err)
{
	struct buf pat = {0};
	buf_printf(&pat, "%s:*:{", redis_store_conv(s)->prefix);
	key_encode(&pat, tenant, strlen(tenant));
	buf_puts(&pat, ":*");
	int ret = unlink_matching(s, pat.data, out, err);
	buf_release(&pat);
	return ret;
}

/* Every key of the tenant: checkpoints (P:*:{tenant:*} and its thread
 * index), conversations (CONV_KEY_PREFIX) and /memory (P:memory*:{tenant}*). */
int redis_admin_tenant_delete(struct store *s, const char *tenant, struct admin_counts *out,
                              struct mem_error *err)
{
	struct redis_store *rs = (struct redis_store *)s;
	struct buf pat = {0}, mem = {0}, idx = {0};
	redisReply *del = NULL;
	int ret = -1;

	memset(out, 0, sizeof(*out));
	buf_puts(&pat, rs->prefix);
	buf_puts(&pat, ":*:{");
	key_encode(&pat, tenant, strlen(tenant));
	buf_puts(&pat, ":*");
	buf_puts(&mem, rs->prefix);
	buf_puts(&mem, ":memory*:{");
	key_encode(&mem, tenant, strlen(tenant));
	buf_puts(&mem, "}*");
	if (unlink_matching(s, pat.data, out, err) < 0 ||
	    conv_tenant_delete(s, tenant, out, err) < 0 ||
	    unlink_matching(s, mem.data, out, err) < 0)
		goto out;
	redis_key_tenant_index(&idx, rs, tenant);
	const char *ai[] = {"UNLINK", idx.data};
	if (redis_conn_command(redis_store_conn(s), &del, err, 2, ai, NULL) < 0)
		goto out;
	if (del->type == REDIS_REPLY_INTEGER)
		out->changed += del->integer;
	log_warn(NULL, "tenant forgotten by an operator", LF_STR("tenant", tenant),
	         LF_INT("keys_deleted", out->changed));
	ret = 0;
out:
	freeReplyObject(del);
	buf_release(&pat);
	buf_release(&mem);
	buf_release(&idx);
	return ret;
}
