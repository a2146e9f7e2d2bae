/*
 * /checkpoints: LangGraph's saver contract over REST.
 *
 *   POST   /checkpoints                     put (upsert) a checkpoint and its blobs
 *   GET    /checkpoints                     list (thread_id, checkpoint_ns, before, limit, filter)
 *   GET    /checkpoints/{thread_id}         get tuple (checkpoint_ns, checkpoint_id: latest when
 * absent) DELETE /checkpoints/{thread_id}         delete the thread, every namespace POST
 * /checkpoints/{thread_id}/writes  put pending writes of a task
 *
 * Opaque values travel as {"type", "data": base64} and are stored as bytes.
 */
#include "handlers.h"

#include <stdlib.h>
#include <string.h>

#include "../common/b64.h"
#include "body.h"
#include "../common/log.h"
#include "../common/vcache.h"
#include "../common/xalloc.h"
#include "../service/service.h"

/* Channels, blobs and writes per request: LangGraph uses tens; the bound
 * keeps one request's store work (and a Lua call's arguments) in reason. */
#define CP_MAX_ITEMS 4096

_Static_assert(sizeof(((struct request *)0)->stored) == SERVICE_STORED_MAX,
               "request.stored holds SERVICE_STORED_MAX bytes");

static int too_many(size_t n, const char *field, struct mem_error *err)
{
	if (n > CP_MAX_ITEMS)
		return mem_fail(err, MEM_EINVALID_FIELD, field, "%s has %zu entries; at most %d",
		                field, n, CP_MAX_ITEMS);
	return 0;
}

static void append_config(struct buf *b, const char *thread, const char *ns, const char *id)
{
	buf_puts(b, "{\"thread_id\":");
	json_escape(b, thread, strlen(thread));
	buf_puts(b, ",\"checkpoint_ns\":");
	json_escape(b, ns, strlen(ns));
	buf_puts(b, ",\"checkpoint_id\":");
	json_escape(b, id, strlen(id));
	buf_putc(b, '}');
}

static void append_typed(struct buf *b, const struct owned_value *v)
{
	buf_puts(b, "{\"type\":");
	json_escape(b, v->type, strlen(v->type));
	buf_puts(b, ",\"data\":\"");
	b64_encode(b, v->data, v->len);
	buf_puts(b, "\"}");
}

/* The tuple as JSON text. The checkpoint and metadata are stored as the JSON
 * text memoryd itself encoded, so they are embedded as they are. */
static void append_tuple(struct buf *b, const struct cp_tuple *t)
{
	buf_puts(b, "{\"config\":");
	append_config(b, t->thread_id, t->ns, t->checkpoint_id);
	buf_puts(b, ",\"checkpoint\":");
	buf_puts(b, t->checkpoint_json);
	buf_puts(b, ",\"metadata\":");
	buf_puts(b, t->metadata_json);
	buf_puts(b, ",\"channel_values\":{");
	for (size_t i = 0; i < t->nvalues; i++) {
		if (i)
			buf_putc(b, ',');
		json_escape(b, t->values[i].channel, strlen(t->values[i].channel));
		buf_putc(b, ':');
		append_typed(b, &t->values[i].value);
	}
	buf_putc(b, '}');
	if (t->parent_id) {
		buf_puts(b, ",\"parent_config\":");
		append_config(b, t->thread_id, t->ns, t->parent_id);
	}
	buf_puts(b, ",\"pending_writes\":[");
	for (size_t i = 0; i < t->nwrites; i++) {
		const struct cp_pending_write *w = &t->writes[i];
		if (i)
			buf_putc(b, ',');
		buf_puts(b, "{\"task_id\":");
		json_escape(b, w->task_id, strlen(w->task_id));
		buf_puts(b, ",\"task_path\":");
		json_escape(b, w->task_path, strlen(w->task_path));
		buf_puts(b, ",\"channel\":");
		json_escape(b, w->channel, strlen(w->channel));
		buf_printf(b, ",\"idx\":%ld,\"type\":", w->idx);
		json_escape(b, w->value.type, strlen(w->value.type));
		buf_puts(b, ",\"data\":\"");
		b64_encode(b, w->value.data, w->value.len);
		buf_puts(b, "\"}");
	}
	buf_puts(b, "]}");
}

/* The key of a namespace's latest tuple in r->latest_cache, into key. */
static void latest_key(struct buf *key, const char *tenant, const char *thread, const char *ns)
{
	/* ids hold no control characters, so '\n' separates them */
	buf_reset(key);
	buf_printf(key, "%s\n%s\n%s", tenant, thread, ns);
}

/* After this replica wrote to a namespace, its cached latest tuple is likely
 * stale: dropped, the next get-latest goes straight to the store instead of
 * first reading the head to find so (one Redis round trip fewer for an agent
 * that writes a step and reads the thread back through the same replica).
 * Only ever an optimisation: a kept entry is still checked against the head. */
static void latest_drop(struct request *r, const char *thread, const char *ns)
{
	if (!r->latest_cache)
		return;
	struct buf key = {0};
	latest_key(&key, r->tenant, thread, ns);
	vcache_drop(r->latest_cache, key.data);
	buf_release(&key);
}

enum MHD_Result h_checkpoint_put(struct request *r)
{
	struct mem_error err = {0};
	struct body body;
	struct cp_channel_version *versions = NULL;
	struct cp_blob *blobs = NULL;
	struct buf cp_text = {0}, md_text = {0};
	enum MHD_Result ret;
	struct cp_put p = {0};
	size_t checkpoint, metadata, jblobs, cv = BODY_ABSENT;
	const char *cid;
	size_t cid_tok;
	char name[32];

	const struct body_field fields[] = {
	    BODY_STRING("thread_id", BODY_REQUIRED, &p.thread_id),
	    BODY_STRING_OR("checkpoint_ns", "", &p.ns),
	    BODY_STRING("checkpoint_id", BODY_REQUIRED, &p.checkpoint_id),
	    BODY_STRING("parent_checkpoint_id", BODY_OPTIONAL, &p.parent_id),
	    BODY_OBJECT("checkpoint", BODY_REQUIRED, &checkpoint),
	    BODY_OBJECT("metadata", BODY_OPTIONAL, &metadata),
	    BODY_ARRAY("blobs", BODY_OPTIONAL, &jblobs),
	};
	const struct body_field checkpoint_fields[] = {
	    BODY_OBJECT("channel_versions", BODY_OPTIONAL, &cv),
	};
	if (body_parse(&body, r->body.data, r->body.len, &err) < 0 ||
	    body_read(&body, 0, fields, BODY_NFIELDS(fields), &err) < 0)
		goto fail;
	/* checkpoint.id, when given, must be checkpoint_id, whatever else is
	 * wrong with it */
	cid_tok = body_get(&body, checkpoint, "id");
	if (cid_tok != BODY_ABSENT &&
	    (body_tok_string(&body, cid_tok, "checkpoint.id", &cid, &err) < 0 ||
	     strcmp(cid, p.checkpoint_id))) {
		mem_fail(&err, MEM_EINVALID_FIELD, "checkpoint.id",
		         "checkpoint.id must equal checkpoint_id");
		goto fail;
	}
	if (body_read_in(&body, checkpoint, "checkpoint", checkpoint_fields,
	                 BODY_NFIELDS(checkpoint_fields), &err) < 0)
		goto fail;
	size_t ncv = cv == BODY_ABSENT ? 0 : body.doc.toks[cv].size;
	if (too_many(ncv, "checkpoint.channel_versions", &err) < 0)
		goto fail;
	versions = xcalloc(ncv + 1, sizeof(*versions));
	for (size_t i = 0, k = body_first(&body, cv); i < ncv; i++, k = body_next(&body, cv, k)) {
		if (body_tok_string(&body, k, "checkpoint.channel_versions", &versions[i].channel,
		                    &err) < 0 ||
		    body_tok_version(&body, k + 1, "checkpoint.channel_versions",
		                     &versions[i].version, &err) < 0)
			goto fail;
	}
	p.versions = versions;
	p.nversions = ncv;
	size_t nb = jblobs == BODY_ABSENT ? 0 : body.doc.toks[jblobs].size;
	if (too_many(nb, "blobs", &err) < 0)
		goto fail;
	blobs = xcalloc(nb + 1, sizeof(*blobs));
	for (size_t i = 0, o = body_first(&body, jblobs); i < nb;
	     i++, o = body_next(&body, jblobs, o)) {
		struct cp_blob *bl = &blobs[i];
		const struct body_field blob[] = {
		    BODY_STRING("channel", BODY_REQUIRED, &bl->channel),
		    BODY_VERSION("version", BODY_REQUIRED, &bl->version),
		    BODY_STRING("type", BODY_REQUIRED, &bl->value.type),
		};
		snprintf(name, sizeof(name), "blobs[%zu]", i);
		if (body_read_item(&body, o, name, blob, BODY_NFIELDS(blob), &err) < 0)
			goto fail;
		/* a channel of type "empty" has no value: its data may be left out */
		const struct body_field data[] = {
		    BODY_BASE64("data", strcmp(bl->value.type, "empty") != 0, &bl->value.data,
		                &bl->value.len),
		};
		if (body_read_in(&body, o, name, data, 1, &err) < 0)
			goto fail;
	}
	p.blobs = blobs;
	p.nblobs = nb;
	body_compact(&body, checkpoint, "channel_values", &cp_text);
	if (metadata != BODY_ABSENT)
		body_compact(&body, metadata, NULL, &md_text);
	else
		buf_puts(&md_text, "{}");
	p.checkpoint_json = cp_text.data;
	p.metadata_json = md_text.data;
	if (service_checkpoint_put(r->svc, r->tenant, &p, r->stored, &err) < 0)
		goto fail;
	latest_drop(r, p.thread_id, p.ns);

	struct buf b = {0};
	buf_puts(&b, "{\"config\":");
	append_config(&b, p.thread_id, p.ns, p.checkpoint_id);
	buf_putc(&b, '}');
	size_t len;
	char *text = buf_detach(&b, &len);
	ret = respond_raw(r, 201, text, len);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	free(versions);
	free(blobs);
	buf_release(&cp_text);
	buf_release(&md_text);
	body_release(&body);
	return ret;
}

/*
 * Get a tuple. The latest one is rendered once per version of the thread's
 * head and kept in r->latest_cache: a repeated read costs one small head read
 * and a copy, and never serves a tuple that has changed since (the version
 * comes from the store on every request that uses the cache). With nothing
 * cached for the namespace (its first read, or the first since this replica
 * wrote to it), the store is asked for the tuple straight away.
 */
enum MHD_Result h_checkpoint_get(struct request *r)
{
	struct mem_error err = {0};
	char *ns = NULL, *id = NULL, *version = NULL, *text;
	struct cp_tuple t = {0};
	struct buf key = {0};
	enum MHD_Result ret;
	size_t len;

	if (query_param(r, "checkpoint_ns", &ns, &err) < 0 ||
	    query_param(r, "checkpoint_id", &id, &err) < 0)
		goto fail;
	struct cp_get g = {.thread_id = r->params[0], .ns = ns ? ns : "", .checkpoint_id = id};
	if (id && !*id)
		g.checkpoint_id = NULL;
	if (!g.checkpoint_id && r->latest_cache) {
		latest_key(&key, r->tenant, g.thread_id, g.ns);
		/* nothing cached: the head need not be read to find that out */
		if (vcache_has(r->latest_cache, key.data)) {
			if (service_checkpoint_head(r->svc, r->tenant, g.thread_id, g.ns, &version,
			                            &err) < 0)
				goto fail;
			if (version &&
			    vcache_get(r->latest_cache, key.data, version, &text, &len)) {
				ret = respond_raw(r, 200, text, len);
				goto out;
			}
		}
	}
	if (service_checkpoint_get(r->svc, r->tenant, &g, &t, &err) < 0)
		goto fail;
	struct buf b = {0};
	append_tuple(&b, &t);
	text = buf_detach(&b, &len);
	if (key.data && t.version)
		vcache_put(r->latest_cache, key.data, t.version, text, len);
	ret = respond_raw(r, 200, text, len);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	cp_tuple_release(&t);
	buf_release(&key);
	free(version);
	free(ns);
	free(id);
	return ret;
}

enum MHD_Result h_checkpoint_list(struct request *r)
{
	struct mem_error err = {0};
	char *thread = NULL, *ns = NULL, *before = NULL, *limit = NULL, *filter = NULL;
	char *filter_text = NULL;
	struct cp_list_result res = {0};
	enum MHD_Result ret;
	struct cp_list l = {.limit = LIST_LIMIT_MAX};

	if (query_param(r, "thread_id", &thread, &err) < 0 ||
	    query_param(r, "checkpoint_ns", &ns, &err) < 0 ||
	    query_param(r, "before", &before, &err) < 0 ||
	    query_param(r, "limit", &limit, &err) < 0 ||
	    query_param(r, "filter", &filter, &err) < 0)
		goto fail;
	l.thread_id = thread && *thread ? thread : NULL;
	l.ns = ns;
	l.before = before && *before ? before : NULL;
	if (limit) {
		char *end;
		long n = strtol(limit, &end, 10);
		if (!*limit || *end || n < 1 || n > LIST_LIMIT_MAX) {
			mem_fail(&err, MEM_EINVALID_FIELD, "limit",
			         "limit must be an integer 1..%d", LIST_LIMIT_MAX);
			goto fail;
		}
		l.limit = (size_t)n;
	}
	if (filter && *filter) {
		json_error_t je;
		json_t *f = json_loads(filter, 0, &je);
		if (!json_is_object(f)) {
			json_decref(f);
			mem_fail(&err, MEM_EINVALID_FIELD, "filter",
			         "filter must be a URL-encoded JSON object");
			goto fail;
		}
		if (json_object_size(f))
			filter_text = json_dumps(f, JSON_COMPACT);
		json_decref(f);
		l.filter_json = filter_text;
	}
	if (service_checkpoint_list(r->svc, r->tenant, &l, &res, &err) < 0)
		goto fail;
	struct buf b = {0};
	buf_puts(&b, "{\"checkpoints\":[");
	for (size_t i = 0; i < res.n; i++) {
		if (i)
			buf_putc(&b, ',');
		append_tuple(&b, &res.items[i]);
	}
	buf_printf(&b, "],\"truncated\":%s}", res.truncated ? "true" : "false");
	size_t len;
	char *text = buf_detach(&b, &len);
	ret = respond_raw(r, 200, text, len);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	cp_list_result_release(&res);
	free(thread);
	free(ns);
	free(before);
	free(limit);
	free(filter);
	free(filter_text);
	return ret;
}

enum MHD_Result h_checkpoint_delete(struct request *r)
{
	struct mem_error err = {0};
	if (service_thread_delete(r->svc, r->tenant, r->params[0], r->stored, &err) < 0)
		return respond_error(r, &err);
	return respond_raw(r, 204, NULL, 0);
}

enum MHD_Result h_checkpoint_writes(struct request *r)
{
	struct mem_error err = {0};
	struct body body;
	struct cp_write *writes = NULL;
	enum MHD_Result ret;
	struct cp_put_writes w = {.thread_id = r->params[0]};
	size_t jw;
	char name[32];

	const struct body_field fields[] = {
	    BODY_STRING_OR("checkpoint_ns", "", &w.ns),
	    BODY_STRING("checkpoint_id", BODY_REQUIRED, &w.checkpoint_id),
	    BODY_STRING("task_id", BODY_REQUIRED, &w.task_id),
	    BODY_STRING_OR("task_path", "", &w.task_path),
	    BODY_ARRAY("writes", BODY_REQUIRED, &jw),
	};
	if (body_parse(&body, r->body.data, r->body.len, &err) < 0 ||
	    body_read(&body, 0, fields, BODY_NFIELDS(fields), &err) < 0)
		goto fail;
	size_t n = body.doc.toks[jw].size;
	if (too_many(n, "writes", &err) < 0)
		goto fail;
	writes = xcalloc(n + 1, sizeof(*writes));
	for (size_t i = 0, o = body_first(&body, jw); i < n; i++, o = body_next(&body, jw, o)) {
		struct cp_write *wr = &writes[i];
		const struct body_field write[] = {
		    BODY_STRING("channel", BODY_REQUIRED, &wr->channel),
		    BODY_STRING("type", BODY_REQUIRED, &wr->value.type),
		    BODY_BASE64("data", BODY_REQUIRED, &wr->value.data, &wr->value.len),
		};
		snprintf(name, sizeof(name), "writes[%zu]", i);
		if (body_read_item(&body, o, name, write, BODY_NFIELDS(write), &err) < 0)
			goto fail;
	}
	w.writes = writes;
	w.nwrites = n;
	if (service_checkpoint_put_writes(r->svc, r->tenant, &w, r->stored, &err) < 0)
		goto fail;
	latest_drop(r, w.thread_id, w.ns);
	ret = respond_json(r, 200, json_pack("{s:I}", "stored", (json_int_t)n));
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	free(writes);
	body_release(&body);
	return ret;
}
