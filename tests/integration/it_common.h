/* Shared helpers for memoryd integration tests: ids, Redis key names as the
 * contract lays them out, request builders, API wrappers and assertions. */
#ifndef MEMORYD_IT_COMMON_H
#define MEMORYD_IT_COMMON_H

#include <stddef.h>

#include <check.h>
#include <jansson.h>

#include "http.h"

/* ---- environment --------------------------------------------------- */

/* getenv() that fails the test when the variable is unset or empty. */
const char *it_require_env(const char *name);
/* KEY_PREFIX or "langgraph". */
const char *it_key_prefix(void);
/* CHECKPOINT_TTL_SECONDS or 86400. */
long it_configured_ttl(void);
/* MAX_BODY_BYTES or 8388608. */
long it_max_body_bytes(void);

/* ---- ids and keys --------------------------------------------------- */

/* prefix + 16 random hex chars (malloc'd). */
char *it_random_id(const char *prefix);
/* Checkpoint ids that sort in byte order with n: "1ef4f797-8335-6428-8001-%012d". */
char *it_cp_id(int n);

/* Contract key encoding: % : { } * ? [ ] \ and space -> %XX (uppercase). */
char *it_key_enc(const char *component);
/* "{<enc tenant>:<enc thread>}" */
char *it_tag(const char *tenant, const char *thread);
char *it_key_checkpoint(const char *tenant, const char *thread, const char *ns, const char *id);
char *it_key_checkpoints(const char *tenant, const char *thread, const char *ns);
char *it_key_blob(const char *tenant, const char *thread, const char *ns, const char *channel,
                  const char *version);
char *it_key_writes(const char *tenant, const char *thread, const char *ns, const char *id);
char *it_key_thread_keys(const char *tenant, const char *thread);
char *it_key_thread_ns(const char *tenant, const char *thread);
/* P:head:TAG:<ns>: "<generation>|<latest id>", validates cached latest tuples */
char *it_key_head(const char *tenant, const char *thread, const char *ns);
char *it_key_threads(const char *tenant);
/* P:thread:TAG:indexed: when the thread's entry in it_key_threads was last
 * written (ms; "0" before). */
char *it_key_thread_indexed(const char *tenant, const char *thread);
/* ms between refreshes of a thread's entry in it_key_threads (TTL / 10). */
long long it_index_every_ms(void);

/* Redis Cluster hash slot (CRC16/XMODEM of the hash tag, mod 16384). */
unsigned it_keyslot(const char *key, size_t len);

/* ---- request builders (all return new references) -------------------- */

/* {"channel":..,"version":<version, stolen>,"type":..,"data":b64(data)};
 * data == NULL omits "data" (use with type "empty"). */
json_t *it_blob(const char *channel, json_t *version, const char *type, const void *data,
                size_t len);
/* A LangGraph-like checkpoint object; channel_versions is stolen. */
json_t *it_checkpoint(const char *id, json_t *channel_versions);
/* POST /checkpoints body. ns / parent NULL: key omitted. checkpoint,
 * metadata, blobs are stolen; metadata / blobs NULL: key omitted. */
json_t *it_put_body(const char *thread, const char *ns, const char *id, const char *parent,
                    json_t *checkpoint, json_t *metadata, json_t *blobs);
/* {"channel":..,"type":..,"data":b64(data)} */
json_t *it_write(const char *channel, const char *type, const void *data, size_t len);
/* POST /checkpoints/{thread}/writes body; writes is stolen. */
json_t *it_writes_body(const char *ns, const char *cid, const char *task_id, const char *task_path,
                       json_t *writes);

/* "k1=v1&k2=v2" with values percent-encoded; arguments are key, value
 * pairs terminated by a NULL key. */
char *it_query(const char *k1, ...);

/* ---- API wrappers ---------------------------------------------------- */

/* The body is stolen. tenant NULL: no X-Tenant-Id header. */
it_response *it_put(const char *tenant, json_t *body);
/* Asserts 201 and the returned config. */
void it_put_ok(const char *tenant, json_t *body);
/* ns / id NULL: query parameter omitted. */
it_response *it_get(const char *tenant, const char *thread, const char *ns, const char *id);
/* Asserts 200 and returns the tuple (new reference). */
json_t *it_get_ok(const char *tenant, const char *thread, const char *ns, const char *id);
/* query may be NULL or "" (no query string). */
it_response *it_list(const char *tenant, const char *query);
/* Asserts 200 and returns the "checkpoints" array (new reference). */
json_t *it_list_ok(const char *tenant, const char *query);
/* The body is stolen. */
it_response *it_put_writes(const char *tenant, const char *thread, json_t *body);
void it_put_writes_ok(const char *tenant, const char *thread, json_t *body);
it_response *it_delete(const char *tenant, const char *thread);

/* ---- assertions ------------------------------------------------------- */

void it_expect_status(const it_response *r, long status);
/* X-Request-Id present in the response (and equal to `sent` when non-NULL). */
void it_expect_request_id(const it_response *r, const char *sent);
/* Error shape: status, error.code, error.message, error.request_id equal to
 * the X-Request-Id header, and error.field == field when field != NULL. */
void it_expect_error(const it_response *r, long status, const char *code, const char *field);
/* tuple.channel_values[channel] has this type and these exact bytes. */
void it_expect_channel_value(const json_t *tuple, const char *channel, const char *type,
                             const void *data, size_t len);
void it_expect_no_channel_value(const json_t *tuple, const char *channel);
/* tuple.config == {thread, ns, id} */
void it_expect_config(const json_t *config, const char *thread, const char *ns, const char *id);
/* String of tuple.config.checkpoint_id (borrowed). */
const char *it_tuple_id(const json_t *tuple);

#endif
