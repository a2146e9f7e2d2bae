#include "cluster.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../common/xalloc.h"

/* CRC16-XMODEM, bit by bit: no table to build or to share between threads;
 * a key is a few dozen bytes, so the loop costs nothing next to the round
 * trip it routes. */
static uint16_t crc16(const unsigned char *p, size_t n)
{
	uint16_t crc = 0;
	for (size_t i = 0; i < n; i++) {
		crc ^= (uint16_t)(p[i] << 8);
		for (int b = 0; b < 8; b++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

unsigned cluster_key_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);
	if (open) {
		size_t from = (size_t)(open - key) + 1;
		const char *close = memchr(key + from, '}', len - from);
		if (close && close > key + from) {
			key += from;
			len = (size_t)(close - key);
		}
	}
	return crc16((const unsigned char *)key, len) & (CLUSTER_SLOTS - 1);
}

/* 1..CLUSTER_HOST_MAX bytes, none a space, a control byte or DEL. */
static bool host_ok(const char *h, size_t n)
{
	if (n == 0 || n > CLUSTER_HOST_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)h[i] <= 0x20 || h[i] == 0x7f)
			return false;
	return true;
}

void cluster_map_free(struct cluster_map *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nnodes; i++) {
		free(m->nodes[i].host);
		free(m->nodes[i].id);
	}
	free(m->nodes);
	free(m);
}

/* The node at host:port, added when new: its index, or -1 (err filled) when
 * it is already there in another role. */
static int map_node(struct cluster_map *m, size_t *cap, const char *host, size_t hlen, int port,
                    const redisReply *id, int primary, struct mem_error *err)
{
	for (size_t i = 0; i < m->nnodes; i++) {
		struct cluster_node *n = &m->nodes[i];
		if (n->port != port || strlen(n->host) != hlen || memcmp(n->host, host, hlen))
			continue;
		if (n->primary != primary)
			return mem_fail(err, MEM_EINTERNAL, NULL,
			                "CLUSTER SLOTS: node %s:%d is given two roles", n->host,
			                port);
		return (int)i;
	}
	if (m->nnodes == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		m->nodes = xrealloc(m->nodes, *cap * sizeof(*m->nodes));
	}
	struct cluster_node *n = &m->nodes[m->nnodes];
	n->host = xstrndup(host, hlen);
	n->port = port;
	n->id = id ? xstrndup(id->str, id->len) : xstrdup("");
	n->primary = primary;
	return (int)m->nnodes++;
}

/* One [endpoint, port, id?, ...] of an entry. 1: a node to use (host, hlen,
 * port, id set), 0: one with no known endpoint ("?"), -1: malformed. */
static int read_node(const redisReply *e, const char *same_host, const char **host, size_t *hlen,
                     int *port, const redisReply **id)
{
	if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
		return -1;
	const redisReply *h = e->element[0], *p = e->element[1];
	if (p->type != REDIS_REPLY_INTEGER || p->integer < 1 || p->integer > 65535)
		return -1;
	*port = (int)p->integer;
	*id = NULL;
	if (e->elements >= 3) {
		if (e->element[2]->type != REDIS_REPLY_STRING)
			return -1;
		*id = e->element[2];
	}
	if (h->type == REDIS_REPLY_NIL || (h->type == REDIS_REPLY_STRING && h->len == 0)) {
		*host = same_host ? same_host : "";
		*hlen = strlen(*host);
	} else if (h->type == REDIS_REPLY_STRING) {
		if (h->len == 1 && h->str[0] == '?')
			return 0;
		*host = h->str;
		*hlen = h->len;
	} else {
		return -1;
	}
	return host_ok(*host, *hlen) ? 1 : -1;
}

int cluster_map_from_slots(const redisReply *r, const char *same_host, struct cluster_map **out,
                           struct mem_error *err)
{
	struct cluster_map *m = xcalloc(1, sizeof(*m));
	size_t cap = 0;
	const char *host;
	size_t hlen;
	int port;
	const redisReply *id;

	*out = NULL;
	for (size_t s = 0; s < CLUSTER_SLOTS; s++)
		m->slot_node[s] = -1;
	if (!r || r->type != REDIS_REPLY_ARRAY) {
		mem_fail(err, MEM_EINTERNAL, NULL, "CLUSTER SLOTS: the reply is not an array");
		goto fail;
	}
	for (size_t i = 0; i < r->elements; i++) {
		const redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
		    e->element[0]->type != REDIS_REPLY_INTEGER ||
		    e->element[1]->type != REDIS_REPLY_INTEGER) {
			mem_fail(err, MEM_EINTERNAL, NULL,
			         "CLUSTER SLOTS: entry %zu is not [start, end, node...]", i);
			goto fail;
		}
		long long lo = e->element[0]->integer, hi = e->element[1]->integer;
		if (lo < 0 || hi >= CLUSTER_SLOTS || lo > hi) {
			mem_fail(err, MEM_EINTERNAL, NULL, "CLUSTER SLOTS: slot range %lld-%lld",
			         lo, hi);
			goto fail;
		}
		int known = read_node(e->element[2], same_host, &host, &hlen, &port, &id);
		if (known < 0) {
			mem_fail(err, MEM_EINTERNAL, NULL,
			         "CLUSTER SLOTS: entry %zu has a malformed primary", i);
			goto fail;
		}
		int pi = -1;
		if (known && (pi = map_node(m, &cap, host, hlen, port, id, -1, err)) < 0)
			goto fail;
		for (long long s = lo; s <= hi; s++) {
			if (m->slot_node[s] >= 0 && m->slot_node[s] != pi) {
				mem_fail(err, MEM_EINTERNAL, NULL,
				         "CLUSTER SLOTS: slot %lld has two primaries", s);
				goto fail;
			}
			if (pi >= 0)
				m->slot_node[s] = pi;
		}
		for (size_t k = 3; k < e->elements; k++) {
			int rk = read_node(e->element[k], same_host, &host, &hlen, &port, &id);
			if (rk < 0) {
				mem_fail(err, MEM_EINTERNAL, NULL,
				         "CLUSTER SLOTS: entry %zu has a malformed replica", i);
				goto fail;
			}
			if (rk && pi >= 0 && map_node(m, &cap, host, hlen, port, id, pi, err) < 0)
				goto fail;
		}
	}
	for (size_t s = 0; s < CLUSTER_SLOTS; s++)
		m->nassigned += m->slot_node[s] >= 0;
	for (size_t i = 0; i < m->nnodes; i++)
		m->nprimaries += m->nodes[i].primary < 0;
	*out = m;
	return 0;
fail:
	cluster_map_free(m);
	return -1;
}

const struct cluster_node *cluster_map_slot_node(const struct cluster_map *m, unsigned slot)
{
	if (!m || slot >= CLUSTER_SLOTS || m->slot_node[slot] < 0)
		return NULL;
	return &m->nodes[m->slot_node[slot]];
}

const struct cluster_node *cluster_map_key_node(const struct cluster_map *m, const char *key,
                                                size_t len)
{
	return cluster_map_slot_node(m, cluster_key_slot(key, len));
}

/* Digits only, no sign, no leading '+', value in lo..hi. */
static bool parse_uint(const char *p, size_t n, long lo, long hi, long *out)
{
	long v = 0;
	if (n == 0 || n > 6)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	if (v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int cluster_parse_redirect(const char *msg, size_t len, const char *same_host,
                           struct cluster_redirect *out)
{
	memset(out, 0, sizeof(*out));
	const char *p = msg, *end = msg + len;
	enum cluster_redirect_kind kind;
	if (len > 6 && !memcmp(p, "MOVED ", 6)) {
		kind = CLUSTER_MOVED;
		p += 6;
	} else if (len > 4 && !memcmp(p, "ASK ", 4)) {
		kind = CLUSTER_ASK;
		p += 4;
	} else {
		return -1;
	}
	const char *sp = memchr(p, ' ', (size_t)(end - p));
	long slot, port;
	if (!sp || !parse_uint(p, (size_t)(sp - p), 0, CLUSTER_SLOTS - 1, &slot))
		return -1;
	p = sp + 1;
	const char *colon = NULL;
	for (const char *q = p; q < end; q++)
		if (*q == ':')
			colon = q;
	if (!colon || !parse_uint(colon + 1, (size_t)(end - colon - 1), 1, 65535, &port))
		return -1;
	const char *host = p;
	size_t hlen = (size_t)(colon - p);
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		host++;
		hlen -= 2;
	}
	if (hlen == 0 && (size_t)(colon - p) == 0 && same_host) {
		host = same_host;
		hlen = strlen(same_host);
	}
	if (!host_ok(host, hlen) || memchr(host, '[', hlen) || memchr(host, ']', hlen))
		return -1;
	out->kind = kind;
	out->slot = (unsigned)slot;
	memcpy(out->host, host, hlen);
	out->host[hlen] = '\0';
	out->port = (int)port;
	return 0;
}
