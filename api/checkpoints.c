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
#include "../common/log.h"
#include "../common/xalloc.h"
#include "../service/service.h"

/* Decoded values of one request, released together. */
struct decoded {
	unsigned char **bufs;
	size_t n, cap;
};

static void decoded_release(struct decoded *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->bufs[i]);
	free(d->bufs);
}

/* Read {"type", "data"} from obj into v. type "empty" needs no data when
 * allow_empty. field names the array for error messages. */
static int read_typed(json_t *obj, const char *field, size_t pos, bool allow_empty,
                      struct typed_value *v, struct decoded *d, struct mem_error *err)
{
	char name[64];
	const char *type, *data;
	snprintf(name, sizeof(name), "%s[%zu].type", field, pos);
	json_t *t = json_object_get(obj, "type");
	if (!t)
		return mem_fail(err, MEM_EMISSING_FIELD, name, "%s is required", name);
	if (!json_is_string(t))
		return mem_fail(err, MEM_EINVALID_FIELD, name, "%s must be a string", name);
	type = json_string_value(t);
	v->type = type;
	v->data = NULL;
	v->len = 0;
	snprintf(name, sizeof(name), "%s[%zu].data", field, pos);
	json_t *dj = json_object_get(obj, "data");
	if (allow_empty && !strcmp(type, "empty") && (!dj || json_is_null(dj)))
		return 0;
	if (!dj)
		return mem_fail(err, MEM_EMISSING_FIELD, name, "%s is required", name);
	if (!json_is_string(dj))
		return mem_fail(err, MEM_EINVALID_FIELD, name, "%s must be a base64 string", name);
	data = json_string_value(dj);
	unsigned char *bytes;
	size_t len;
	if (b64_decode(data, json_string_length(dj), &bytes, &len) < 0)
		return mem_fail(err, MEM_EINVALID_FIELD, name, "%s is not valid base64", name);
	if (d->n == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->bufs = xrealloc(d->bufs, d->cap * sizeof(*d->bufs));
	}
	d->bufs[d->n++] = bytes;
	v->data = bytes;
	v->len = len;
	return 0;
}

/* A channel version as a string: JSON strings as they are, integers in
 * decimal. Returns a string owned by strs. */
static const char *version_string(json_t *v, char **slot)
{
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		*slot = xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return *slot;
	}
	/* An integral real: a body parsed with JSON_DECODE_INT_AS_REAL. */
	if (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v)) {
		*slot = xasprintf("%lld", (long long)json_real_value(v));
		return *slot;
	}
	return NULL;
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

enum MHD_Result h_checkpoint_put(struct request *r)
{
	struct mem_error err = {0};
	struct decoded dec = {0};
	struct cp_channel_version *versions = NULL;
	char **vslots = NULL;
	struct cp_blob *blobs = NULL;
	size_t nvslots = 0;
	char *cp_text = NULL, *md_text = NULL;
	enum MHD_Result ret;
	struct cp_put p = {0};
	json_t *checkpoint, *metadata, *jblobs, *cv = NULL;

	json_t *root = body_json_object(r, &err);
	if (!root)
		goto fail;
	if (json_req_string(root, "thread_id", true, &p.thread_id, &err) < 0 ||
	    json_req_string(root, "checkpoint_ns", false, &p.ns, &err) < 0 ||
	    json_req_string(root, "checkpoint_id", true, &p.checkpoint_id, &err) < 0 ||
	    json_req_string(root, "parent_checkpoint_id", false, &p.parent_id, &err) < 0 ||
	    json_req_object(root, "checkpoint", true, &checkpoint, &err) < 0 ||
	    json_req_object(root, "metadata", false, &metadata, &err) < 0 ||
	    json_req_array(root, "blobs", false, &jblobs, &err) < 0)
		goto fail;
	if (!p.ns)
		p.ns = "";
	json_t *cid = json_object_get(checkpoint, "id");
	if (cid && (!json_is_string(cid) || strcmp(json_string_value(cid), p.checkpoint_id))) {
		mem_fail(&err, MEM_EINVALID_FIELD, "checkpoint.id",
		         "checkpoint.id must equal checkpoint_id");
		goto fail;
	}
	cv = json_object_get(checkpoint, "channel_versions");
	if (cv && !json_is_object(cv)) {
		mem_fail(&err, MEM_EINVALID_FIELD, "checkpoint.channel_versions",
		         "checkpoint.channel_versions must be an object");
		goto fail;
	}
	size_t ncv = cv ? json_object_size(cv) : 0;
	size_t nb = jblobs ? json_array_size(jblobs) : 0;
	versions = xcalloc(ncv + 1, sizeof(*versions));
	vslots = xcalloc(ncv + nb + 1, sizeof(*vslots));
	if (cv) {
		const char *ch;
		json_t *v;
		json_object_foreach(cv, ch, v)
		{
			const char *s = version_string(v, &vslots[nvslots]);
			if (vslots[nvslots])
				nvslots++;
			if (!s) {
				mem_fail(&err, MEM_EINVALID_FIELD, "checkpoint.channel_versions",
				         "the version of channel %.80s must be a string or an "
				         "integer",
				         ch);
				goto fail;
			}
			versions[p.nversions++] = (struct cp_channel_version){ch, s};
		}
	}
	p.versions = versions;
	blobs = xcalloc(nb + 1, sizeof(*blobs));
	for (size_t i = 0; i < nb; i++) {
		json_t *jb = json_array_get(jblobs, i);
		char name[48];
		if (!json_is_object(jb)) {
			snprintf(name, sizeof(name), "blobs[%zu]", i);
			mem_fail(&err, MEM_EINVALID_FIELD, name, "%s must be an object", name);
			goto fail;
		}
		json_t *ch = json_object_get(jb, "channel");
		snprintf(name, sizeof(name), "blobs[%zu].channel", i);
		if (!json_is_string(ch)) {
			mem_fail(&err, ch ? MEM_EINVALID_FIELD : MEM_EMISSING_FIELD, name,
			         "%s must be a string", name);
			goto fail;
		}
		const char *ver = version_string(json_object_get(jb, "version"), &vslots[nvslots]);
		if (vslots[nvslots])
			nvslots++;
		if (!ver) {
			snprintf(name, sizeof(name), "blobs[%zu].version", i);
			mem_fail(&err, MEM_EINVALID_FIELD, name,
			         "%s must be a string or an integer", name);
			goto fail;
		}
		blobs[i].channel = json_string_value(ch);
		blobs[i].version = ver;
		if (read_typed(jb, "blobs", i, true, &blobs[i].value, &dec, &err) < 0)
			goto fail;
	}
	p.blobs = blobs;
	p.nblobs = nb;
	json_object_del(checkpoint, "channel_values");
	cp_text = json_dumps(checkpoint, JSON_COMPACT);
	md_text = metadata ? json_dumps(metadata, JSON_COMPACT) : xstrdup("{}");
	if (!cp_text || !md_text) {
		mem_fail(&err, MEM_EINTERNAL, NULL, "cannot encode the checkpoint");
		goto fail;
	}
	p.checkpoint_json = cp_text;
	p.metadata_json = md_text;
	if (service_checkpoint_put(r->svc, r->tenant, &p, &err) < 0)
		goto fail;

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
	for (size_t i = 0; i < nvslots; i++)
		free(vslots[i]);
	free(vslots);
	free(versions);
	free(blobs);
	free(cp_text);
	free(md_text);
	decoded_release(&dec);
	json_decref(root);
	return ret;
}

enum MHD_Result h_checkpoint_get(struct request *r)
{
	struct mem_error err = {0};
	char *ns = NULL, *id = NULL;
	struct cp_tuple t = {0};
	enum MHD_Result ret;

	if (query_param(r, "checkpoint_ns", &ns, &err) < 0 ||
	    query_param(r, "checkpoint_id", &id, &err) < 0)
		goto fail;
	struct cp_get g = {.thread_id = r->params[0], .ns = ns ? ns : "", .checkpoint_id = id};
	if (id && !*id)
		g.checkpoint_id = NULL;
	if (service_checkpoint_get(r->svc, r->tenant, &g, &t, &err) < 0)
		goto fail;
	struct buf b = {0};
	append_tuple(&b, &t);
	size_t len;
	char *text = buf_detach(&b, &len);
	ret = respond_raw(r, 200, text, len);
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	cp_tuple_release(&t);
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
	if (service_thread_delete(r->svc, r->tenant, r->params[0], &err) < 0)
		return respond_error(r, &err);
	return respond_raw(r, 204, NULL, 0);
}

enum MHD_Result h_checkpoint_writes(struct request *r)
{
	struct mem_error err = {0};
	struct decoded dec = {0};
	struct cp_write *writes = NULL;
	enum MHD_Result ret;
	struct cp_put_writes w = {.thread_id = r->params[0]};
	json_t *jw;

	json_t *root = body_json_object(r, &err);
	if (!root)
		goto fail;
	if (json_req_string(root, "checkpoint_ns", false, &w.ns, &err) < 0 ||
	    json_req_string(root, "checkpoint_id", true, &w.checkpoint_id, &err) < 0 ||
	    json_req_string(root, "task_id", true, &w.task_id, &err) < 0 ||
	    json_req_string(root, "task_path", false, &w.task_path, &err) < 0 ||
	    json_req_array(root, "writes", true, &jw, &err) < 0)
		goto fail;
	if (!w.ns)
		w.ns = "";
	if (!w.task_path)
		w.task_path = "";
	size_t n = json_array_size(jw);
	writes = xcalloc(n + 1, sizeof(*writes));
	for (size_t i = 0; i < n; i++) {
		json_t *o = json_array_get(jw, i);
		char name[48];
		if (!json_is_object(o)) {
			snprintf(name, sizeof(name), "writes[%zu]", i);
			mem_fail(&err, MEM_EINVALID_FIELD, name, "%s must be an object", name);
			goto fail;
		}
		json_t *ch = json_object_get(o, "channel");
		if (!json_is_string(ch)) {
			snprintf(name, sizeof(name), "writes[%zu].channel", i);
			mem_fail(&err, ch ? MEM_EINVALID_FIELD : MEM_EMISSING_FIELD, name,
			         "%s must be a string", name);
			goto fail;
		}
		writes[i].channel = json_string_value(ch);
		if (read_typed(o, "writes", i, false, &writes[i].value, &dec, &err) < 0)
			goto fail;
	}
	w.writes = writes;
	w.nwrites = n;
	if (service_checkpoint_put_writes(r->svc, r->tenant, &w, &err) < 0)
		goto fail;
	ret = respond_json(r, 200, json_pack("{s:I}", "stored", (json_int_t)n));
	goto out;
fail:
	ret = respond_error(r, &err);
out:
	free(writes);
	decoded_release(&dec);
	json_decref(root);
	return ret;
}
