// Validates every HTTP exchange the integration tests logged (MEMORYD_RESPONSE_LOG,
// one JSON line each: method, path, query, status, content_type, headers, body)
// against openapi.yaml and the JSON Schemas (draft 2020-12) in schemas/.
//
// For each exchange: the operation (method + path template; percent-encoded
// segments), the response object for the status (or "default"), its required
// headers, the content type and the body's schema; an empty body only where the
// response declares no content. A path the spec does not declare must be a 404
// with an Error body; a method a declared path does not take, the 405 its
// operations declare.
// Coverage: every operation must have been answered (and validated) at least one
// 2xx and one 4xx when it declares them (a 405 for another method on its path
// counts as its 405).
//
// Usage: node tests/contract/validate.mjs [--spec openapi.yaml] LOG...
// Exit 0 when every exchange validates and coverage is complete, 1 otherwise,
// 2 on a usage error. Dependencies come from schemas/node_modules (npm ci there).
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const schemasDir = join(root, "schemas");
const require = createRequire(join(schemasDir, "package.json"));
const Ajv2020 = require("ajv/dist/2020.js");
const addFormats = require("ajv-formats");
const YAML = require("yaml");

// ---- arguments ----------------------------------------------------------------
let specPath = join(root, "openapi.yaml");
const logs = [];
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === "--spec") specPath = resolve(process.argv[++i] ?? "");
  else if (a.startsWith("-")) usage(`unknown option ${a}`);
  else logs.push(a);
}
if (logs.length === 0) usage("no log file given");

function usage(msg) {
  console.error(`validate.mjs: ${msg}\nusage: node validate.mjs [--spec openapi.yaml] LOG...`);
  process.exit(2);
}

// ---- the API description --------------------------------------------------------
const spec = YAML.parse(readFileSync(specPath, "utf8"));
const specDir = dirname(specPath);

// Same set-up as schemas/check.mjs: every schema keyed by its file name, so the
// relative file $refs between them resolve. OpenAPI 3.1's schema dialect adds
// a few annotation keywords Ajv's strict mode would otherwise reject.
const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true });
addFormats(ajv);
ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
for (const f of readdirSync(schemasDir).filter((f) => f.endsWith(".json") &&
  !f.startsWith("package")).sort()) {
  ajv.addSchema(JSON.parse(readFileSync(join(schemasDir, f), "utf8")), f);
}

// A JSON pointer into the OpenAPI document ("#/components/responses/X").
function pointer(ref) {
  if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
  let node = spec;
  for (const raw of ref.slice(2).split("/")) {
    const key = decodeURIComponent(raw).replace(/~1/g, "/").replace(/~0/g, "~");
    if (node === null || typeof node !== "object" || !(key in node)) {
      throw new Error(`dangling $ref ${ref}`);
    }
    node = node[key];
  }
  return node;
}

// Follows document-internal $refs of a non-schema object (response, header, ...).
function deref(obj) {
  const seen = new Set();
  while (obj && typeof obj === "object" && typeof obj.$ref === "string") {
    if (seen.has(obj.$ref)) throw new Error(`$ref cycle at ${obj.$ref}`);
    seen.add(obj.$ref);
    obj = pointer(obj.$ref);
  }
  return obj;
}

// Rewrites a schema taken from openapi.yaml so Ajv can compile it beside the
// schemas/ files: "./schemas/x.json#/..." becomes "x.json#/...", and
// "#/components/schemas/X" is inlined.
function schemaFor(node, where) {
  const walk = (n) => {
    if (Array.isArray(n)) return n.map(walk);
    if (n === null || typeof n !== "object") return n;
    const out = {};
    for (const [k, v] of Object.entries(n)) {
      if (k === "$ref" && typeof v === "string") {
        if (v.startsWith("#/")) return walk(pointer(v));
        const abs = resolve(specDir, v.split("#")[0]);
        if (dirname(abs) !== schemasDir) throw new Error(`${where}: $ref ${v} is outside schemas/`);
        out.$ref = abs.slice(schemasDir.length + 1) + (v.includes("#") ? "#" + v.split("#")[1] : "");
      } else {
        out[k] = walk(v);
      }
    }
    return out;
  };
  return walk(node);
}

const compiled = new Map();
let schemaSeq = 0;
function validatorFor(schemaNode, where) {
  if (compiled.has(schemaNode)) return compiled.get(schemaNode);
  const s = schemaFor(schemaNode, where);
  // An $id in the same (relative) base as the schemas/ files, for their $refs.
  const v = ajv.compile({ ...s, $id: `openapi-${++schemaSeq}.json` });
  compiled.set(schemaNode, v);
  return v;
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const paths = []; // { template, segs, item, ops: Map(METHOD -> op) }
for (const [template, rawItem] of Object.entries(spec.paths ?? {})) {
  const item = deref(rawItem);
  const ops = new Map();
  for (const m of METHODS) {
    if (item[m]) ops.set(m.toUpperCase(), { method: m.toUpperCase(), template, op: item[m],
      id: item[m].operationId ?? `${m.toUpperCase()} ${template}` });
  }
  paths.push({ template, segs: template.split("/").slice(1), ops });
}

// ---- matching -------------------------------------------------------------------
function matchPath(rawPath) {
  const segs = rawPath.split("/").slice(1);
  for (const p of paths) {
    if (p.segs.length !== segs.length) continue;
    let ok = true;
    for (let i = 0; i < segs.length && ok; i++) {
      const t = p.segs[i];
      if (/^\{[^}]+\}$/.test(t)) ok = segs[i].length > 0; // one non-empty segment
      else ok = t === segs[i];
    }
    if (ok) return p;
  }
  return null;
}

function responseFor(op, status) {
  const rs = op.op.responses ?? {};
  const exact = rs[String(status)] ?? rs[`${String(status)[0]}XX`] ?? rs.default;
  return exact === undefined ? null : deref(exact);
}

const mediaType = (ct) => (ct ?? "").split(";")[0].trim().toLowerCase();

function header(ex, name) {
  const h = ex.headers ?? {};
  const k = Object.keys(h).find((x) => x.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : h[k];
}

// Checks one exchange against one response object; returns a list of problems.
function checkResponse(ex, resp, where) {
  const problems = [];
  for (const [name, rawH] of Object.entries(resp.headers ?? {})) {
    if (name.toLowerCase() === "content-type") continue;
    const h = deref(rawH);
    const v = header(ex, name);
    if (v === undefined) {
      if (h.required) problems.push(`header ${name} is required but absent`);
      continue;
    }
    if (h.schema) {
      const validate = validatorFor(h.schema, `${where} header ${name}`);
      const types = [].concat(h.schema.type ?? []);
      const value = (types.includes("integer") || types.includes("number")) &&
        /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
      if (!validate(value)) {
        problems.push(`header ${name}: ${JSON.stringify(v)} ${ajv.errorsText(validate.errors, { dataVar: name })}`);
      }
    }
  }
  const content = resp.content ?? {};
  const declared = Object.keys(content);
  const body = ex.body ?? "";
  if (ex.body_utf8 === false) {
    problems.push("the body is not valid UTF-8 text");
    return problems;
  }
  if (declared.length === 0) {
    if (body.length) problems.push(`a body where the spec declares none: ${body.slice(0, 120)}`);
    return problems;
  }
  if (ex.method === "HEAD") return problems;
  if (!body.length) {
    problems.push(`an empty body where the spec declares ${declared.join(", ")}`);
    return problems;
  }
  const got = mediaType(ex.content_type);
  const mt = declared.find((d) => d.toLowerCase() === got) ??
    declared.find((d) => d.endsWith("/*") && got.startsWith(d.slice(0, -1)));
  if (mt === undefined) {
    problems.push(`Content-Type ${JSON.stringify(ex.content_type ?? null)} is not one of ${declared.join(", ")}`);
    return problems;
  }
  if (!content[mt].schema) return problems;
  let doc = body; // a non-JSON media type is validated as the string it is
  if (/^application\/(.+\+)?json$/.test(mt.toLowerCase())) {
    try {
      doc = JSON.parse(body);
    } catch (e) {
      problems.push(`the body is not JSON (${e.message}): ${body.slice(0, 120)}`);
      return problems;
    }
  }
  const validate = validatorFor(content[mt].schema, `${where} ${mt}`);
  if (!validate(doc)) {
    for (const e of validate.errors) {
      problems.push(`body${e.instancePath || ""} ${e.message}` +
        (e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : "") +
        ` (schema ${e.schemaPath})`);
    }
  }
  return problems;
}

// The Error body every error answer carries, for answers outside any operation.
const errorResponse = {
  headers: { "X-Request-Id": { required: true, schema: { type: "string", minLength: 1 } } },
  content: { "application/json": { schema: { $ref: "./schemas/error.json" } } },
};

// ---- the log --------------------------------------------------------------------
const exchanges = [];
let badLines = 0;
for (const file of logs) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    console.log(`FAIL cannot read ${file}: ${e.message}`);
    badLines++;
    continue;
  }
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    try {
      const ex = JSON.parse(line);
      if (typeof ex.method !== "string" || typeof ex.path !== "string" ||
          !Number.isInteger(ex.status)) throw new Error("method, path or status missing");
      exchanges.push(ex);
    } catch (e) {
      console.log(`FAIL ${file}:${i + 1}: not an exchange line (${e.message})`);
      badLines++;
    }
  });
}

// coverage: operation id -> { op, seen: Map(status label -> count) }
const coverage = new Map();
for (const p of paths) for (const op of p.ops.values()) coverage.set(op.id, { op, seen: new Map() });
const credit = (op, label) => {
  const c = coverage.get(op.id);
  c.seen.set(label, (c.seen.get(label) ?? 0) + 1);
};

let passed = 0, failed = badLines;
const failures = new Map(); // one group per (what, problem), with a count and an example
let outside = 0;
for (const ex of exchanges) {
  const label = `${ex.method} ${ex.path}${ex.query != null ? "?" + ex.query : ""} -> ${ex.status}`;
  let problems = [];
  let where;
  const credits = []; // [operation, status label], kept only when the exchange validates
  const p = matchPath(ex.path);
  if (p === null) {
    where = "(no path in openapi.yaml)";
    outside++;
    if (ex.status !== 404) problems.push(`status ${ex.status} for a path openapi.yaml does not declare (expected 404)`);
    else problems = checkResponse(ex, errorResponse, where);
  } else {
    const op = p.ops.get(ex.method) ?? (ex.method === "HEAD" ? p.ops.get("GET") : undefined);
    if (op) {
      where = `${op.id} (${op.method} ${p.template})`;
      credits.push([op, String(ex.status)]);
      const resp = responseFor(op, ex.status);
      if (resp === null) problems.push(`status ${ex.status} is not declared (declared: ${Object.keys(op.op.responses ?? {}).join(", ")})`);
      else problems = checkResponse(ex, resp, where);
    } else {
      // A method the path does not take: the 405 its operations declare.
      where = `${ex.method} ${p.template} (no such operation)`;
      const withNA = [...p.ops.values()].filter((o) => (o.op.responses ?? {})["405"] !== undefined);
      if (ex.status !== 405) problems.push(`status ${ex.status} for a method ${p.template} does not take (expected 405)`);
      else if (withNA.length === 0) problems.push(`405 is not declared by any operation of ${p.template}`);
      else {
        for (const o of withNA) credits.push([o, "405*"]);
        problems = checkResponse(ex, responseFor(withNA[0], 405), where);
      }
    }
  }
  if (problems.length === 0) {
    for (const [o, l] of credits) credit(o, l);
    passed++;
    continue;
  }
  failed++;
  for (const pr of problems) {
    const key = `${where} status ${ex.status}: ${pr}`;
    const g = failures.get(key) ?? { n: 0, example: label, body: ex.body };
    g.n++;
    failures.set(key, g);
  }
}

// ---- report ---------------------------------------------------------------------
if (failures.size) {
  console.log(`\nMISMATCHES (${failures.size} distinct, grouped):`);
  for (const [key, g] of failures) {
    console.log(`FAIL ${key}\n     ${g.n}x, e.g. ${g.example}${g.body ? "  body: " + g.body.slice(0, 200) : ""}`);
  }
}

let gaps = 0;
console.log("\nCOVERAGE (statuses of the exchanges that validated; 405* = a 405 for another method on the path):");
const rows = [["operation", "method path", "declared", "seen", "2xx", "4xx"]];
for (const { op, seen } of coverage.values()) {
  const declared = Object.keys(op.op.responses ?? {});
  const labels = [...seen.keys()].sort();
  const has = (d) => labels.some((l) => l[0] === d);
  const want = (d) => declared.some((s) => s[0] === d || s === "default");
  const c2 = !want("2") ? "n/a" : has("2") ? "ok" : "MISSING";
  const c4 = !want("4") ? "n/a" : has("4") ? "ok" : "MISSING";
  if (c2 === "MISSING" || c4 === "MISSING") gaps++;
  rows.push([op.id, `${op.method} ${op.template}`, declared.join(","),
    labels.map((l) => `${l}x${seen.get(l)}`).join(" ") || "-", c2, c4]);
}
const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const r of rows) console.log("  " + r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd());
const unseen = [];
for (const { op, seen } of coverage.values()) {
  for (const s of Object.keys(op.op.responses ?? {})) {
    if (![...seen.keys()].some((l) => l.replace("*", "") === s)) unseen.push(`${op.id} ${s}`);
  }
}
if (unseen.length) console.log(`  declared but never answered and validated (informational): ${unseen.join(", ")}`);
if (outside) console.log(`  ${outside} exchange(s) to paths outside openapi.yaml checked as 404 + Error`);

if (exchanges.length === 0) console.log("\nFAIL no exchanges were logged");
if (gaps) console.log(`\nFAIL ${gaps} operation(s) lack a 2xx or 4xx answer the spec declares`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed || gaps || exchanges.length === 0 ? 1 : 0);
