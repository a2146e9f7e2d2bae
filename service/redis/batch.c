/* redis_batch: see batch.h. */
#include "batch.h"

#include <stdlib.h>
#include <string.h>

#include "../../common/log.h"
#include "../../common/xalloc.h"

void redis_batch_cmd(struct redis_batch *b, const char *name)
{
	if (b->n == b->cap) {
		b->cap = b->cap ? 2 * b->cap : 4;
		b->first = xrealloc(b->first, b->cap * sizeof(*b->first));
	}
	b->first[b->n++] = b->nargs;
	redis_batch_str(b, name);
}

void redis_batch_arg(struct redis_batch *b, const char *s, size_t len)
{
	if (b->nargs == b->capargs) {
		b->capargs = b->capargs ? 2 * b->capargs : 16;
		b->v = xrealloc(b->v, b->capargs * sizeof(*b->v));
		b->l = xrealloc(b->l, b->capargs * sizeof(*b->l));
	}
	b->v[b->nargs] = s;
	b->l[b->nargs++] = len;
}

void redis_batch_str(struct redis_batch *b, const char *s)
{
	redis_batch_arg(b, s, strlen(s));
}

void redis_batch_own(struct redis_batch *b, char *s, size_t len)
{
	if (b->nown == b->capown) {
		b->capown = b->capown ? 2 * b->capown : 16;
		b->own = xrealloc(b->own, b->capown * sizeof(*b->own));
	}
	b->own[b->nown++] = s;
	redis_batch_arg(b, s, len);
}

void redis_batch_fmt(struct redis_batch *b, long long v)
{
	char *s = xasprintf("%lld", v);
	redis_batch_own(b, s, strlen(s));
}

void redis_batch_buf(struct redis_batch *b, struct buf *k)
{
	size_t len;
	char *s = buf_detach(k, &len);
	redis_batch_own(b, s, len);
}

int redis_batch_send(struct redis_batch *b, struct redis_conn *c, bool retry_idempotent,
                     struct mem_error *err)
{
	if (b->rep)
		redis_replies_free(b->nrep, b->rep);
	free(b->rep);
	b->rep = xcalloc(b->n + 1, sizeof(*b->rep));
	b->nrep = b->n;
	if (!b->n)
		return 0;
	struct redis_cmd *cmds = xcalloc(b->n, sizeof(*cmds));
	for (size_t i = 0; i < b->n; i++) {
		size_t end = i + 1 < b->n ? b->first[i + 1] : b->nargs;
		cmds[i] = (struct redis_cmd){.argc = (int)(end - b->first[i]),
		                             .argv = &b->v[b->first[i]],
		                             .argvlen = &b->l[b->first[i]]};
	}
	int rc = redis_conn_pipeline(c, b->n, cmds, b->rep, retry_idempotent, err);
	free(cmds);
	return rc;
}

redisReply *redis_batch_take(struct redis_batch *b, size_t i)
{
	redisReply *r = b->rep[i];
	b->rep[i] = NULL;
	return r;
}

void redis_batch_release(struct redis_batch *b)
{
	if (b->rep)
		redis_replies_free(b->nrep, b->rep);
	for (size_t i = 0; i < b->nown; i++)
		free(b->own[i]);
	free(b->rep);
	free(b->first);
	free(b->v);
	free(b->l);
	free(b->own);
	memset(b, 0, sizeof(*b));
}

/* ---------- replies ---------- */

bool redis_reply_str(const redisReply *r)
{
	return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

long long redis_reply_ll(const redisReply *r)
{
	if (r && r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	return redis_reply_str(r) ? strtoll(r->str, NULL, 10) : 0;
}

int redis_reply_fail(const redisReply *r, struct mem_error *err, const char *what)
{
	if (!r)
		return mem_fail(err, MEM_EINTERNAL, NULL, "redis %s: no reply", what);
	if (r->type == REDIS_REPLY_ERROR) {
		static const char *transient[] = {"OOM",        "READONLY",    "LOADING", "BUSY",
		                                  "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"};
		for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
			if (!strncmp(r->str, transient[i], strlen(transient[i])))
				return mem_fail(err, MEM_EUNAVAILABLE, NULL,
				                "redis refused %s: %.120s", what, r->str);
		log_error(NULL, "redis error reply", LF_STR("command", what),
		          LF_STR("error", r->str));
		return mem_fail(err, MEM_EINTERNAL, NULL, "redis error on %s: %.120s", what,
		                r->str);
	}
	return mem_fail(err, MEM_EINTERNAL, NULL, "redis %s: unexpected reply type %d", what,
	                r->type);
}

void redis_replies_free(size_t n, redisReply **r)
{
	for (size_t i = 0; i < n; i++) {
		freeReplyObject(r[i]);
		r[i] = NULL;
	}
}
