// Compiles every JSON Schema (draft 2020-12) in this folder with Ajv in strict
// mode, resolving the relative file $refs between them, then checks a few
// documents from the contract against them.
// Run: npm ci && node check.mjs   (exit 0 when everything compiles and checks)
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const here = dirname(fileURLToPath(import.meta.url));
// strictRequired is off: "if/then" adds "required" for properties declared
// beside the "if", which is the idiom it would reject.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
addFormats(ajv);

const files = readdirSync(here).filter((f) => f.endsWith(".json") &&
  !f.startsWith("package")).sort();
// Each schema is keyed by its file name, so "$ref": "typed-value.json#/..."
// resolves the way the OpenAPI document's file refs do.
for (const f of files) ajv.addSchema(JSON.parse(readFileSync(join(here, f), "utf8")), f);

let passed = 0, failed = 0;
function report(ok, what, detail) {
  if (ok) passed++;
  else { failed++; console.error(`FAIL ${what}${detail ? ": " + detail : ""}`); }
}

for (const f of files) {
  try { ajv.getSchema(f); report(true, f); }
  catch (e) { report(false, `compile ${f}`, e.message); }
}

const b64 = "eyJhIjoxfQ==";
const cfg = { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "1ef4f797-8335-6428-8001-8a1503f9b875" };
const routing = { primary: "redis", dual_write: false, changed_by: "config",
  since: "2026-12-04T01:20:00.000Z", reason: "" };
const tuple = {
  config: cfg, checkpoint: { v: 4, id: cfg.checkpoint_id, channel_versions: { messages: 3 } },
  channel_values: { messages: { type: "json", data: b64 } }, metadata: { source: "loop", step: 1 },
  parent_config: { ...cfg, checkpoint_id: "1ef4f797-0000" },
  pending_writes: [{ task_id: "task-1", task_path: "", channel: "foo", idx: -1, type: "json", data: b64 }],
};
// [schema, document, should it validate?]
const cases = [
  ["checkpoint-put-request.json", {
    thread_id: "t1", checkpoint_ns: "", checkpoint_id: cfg.checkpoint_id, parent_checkpoint_id: null,
    checkpoint: { v: 4, channel_versions: { messages: 3, foo: "00002.1" } }, metadata: { step: 1 },
    blobs: [{ channel: "messages", version: 3, type: "json", data: b64 },
            { channel: "foo", version: "00002.1", type: "empty" }] }, true],
  ["checkpoint-put-request.json", { thread_id: "", checkpoint_id: "c", checkpoint: {} }, false],
  ["checkpoint-put-request.json", { thread_id: "t\n", checkpoint_id: "c", checkpoint: {} }, false],
  ["checkpoint-put-request.json", { thread_id: "t", checkpoint_id: "c", checkpoint: {},
    blobs: [{ channel: "m", version: 1, type: "json" }] }, false],
  ["checkpoint-put-request.json", { thread_id: "t", checkpoint_id: "c", checkpoint: {},
    blobs: [{ channel: "m", version: 1.5, type: "json", data: "not base64!" }] }, false],
  ["checkpoint-put-response.json", { config: cfg }, true],
  ["checkpoint-tuple.json", tuple, true],
  ["checkpoint-list-response.json", { checkpoints: [tuple], truncated: false }, true],
  ["checkpoint-writes-request.json", { checkpoint_ns: "", checkpoint_id: "c", task_id: "task-1",
    task_path: "", writes: [{ channel: "foo", type: "json", data: b64 }] }, true],
  ["checkpoint-writes-response.json", { stored: 1 }, true],
  ["error.json", { error: { code: "invalid_field", message: "m", request_id: "r", field: "limit" } }, true],
  ["error.json", { error: { code: "missing_field", message: "m", request_id: "r" } }, false],
  ["health.json", { status: "ok" }, true],
  ["error.json", { error: { code: "unauthorized", message: "m", request_id: "r", field: "Authorization" } }, true],
  ["error.json", { error: { code: "forbidden", message: "m", request_id: "r", field: "X-Tenant-Id" } }, true],
  ["error.json", { error: { code: "conflict", message: "m", request_id: "r" } }, true],
  ["ready.json", { status: "ready", routing, stores: { redis: { reachable: true, latency_ms: 0.31,
    state: "connected", reconnect_attempts: 0 } } }, true],
  ["ready.json", { status: "ready", stores: { redis: { reachable: true, latency_ms: 0.31,
    state: "connected", reconnect_attempts: 0 } } }, false],
  ["ready.json", { status: "unavailable", reason: "redis: connection refused", routing,
    stores: { redis: { reachable: false, latency_ms: 0.2, state: "reconnecting", reconnect_attempts: 2,
      error: "connection refused" } } }, true],
  ["ready.json", { status: "unavailable", reason: "redis: connection refused",
    stores: { redis: { reachable: false, latency_ms: 0.2, state: "error", reconnect_attempts: 9 } } }, false],
  ["ready.json", { status: "unavailable", stores: { redis: { reachable: false, latency_ms: 0,
    state: "error", reconnect_attempts: 9, error: "e" } } }, false],
  ["ready.json", { status: "ready", stores: { redis: { reachable: true, latency_ms: 0.31 } } }, false],
  ["ready.json", { status: "ready", stores: {} }, false],
  ["admin-failover.json", { ...routing, auto: false, version: 0 }, true],
  ["admin-failover.json", { ...routing, primary: "mongo", auto: false, version: 0 }, false],
  ["admin-failover-request.json", { primary: "mongo" }, true],
  ["admin-failover-request.json", { dual_write: "yes" }, false],
  ["admin-failover-request.json", {}, false],
  ["health-memory.json", { healthy: true, connectionState: "connected", reconnectAttempts: 0,
    latencyMs: 0.4, primary: "redis", dual_write: false,
    stores: { redis: { reachable: true, latency_ms: 0.4 } },
    redis: { used_memory: 1048576, maxmemory: 0, maxmemory_policy: "allkeys-lru", evicted_keys: 0,
      rdb_last_save_age_seconds: -1, aof_enabled: false, reconnects: 0 },
    warnings: ["maxmemory-policy allkeys-lru can evict keys that have no TTL"] }, true],
  ["health-memory.json", { healthy: false, connectionState: "reconnecting", reconnectAttempts: 3,
    latencyMs: 0.1, primary: "redis", dual_write: false,
    stores: { redis: { reachable: false, latency_ms: 0.1, error: "connection refused" } },
    warnings: [] }, true],
  ["health-memory.json", { healthy: false, connectionState: "down", reconnectAttempts: 3,
    latencyMs: 0.1, primary: "redis", dual_write: false,
    stores: { redis: { reachable: false, latency_ms: 0.1 } }, warnings: [] }, false],
  ["admin-backup.json", { store: "redis", last_save: 1722456859, last_save_at: "2024-07-31T20:14:19Z" }, true],
  ["admin-backup.json", { store: "redis", last_save: 1722456859, last_save_at: "yesterday" }, false],
  ["admin-backup.json", { store: "redis", last_save_at: "2024-07-31T20:14:19Z" }, false],
  ["admin-ttl-repair.json", { scanned: 1284, fixed: 2 }, true],
  ["admin-ttl-repair.json", { scanned: 3, fixed: -1 }, false],
  ["admin-archive.json", { last_run: "2025-10-28T14:00:00+01:00", status: "healthy", checkpoints_archived: 12, messages_archived: 143, errors: 0, found: 12, left_changed: 0, duration_seconds: 0.4 }, true],
  ["admin-archive.json", { last_run: "2025-10-28T14:00:00Z", status: "healthy", checkpoints_archived: 1, messages_archived: 1, errors: 0 }, false],
  ["admin-archive.json", { last_run: "2025-10-28T14:00:00+01:00", status: "fine", checkpoints_archived: 1, messages_archived: 1, errors: 0 }, false],
  ["admin-thread.json", { tenant: "acme", thread_id: "t1", checkpoints: 1, writes: 1, bytes: 1040,
    keys: [{ key: "langgraph:checkpoint:{acme:t1}::1", type: "hash", ttl_ms: 86391042, bytes: 736 },
           { key: "langgraph:writes:{acme:t1}::1", type: "hash", ttl_ms: -1, bytes: -1 }] }, true],
  ["admin-thread.json", { tenant: "acme", thread_id: "t1", checkpoints: 0, writes: 0, bytes: 0,
    keys: [] }, false],
  ["admin-thread.json", { tenant: "acme", thread_id: "t\u0001", checkpoints: 1, writes: 0, bytes: 1,
    keys: [{ key: "k", type: "hash", ttl_ms: 1, bytes: 1 }] }, false],
  ["admin-thread.json", { tenant: "acme", thread_id: "t1", checkpoints: 1, writes: 0, bytes: 1,
    keys: [{ key: "k", type: "hash", ttl_ms: 1 }] }, false],
  ["admin-tenant-delete.json", { tenant: "acme", scanned: 412, deleted: 413 }, true],
  ["admin-tenant-delete.json", { tenant: "", scanned: 0, deleted: 0 }, false],
  ["error.json", { error: { code: "forbidden", message: "admin endpoints are disabled: ADMIN_TOKEN is not set",
    request_id: "r" } }, true],
  ["memory.json#/$defs/PutRequest", { namespace: ["governance", "decision"], key: "abc*1",
    value: { result: "approved" }, ttl_seconds: 3600 }, true],
  ["memory.json#/$defs/PutRequest", { namespace: [], key: "k", value: 1 }, false],
  ["memory.json#/$defs/PutRequest", { namespace: ["a"], key: "", value: 1 }, false],
  ["memory.json#/$defs/Item", { namespace: ["a"], key: "k", value: [1], version: "7",
    created_at: "2026-01-02T03:04:05.678Z", updated_at: "2026-01-02T03:04:05.678Z",
    expires_at: null }, true],
  ["memory.json#/$defs/SearchResponse", { items: [], next_cursor: null, truncated: false }, true],
  ["memory.json#/$defs/SearchResponse", { items: [], next_cursor: null }, false],
  ["memory.json#/$defs/BatchResponse", { results: [{ item: null }, { deleted: true },
    { deleted: 3 }, { namespaces: [["a", "b"]] },
    { error: { code: "invalid_field", message: "m", field: "namespace" } }], truncated: false },
    true],
  ["memory.json#/$defs/BatchResponse", { results: [{ item: 1 }], truncated: false }, false],
  ["error.json", { error: { code: "precondition_failed", message: "If-Match does not hold",
    request_id: "r", field: "If-Match" } }, true],
];
// /conversations
const convMsg = { seq: 1, id: "m-1", role: "user", content: "héllo", metadata: {},
  created_at: "2026-11-22T07:36:49.782Z" };
const conv = { conversation_id: "c1", customer_id: "cust-1", metadata: { topic: "tea" },
  created_at: "2026-11-22T07:36:49.782Z", updated_at: "2026-11-22T07:36:50.455Z",
  message_count: 2, first_seq: 1, ttl_seconds: 2592000, stores: ["redis"] };
cases.push(
  ["conversation-append-request.json", { customer_id: "cust-1", expected_seq: 0,
    messages: [{ role: "user", content: "hi", id: "m-1", metadata: { lang: "en" } }] }, true],
  ["conversation-append-request.json", { messages: [] }, false],
  ["conversation-append-request.json", { messages: [{ role: "wizard", content: "x" }] }, false],
  ["conversation-append-request.json", { expected_seq: -1, messages: [{ role: "user", content: "x" }] }, false],
  ["conversation-append-response.json", { conversation_id: "c1", created: true, msg_count_before: 0,
    message_count: 1, last_seq: 1, stored: 1, messages: [{ seq: 1, id: null, duplicate: false }] }, true],
  ["conversation-messages.json", { conversation_id: "c1", messages: [convMsg], first_seq: 1,
    last_seq: 1, prev_cursor: null, next_cursor: "6d3a613a31", truncated: false }, true],
  ["conversation-messages.json", { conversation_id: "c1", messages: [{ ...convMsg, seq: 0 }],
    first_seq: 1, last_seq: 1, prev_cursor: null, next_cursor: null, truncated: false }, false],
  ["conversation-messages.json", { conversation_id: "c1", messages: [convMsg], first_seq: 1,
    last_seq: 1, prev_cursor: null, next_cursor: null }, false],
  ["conversation.json", conv, true],
  ["conversation.json", { ...conv, stores: ["mongo"] }, false],
  ["conversation-update-request.json", { customer_id: null }, true],
  ["conversation-update-request.json", {}, false],
  ["conversation-list-response.json", { conversations: [conv], next_cursor: null }, true],
);
for (const [schema, doc, want] of cases) {
  let validate;
  try { validate = ajv.getSchema(schema); } catch { validate = undefined; }
  if (!validate) { report(false, `${schema} does not compile`); continue; }
  const got = validate(doc);
  report(got === want, `${schema} ${JSON.stringify(doc).slice(0, 60)}`,
    got ? "validated but should not" : ajv.errorsText(validate.errors));
}

console.log(`schemas: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
