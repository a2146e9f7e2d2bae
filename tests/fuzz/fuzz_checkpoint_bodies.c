/*
 * fuzz_checkpoint_bodies: the request bodies of POST /checkpoints and
 * POST /checkpoints/{thread_id}/writes, read through api/body.h in exactly
 * the order api/checkpoints.c (h_checkpoint_put, h_checkpoint_writes) reads
 * them, without HTTP or a store. Every input is read as both bodies.
 *
 * Invariants:
 *  - a refused body or field leaves an error a client can act on: a 400 code,
 *    a message, and the field at fault for field errors; a refusal happens
 *    exactly when the field is missing, of the wrong type, holds a NUL, is
 *    not canonical base64 or is not a string or int64 version;
 *  - an accepted body is a JSON object with no duplicate key at any depth;
 *  - every string read is the NUL-free, valid UTF-8 decoding of its token;
 *    body_get agrees with json_doc_object_get; a field table (body_read) reads
 *    what the token says, names the field "<prefix>.<key>" in a refusal and
 *    then writes nothing; body_first/body_next walk the children in order; an
 *    integer version is its decimal text; base64 data encodes back to exactly
 *    the text sent;
 *  - the stored checkpoint and metadata texts (body_compact) are valid JSON
 *    objects with no whitespace outside strings, mean what was sent (jansson
 *    json_equal) less checkpoint.channel_values, and compact to themselves;
 *  - ids that pass id_check survive key_encode/key_decode.
 */
#include <inttypes.h>
#include <jansson.h>

#include "../../api/body.h"
#include "../../common/b64.h"
#include "../../common/ids.h"
#include "fuzz.h"

static void check_error(const struct mem_error *err, const char *field)
{
	CHECK(err->code == MEM_EINVALID_JSON || err->code == MEM_EINVALID_FIELD ||
	          err->code == MEM_EMISSING_FIELD || err->code == MEM_ETOO_LARGE,
	      "error code %d is not a client error", err->code);
	CHECK(err->message[0], "an error without a message");
	if (field && (err->code == MEM_EINVALID_FIELD || err->code == MEM_EMISSING_FIELD))
		CHECK(!strcmp(err->field, field), "error names field '%s', not '%s'", err->field,
		      field);
}

/* The decoding of STRING tok (caller releases); 1 when it holds a NUL. */
static int decode(const struct body *b, size_t tok, struct buf *out)
{
	int nul = json_doc_string(&b->doc, tok, out);
	CHECK(nul >= 0, "token %zu is not a string", tok);
	return nul;
}

/* s is what a reader returned for STRING tok. */
static void check_read_string(const struct body *b, size_t tok, const char *s)
{
	struct buf d = {0};
	CHECK(s != NULL, "a reader succeeded without a string");
	CHECK(decode(b, tok, &d) == 0, "a string with a NUL was read");
	CHECK(same_bytes(s, strlen(s), d.data, d.len), "a string read differs from its token");
	CHECK(utf8_valid(s, strlen(s)), "a string read is not UTF-8");
	buf_release(&d);
}

static size_t checked_get(const struct body *b, size_t obj, const char *key)
{
	size_t v = body_get(b, obj, key), at;
	if (json_doc_object_get(&b->doc, obj, key, &at) < 0)
		CHECK(v == BODY_ABSENT, "body_get found '%s' where object_get did not", key);
	else if (b->doc.toks[at].type == JSON_TOK_NULL)
		CHECK(v == BODY_ABSENT, "body_get returned a null '%s'", key);
	else
		CHECK(v == at, "body_get('%s') is %zu, object_get %zu", key, v, at);
	return v;
}

/* A one-field table (api/body.h) reading string key of obj, named
 * "<prefix>.<key>" (key alone when prefix is NULL) in errors. */
static int rd_string(struct body *b, size_t obj, const char *prefix, const char *key, bool required,
                     const char **out, struct mem_error *err)
{
	const struct body_field f[] = {BODY_STRING(key, required, out)};
	char name[64];
	const char *field = key;
	if (prefix) {
		snprintf(name, sizeof(name), "%s.%s", prefix, key);
		field = name;
	}
	static const char untouched[] = "untouched";
	*out = untouched;
	int rc = body_read_in(b, obj, prefix, f, 1, err);
	size_t v = checked_get(b, obj, key);
	CHECK(rc == 0 || *out == untouched, "refused '%s' was written", field);
	if (v == BODY_ABSENT) {
		CHECK(rc == (required ? -1 : 0), "'%s' absent: rc %d", field, rc);
		if (rc == 0)
			CHECK(*out == NULL, "an absent '%s' was read", field);
		else
			CHECK(err->code == MEM_EMISSING_FIELD, "absent '%s': code %d", field,
			      err->code);
	} else if (b->doc.toks[v].type != JSON_TOK_STRING) {
		CHECK(rc == -1 && err->code == MEM_EINVALID_FIELD, "non-string '%s' read", field);
	} else {
		struct buf d = {0};
		int nul = decode(b, v, &d);
		buf_release(&d);
		CHECK(rc == (nul ? -1 : 0), "'%s' (NUL %d) read with rc %d", field, nul, rc);
		if (rc == 0)
			check_read_string(b, v, *out);
	}
	if (rc < 0)
		check_error(err, field);
	return rc;
}

static int rd_container(struct body *b, size_t obj, const char *key, bool required,
                        enum json_tok_type type, size_t *out, struct mem_error *err)
{
	const struct body_field f[] = {
	    type == JSON_TOK_OBJECT ? (struct body_field)BODY_OBJECT(key, required, out)
	                            : (struct body_field)BODY_ARRAY(key, required, out),
	};
	*out = BODY_ABSENT - 1;
	int rc = body_read(b, obj, f, 1, err);
	size_t v = checked_get(b, obj, key);
	CHECK(rc == 0 || *out == BODY_ABSENT - 1, "refused '%s' was written", key);
	if (v == BODY_ABSENT)
		CHECK(rc == (required ? -1 : 0) && (rc < 0 || *out == BODY_ABSENT),
		      "absent '%s': rc %d", key, rc);
	else
		CHECK(rc == (b->doc.toks[v].type == type ? 0 : -1) && (rc < 0 || *out == v),
		      "'%s' of type %d read as %d: rc %d", key, b->doc.toks[v].type, type, rc);
	if (rc < 0)
		check_error(err, key);
	return rc;
}

/* Child i of c through body_first / body_next (*cur: the child before it),
 * which must be the one the token links give: *walk holds it. */
static size_t checked_nth(const struct body *b, size_t c, size_t i, size_t *walk, size_t *cur)
{
	const struct json_tok *t = b->doc.toks;
	size_t k = i == 0 ? body_first(b, c) : body_next(b, c, *cur);
	*cur = k;
	CHECK(i < t[c].size, "child %zu of a %u-member container", i, t[c].size);
	CHECK(k == *walk, "child %zu of %zu is %zu, not %zu", i, c, k, *walk);
	CHECK(k < b->doc.ntoks && t[k].start > t[c].start && t[k].end < t[c].end,
	      "child %zu lies outside its container", k);
	*walk = t[c].type == JSON_TOK_OBJECT ? t[k + 1].next : t[k].next;
	return k;
}

static int rd_version(struct body *b, size_t tok, const char *field, const char **out,
                      struct mem_error *err)
{
	int rc = body_tok_version(b, tok, field, out, err);
	const struct json_tok *t = &b->doc.toks[tok];
	long long v;
	if (t->type == JSON_TOK_STRING) {
		struct buf d = {0};
		int nul = decode(b, tok, &d);
		buf_release(&d);
		CHECK(rc == (nul ? -1 : 0), "string version read with rc %d", rc);
		if (!rc)
			check_read_string(b, tok, *out);
	} else if (t->type == JSON_TOK_NUMBER && json_doc_integer(&b->doc, tok, &v) == 0) {
		/* any integral number (3, 3.0, 3e0), as JSON Schema's integer */
		char want[32];
		snprintf(want, sizeof(want), "%lld", v);
		CHECK(rc == 0 && !strcmp(*out, want), "integer version %lld read as %s", v,
		      rc ? "an error" : *out);
	} else {
		CHECK(rc == -1, "a version of type %d was read", t->type);
	}
	if (rc < 0)
		check_error(err, field);
	return rc;
}

static int rd_base64(struct body *b, size_t tok, const char *field, const unsigned char **data,
                     size_t *len, struct mem_error *err)
{
	int rc = body_tok_base64(b, tok, field, data, len, err);
	if (b->doc.toks[tok].type != JSON_TOK_STRING) {
		CHECK(rc == -1, "non-string base64 read");
	} else {
		struct buf d = {0}, enc = {0};
		(void)decode(b, tok, &d);
		if (rc == 0) {
			b64_encode(&enc, *data, *len);
			CHECK(same_bytes(enc.data, enc.len, d.data, d.len),
			      "base64 '%s' decodes to bytes that encode as '%s'", d.data, enc.data);
		} else {
			unsigned char *bytes;
			size_t n;
			CHECK(b64_decode(d.data ? d.data : "", d.len, &bytes, &n) == -1,
			      "body_tok_base64 refused base64 that b64_decode takes");
		}
		buf_release(&d);
		buf_release(&enc);
	}
	if (rc < 0)
		check_error(err, field);
	return rc;
}

/* Whitespace outside strings in JSON text s. */
static bool has_outer_ws(const char *s, size_t n)
{
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		if (in_str) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_str = false;
		} else if (s[i] == '"') {
			in_str = true;
		} else if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			return true;
		}
	}
	return false;
}

/* text is body_compact(tok, skip_key): check it against tok. */
static void check_compact(const struct body *b, size_t tok, const char *skip_key,
                          const struct buf *text)
{
	const struct json_tok *t = &b->doc.toks[tok];
	struct body again;
	struct mem_error err = {0};
	struct buf twice = {0};

	CHECK(text->data && !has_outer_ws(text->data, text->len),
	      "compact text has whitespace outside strings: %s", text->data);
	CHECK(body_parse(&again, text->data, text->len, &err) == 0,
	      "compact text is not a JSON object without duplicates (%s): %s", err.message,
	      text->data);
	size_t at, members = t->size;
	if (skip_key && json_doc_object_get(&b->doc, tok, skip_key, &at) == 0)
		members--; /* keys are unique: body_parse saw to it */
	CHECK(again.doc.toks[0].size == members, "compact text has %u members, not %zu",
	      again.doc.toks[0].size, members);
	body_compact(&again, 0, skip_key, &twice);
	CHECK(same_bytes(twice.data, twice.len, text->data, text->len),
	      "compacting twice changes the text: %s", twice.data);
	buf_release(&twice);
	body_release(&again);

	/* Meaning: jansson reads the same value, less skip_key. */
	json_error_t je_want, je_got;
	json_t *want =
	    json_loadb(b->doc.text + t->start, t->end - t->start, JSON_ALLOW_NUL, &je_want);
	json_t *got = json_loadb(text->data, text->len, JSON_ALLOW_NUL, &je_got);
	/* jansson cannot hold a NUL in an object key, nor an integer beyond
	 * long long or a real beyond double, all of which JSON allows: when
	 * skip_key dropped the only such value, one side reads and the other
	 * does not, and there is nothing to compare. */
	if (!want != !got) {
		const char *why = want ? je_got.text : je_want.text;
		CHECK(strstr(why, "NUL byte in object key") || strstr(why, "too big") ||
		          strstr(why, "overflow"),
		      "jansson reads one of the texts only: %s", why);
		json_decref(want);
		json_decref(got);
		return;
	}
	if (want && skip_key)
		json_object_del(want, skip_key);
	CHECK(!want || json_equal(want, got), "compact text means something else: %s", text->data);
	json_decref(want);
	json_decref(got);
}

/* What the service does next with an id: check it, and key-encode it. */
static void use_id(const char *s, bool allow_empty)
{
	struct mem_error err = {0};
	struct buf enc = {0};
	size_t n = strlen(s);
	if (id_check(s, n, ID_MAX_BYTES, allow_empty, "id", &err) < 0) {
		check_error(&err, "id");
		return;
	}
	key_encode(&enc, s, n);
	char *dec = key_decode(enc.data, enc.len);
	CHECK(dec && !strcmp(dec, s), "key_decode(key_encode('%s')) is '%s'", s, dec);
	free(dec);
	buf_release(&enc);
}

/* h_checkpoint_put's reading of the body. */
static void put_body(const char *text, size_t len)
{
	struct mem_error err = {0};
	struct body body;
	const char *thread_id, *ns, *checkpoint_id, *parent_id, *cid = NULL;
	const char **vchan = NULL, **vver = NULL;
	struct buf cp_text = {0}, md_text = {0};
	size_t checkpoint, metadata, jblobs, cv = BODY_ABSENT, walk, cur = 0;
	char name[64];

	int rc = body_parse(&body, text, len, &err);
	if (rc < 0) {
		check_error(&err, NULL);
		goto out;
	}
	CHECK(body.doc.toks[0].type == JSON_TOK_OBJECT, "a body that is not an object parsed");
	for (size_t i = 0; i < body.doc.ntoks; i++)
		CHECK(body.doc.toks[i].type != JSON_TOK_OBJECT ||
		          json_doc_has_duplicate_keys(&body.doc, i) == 0,
		      "a body with duplicate keys in token %zu parsed", i);
	if (rd_string(&body, 0, NULL, "thread_id", true, &thread_id, &err) < 0 ||
	    rd_string(&body, 0, NULL, "checkpoint_ns", false, &ns, &err) < 0 ||
	    rd_string(&body, 0, NULL, "checkpoint_id", true, &checkpoint_id, &err) < 0 ||
	    rd_string(&body, 0, NULL, "parent_checkpoint_id", false, &parent_id, &err) < 0 ||
	    rd_container(&body, 0, "checkpoint", true, JSON_TOK_OBJECT, &checkpoint, &err) < 0 ||
	    rd_container(&body, 0, "metadata", false, JSON_TOK_OBJECT, &metadata, &err) < 0 ||
	    rd_container(&body, 0, "blobs", false, JSON_TOK_ARRAY, &jblobs, &err) < 0)
		goto out;
	if (!ns)
		ns = "";
	size_t cid_tok = checked_get(&body, checkpoint, "id");
	if (cid_tok != BODY_ABSENT &&
	    (body_tok_string(&body, cid_tok, "checkpoint.id", &cid, &err) < 0 ||
	     strcmp(cid, checkpoint_id)))
		goto out; /* the handler answers "checkpoint.id must equal checkpoint_id" */
	if (cid)
		check_read_string(&body, cid_tok, cid);
	{
		/* a field of checkpoint, named by its path, as the handler reads it */
		const char *f = "checkpoint.channel_versions";
		const struct body_field fields[] = {
		    BODY_OBJECT("channel_versions", BODY_OPTIONAL, &cv),
		};
		rc = body_read_in(&body, checkpoint, "checkpoint", fields, 1, &err);
		size_t v = checked_get(&body, checkpoint, "channel_versions");
		CHECK(rc == (v == BODY_ABSENT || body.doc.toks[v].type == JSON_TOK_OBJECT ? 0 : -1),
		      "checkpoint.channel_versions read with rc %d", rc);
		if (rc < 0) {
			check_error(&err, f);
			goto out;
		}
	}
	size_t ncv = cv == BODY_ABSENT ? 0 : body.doc.toks[cv].size;
	vchan = calloc(ncv + 1, sizeof(*vchan));
	vver = calloc(ncv + 1, sizeof(*vver));
	CHECK(vchan && vver, "out of memory");
	walk = cv + 1;
	for (size_t i = 0; i < ncv; i++) {
		size_t k = checked_nth(&body, cv, i, &walk, &cur);
		rc = body_tok_string(&body, k, "checkpoint.channel_versions", &vchan[i], &err);
		if (rc < 0) {
			check_error(&err, "checkpoint.channel_versions");
			goto out;
		}
		check_read_string(&body, k, vchan[i]);
		if (rd_version(&body, k + 1, "checkpoint.channel_versions", &vver[i], &err) < 0)
			goto out;
	}
	size_t nb = jblobs == BODY_ABSENT ? 0 : body.doc.toks[jblobs].size;
	walk = jblobs + 1;
	for (size_t i = 0; i < nb; i++) {
		size_t o = checked_nth(&body, jblobs, i, &walk, &cur), t;
		const char *channel, *version, *type;
		const unsigned char *data;
		size_t dlen;
		if (body.doc.toks[o].type != JSON_TOK_OBJECT)
			goto out;
		snprintf(name, sizeof(name), "blobs[%zu]", i);
		if (rd_string(&body, o, name, "channel", true, &channel, &err) < 0)
			goto out;
		snprintf(name, sizeof(name), "blobs[%zu].version", i);
		t = checked_get(&body, o, "version");
		if (t == BODY_ABSENT)
			goto out;
		if (rd_version(&body, t, name, &version, &err) < 0)
			goto out;
		snprintf(name, sizeof(name), "blobs[%zu]", i);
		if (rd_string(&body, o, name, "type", true, &type, &err) < 0)
			goto out;
		snprintf(name, sizeof(name), "blobs[%zu].data", i);
		t = checked_get(&body, o, "data");
		if (t == BODY_ABSENT && !strcmp(type, "empty"))
			continue;
		if (t == BODY_ABSENT)
			goto out;
		if (rd_base64(&body, t, name, &data, &dlen, &err) < 0)
			goto out;
		use_id(channel, false);
		use_id(version, false);
		use_id(type, false);
	}
	body_compact(&body, checkpoint, "channel_values", &cp_text);
	check_compact(&body, checkpoint, "channel_values", &cp_text);
	if (metadata != BODY_ABSENT) {
		body_compact(&body, metadata, NULL, &md_text);
		check_compact(&body, metadata, NULL, &md_text);
	}
	use_id(thread_id, false);
	use_id(ns, true);
	use_id(checkpoint_id, false);
	if (parent_id)
		use_id(parent_id, false);
	for (size_t i = 0; i < ncv; i++) {
		use_id(vchan[i], false);
		use_id(vver[i], false);
	}
out:
	free(vchan);
	free(vver);
	buf_release(&cp_text);
	buf_release(&md_text);
	body_release(&body);
}

/* h_checkpoint_writes's reading of the body. */
static void writes_body(const char *text, size_t len)
{
	struct mem_error err = {0};
	struct body body;
	const char *ns, *checkpoint_id, *task_id, *task_path;
	size_t jw, walk, cur = 0;
	char name[48];

	if (body_parse(&body, text, len, &err) < 0) {
		check_error(&err, NULL);
		goto out;
	}
	if (rd_string(&body, 0, NULL, "checkpoint_ns", false, &ns, &err) < 0 ||
	    rd_string(&body, 0, NULL, "checkpoint_id", true, &checkpoint_id, &err) < 0 ||
	    rd_string(&body, 0, NULL, "task_id", true, &task_id, &err) < 0 ||
	    rd_string(&body, 0, NULL, "task_path", false, &task_path, &err) < 0 ||
	    rd_container(&body, 0, "writes", true, JSON_TOK_ARRAY, &jw, &err) < 0)
		goto out;
	size_t n = body.doc.toks[jw].size;
	walk = jw + 1;
	for (size_t i = 0; i < n; i++) {
		size_t o = checked_nth(&body, jw, i, &walk, &cur), t;
		const char *channel, *type;
		const unsigned char *data;
		size_t dlen;
		if (body.doc.toks[o].type != JSON_TOK_OBJECT)
			goto out;
		snprintf(name, sizeof(name), "writes[%zu]", i);
		if (rd_string(&body, o, name, "channel", true, &channel, &err) < 0 ||
		    rd_string(&body, o, name, "type", true, &type, &err) < 0)
			goto out;
		snprintf(name, sizeof(name), "writes[%zu].data", i);
		t = checked_get(&body, o, "data");
		if (t == BODY_ABSENT)
			goto out;
		if (rd_base64(&body, t, name, &data, &dlen, &err) < 0)
			goto out;
		use_id(channel, false);
		use_id(type, false);
	}
	use_id(ns ? ns : "", true);
	use_id(checkpoint_id, false);
	use_id(task_id, false);
	use_id(task_path ? task_path : "", true);
out:
	body_release(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	put_body((const char *)data, size);
	writes_body((const char *)data, size);
	return 0;
}
