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
  ["ready.json", { status: "ready", stores: { redis: { reachable: true, latency_ms: 0.31 } } }, true],
  ["ready.json", { status: "unavailable", reason: "redis: connection refused",
    stores: { redis: { reachable: false } } }, true],
  ["ready.json", { status: "unavailable", stores: { redis: { reachable: false } } }, false],
];
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
