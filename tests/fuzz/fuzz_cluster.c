/*
 * fuzz_cluster: service/redis/cluster.h, the readers of what a Redis Cluster
 * node says about the cluster (outside input: the network). Every input is
 * read both ways: as the text of an error reply (a MOVED or ASK redirection)
 * and, when hiredis's reader makes a whole reply of it, as a CLUSTER SLOTS
 * reply.
 *
 * Invariants:
 *  - a redirection is accepted only from text starting "MOVED " or "ASK ",
 *    with a slot in 0..16383, a port in 1..65535 and a host of 1..255 bytes
 *    free of space, control bytes and brackets; printed back
 *    ("<kind> <slot> <host>:<port>") it parses to the same fields; a refusal
 *    leaves the result zeroed;
 *  - a map is refused with a CLUSTER SLOTS error and nothing allocated, or
 *    accepted whole: every assigned slot names a primary in nodes[], every
 *    replica a primary, nassigned and nprimaries count what they say, each
 *    (host, port) is there once with a valid host and port, and every node
 *    the map holds is one the reply named (or the fallback host);
 *  - cluster_key_slot of the input is below 16384 and equals that of its
 *    hash tag when it has one.
 */
#include <hiredis/hiredis.h>

#include "../../common/buf.h"
#include "../../service/redis/cluster.h"
#include "fuzz.h"

static const char same_host[] = "seed.example";

static bool host_valid(const char *h)
{
	size_t n = strlen(h);
	if (n < 1 || n > CLUSTER_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f)
			return false;
	return true;
}

/* hiredis 0.14's reader allocates an array's element pointers when it reads
 * its count, whatever follows: "*888888881" asks for 7 GB. A count larger
 * than the bytes the input holds cannot be a real reply (each element takes
 * at least 3), so such inputs are not read as replies: the fuzzer would
 * measure hiredis's allocator, not cluster.c. memoryd reads CLUSTER SLOTS
 * from the cluster's own nodes. */
static bool counts_fit(const uint8_t *data, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		if (data[i] != '*' && data[i] != '%' && data[i] != '~' && data[i] != '>')
			continue;
		unsigned long long n = 0;
		for (size_t j = i + 1; j < size && data[j] >= '0' && data[j] <= '9'; j++)
			if ((n = n * 10 + (unsigned)(data[j] - '0')) > size)
				return false;
	}
	return true;
}

static void check_redirect(const uint8_t *data, size_t size)
{
	struct cluster_redirect rd, again;
	if (cluster_parse_redirect((const char *)data, size, same_host, &rd) < 0) {
		CHECK(rd.kind == 0 && rd.slot == 0 && rd.port == 0 && rd.host[0] == '\0',
		      "a refusal left fields behind");
		return;
	}
	CHECK((rd.kind == CLUSTER_MOVED && size > 6 && !memcmp(data, "MOVED ", 6)) ||
	          (rd.kind == CLUSTER_ASK && size > 4 && !memcmp(data, "ASK ", 4)),
	      "kind %d from the wrong text", rd.kind);
	CHECK(rd.slot < CLUSTER_SLOTS, "slot %u", rd.slot);
	CHECK(rd.port >= 1 && rd.port <= 65535, "port %d", rd.port);
	CHECK(host_valid(rd.host) && !strchr(rd.host, '[') && !strchr(rd.host, ']'), "host '%s'",
	      rd.host);
	struct buf b = {0};
	buf_printf(&b, "%s %u %s:%d", rd.kind == CLUSTER_MOVED ? "MOVED" : "ASK", rd.slot, rd.host,
	           rd.port);
	CHECK(cluster_parse_redirect(b.data, b.len, NULL, &again) == 0 && again.kind == rd.kind &&
	          again.slot == rd.slot && again.port == rd.port && !strcmp(again.host, rd.host),
	      "'%s' does not parse back the same", b.data);
	buf_release(&b);
}

/* host:port named by some node array of the reply (or the fallback). */
static bool named(const redisReply *r, const struct cluster_node *n)
{
	if (!strcmp(n->host, same_host))
		return true;
	for (size_t i = 0; i < r->elements; i++)
		for (size_t k = 2; k < r->element[i]->elements; k++) {
			const redisReply *e = r->element[i]->element[k];
			const redisReply *h = e->element[0], *p = e->element[1];
			if (h->type == REDIS_REPLY_STRING && h->len == strlen(n->host) &&
			    !memcmp(h->str, n->host, h->len) && p->integer == n->port)
				return true;
		}
	return false;
}

static void check_slots(const redisReply *r)
{
	struct cluster_map *m = (struct cluster_map *)&m;
	struct mem_error err = {0};
	if (cluster_map_from_slots(r, same_host, &m, &err) < 0) {
		CHECK(!m && err.code == MEM_EINTERNAL &&
		          !strncmp(err.message, "CLUSTER SLOTS: ", 15),
		      "a refusal without a proper error: '%s'", err.message);
		return;
	}
	size_t assigned = 0, primaries = 0;
	for (size_t s = 0; s < CLUSTER_SLOTS; s++) {
		int i = m->slot_node[s];
		CHECK(i >= -1 && (i < 0 || (size_t)i < m->nnodes), "slot %zu -> %d", s, i);
		if (i < 0) {
			CHECK(!cluster_map_slot_node(m, (unsigned)s),
			      "unassigned slot with a node");
			continue;
		}
		assigned++;
		CHECK(m->nodes[i].primary == -1, "slot %zu served by a replica", s);
		CHECK(cluster_map_slot_node(m, (unsigned)s) == &m->nodes[i], "lookup differs");
	}
	CHECK(assigned == m->nassigned, "nassigned %zu, counted %zu", m->nassigned, assigned);
	for (size_t i = 0; i < m->nnodes; i++) {
		const struct cluster_node *n = &m->nodes[i];
		CHECK(host_valid(n->host) && n->port >= 1 && n->port <= 65535 && n->id,
		      "node %zu: '%s':%d", i, n->host, n->port);
		CHECK(named(r, n), "node %s:%d is not in the reply", n->host, n->port);
		if (n->primary < 0)
			primaries++;
		else
			CHECK((size_t)n->primary < m->nnodes && m->nodes[n->primary].primary == -1,
			      "replica %zu of %d", i, n->primary);
		for (size_t j = 0; j < i; j++)
			CHECK(m->nodes[j].port != n->port || strcmp(m->nodes[j].host, n->host),
			      "%s:%d twice", n->host, n->port);
	}
	CHECK(primaries == m->nprimaries, "nprimaries %zu, counted %zu", m->nprimaries, primaries);
	cluster_map_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_redirect(data, size);

	unsigned slot = cluster_key_slot((const char *)data, size);
	CHECK(slot < CLUSTER_SLOTS, "slot %u", slot);
	const uint8_t *open = memchr(data, '{', size);
	if (open) {
		size_t from = (size_t)(open - data) + 1;
		const uint8_t *close = memchr(data + from, '}', size - from);
		if (close && (size_t)(close - data) > from)
			CHECK(slot == cluster_key_slot((const char *)data + from,
			                               (size_t)(close - data) - from),
			      "the hash tag is not what counts");
	}

	if (!counts_fit(data, size))
		return 0;
	redisReader *rd = redisReaderCreate();
	void *r = NULL;
	if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK &&
	    redisReaderGetReply(rd, &r) == REDIS_OK && r)
		check_slots(r);
	freeReplyObject(r);
	redisReaderFree(rd);
	return 0;
}
