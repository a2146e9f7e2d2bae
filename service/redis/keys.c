/* redis/keys: see keys.h. */
#include "keys.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/ids.h"
#include "../../common/xalloc.h"

/* P:<kind>:{<tenant>:<thread>} */
void redis_key_thread_base(struct buf *b, const struct redis_store *rs, const char *kind,
                           const char *tenant, const char *thread)
{
	buf_reset(b);
	buf_puts(b, rs->prefix);
	buf_putc(b, ':');
	buf_puts(b, kind);
	buf_puts(b, ":{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, ':');
	key_encode(b, thread, strlen(thread));
	buf_putc(b, '}');
}

void redis_key_part(struct buf *b, const char *s)
{
	buf_putc(b, ':');
	key_encode(b, s, strlen(s));
}

/* P:head:TAG:<ns>: "<generation>|<latest checkpoint id>" of a namespace. */
void redis_key_head(struct buf *b, const struct redis_store *rs, const char *tenant,
                    const char *thread, const char *ns)
{
	redis_key_thread_base(b, rs, "head", tenant, thread);
	redis_key_part(b, ns);
}

void redis_key_tenant_index(struct buf *b, const struct redis_store *rs, const char *tenant)
{
	buf_reset(b);
	buf_puts(b, rs->prefix);
	buf_puts(b, ":threads:{");
	key_encode(b, tenant, strlen(tenant));
	buf_putc(b, '}');
}

void redis_key_thread_indexed(struct buf *b, const struct redis_store *rs, const char *tenant,
                              const char *thread)
{
	redis_key_thread_base(b, rs, "thread", tenant, thread);
	buf_puts(b, ":indexed");
}

/* ZADD <key> <at_ms> <member> and PEXPIRE <key> <keep_ms>: two commands of
 * b that list member in an index (a tenant's threads, a customer's
 * conversations) and keep the index as long as its newest entry needs.
 * Takes key's bytes. */
void redis_index_touch(struct redis_batch *b, struct buf *key, const char *member, long long at_ms,
                       long long keep_ms)
{
	char *k = xstrndup(key->data, key->len);
	size_t kl = key->len;
	redis_batch_cmd(b, "ZADD");
	redis_batch_buf(b, key);
	redis_batch_fmt(b, at_ms);
	redis_batch_str(b, member);
	redis_batch_cmd(b, "PEXPIRE");
	redis_batch_own(b, k, kl);
	redis_batch_fmt(b, keep_ms);
}
/* The tenant and id inside a hash tag, "<tenant>:<id>" (encoded). */
int redis_tag_ref(const char *tag, size_t n, struct store_ref *out)
{
	const char *colon = memchr(tag, ':', n);
	if (!colon)
		return -1;
	out->tenant = key_decode(tag, (size_t)(colon - tag));
	out->id = key_decode(colon + 1, n - (size_t)(colon - tag) - 1);
	if (out->tenant && out->id)
		return 0;
	free(out->tenant);
	free(out->id);
	return -1;
}

/* The kind and the decoded components after the tag of one of our keys,
 * "P:<kind>:{TAG}:<c1>:<c2>...": *n of them (at most max) into parts
 * (caller frees each). -1 when the key is not of that form. */
int redis_key_components(const struct redis_store *rs, const char *k, size_t n, char *kind,
                         size_t kind_max, char **parts, size_t max, size_t *nparts)
{
	size_t plen = strlen(rs->prefix);
	*nparts = 0;
	if (n <= plen + 1 || memcmp(k, rs->prefix, plen) || k[plen] != ':')
		return -1;
	const char *end = k + n, *p = k + plen + 1;
	const char *brace = memchr(p, '{', (size_t)(end - p));
	if (!brace || brace == p || brace[-1] != ':' || (size_t)(brace - p - 1) >= kind_max)
		return -1;
	memcpy(kind, p, (size_t)(brace - p - 1));
	kind[brace - p - 1] = '\0';
	const char *close = memchr(brace, '}', (size_t)(end - brace));
	if (!close)
		return -1;
	for (p = close + 1; p < end && *p == ':';) {
		const char *q = p + 1, *next = memchr(q, ':', (size_t)(end - q));
		if (!next)
			next = end;
		if (*nparts == max || !(parts[*nparts] = key_decode(q, (size_t)(next - q))))
			goto bad;
		(*nparts)++;
		p = next;
	}
	if (p == end)
		return 0;
bad:
	for (size_t i = 0; i < *nparts; i++)
		free(parts[i]);
	*nparts = 0;
	return -1;
}

int redis_scan_step(struct redis_conn *conn, char cursor[32], const char *pattern,
                    const char *count, redisReply **scan, struct mem_error *err)
{
	const char *av[] = {"SCAN", cursor, "MATCH", pattern, "COUNT", count};
	*scan = NULL;
	if (redis_conn_command(conn, scan, err, 6, av, NULL) < 0)
		return -1;
	redisReply *r = *scan;
	bool ok = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	          redis_reply_str(r->element[0]) && r->element[1]->type == REDIS_REPLY_ARRAY;
	for (size_t i = 0; ok && i < r->element[1]->elements; i++)
		ok = redis_reply_str(r->element[1]->element[i]);
	if (!ok) {
		redis_reply_fail(r, err, "SCAN");
		freeReplyObject(r);
		*scan = NULL;
		return -1;
	}
	snprintf(cursor, 32, "%s", r->element[0]->str);
	return 0;
}
