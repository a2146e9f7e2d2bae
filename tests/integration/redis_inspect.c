#define _POSIX_C_SOURCE 200809L
/* Here redisCommand is hiredis's: the wrappers call it. */
#define MEMORYD_IT_REDIS_INSPECT_IMPL
#include "redis_inspect.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "http.h"
#include "it_common.h"

void it_strlist_free(it_strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

int it_strlist_contains(const it_strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i], s) == 0)
			return 1;
	return 0;
}

static void strlist_add(it_strlist *l, const char *s, size_t len)
{
	char **nv = realloc(l->v, (l->n + 1) * sizeof *nv);
	ck_assert_msg(nv != NULL, "out of memory");
	l->v = nv;
	l->v[l->n] = malloc(len + 1);
	ck_assert_msg(l->v[l->n] != NULL, "out of memory");
	memcpy(l->v[l->n], s, len);
	l->v[l->n][len] = '\0';
	l->n++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static char *url_unescape(const char *s, size_t n)
{
	char *o = malloc(n + 1);
	ck_assert_msg(o != NULL, "out of memory");
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
			o[j++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			o[j++] = s[i];
		}
	}
	o[j] = '\0';
	return o;
}

/* REDIS_URL's parts: the tests' own connection, and with REDIS_CLUSTER_NODES
 * the credentials for every node a command is redirected to. */
struct url_parts {
	char *user, *pass;
	char host[256];
	int port, db;
};

static void parse_redis_url(const char *url, struct url_parts *u)
{
	const char *p = url;
	ck_assert_msg(strncmp(url, "rediss://", 9) != 0,
	              "REDIS_URL=%s uses TLS; hiredis 0.14 cannot inspect it (use test_tls)", url);
	ck_assert_msg(strncmp(url, "redis://", 8) == 0, "REDIS_URL=%s: expected redis://", url);
	p += 8;
	const char *end = p + strcspn(p, "/?");
	const char *at = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == '@')
			at = q;
	u->user = u->pass = NULL;
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));
		if (colon) {
			u->user = url_unescape(p, (size_t)(colon - p));
			u->pass = url_unescape(colon + 1, (size_t)(at - colon - 1));
		} else {
			u->pass = url_unescape(p, (size_t)(at - p));
		}
		p = at + 1;
	}
	snprintf(u->host, sizeof u->host, "127.0.0.1");
	u->port = 6379;
	const char *hs = p, *he;
	if (*p == '[') {
		hs = p + 1;
		he = strchr(hs, ']');
		ck_assert_msg(he != NULL && he < end, "REDIS_URL=%s: bad IPv6 host", url);
		p = he + 1;
	} else {
		he = p;
		while (he < end && *he != ':')
			he++;
		p = he;
	}
	if (he > hs) {
		ck_assert_msg((size_t)(he - hs) < sizeof u->host, "REDIS_URL host too long");
		memcpy(u->host, hs, (size_t)(he - hs));
		u->host[he - hs] = '\0';
	}
	if (p < end && *p == ':')
		u->port = atoi(p + 1);
	u->db = 0;
	if (*end == '/' && end[1] != '\0')
		u->db = atoi(end + 1);
	const char *envpass = getenv("REDIS_PASSWORD");
	if (u->pass == NULL && envpass && *envpass)
		u->pass = strdup(envpass);
}

/* A command whose answer is no error; with REDIS_CLUSTER_NODES, sent to the
 * node of its key (it_redis_command_argv). */
static redisReply *cmd_argv(redisContext *c, int argc, const char **argv, const size_t *lens)
{
	redisReply *r = it_redis_command_argv(c, argc, argv, lens);
	ck_assert_msg(r != NULL, "redis command %s failed: %s", argv[0], c->errstr);
	ck_assert_msg(r->type != REDIS_REPLY_ERROR, "redis %s: %s", argv[0], r->str);
	return r;
}

static redisReply *cmd2(redisContext *c, const char *a0, const char *a1)
{
	const char *argv[2] = {a0, a1};
	size_t lens[2] = {strlen(a0), strlen(a1)};
	return cmd_argv(c, 2, argv, lens);
}

/* A connection to host:port with REDIS_URL's credentials and database. */
static redisContext *connect_node(const char *url, const char *host, int port)
{
	struct url_parts u;
	parse_redis_url(url, &u);
	if (!host) {
		host = u.host;
		port = u.port;
	}
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	ck_assert_msg(c != NULL && !c->err, "cannot connect to Redis at %s:%d (REDIS_URL=%s): %s",
	              host, port, url, c ? c->errstr : "alloc");
	redisSetTimeout(c, tv);
	if (u.pass != NULL && *u.pass != '\0') {
		redisReply *r;
		if (u.user && *u.user) {
			const char *argv[3] = {"AUTH", u.user, u.pass};
			size_t lens[3] = {4, strlen(u.user), strlen(u.pass)};
			r = cmd_argv(c, 3, argv, lens);
		} else {
			r = cmd2(c, "AUTH", u.pass);
		}
		freeReplyObject(r);
	}
	free(u.user);
	free(u.pass);
	if (u.db != 0) {
		char dbs[16];
		snprintf(dbs, sizeof dbs, "%d", u.db);
		freeReplyObject(cmd2(c, "SELECT", dbs));
	}
	return c;
}

redisContext *it_redis_connect(void)
{
	return connect_node(it_require_env("REDIS_URL"), NULL, 0);
}

/* ---------- Redis Cluster ---------- */

bool it_redis_is_cluster(void)
{
	const char *v = getenv("REDIS_CLUSTER_NODES");
	return v && *v;
}

/* This process's connections to the cluster's nodes, by host:port (each
 * test runs in a child of its own, with a cache of its own). */
struct node_conn {
	char *addr;
	redisContext *c;
};
static struct node_conn *nodes;
static size_t nnodes;

static redisContext *node_at(const char *host, int port)
{
	char *addr = it_strfmt("%s:%d", host, port);
	struct node_conn *slot = NULL;
	for (size_t i = 0; i < nnodes && !slot; i++)
		if (!strcmp(nodes[i].addr, addr))
			slot = &nodes[i];
	if (slot && !slot->c->err) {
		free(addr);
		return slot->c;
	}
	redisContext *c = connect_node(it_require_env("REDIS_URL"), host, port);
	if (slot) { /* a connection that failed: replaced */
		redisFree(slot->c);
		slot->c = c;
		free(addr);
		return c;
	}
	struct node_conn *nv = realloc(nodes, (nnodes + 1) * sizeof *nv);
	ck_assert_msg(nv != NULL, "out of memory");
	nodes = nv;
	nodes[nnodes].addr = addr;
	nodes[nnodes].c = c;
	nnodes++;
	return c;
}

static redisReply *send_formatted(redisContext *c, const char *cmd, size_t len)
{
	void *r = NULL;
	if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK ||
	    redisGetReply(c, &r) != REDIS_OK)
		return NULL;
	return r;
}

/* The node a MOVED or ASK answer names ("MOVED <slot> <host>:<port>"; an
 * empty host is the one the answer came from); NULL for other answers. */
static redisContext *redirect_target(redisContext *from, const redisReply *r, bool *ask)
{
	if (r->type != REDIS_REPLY_ERROR)
		return NULL;
	if (!strncmp(r->str, "MOVED ", 6))
		*ask = false;
	else if (!strncmp(r->str, "ASK ", 4))
		*ask = true;
	else
		return NULL;
	const char *addr = strchr(strchr(r->str, ' ') + 1, ' ');
	const char *colon = addr ? strrchr(addr, ':') : NULL;
	ck_assert_msg(colon != NULL, "unreadable redirection: %s", r->str);
	char host[256];
	size_t hl = (size_t)(colon - addr - 1);
	ck_assert_msg(hl < sizeof host, "unreadable redirection: %s", r->str);
	memcpy(host, addr + 1, hl);
	host[hl] = '\0';
	if (hl == 0)
		snprintf(host, sizeof host, "%s", from->tcp.host ? from->tcp.host : "127.0.0.1");
	return node_at(host, atoi(colon + 1));
}

/* Sends a formatted command to c and, on a cluster, follows MOVED and ASK
 * to the node named (a few hops at most). A failure on another node is
 * told in c->errstr, which the callers print. Frees cmd. */
static void *cluster_send(redisContext *c, char *cmd, int len)
{
	if (len < 0)
		return NULL;
	redisReply *r = send_formatted(c, cmd, (size_t)len);
	redisContext *at = c;
	bool ask = false;
	for (int hop = 0; r && hop < 5; hop++) {
		redisContext *n = redirect_target(at, r, &ask);
		if (!n)
			break;
		freeReplyObject(r);
		r = NULL;
		at = n;
		if (ask) {
			redisReply *a = send_formatted(n, "*1\r\n$6\r\nASKING\r\n", 16);
			if (!a)
				break;
			freeReplyObject(a);
		}
		r = send_formatted(n, cmd, (size_t)len);
	}
	if (!r && at != c)
		snprintf(c->errstr, sizeof c->errstr, "%s", at->errstr);
	redisFreeCommand(cmd);
	return r;
}

void *it_redis_command(redisContext *c, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	void *r;
	if (!it_redis_is_cluster()) {
		r = redisvCommand(c, format, ap);
	} else {
		char *cmd = NULL;
		int len = redisvFormatCommand(&cmd, format, ap);
		r = cluster_send(c, cmd, len);
	}
	va_end(ap);
	return r;
}

void *it_redis_command_argv(redisContext *c, int argc, const char **argv, const size_t *argvlen)
{
	if (!it_redis_is_cluster())
		return redisCommandArgv(c, argc, argv, argvlen);
	char *cmd = NULL;
	int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
	return cluster_send(c, cmd, len);
}

/* Every primary's connection, by CLUSTER SLOTS (asked of c). */
static void cluster_primaries(redisContext *c, redisContext ***out, size_t *n)
{
	redisReply *r = cmd2(c, "CLUSTER", "SLOTS");
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements > 0, "bad CLUSTER SLOTS reply");
	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < r->elements; i++) {
		redisReply *range = r->element[i];
		ck_assert_msg(range->type == REDIS_REPLY_ARRAY && range->elements >= 3 &&
		                  range->element[2]->type == REDIS_REPLY_ARRAY &&
		                  range->element[2]->elements >= 2,
		              "bad CLUSTER SLOTS range");
		redisReply *p = range->element[2];
		const char *host =
		    p->element[0]->str && *p->element[0]->str ? p->element[0]->str : c->tcp.host;
		redisContext *pc = node_at(host, (int)p->element[1]->integer);
		bool seen = false;
		for (size_t j = 0; j < *n; j++)
			seen = seen || (*out)[j] == pc;
		if (seen)
			continue;
		redisContext **nv = realloc(*out, (*n + 1) * sizeof *nv);
		ck_assert_msg(nv != NULL, "out of memory");
		*out = nv;
		(*out)[(*n)++] = pc;
	}
	freeReplyObject(r);
}

/* SCAN of one node. */
static void scan_node(redisContext *c, const char *pattern, it_strlist *out)
{
	char cursor[32] = "0";
	do {
		const char *argv[6] = {"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"};
		size_t lens[6] = {4, strlen(cursor), 5, strlen(pattern), 5, 4};
		redisReply *r = cmd_argv(c, 6, argv, lens);
		ck_assert_msg(r->type == REDIS_REPLY_ARRAY && r->elements == 2, "bad SCAN reply");
		snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
		redisReply *keys = r->element[1];
		for (size_t i = 0; i < keys->elements; i++)
			if (!it_strlist_contains(out, keys->element[i]->str))
				strlist_add(out, keys->element[i]->str, keys->element[i]->len);
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
}

void it_redis_scan(redisContext *c, const char *pattern, it_strlist *out)
{
	if (!it_redis_is_cluster()) {
		scan_node(c, pattern, out);
		return;
	}
	redisContext **prim;
	size_t n;
	cluster_primaries(c, &prim, &n);
	for (size_t i = 0; i < n; i++)
		scan_node(prim[i], pattern, out);
	free(prim);
}

void it_redis_keys_containing(redisContext *c, const char *needle, it_strlist *out)
{
	it_strlist all = {0};
	it_redis_scan(c, "*", &all);
	for (size_t i = 0; i < all.n; i++)
		if (strstr(all.v[i], needle) != NULL)
			strlist_add(out, all.v[i], strlen(all.v[i]));
	it_strlist_free(&all);
}

long long it_redis_ttl(redisContext *c, const char *key)
{
	redisReply *r = cmd2(c, "TTL", key);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "bad TTL reply");
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

int it_redis_exists(redisContext *c, const char *key)
{
	redisReply *r = cmd2(c, "EXISTS", key);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "bad EXISTS reply");
	int v = r->integer > 0;
	freeReplyObject(r);
	return v;
}

char *it_redis_type(redisContext *c, const char *key)
{
	redisReply *r = cmd2(c, "TYPE", key);
	char *s = strdup(r->str ? r->str : "?");
	freeReplyObject(r);
	return s;
}

static void collect(redisReply *r, it_strlist *out)
{
	ck_assert_msg(r->type == REDIS_REPLY_ARRAY, "expected an array reply");
	for (size_t i = 0; i < r->elements; i++)
		strlist_add(out, r->element[i]->str, r->element[i]->len);
}

void it_redis_smembers(redisContext *c, const char *key, it_strlist *out)
{
	redisReply *r = cmd2(c, "SMEMBERS", key);
	collect(r, out);
	freeReplyObject(r);
}

void it_redis_hkeys(redisContext *c, const char *key, it_strlist *out)
{
	redisReply *r = cmd2(c, "HKEYS", key);
	collect(r, out);
	freeReplyObject(r);
}

void it_redis_zrange(redisContext *c, const char *key, it_strlist *out)
{
	const char *argv[4] = {"ZRANGE", key, "0", "-1"};
	size_t lens[4] = {6, strlen(key), 1, 2};
	redisReply *r = cmd_argv(c, 4, argv, lens);
	collect(r, out);
	freeReplyObject(r);
}

char *it_redis_hget(redisContext *c, const char *key, const char *field, size_t *len)
{
	const char *argv[3] = {"HGET", key, field};
	size_t lens[3] = {4, strlen(key), strlen(field)};
	redisReply *r = cmd_argv(c, 3, argv, lens);
	char *s = NULL;
	if (r->type == REDIS_REPLY_STRING) {
		s = malloc(r->len + 1);
		ck_assert_msg(s != NULL, "out of memory");
		memcpy(s, r->str, r->len);
		s[r->len] = '\0';
		if (len)
			*len = r->len;
	}
	freeReplyObject(r);
	return s;
}

int it_redis_zscore(redisContext *c, const char *key, const char *member, double *score)
{
	const char *argv[3] = {"ZSCORE", key, member};
	size_t lens[3] = {6, strlen(key), strlen(member)};
	redisReply *r = cmd_argv(c, 3, argv, lens);
	int rc = -1;
	if (r->type == REDIS_REPLY_STRING) {
		*score = strtod(r->str, NULL);
		rc = 0;
	}
	freeReplyObject(r);
	return rc;
}

long long it_redis_card(redisContext *c, const char *cmd, const char *key)
{
	redisReply *r = cmd2(c, cmd, key);
	ck_assert_msg(r->type == REDIS_REPLY_INTEGER, "bad %s reply", cmd);
	long long v = r->integer;
	freeReplyObject(r);
	return v;
}

void it_redis_thread_keys(redisContext *c, const char *tenant, const char *thread, it_strlist *out)
{
	char *tag = it_tag(tenant, thread);
	it_redis_keys_containing(c, tag, out);
	free(tag);
}

void it_redis_tenant_keys(redisContext *c, const char *tenant, it_strlist *out)
{
	char *et = it_key_enc(tenant);
	char *a = it_strfmt("{%s:", et), *b = it_strfmt("{%s}", et);
	it_strlist all = {0};
	it_redis_scan(c, "*", &all);
	for (size_t i = 0; i < all.n; i++)
		if (strstr(all.v[i], a) || strstr(all.v[i], b))
			strlist_add(out, all.v[i], strlen(all.v[i]));
	it_strlist_free(&all);
	free(a);
	free(b);
	free(et);
}

void it_redis_expect_tenant_empty(redisContext *c, const char *tenant, const char *after)
{
	it_strlist keys = {0};
	it_redis_tenant_keys(c, tenant, &keys);
	ck_assert_msg(keys.n == 0, "after %s, Redis holds %zu key(s) for tenant %s, e.g. %s", after,
	              keys.n, tenant, keys.n ? keys.v[0] : "");
	it_strlist_free(&keys);
}

void it_redis_expect_thread_empty(redisContext *c, const char *tenant, const char *thread,
                                  const char *after)
{
	it_strlist keys = {0};
	it_redis_thread_keys(c, tenant, thread, &keys);
	ck_assert_msg(keys.n == 0, "after %s, Redis holds %zu key(s) of %s, e.g. %s", after, keys.n,
	              thread, keys.n ? keys.v[0] : "");
	it_strlist_free(&keys);
}

redisContext *it_redis_monitor(void)
{
	redisContext *m = it_redis_connect();
	redisReply *r = redisCommand(m, "MONITOR");
	ck_assert_msg(r && r->type == REDIS_REPLY_STATUS, "MONITOR: %s", m->errstr);
	freeReplyObject(r);
	struct timeval tv = {10, 0};
	redisSetTimeout(m, tv);
	return m;
}

static bool holds_all(const char *line, const char *const *strs)
{
	for (; *strs; strs++)
		if (!strstr(line, *strs))
			return false;
	return true;
}

long it_redis_monitor_count(redisContext *m, const char *const *needles, const char *const *until)
{
	long n = 0;
	for (;;) {
		void *v = NULL;
		ck_assert_msg(redisGetReply(m, &v) == REDIS_OK && v, "MONITOR: %s", m->errstr);
		redisReply *r = v;
		bool found = r->type == REDIS_REPLY_STATUS && holds_all(r->str, until);
		if (r->type == REDIS_REPLY_STATUS && holds_all(r->str, needles))
			n++;
		freeReplyObject(r);
		if (found)
			return n;
	}
}
