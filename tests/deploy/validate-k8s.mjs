// Validates the output of `kubectl kustomize` for k8s/base and each overlay.
//
// Usage: node validate-k8s.mjs --readme README.md [--self-contained NAME]... NAME=FILE ...
//   --self-contained NAME: in build NAME, every host memoryd is given (REDIS_URL and
//   DATABASE_URL of its Secret, every host of a several-host DATABASE_URL, and
//   REDIS_CLUSTER_NODES and REDIS_SENTINELS of its ConfigMap) must name a Service of that
//   same build with that port, or a pod of one of its StatefulSets through the StatefulSet's
//   headless Service (name-N.service, N below its replicas).
//
// For every object of every build:
//   1. schema: kubernetes-models@4 validates it (types, required fields, enums, formats);
//   2. unknown fields: any field the Kubernetes API type does not have (kubectl's
//      --validate=strict refuses them; kubernetes-models lets them through), found by
//      walking the object along kubernetes-models' own type declarations;
//   3. the Prometheus Operator's ServiceMonitor and PrometheusRule, which kubernetes-models
//      does not cover, are checked here for their shape and known fields, and PromQL
//      expressions may only name the metrics memoryd exports.
// Then across the objects of a build: selectors, names and ports refer to what exists,
// memoryd's ConfigMap and Secret hold only variables memoryd reads (README.md's table)
// with values it accepts, and the memoryd Deployment keeps what issue 8 asks of it
// (probes, security context, grace period, scrape annotations, ...).
// Prints one line per problem and exits 1 if there is any.
import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { parseAllDocuments } from "yaml";

const require = createRequire(import.meta.url);
const MODELS_DIR = path.dirname(require.resolve("kubernetes-models/package.json"));
const NODE_MODULES = path.dirname(MODELS_DIR);

// Metric names fixed by the project (plus Prometheus' own `up`).
const METRICS = new Set([
  "redis_up",
  "history_persist_errors_total",
  "dual_write_errors_total",
  "http_requests_total",
  "archiver_last_run_timestamp_seconds",
  "archiver_last_run_healthy",
  "up",
]);
// API versions kubernetes-models still has but Kubernetes 1.26+ no longer serves.
const REMOVED_APIS = new Set(["extensions/v1beta1", "apps/v1beta1", "apps/v1beta2", "policy/v1beta1",
  "autoscaling/v2beta1", "autoscaling/v2beta2", "networking.k8s.io/v1beta1", "batch/v1beta1",
  "rbac.authorization.k8s.io/v1beta1", "storage.k8s.io/v1beta1"]);
// Variables that belong in the Secret, never in the ConfigMap.
const SECRET_VARS = new Set(["REDIS_URL", "REDIS_PASSWORD", "DATABASE_URL", "API_TOKENS", "ADMIN_TOKEN"]);

const problems = [];
const problem = (where, msg) => problems.push(`${where}: ${msg}`);

// ------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------
let readmePath = null;
const selfContained = new Set();
const builds = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === "--readme") readmePath = argv[++i];
  else if (a === "--self-contained") selfContained.add(argv[++i]);
  else if (a.includes("=")) {
    const [name, file] = [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)];
    builds.push({ name, file });
  } else {
    console.error(`validate-k8s: unknown argument ${a}`);
    process.exit(2);
  }
}
if (!readmePath || builds.length === 0) {
  console.error("usage: node validate-k8s.mjs --readme README.md [--self-contained NAME]... NAME=FILE ...");
  process.exit(2);
}
for (const b of builds) b.selfContained = selfContained.has(b.name);
for (const n of selfContained) {
  if (!builds.some((b) => b.name === n)) problem(n, "--self-contained names no build");
}

// README.md's configuration table: | `NAME` | default | accepts | meaning |
// CONFIG: name -> the "Accepts" column; DEFAULTS: name -> the default ("" when unset).
const CONFIG = new Map();
const DEFAULTS = new Map();
for (const line of readFileSync(readmePath, "utf8").split("\n")) {
  const m = /^\| `([A-Z0-9_]+)` \| ([^|]*) \| ([^|]*) \|/.exec(line);
  if (!m) continue;
  CONFIG.set(m[1], m[3].trim());
  DEFAULTS.set(m[1], /^`(.*)`$/.exec(m[2].trim())?.[1] ?? "");
}
if (CONFIG.size === 0) {
  console.error(`validate-k8s: no configuration table in ${readmePath}`);
  process.exit(2);
}

function acceptsValue(accepts, value) {
  let m;
  if ((m = /^(\d+)\.\.(\d+)$/.exec(accepts))) {
    if (!/^\d+$/.test(value)) return false;
    const n = Number(value);
    return n >= Number(m[1]) && n <= Number(m[2]);
  }
  if (accepts === "string") return true;
  return accepts.split(",").map((s) => s.trim()).includes(value);
}

// ------------------------------------------------------------------------------------------
// 1. kubernetes-models
// ------------------------------------------------------------------------------------------
async function modelClass(apiVersion, kind) {
  if (!/^[a-z0-9.]+(\/[a-z0-9]+)?$/.test(apiVersion)) return null;
  if (!existsSync(path.join(MODELS_DIR, apiVersion, `${kind}.d.ts`))) return null;
  const mod = await import(`kubernetes-models/${apiVersion}`);
  return mod[kind] ?? null;
}

// ------------------------------------------------------------------------------------------
// 2. Unknown fields, along kubernetes-models' .d.ts declarations
// ------------------------------------------------------------------------------------------
const ifaceCache = new Map();

function resolveImport(fromFile, spec) {
  if (spec.startsWith(".")) return path.resolve(path.dirname(fromFile), `${spec}.d.ts`);
  return path.join(NODE_MODULES, `${spec}.d.ts`);
}

// The first `export interface` of a declaration file: property name -> type text.
// Returns null for type aliases (IntOrString, Quantity, Time...): leaves.
function loadInterface(file) {
  if (ifaceCache.has(file)) return ifaceCache.get(file);
  let result = null;
  if (existsSync(file)) {
    const src = readFileSync(file, "utf8");
    const imports = new Map();
    for (const m of src.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
      imports.set(m[1], resolveImport(file, m[2]));
    }
    const lines = src.split("\n");
    const start = lines.findIndex((l) => /^export interface \w+( extends [^{]+)? \{$/.test(l));
    if (start >= 0) {
      const props = new Map();
      for (let i = start + 1; i < lines.length && lines[i] !== "}"; i++) {
        const l = lines[i];
        if (/^\s*(\/\*\*|\*)/.test(l)) continue;
        const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(l);
        if (!m) continue;
        let type = m[2];
        if (type.endsWith("{")) {
          // Multi-line inline type: collect up to the closing line at the same indent.
          while (++i < lines.length && !/^ {4}\}/.test(lines[i])) type += ` ${lines[i].trim()}`;
          type += ` ${(lines[i] ?? "").trim()}`;
        }
        props.set(m[1], type.trim().replace(/;$/, ""));
      }
      result = { props, imports };
    }
  }
  ifaceCache.set(file, result);
  return result;
}

// Shape of a type text: { iface: file } | { array: shape } | { map: shape } | null (leaf).
function shapeOf(type, imports) {
  let m;
  if ((m = /^Array<(.*)>$/.exec(type))) {
    const inner = shapeOf(m[1], imports);
    return inner && { array: inner };
  }
  if ((m = /^\{ \[key: string\]: (.*); \}$/.exec(type))) {
    const inner = shapeOf(m[1], imports);
    return inner && { map: inner };
  }
  if (/^I\w+$/.test(type) && imports.has(type)) return { iface: imports.get(type) };
  return null;
}

function walkUnknown(value, shape, where, report) {
  if (!shape || value === null || value === undefined) return;
  if (shape.array) {
    if (Array.isArray(value)) value.forEach((v, i) => walkUnknown(v, shape.array, `${where}[${i}]`, report));
    return;
  }
  if (shape.map) {
    if (typeof value === "object" && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) walkUnknown(v, shape.map, `${where}.${k}`, report);
    }
    return;
  }
  const iface = loadInterface(shape.iface);
  if (!iface || typeof value !== "object" || Array.isArray(value)) return;
  for (const [k, v] of Object.entries(value)) {
    if (!iface.props.has(k)) {
      report(`${where}.${k}: unknown field`);
      continue;
    }
    walkUnknown(v, shapeOf(iface.props.get(k), iface.imports), `${where}.${k}`, report);
  }
}

// ------------------------------------------------------------------------------------------
// 3. Prometheus Operator objects
// ------------------------------------------------------------------------------------------
const DURATION = /^(\d+(ms|s|m|h|d|w|y))+$/;
const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const isStringMap = (v) => isObject(v) && Object.values(v).every((x) => typeof x === "string");

function onlyKeys(obj, allowed, where, report) {
  for (const k of Object.keys(obj)) if (!allowed.includes(k)) report(`${where}.${k}: unknown field`);
}

function checkCrdCommon(obj, report) {
  onlyKeys(obj, ["apiVersion", "kind", "metadata", "spec"], "", report);
  if (!isObject(obj.metadata) || typeof obj.metadata.name !== "string" || !obj.metadata.name) {
    report("metadata.name: required");
  }
  if (isObject(obj.metadata)) {
    walkUnknown(obj.metadata, { iface: path.join(NODE_MODULES, "@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta.d.ts") }, "metadata", report);
  }
  if (!isObject(obj.spec)) report("spec: required object");
}

function checkLabelSelector(sel, where, report) {
  if (!isObject(sel)) return report(`${where}: required object`);
  onlyKeys(sel, ["matchLabels", "matchExpressions"], where, report);
  if (sel.matchLabels !== undefined && !isStringMap(sel.matchLabels)) report(`${where}.matchLabels: must map strings to strings`);
}

function checkServiceMonitor(obj, report) {
  checkCrdCommon(obj, report);
  const spec = obj.spec;
  if (!isObject(spec)) return;
  onlyKeys(spec, ["attachMetadata", "endpoints", "jobLabel", "namespaceSelector", "podTargetLabels", "sampleLimit",
    "selector", "targetLabels", "targetLimit", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
    "keepDroppedTargets", "scrapeProtocols", "scrapeClass", "bodySizeLimit", "fallbackScrapeProtocol"], "spec", report);
  checkLabelSelector(spec.selector, "spec.selector", report);
  if (!Array.isArray(spec.endpoints) || spec.endpoints.length === 0) return report("spec.endpoints: required non-empty list");
  spec.endpoints.forEach((ep, i) => {
    const w = `spec.endpoints[${i}]`;
    if (!isObject(ep)) return report(`${w}: must be an object`);
    onlyKeys(ep, ["port", "targetPort", "path", "scheme", "params", "interval", "scrapeTimeout", "tlsConfig",
      "bearerTokenFile", "bearerTokenSecret", "authorization", "honorLabels", "honorTimestamps", "trackTimestampsStaleness",
      "basicAuth", "oauth2", "metricRelabelings", "relabelings", "proxyUrl", "followRedirects", "enableHttp2",
      "filterRunning"], w, report);
    if (typeof ep.port !== "string" && ep.targetPort === undefined) report(`${w}: needs port (a Service port name) or targetPort`);
    if (ep.path !== undefined && !(typeof ep.path === "string" && ep.path.startsWith("/"))) report(`${w}.path: must start with /`);
    for (const f of ["interval", "scrapeTimeout"]) {
      if (ep[f] !== undefined && !(typeof ep[f] === "string" && DURATION.test(ep[f]))) report(`${w}.${f}: not a duration`);
    }
    if (ep.scheme !== undefined && !["http", "https"].includes(ep.scheme)) report(`${w}.scheme: must be http or https`);
  });
}

// Metric names of a PromQL expression: identifiers that are not functions, keywords,
// label names, label values or durations.
const PROMQL_KEYWORDS = new Set(["and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
  "group_right", "bool", "offset", "inf", "nan"]);
function promqlMetrics(expr) {
  const s = expr
    .replace(/"(\\.|[^"\\])*"|'(\\.|[^'\\])*'/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ");
  const names = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const rest = s.slice(m.index + m[0].length);
    if (/^\s*\(/.test(rest)) continue; // function call or aggregation
    if (PROMQL_KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

function balanced(expr) {
  const pairs = { ")": "(", "]": "[", "}": "{" };
  const stack = [];
  for (const c of expr.replace(/"(\\.|[^"\\])*"/g, '""')) {
    if ("([{".includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) return false;
  }
  return stack.length === 0;
}

function checkPrometheusRule(obj, report) {
  checkCrdCommon(obj, report);
  const spec = obj.spec;
  if (!isObject(spec)) return;
  onlyKeys(spec, ["groups"], "spec", report);
  if (!Array.isArray(spec.groups) || spec.groups.length === 0) return report("spec.groups: required non-empty list");
  const groupNames = new Set();
  spec.groups.forEach((g, gi) => {
    const gw = `spec.groups[${gi}]`;
    if (!isObject(g)) return report(`${gw}: must be an object`);
    onlyKeys(g, ["name", "interval", "rules", "partial_response_strategy", "limit", "query_offset", "labels"], gw, report);
    if (typeof g.name !== "string" || !g.name) report(`${gw}.name: required`);
    else if (groupNames.has(g.name)) report(`${gw}.name: duplicate group ${g.name}`);
    groupNames.add(g.name);
    if (g.interval !== undefined && !DURATION.test(String(g.interval))) report(`${gw}.interval: not a duration`);
    if (!Array.isArray(g.rules) || g.rules.length === 0) return report(`${gw}.rules: required non-empty list`);
    g.rules.forEach((r, ri) => {
      const rw = `${gw}.rules[${ri}]`;
      if (!isObject(r)) return report(`${rw}: must be an object`);
      onlyKeys(r, ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"], rw, report);
      if ((r.alert === undefined) === (r.record === undefined)) report(`${rw}: needs exactly one of alert and record`);
      if (r.record !== undefined && r.annotations !== undefined) report(`${rw}: a recording rule has no annotations`);
      if (typeof r.expr !== "string" || !r.expr.trim()) return report(`${rw}.expr: required string`);
      if (!balanced(r.expr)) report(`${rw}.expr: unbalanced brackets`);
      for (const name of promqlMetrics(r.expr)) {
        if (!METRICS.has(name)) report(`${rw}.expr: unknown metric ${name} (memoryd exports ${[...METRICS].join(", ")})`);
      }
      for (const f of ["for", "keep_firing_for"]) {
        if (r[f] !== undefined && !(typeof r[f] === "string" && DURATION.test(r[f]))) report(`${rw}.${f}: not a duration`);
      }
      for (const f of ["labels", "annotations"]) {
        if (r[f] !== undefined && !isStringMap(r[f])) report(`${rw}.${f}: must map strings to strings`);
      }
    });
  });
}

const CRD_CHECKS = {
  "monitoring.coreos.com/v1/ServiceMonitor": checkServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": checkPrometheusRule,
};

// ------------------------------------------------------------------------------------------
// Per-build checks across objects
// ------------------------------------------------------------------------------------------
const labelsMatch = (sel, labels) =>
  isObject(sel) && Object.entries(sel).every(([k, v]) => labels?.[k] === v);
const normalize = (s) => String(s ?? "").replace(/\s+/g, " ").trim();

function checkBuild(build, objs) {
  const where = (o) => `${build.name}: ${o.kind}/${o.metadata?.name}`;
  const byKind = (kind) => objs.filter((o) => o.kind === kind);
  const find = (kind, name) => objs.find((o) => o.kind === kind && o.metadata?.name === name);
  const workloads = objs.filter((o) => ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind));
  const podLabels = (w) => w.spec?.template?.metadata?.labels ?? {};
  const containers = (w) => w.spec?.template?.spec?.containers ?? [];
  const selected = (sel) => workloads.filter((w) => labelsMatch(sel, podLabels(w)));

  for (const w of workloads) {
    if (!labelsMatch(w.spec?.selector?.matchLabels, podLabels(w))) problem(where(w), "spec.selector does not match the pod template's labels");
    for (const c of containers(w)) {
      for (const ef of c.envFrom ?? []) {
        if (ef.configMapRef && !find("ConfigMap", ef.configMapRef.name)) problem(where(w), `envFrom: no ConfigMap ${ef.configMapRef.name}`);
        if (ef.secretRef && !find("Secret", ef.secretRef.name)) problem(where(w), `envFrom: no Secret ${ef.secretRef.name}`);
      }
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (!ref) continue;
        const s = find("Secret", ref.name);
        if (!s) problem(where(w), `env ${e.name}: no Secret ${ref.name}`);
        else if (!(ref.key in (s.stringData ?? {})) && !(ref.key in (s.data ?? {}))) problem(where(w), `env ${e.name}: Secret ${ref.name} has no key ${ref.key}`);
      }
    }
    if (w.kind === "StatefulSet" && !find("Service", w.spec?.serviceName)) problem(where(w), `spec.serviceName: no Service ${w.spec?.serviceName}`);
  }

  for (const svc of byKind("Service")) {
    const pods = selected(svc.spec?.selector);
    if (pods.length === 0) { problem(where(svc), "spec.selector matches no workload of the build"); continue; }
    for (const p of svc.spec?.ports ?? []) {
      if (typeof p.targetPort !== "string") continue;
      const named = pods.some((w) => containers(w).some((c) => (c.ports ?? []).some((cp) => cp.name === p.targetPort)));
      if (!named) problem(where(svc), `port ${p.name}: no container port named ${p.targetPort}`);
    }
  }
  for (const pdb of byKind("PodDisruptionBudget")) {
    if (selected(pdb.spec?.selector?.matchLabels).length === 0) problem(where(pdb), "spec.selector matches no workload of the build");
  }
  for (const np of byKind("NetworkPolicy")) {
    if (selected(np.spec?.podSelector?.matchLabels).length === 0) problem(where(np), "spec.podSelector matches no workload of the build");
  }
  for (const hpa of byKind("HorizontalPodAutoscaler")) {
    const t = hpa.spec?.scaleTargetRef ?? {};
    if (!find(t.kind, t.name)) problem(where(hpa), `scaleTargetRef: no ${t.kind} ${t.name}`);
  }
  for (const sm of byKind("ServiceMonitor")) {
    const svcs = byKind("Service").filter((s) => labelsMatch(sm.spec?.selector?.matchLabels, s.metadata?.labels));
    if (svcs.length === 0) { problem(where(sm), "spec.selector matches no Service's labels"); continue; }
    for (const ep of sm.spec?.endpoints ?? []) {
      if (ep.port && !svcs.some((s) => (s.spec?.ports ?? []).some((p) => p.name === ep.port))) problem(where(sm), `endpoint port ${ep.port}: no such Service port`);
    }
  }

  // ---- memoryd itself ----
  const cm = find("ConfigMap", "memoryd-config");
  const secret = find("Secret", "memoryd-secrets");
  const dep = find("Deployment", "memoryd");
  if (!cm) problem(build.name, "no ConfigMap memoryd-config");
  if (!secret) problem(build.name, "no Secret memoryd-secrets");
  if (!dep) problem(build.name, "no Deployment memoryd");

  if (cm) {
    for (const [k, v] of Object.entries(cm.data ?? {})) {
      if (SECRET_VARS.has(k)) problem(where(cm), `${k} belongs in the Secret`);
      else if (!CONFIG.has(k)) problem(where(cm), `${k} is not a variable memoryd reads (README.md configuration table)`);
      else if (!acceptsValue(CONFIG.get(k), v)) problem(where(cm), `${k}=${v} is outside ${CONFIG.get(k)}`);
    }
    if (cm.data?.BIND_ADDRESS !== "0.0.0.0") problem(where(cm), "BIND_ADDRESS must be 0.0.0.0 in a pod");
  }
  const secretData = secret ? { ...(secret.stringData ?? {}) } : {};
  for (const [k, v] of Object.entries(secret?.data ?? {})) secretData[k] = Buffer.from(v, "base64").toString();
  if (secret) {
    for (const k of Object.keys(secretData)) {
      if (!CONFIG.has(k)) problem(where(secret), `${k} is not a variable memoryd reads (README.md configuration table)`);
    }
    for (const k of ["REDIS_URL", "DATABASE_URL"]) if (!(k in secretData)) problem(where(secret), `${k} missing`);
    if (secretData.REDIS_URL !== undefined && !/^rediss?:\/\/[^/]+/.test(secretData.REDIS_URL)) problem(where(secret), "REDIS_URL must be redis:// or rediss://");
    if (secretData.DATABASE_URL !== undefined && !/^postgres(ql)?:\/\/[^/]+/.test(secretData.DATABASE_URL)) problem(where(secret), "DATABASE_URL must be postgresql://");
  }
  if (build.selfContained && secret) {
    // host[:port] -> the Service it reaches: "svc[.namespace...]" or "sts-N.svc[...]".
    const reach = (o, k, entry, defPort) => {
      const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(entry);
      const host = m?.[1] ?? entry;
      const port = Number(m?.[2] || defPort);
      const [first, second] = host.split(".");
      const pod = /^(.+)-(\d+)$/.exec(first);
      const sts = pod && second && find("StatefulSet", pod[1]);
      let svc;
      if (sts && sts.spec?.serviceName === second) {
        svc = find("Service", second);
        if (Number(pod[2]) >= (sts.spec?.replicas ?? 1)) problem(where(o), `${k}: ${host}: StatefulSet ${sts.metadata.name} has ${sts.spec?.replicas ?? 1} pods`);
      } else svc = find("Service", first);
      if (!svc) problem(where(o), `${k}: host ${host} is no Service of this build, nor a pod of a StatefulSet through its Service`);
      else if (!(svc.spec?.ports ?? []).some((p) => p.port === port)) problem(where(o), `${k}: Service ${svc.metadata.name} has no port ${port}`);
    };
    for (const k of ["REDIS_URL", "DATABASE_URL"]) {
      // scheme://[user[:password]@]host[:port][,host[:port]...][/...]: libpq takes several hosts
      const hosts = /^[a-z]+:\/\/(?:[^@/]*@)?([^/?#]*)/.exec(secretData[k] ?? "")?.[1];
      if (!hosts) { problem(where(secret), `${k} is not a URL with a host`); continue; }
      for (const h of hosts.split(",")) reach(secret, k, h, k === "REDIS_URL" ? 6379 : 5432);
    }
    for (const k of ["REDIS_CLUSTER_NODES", "REDIS_SENTINELS"]) {
      for (const h of (cm?.data?.[k] ?? "").split(",").filter(Boolean)) reach(cm, k, h, k === "REDIS_SENTINELS" ? 26379 : 6379);
    }
  }

  if (dep) {
    const w = where(dep);
    const spec = dep.spec ?? {};
    const pod = spec.template?.spec ?? {};
    const c = (pod.containers ?? []).find((x) => x.name === "memoryd");
    if (!(spec.replicas >= 2)) problem(w, "replicas must be 2 or more");
    if (pod.terminationGracePeriodSeconds !== 30) problem(w, "terminationGracePeriodSeconds must be 30");
    const ann = spec.template?.metadata?.annotations ?? {};
    if (ann["prometheus.io/scrape"] !== "true" || !ann["prometheus.io/port"] || !ann["prometheus.io/path"]) problem(w, "pod template needs prometheus.io/scrape, port and path annotations");
    if (!c) problem(w, "no container named memoryd");
    else {
      const port = (c.ports ?? []).find((p) => p.name === "http");
      if (!port) problem(w, "container memoryd has no port named http");
      else if (cm?.data?.PORT && String(port.containerPort) !== cm.data.PORT) problem(w, `containerPort ${port.containerPort} is not the ConfigMap's PORT ${cm.data.PORT}`);
      else if (ann["prometheus.io/port"] && ann["prometheus.io/port"] !== String(port.containerPort)) problem(w, "prometheus.io/port is not the container port");
      const probePath = (p) => p?.httpGet?.path;
      if (probePath(c.livenessProbe) !== "/healthz") problem(w, "livenessProbe must GET /healthz");
      if (probePath(c.readinessProbe) !== "/readyz") problem(w, "readinessProbe must GET /readyz");
      if (probePath(c.startupProbe) !== "/healthz") problem(w, "startupProbe must GET /healthz");
      const preStop = c.lifecycle?.preStop;
      if (!preStop) problem(w, "container memoryd needs a preStop hook");
      // Endpoints drain during preStop, then memoryd has SHUTDOWN_GRACE_SECONDS after SIGTERM:
      // both must fit in the grace period or the kubelet kills requests in flight.
      const sleep = Number(preStop?.exec?.command?.[0] === "sleep" ? preStop.exec.command[1] : preStop?.sleep?.seconds ?? 0);
      const grace = Number(cm?.data?.SHUTDOWN_GRACE_SECONDS ?? DEFAULTS.get("SHUTDOWN_GRACE_SECONDS") ?? 0);
      if (sleep + grace >= (pod.terminationGracePeriodSeconds ?? 30)) problem(w, `preStop sleep ${sleep}s + SHUTDOWN_GRACE_SECONDS ${grace}s must stay below terminationGracePeriodSeconds`);
      if (!c.resources?.requests?.cpu || !c.resources?.requests?.memory || !c.resources?.limits?.memory) problem(w, "resources need cpu and memory requests and a memory limit");
      const sc = c.securityContext ?? {};
      if (!(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot)) problem(w, "runAsNonRoot must be true");
      if (sc.readOnlyRootFilesystem !== true) problem(w, "readOnlyRootFilesystem must be true");
      if (sc.allowPrivilegeEscalation !== false) problem(w, "allowPrivilegeEscalation must be false");
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) problem(w, "capabilities must drop ALL");
    }
    const hpa = byKind("HorizontalPodAutoscaler").find((h) => h.spec?.scaleTargetRef?.name === "memoryd");
    if (!hpa) problem(build.name, "no HorizontalPodAutoscaler for memoryd");
    if (!byKind("PodDisruptionBudget").some((p) => labelsMatch(p.spec?.selector?.matchLabels, podLabels(dep)))) problem(build.name, "no PodDisruptionBudget for memoryd");
    const np = byKind("NetworkPolicy").find((n) => labelsMatch(n.spec?.podSelector?.matchLabels, podLabels(dep)));
    if (!np) problem(build.name, "no NetworkPolicy for memoryd");
    else {
      const ports = (rules) => (rules ?? []).flatMap((r) => (r.ports ?? []).map((p) => `${p.protocol ?? "TCP"}/${p.port}`));
      const ingress = ports(np.spec?.ingress);
      const egress = ports(np.spec?.egress);
      if (!ingress.includes("TCP/8080")) problem(where(np), "ingress must allow TCP 8080");
      for (const p of ["TCP/6379", "TCP/6380", "TCP/5432", "UDP/53"]) if (!egress.includes(p)) problem(where(np), `egress must allow ${p}`);
    }
  }

  // ---- the alerts issue 8 names ----
  const rules = byKind("PrometheusRule").flatMap((r) => (r.spec?.groups ?? []).flatMap((g) => g.rules ?? []));
  const alert = (name) => rules.find((r) => r.alert === name);
  const want = [
    ["RedisDown", "redis_up == 0", "1m"],
    ["PersistenceErrorsHigh", "rate(history_persist_errors_total[5m]) > 0", null],
    ["MemorydDown", null, null],
  ];
  for (const [name, expr, dur] of want) {
    const r = alert(name);
    if (!r) { problem(build.name, `no alert ${name}`); continue; }
    if (expr && normalize(r.expr) !== expr) problem(build.name, `alert ${name}: expr must be ${expr}`);
    if (dur && r.for !== dur) problem(build.name, `alert ${name}: for must be ${dur}`);
  }
  if (byKind("ServiceMonitor").length === 0) problem(build.name, "no ServiceMonitor");
}

// ------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------
for (const build of builds) {
  const docs = parseAllDocuments(readFileSync(build.file, "utf8"));
  const objs = [];
  for (const d of docs) {
    if (d.errors.length) { problem(build.name, `YAML: ${d.errors[0].message}`); continue; }
    const o = d.toJS();
    if (o !== null && o !== undefined) objs.push(o);
  }
  if (objs.length === 0) problem(build.name, "no objects");
  const counts = {};
  for (const o of objs) {
    const id = `${build.name}: ${o?.kind}/${o?.metadata?.name}`;
    const report = (msg) => problem(id, msg);
    if (!isObject(o) || typeof o.apiVersion !== "string" || typeof o.kind !== "string") { report("not an object with apiVersion and kind"); continue; }
    counts[o.kind] = (counts[o.kind] ?? 0) + 1;
    if (REMOVED_APIS.has(o.apiVersion)) report(`${o.apiVersion} is no longer served by Kubernetes (1.26+)`);
    const crd = CRD_CHECKS[`${o.apiVersion}/${o.kind}`];
    if (crd) { crd(o, report); continue; }
    const Model = await modelClass(o.apiVersion, o.kind);
    if (!Model) { report(`no schema for ${o.apiVersion} ${o.kind} in kubernetes-models and no check of its own here`); continue; }
    try {
      new Model(o).validate();
    } catch (e) {
      report(`schema: ${e.message}`);
    }
    walkUnknown(o, { iface: path.join(MODELS_DIR, o.apiVersion, `${o.kind}.d.ts`) }, "", (msg) => report(msg.replace(/^\./, "")));
  }
  checkBuild(build, objs);
  const summary = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(", ");
  console.log(`${build.name}: ${objs.length} objects (${summary})`);
}

if (problems.length) {
  for (const p of problems) console.log(`FAIL ${p}`);
  console.log(`validate-k8s: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log("validate-k8s: every object valid");
