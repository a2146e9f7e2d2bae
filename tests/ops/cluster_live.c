/*
 * cluster_live: service/redis/cluster.h against a real Redis Cluster
 * (REDIS_CLUSTER_NODES, from scripts/lib.sh start_redis_cluster; run by
 * tests/ops/cluster.sh). Talks to the nodes with hiredis's own blocking
 * client: this is a test of the pure functions, not of memoryd's transport.
 *
 *  1. The map every node's CLUSTER SLOTS gives: 3 primaries own all 16384
 *     slots, each with one replica, the six nodes those of
 *     REDIS_CLUSTER_NODES, and every node's map the same.
 *  2. cluster_key_slot agrees with CLUSTER KEYSLOT for memoryd's key shapes
 *     (README "Redis keys", conversations, /memory; encoded ids included)
 *     and for random binary keys full of '{', '}' and NULs.
 *  3. Routing: each key SET on the node the map names is accepted; a GET on
 *     another primary answers MOVED, which cluster_parse_redirect reads as
 *     the key's slot on that same node.
 *  4. ASK: a slot put in MIGRATING / IMPORTING state by hand makes its owner
 *     answer ASK for a missing key, read as the slot and the importing node;
 *     the slot is made STABLE again after.
 * Exit 0 when all hold; otherwise 1 and a line saying what did not.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "../../common/redis_url.h"
#include "../../service/redis/cluster.h"

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("cluster_live: FAIL: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static redisContext *connect_to(const char *host, int port)
{
	struct timeval tv = {5, 0};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (!c || c->err)
		fail("cannot connect to %s:%d: %s", host, port, c ? c->errstr : "out of memory");
	redisSetTimeout(c, tv);
	return c;
}

static redisReply *cmd(redisContext *c, int argc, const char **argv, const size_t *lens)
{
	redisReply *r = redisCommandArgv(c, argc, argv, lens);
	if (!r)
		fail("%s: %s", argv[0], c->errstr);
	return r;
}

static struct cluster_map *map_of(const char *host, int port)
{
	redisContext *c = connect_to(host, port);
	const char *argv[] = {"CLUSTER", "SLOTS"};
	redisReply *r = cmd(c, 2, argv, NULL);
	struct cluster_map *m = NULL;
	struct mem_error err = {0};
	if (cluster_map_from_slots(r, host, &m, &err) < 0)
		fail("CLUSTER SLOTS of %s:%d: %s", host, port, err.message);
	freeReplyObject(r);
	redisFree(c);
	return m;
}

static bool same_node(const struct cluster_node *a, const struct cluster_node *b)
{
	return a && b && a->port == b->port && !strcmp(a->host, b->host);
}

static void check_map(const struct cluster_map *m, const struct redis_addr *seeds, size_t nseeds)
{
	if (m->nprimaries != 3 || m->nnodes != 6 || m->nassigned != CLUSTER_SLOTS)
		fail("%zu primaries, %zu nodes, %zu slots assigned; want 3, 6, 16384",
		     m->nprimaries, m->nnodes, m->nassigned);
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct cluster_node *n = &m->nodes[i];
		size_t replicas = 0, slots = 0;
		for (size_t j = 0; j < m->nnodes; j++)
			replicas += m->nodes[j].primary == (int)i;
		for (size_t s = 0; s < CLUSTER_SLOTS; s++)
			slots += m->slot_node[s] == (int)i;
		if (n->primary < 0 && (replicas != 1 || slots == 0))
			fail("primary %s:%d has %zu replicas and %zu slots", n->host, n->port,
			     replicas, slots);
		bool seed = false;
		for (size_t k = 0; k < nseeds; k++)
			seed =
			    seed || (seeds[k].port == n->port && !strcmp(seeds[k].host, n->host));
		if (!seed || !n->id[0])
			fail("node %s:%d (id '%s') is not one of REDIS_CLUSTER_NODES", n->host,
			     n->port, n->id);
	}
}

/* memoryd's key shapes, default prefixes (langgraph, conv), ids encoded as
 * key_encode does (% : { } * ? [ ] \ and space as %XX). */
static const char *const shapes[] = {
    "langgraph:checkpoint:{acme:thread-1}::1ef4f797-8335-6428-8001-8a1503f9b875",
    "langgraph:checkpoints:{acme:thread-1}:",
    "langgraph:blob:{acme:thread-1}::messages:00000000000000000000000000000002.0.243",
    "langgraph:writes:{acme:thread-1}:sub%3Agraph:1ef4f797-8335-6428-8001-8a1503f9b875",
    "langgraph:head:{acme:thread-1}:",
    "langgraph:thread:{acme:thread-1}:keys",
    "langgraph:thread:{acme:thread-1}:ns",
    "langgraph:threads:{acme}",
    "langgraph:checkpoint:{t%7Bx%7D:th%3A%20y}:ns:id",
    "langgraph:threads:{t%7Bx%7D}",
    "langgraph:checkpoint:{t:th}:ns:id",
    "conv:meta:{acme:c-42}",
    "conv:msgs:{acme:c-42}",
    "conv:ids:{acme:c-42}",
    "conv:msgs:{t:c}",
    "conv:customer:{acme:cust%3A7}",
    "langgraph:memory:{acme}:users:u1:prefs",
    "langgraph:memory-index:{acme}:users:u1",
    "langgraph:memory-namespaces:{acme}",
    "langgraph:memory-version:{acme}",
    "langgraph:memory:{}:x", /* an empty tag (no tenant can be empty): the whole key */
};

/* A random key of 1..48 bytes drawn mostly from '{', '}', ':', NUL and a few letters. */
static size_t random_key(char *k, unsigned *seed)
{
	static const char alphabet[] = "{}{}::\0ab%z";
	size_t n = 1 + (size_t)(rand_r(seed) % 48);
	for (size_t i = 0; i < n; i++)
		k[i] = alphabet[rand_r(seed) % (sizeof(alphabet) - 1)];
	return n;
}

struct node_conns {
	const struct cluster_map *m;
	redisContext **c; /* per node, opened on first use */
};

static redisContext *conn_of(struct node_conns *nc, const struct cluster_node *n)
{
	size_t i = (size_t)(n - nc->m->nodes);
	if (!nc->c[i])
		nc->c[i] = connect_to(n->host, n->port);
	return nc->c[i];
}

/* Slot agreement, then SET on the owner and MOVED from another primary. */
static void check_key(struct node_conns *nc, const char *key, size_t len, bool route)
{
	const struct cluster_map *m = nc->m;
	unsigned slot = cluster_key_slot(key, len);
	const struct cluster_node *owner = cluster_map_slot_node(m, slot);
	const char *ks[] = {"CLUSTER", "KEYSLOT", key};
	size_t kl[] = {7, 7, len};
	redisReply *r = cmd(conn_of(nc, owner), 3, ks, kl);
	if (r->type != REDIS_REPLY_INTEGER || r->integer != (long long)slot)
		fail("CLUSTER KEYSLOT '%.*s' is %lld, cluster_key_slot %u", (int)len, key,
		     r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL, slot);
	freeReplyObject(r);
	if (!route)
		return;
	const char *set[] = {"SET", key, "cluster_live", "EX", "60"};
	size_t sl[] = {3, len, 12, 2, 2};
	r = cmd(conn_of(nc, owner), 5, set, sl);
	if (r->type != REDIS_REPLY_STATUS)
		fail("SET '%s' on %s:%d (slot %u): %s", key, owner->host, owner->port, slot,
		     r->type == REDIS_REPLY_ERROR ? r->str : "not OK");
	freeReplyObject(r);
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct cluster_node *other = &m->nodes[i];
		if (other->primary >= 0 || other == owner)
			continue;
		const char *get[] = {"GET", key};
		size_t gl[] = {3, len};
		r = cmd(conn_of(nc, other), 2, get, gl);
		struct cluster_redirect rd;
		if (r->type != REDIS_REPLY_ERROR ||
		    cluster_parse_redirect(r->str, r->len, other->host, &rd) < 0 ||
		    rd.kind != CLUSTER_MOVED || rd.slot != slot || rd.port != owner->port ||
		    strcmp(rd.host, owner->host))
			fail("GET '%s' on %s:%d: '%s', want MOVED %u %s:%d", key, other->host,
			     other->port, r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)",
			     slot, owner->host, owner->port);
		freeReplyObject(r);
		break;
	}
}

static redisReply *setslot(struct node_conns *nc, const struct cluster_node *n, const char *slot,
                           const char *state, const char *id)
{
	const char *argv[] = {"CLUSTER", "SETSLOT", slot, state, id};
	return cmd(conn_of(nc, n), id ? 5 : 4, argv, NULL);
}

static void check_ask(struct node_conns *nc)
{
	const struct cluster_map *m = nc->m;
	const char *key = "{cluster-live-ask}missing";
	unsigned slot = cluster_key_slot(key, strlen(key));
	const struct cluster_node *from = cluster_map_slot_node(m, slot), *to = NULL;
	for (size_t i = 0; i < m->nnodes && !to; i++)
		if (m->nodes[i].primary < 0 && &m->nodes[i] != from)
			to = &m->nodes[i];
	char s[8];
	snprintf(s, sizeof(s), "%u", slot);
	freeReplyObject(setslot(nc, to, s, "IMPORTING", from->id));
	freeReplyObject(setslot(nc, from, s, "MIGRATING", to->id));
	const char *get[] = {"GET", key};
	redisReply *r = cmd(conn_of(nc, from), 2, get, NULL);
	struct cluster_redirect rd;
	bool ok = r->type == REDIS_REPLY_ERROR &&
	          cluster_parse_redirect(r->str, r->len, from->host, &rd) == 0 &&
	          rd.kind == CLUSTER_ASK && rd.slot == slot && rd.port == to->port &&
	          !strcmp(rd.host, to->host);
	char said[160];
	snprintf(said, sizeof(said), "%s",
	         r->type == REDIS_REPLY_ERROR ? r->str : "(not an error)");
	freeReplyObject(r);
	freeReplyObject(setslot(nc, from, s, "STABLE", NULL));
	freeReplyObject(setslot(nc, to, s, "STABLE", NULL));
	if (!ok)
		fail("GET '%s' on %s:%d while slot %u migrates: '%s', want ASK %u %s:%d", key,
		     from->host, from->port, slot, said, slot, to->host, to->port);
	printf("cluster_live: ASK %u %s:%d read as the importing node\n", slot, to->host, to->port);
}

int main(void)
{
	const char *list = getenv("REDIS_CLUSTER_NODES");
	struct redis_addr *seeds = NULL;
	size_t nseeds = 0;
	struct mem_error err = {0};
	if (!list || redis_addr_list_parse(list, "REDIS_CLUSTER_NODES", &seeds, &nseeds, &err) < 0)
		fail("REDIS_CLUSTER_NODES: %s", list ? err.message : "not set");

	struct cluster_map *m = map_of(seeds[0].host, seeds[0].port);
	check_map(m, seeds, nseeds);
	for (size_t k = 1; k < nseeds; k++) {
		struct cluster_map *o = map_of(seeds[k].host, seeds[k].port);
		for (unsigned s = 0; s < CLUSTER_SLOTS; s++)
			if (!same_node(cluster_map_slot_node(m, s), cluster_map_slot_node(o, s)))
				fail("%s:%d and %s:%d disagree on slot %u", seeds[0].host,
				     seeds[0].port, seeds[k].host, seeds[k].port, s);
		cluster_map_free(o);
	}
	printf("cluster_live: %zu primaries own all %d slots, one replica each; all %zu nodes "
	       "agree\n",
	       m->nprimaries, CLUSTER_SLOTS, nseeds);

	struct node_conns nc = {m, calloc(m->nnodes, sizeof(redisContext *))};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		check_key(&nc, shapes[i], strlen(shapes[i]), true);
		unsigned slot = cluster_key_slot(shapes[i], strlen(shapes[i]));
		const struct cluster_node *n = cluster_map_slot_node(m, slot);
		printf("cluster_live: slot %5u on %s:%d  %s\n", slot, n->host, n->port, shapes[i]);
	}
	unsigned seed = 17;
	char k[64];
	for (int i = 0; i < 2000; i++) {
		size_t n = random_key(k, &seed);
		check_key(&nc, k, n, i < 200);
	}
	printf("cluster_live: CLUSTER KEYSLOT agrees on %zu key shapes and 2000 random keys; "
	       "SET on the mapped node, MOVED from the others, for 200 of them\n",
	       sizeof(shapes) / sizeof(shapes[0]));
	check_ask(&nc);

	for (size_t i = 0; i < m->nnodes; i++)
		redisFree(nc.c[i]);
	free(nc.c);
	cluster_map_free(m);
	redis_addr_list_free(seeds, nseeds);
	printf("cluster_live: ok\n");
	return 0;
}
