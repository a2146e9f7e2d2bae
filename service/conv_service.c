#include "conv_service.h"

#include <stdlib.h>
#include <string.h>

#include "../common/ids.h"
#include "../common/log.h"
#include "../common/metrics.h"
#include "../common/xalloc.h"

/* Messages archived per step, and steps per append: a backlog left by an
 * archive outage drains over the following appends. */
#define ARCHIVE_CHUNK 1000
#define ARCHIVE_STEPS 4

static int check_conv_id(const char *id, struct mem_error *err)
{
	return id_check(id, strlen(id), ID_MAX_BYTES, false, "conversation_id", err);
}

static int unsupported(const struct store *s, struct mem_error *err)
{
	return mem_fail(err, MEM_EINTERNAL, NULL, "the %s store does not hold conversations",
	                s->ops->name);
}

/*
 * Archive what store p holds beyond CONV_MAX_MESSAGES into a, then let p
 * drop exactly those messages. Failures are logged and counted, never
 * returned: the messages stay in p and the next append tries again. a NULL:
 * p is a dual-write secondary whose primary holds every message, so p only
 * drops them.
 */
static void archive_overflow(struct store *p, struct store *a, const char *tenant, const char *id)
{
	for (int step = 0; step < ARCHIVE_STEPS; step++) {
		struct conv_page pg = {0};
		struct mem_error err = {0};
		bool trimmed = false;
		if (p->ops->conv_overflow(p, tenant, id, ARCHIVE_CHUNK, &pg, &err) < 0) {
			log_warn(NULL, "conversation overflow read failed",
			         LF_STR("conversation_id", id), LF_STR("error", err.message));
			return;
		}
		if (!pg.n) {
			conv_page_release(&pg);
			return;
		}
		if (a &&
		    a->ops->conv_archive(a, tenant, id, pg.customer_id, pg.v, pg.n, &err) < 0) {
			metrics_history_persist_error();
			log_error(NULL, "history_persist_error: trimmed messages stay in redis",
			          LF_STR("conversation_id", id), LF_INT("messages", pg.n),
			          LF_STR("error", err.message));
			conv_page_release(&pg);
			return;
		}
		int rc = p->ops->conv_trim(p, tenant, id, &pg, &trimmed, &err);
		if (rc < 0)
			log_warn(NULL, "conversation trim failed", LF_STR("conversation_id", id),
			         LF_STR("error", err.message));
		size_t n = pg.n;
		conv_page_release(&pg);
		if (rc < 0 || !trimmed || n < ARCHIVE_CHUNK)
			return;
	}
}

/* Where the history the archive holds for a conversation new to the
 * primary stands: *last its last seq (0 when none), where the numbering
 * continues, and known[i] the seq it holds message i's id under (0: none),
 * so a retry of what only the archive holds is not stored again. An archive
 * that cannot tell is MEM_EUNAVAILABLE: numbering from a guess would give
 * seqs the history already holds, which archival then drops. */
static int archived_state(const struct conv_stores *st, const char *tenant,
                          const struct conv_append *r, long long *last, long long *known,
                          struct mem_error *err)
{
	struct store *a = st->archive;
	struct conv_meta m = {0};
	struct mem_error e = {0};
	int ret = -1;
	*last = 0;
	if (a->ops->conv_meta(a, tenant, r->conversation_id, &m, &e) == 0)
		*last = m.message_count;
	else if (e.code != MEM_ENOT_FOUND)
		goto unavailable;
	bool ids = false;
	for (size_t i = 0; i < r->n; i++)
		ids = ids || (r->messages[i].id && *r->messages[i].id);
	mem_error_clear(&e);
	if (*last > 0 && ids && a->ops->conv_ids &&
	    a->ops->conv_ids(a, tenant, r->conversation_id, r->messages, r->n, known, &e) < 0)
		goto unavailable;
	ret = 0;
	goto out;
unavailable:
	log_warn(NULL, "archive unavailable: cannot number a conversation new to the primary",
	         LF_STR("conversation_id", r->conversation_id), LF_STR("error", e.message));
	mem_fail(err, MEM_EUNAVAILABLE, NULL,
	         "%s cannot say where conversation %.100s's numbering stands (%s); nothing was "
	         "stored: retry",
	         a->ops->name, r->conversation_id, e.message);
out:
	conv_meta_release(&m);
	return ret;
}

static void dual_write_missed(const struct conv_stores *st, const char *op, const char *tenant,
                              const char *id, const char *why)
{
	store_dual_write_missed(st->secondary, st->primary, op, tenant, "conversation_id", id, NULL,
	                        NULL, why);
}

/* The append the primary made, made on the secondary with the same seqs:
 * expected_seq pins where the batch goes there. */
static void append_secondary(const struct conv_stores *st, const char *tenant,
                             const struct conv_append *r, const struct conv_append_result *done)
{
	struct store *s = st->secondary;
	struct conv_append req = *r;
	struct conv_append_result res = {0};
	struct mem_error err = {0};
	long long *known = xcalloc(r->n + 1, sizeof(*known));
	req.expected_seq = done->msg_count_before;
	req.base_seq = done->msg_count_before;
	/* what the primary found already held, with its seqs */
	for (size_t i = 0; i < r->n && i < done->n; i++)
		known[i] = done->duplicate[i] ? done->seqs[i] : 0;
	req.known_seqs = known;
	int rc = s->ops->conv_append(s, tenant, &req, &res, &err);
	free(known);
	if (rc < 0) {
		dual_write_missed(st, "conv_append", tenant, r->conversation_id, err.message);
		return;
	}
	for (size_t i = 0; i < res.n && i < done->n; i++)
		if (res.seqs[i] != done->seqs[i]) {
			dual_write_missed(st, "conv_append", tenant, r->conversation_id,
			                  "the secondary numbered the batch differently");
			break;
		}
	/* the primary holds everything: the secondary only trims */
	if (res.overflow > 0 && s->ops->conv_overflow)
		archive_overflow(s, NULL, tenant, r->conversation_id);
	conv_append_result_release(&res);
}

int conv_svc_append(const struct conv_stores *st, const char *tenant, const struct conv_append *r,
                    struct conv_append_result *out, struct mem_error *err)
{
	struct conv_append req = *r;
	memset(out, 0, sizeof(*out));
	if (conv_append_check(r, (size_t)st->cfg->conv_max_batch,
	                      (size_t)st->cfg->conv_max_message_bytes, err) < 0)
		return -1;
	if (!st->primary->ops->conv_append)
		return unsupported(st->primary, err);
	/* With an archive, a conversation new to the primary may have history
	 * there (it expired from Redis): the primary asks, and the numbering
	 * continues after that history. */
	req.base_seq = st->archive ? -1 : 0;
	if (st->primary->ops->conv_append(st->primary, tenant, &req, out, err) < 0)
		return -1;
	if (out->need_base) {
		long long *known = xcalloc(r->n + 1, sizeof(*known));
		conv_append_result_release(out);
		int rc = archived_state(st, tenant, r, &req.base_seq, known, err);
		req.known_seqs = known;
		if (rc == 0)
			rc = st->primary->ops->conv_append(st->primary, tenant, &req, out, err);
		free(known);
		if (rc < 0)
			return -1;
		if (out->need_base)
			return mem_fail(err, MEM_EINTERNAL, NULL,
			                "the store asked twice where the conversation starts");
	}
	metrics_conv_msg_count_before(out->msg_count_before);
	if (out->overflow > 0 && st->archive && st->primary->ops->conv_overflow)
		archive_overflow(st->primary, st->archive, tenant, r->conversation_id);
	if (st->secondary && out->stored > 0)
		append_secondary(st, tenant, r, out);
	return 0;
}

/* The seqs [lo, hi] a read wants, given the conversation's last seq. */
static void wanted(const struct conv_read *r, long long last, long long *lo, long long *hi)
{
	long long n = (long long)r->limit;
	switch (r->mode) {
	case CONV_READ_WINDOW:
		*hi = last;
		*lo = last - n + 1;
		break;
	case CONV_READ_BEFORE:
		*hi = r->seq - 1 < last ? r->seq - 1 : last;
		*lo = *hi - n + 1;
		break;
	case CONV_READ_AFTER:
		*lo = r->seq + 1;
		*hi = r->seq + n < last ? r->seq + n : last;
		break;
	case CONV_READ_RANGE:
		*lo = r->from;
		*hi = r->to;
		break;
	}
	if (*lo < 1)
		*lo = 1;
}

/* Prepend the archive's messages of [lo, the primary's first - 1] to p and
 * keep only [lo, hi]. */
static int complete_from_archive(const struct conv_stores *st, const char *tenant,
                                 const struct conv_read *r, struct conv_page *p,
                                 struct mem_error *err)
{
	long long lo = 0, hi = -1; /* set by wanted(); gcc -O2 cannot tell */
	/* the primary kept the newest that fit: they fill the page already */
	if (p->truncated && r->mode != CONV_READ_AFTER)
		return 0;
	wanted(r, p->last_seq, &lo, &hi);
	if (lo >= p->first_seq || lo > hi)
		return 0;
	struct conv_read ar = {.conversation_id = r->conversation_id,
	                       .mode = CONV_READ_RANGE,
	                       .from = lo,
	                       .to = hi < p->first_seq - 1 ? hi : p->first_seq - 1};
	struct conv_page old = {0};
	struct store *a = st->archive;
	if (a->ops->conv_read(a, tenant, &ar, &old, err) < 0) {
		if (err->code != MEM_ENOT_FOUND)
			return -1;
		mem_error_clear(err);
		return 0;
	}
	struct conv_message *v = xcalloc(old.n + p->n + 1, sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < old.n; i++)
		v[n++] = old.v[i];
	for (size_t i = 0; i < p->n; i++) {
		if (p->v[i].seq >= lo && p->v[i].seq <= hi && (!n || p->v[i].seq > v[n - 1].seq))
			v[n++] = p->v[i];
		else
			conv_message_release(&p->v[i]);
	}
	if (old.n && old.first_seq < p->first_seq)
		p->first_seq = old.first_seq;
	free(old.v);
	old.v = NULL;
	old.n = 0;
	conv_page_release(&old);
	free(p->v);
	p->v = v;
	p->n = n;
	return 0;
}

static size_t msg_bytes(const struct conv_message *m)
{
	return m->content_len + (m->metadata_json ? strlen(m->metadata_json) : 0) +
	       (m->id ? strlen(m->id) : 0) + (m->role ? strlen(m->role) : 0);
}

/* p to at most r->max_bytes of messages (one at least): the newest for a
 * window or before read, the oldest for an after read. A store cuts its own
 * part first; this bounds what a merge with the archive gives too. */
static void page_cut(const struct conv_read *r, struct conv_page *p)
{
	if (!r->max_bytes || r->mode == CONV_READ_RANGE || p->n < 2)
		return;
	size_t bytes = 0, lo = 0, hi = p->n; /* keep [lo, hi) */
	if (r->mode == CONV_READ_AFTER) {
		for (size_t i = 0; i < p->n; i++) {
			bytes += msg_bytes(&p->v[i]);
			if (i && bytes > r->max_bytes) {
				hi = i;
				break;
			}
		}
	} else {
		for (size_t i = p->n; i-- > 0;) {
			bytes += msg_bytes(&p->v[i]);
			if (i < p->n - 1 && bytes > r->max_bytes) {
				lo = i + 1;
				break;
			}
		}
	}
	if (lo == 0 && hi == p->n)
		return;
	for (size_t i = 0; i < p->n; i++)
		if (i < lo || i >= hi)
			conv_message_release(&p->v[i]);
	memmove(p->v, p->v + lo, (hi - lo) * sizeof(*p->v));
	p->n = hi - lo;
	p->truncated = true;
}

int conv_svc_read(const struct conv_stores *st, const char *tenant, const struct conv_read *r,
                  struct conv_page *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_conv_id(r->conversation_id, err) < 0)
		return -1;
	if (r->mode != CONV_READ_RANGE && (r->limit < 1 || r->limit > CONV_READ_LIMIT_MAX))
		return mem_fail(err, MEM_EINVALID_FIELD, "limit", "limit must be 1..%d",
		                CONV_READ_LIMIT_MAX);
	if (!st->primary->ops->conv_read)
		return unsupported(st->primary, err);
	if (st->primary->ops->conv_read(st->primary, tenant, r, out, err) < 0) {
		/* expired from the primary: what the archive holds */
		if (err->code != MEM_ENOT_FOUND || !st->archive)
			return -1;
		mem_error_clear(err);
		if (st->archive->ops->conv_read(st->archive, tenant, r, out, err) < 0)
			return -1;
		page_cut(r, out);
		return 0;
	}
	if (st->archive && out->first_seq > 1 &&
	    complete_from_archive(st, tenant, r, out, err) < 0) {
		conv_page_release(out);
		return -1;
	}
	page_cut(r, out);
	return 0;
}

int conv_svc_meta(const struct conv_stores *st, const char *tenant, const char *id,
                  struct conv_meta *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_conv_id(id, err) < 0)
		return -1;
	if (!st->primary->ops->conv_meta)
		return unsupported(st->primary, err);
	if (st->primary->ops->conv_meta(st->primary, tenant, id, out, err) < 0) {
		if (err->code != MEM_ENOT_FOUND || !st->archive)
			return -1;
		mem_error_clear(err);
		return st->archive->ops->conv_meta(st->archive, tenant, id, out, err);
	}
	if (st->archive && out->first_seq > 1) {
		/* where the trimmed history lives: informative, so an archive that
		 * cannot answer leaves the primary's view, logged */
		struct conv_meta old = {0};
		struct mem_error aerr = {0};
		if (st->archive->ops->conv_meta(st->archive, tenant, id, &old, &aerr) < 0) {
			if (aerr.code != MEM_ENOT_FOUND)
				log_warn(NULL, "archive unavailable for conversation metadata",
				         LF_STR("conversation_id", id),
				         LF_STR("error", aerr.message));
		} else {
			out->in_postgres = true;
			out->first_seq =
			    old.first_seq < out->first_seq ? old.first_seq : out->first_seq;
		}
		conv_meta_release(&old);
	}
	return 0;
}

int conv_svc_update(const struct conv_stores *st, const char *tenant, const struct conv_update *r,
                    struct conv_meta *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (check_conv_id(r->conversation_id, err) < 0)
		return -1;
	if ((r->customer_id && *r->customer_id &&
	     id_check(r->customer_id, strlen(r->customer_id), ID_MAX_BYTES, false, "customer_id",
	              err) < 0) ||
	    conv_metadata_check(r->metadata_json, "metadata", err) < 0)
		return -1;
	if (!st->primary->ops->conv_update)
		return unsupported(st->primary, err);
	if (st->primary->ops->conv_update(st->primary, tenant, r, out, err) < 0) {
		/* archived (it left the primary): its row in the archive */
		if (err->code != MEM_ENOT_FOUND || !st->archive)
			return -1;
		mem_error_clear(err);
		return st->archive->ops->conv_update(st->archive, tenant, r, out, err);
	}
	if (st->secondary) {
		struct conv_meta m = {0};
		struct mem_error e2 = {0};
		if (st->secondary->ops->conv_update(st->secondary, tenant, r, &m, &e2) < 0)
			dual_write_missed(st, "conv_update", tenant, r->conversation_id,
			                  e2.message);
		conv_meta_release(&m);
	}
	return 0;
}

/* Newest first: by updated_at, then id, both descending (the stores' order). */
static bool newer(const struct conv_meta *a, const struct conv_meta *b)
{
	if (a->updated_at_ms != b->updated_at_ms)
		return a->updated_at_ms > b->updated_at_ms;
	return strcmp(a->conversation_id, b->conversation_id) > 0;
}

/* Which entries of the archive's page the primary still holds, in one round
 * trip where the store offers it (one conv_meta each otherwise). An entry
 * the primary cannot answer for counts as held: the page then leaves it
 * out rather than show an archived copy of what may be live. Caller frees. */
static bool *primary_holds(const struct conv_stores *st, const char *tenant,
                           const struct conv_list_result *a)
{
	bool *held = xcalloc(a->n ? a->n : 1, sizeof(*held));
	if (st->primary->ops->conv_held) {
		struct mem_error e = {0};
		const char **ids = xcalloc(a->n ? a->n : 1, sizeof(*ids));
		for (size_t j = 0; j < a->n; j++)
			ids[j] = a->items[j].conversation_id;
		if (st->primary->ops->conv_held(st->primary, tenant, ids, a->n, held, &e) < 0) {
			log_warn(
			    NULL,
			    "archived conversations left out of the list: the primary did not say "
			    "which it holds",
			    LF_STR("error", e.message));
			for (size_t j = 0; j < a->n; j++)
				held[j] = true;
		}
		free(ids);
		return held;
	}
	for (size_t j = 0; j < a->n; j++) {
		struct mem_error e = {0};
		struct conv_meta m = {0};
		held[j] = st->primary->ops->conv_meta(st->primary, tenant,
		                                      a->items[j].conversation_id, &m, &e) == 0 ||
		          e.code != MEM_ENOT_FOUND;
		conv_meta_release(&m);
	}
	return held;
}

/*
 * A customer's conversations that left the primary (archived) are in the
 * archive's list: merge its page into the primary's, in the same order from
 * the same cursor, leaving out what the primary still holds (its entry is
 * the current one), and cut to the limit. An archive that cannot answer
 * leaves the primary's page (logged).
 */
static void merge_archived(const struct conv_stores *st, const char *tenant,
                           const struct conv_list *r, struct conv_list_result *out)
{
	struct conv_list_result a = {0};
	struct mem_error aerr = {0};
	if (st->archive->ops->conv_list(st->archive, tenant, r, &a, &aerr) < 0) {
		log_warn(NULL, "archive unavailable: archived conversations left out of the list",
		         LF_STR("customer_id", r->customer_id), LF_STR("error", aerr.message));
		return;
	}
	bool *held = primary_holds(st, tenant, &a);
	struct conv_meta *v = xcalloc(out->n + a.n + 1, sizeof(*v));
	size_t n = 0, i = 0, j = 0;
	bool cut = false;
	while (i < out->n || j < a.n) {
		if (j < a.n && held[j]) {
			conv_meta_release(&a.items[j++]); /* the primary's entry counts */
			continue;
		}
		bool take_primary = i < out->n && (j >= a.n || newer(&out->items[i], &a.items[j]));
		struct conv_meta *m = take_primary ? &out->items[i++] : &a.items[j++];
		if (n < r->limit) {
			v[n++] = *m;
		} else {
			conv_meta_release(m);
			cut = true;
		}
	}
	out->more = out->more || a.more || cut;
	free(held);
	free(out->items);
	free(a.items);
	out->items = v;
	out->n = n;
}

int conv_svc_list(const struct conv_stores *st, const char *tenant, const struct conv_list *r,
                  struct conv_list_result *out, struct mem_error *err)
{
	memset(out, 0, sizeof(*out));
	if (id_check(r->customer_id, strlen(r->customer_id), ID_MAX_BYTES, false, "customer_id",
	             err) < 0)
		return -1;
	if (r->limit < 1 || r->limit > CONV_LIST_LIMIT_MAX)
		return mem_fail(err, MEM_EINVALID_FIELD, "limit", "limit must be 1..%d",
		                CONV_LIST_LIMIT_MAX);
	if (!st->primary->ops->conv_list)
		return unsupported(st->primary, err);
	if (st->primary->ops->conv_list(st->primary, tenant, r, out, err) < 0)
		return -1;
	if (st->archive)
		merge_archived(st, tenant, r, out);
	return 0;
}

int conv_svc_delete(const struct conv_stores *st, const char *tenant, const char *id,
                    struct mem_error *err)
{
	if (check_conv_id(id, err) < 0)
		return -1;
	if (!st->primary->ops->conv_delete)
		return unsupported(st->primary, err);
	if (st->primary->ops->conv_delete(st->primary, tenant, id, err) < 0)
		return -1;
	/* everywhere: the archive, and what a dual write or an earlier primary
	 * left in the other store */
	if (st->other && st->other->ops->conv_delete(st->other, tenant, id, err) < 0)
		return -1;
	return 0;
}
