// Pieces of a `kubectl kustomize` output, for the tools that check them.
// Usage: node extract.mjs rules BUILT.yaml OUTDIR
//          the spec of every PrometheusRule as OUTDIR/<name>.rules.yaml, a plain Prometheus
//          rules file for promtool; prints each path
//        node extract.mjs env BUILT.yaml [LOOPBACK_PORT]
//          the environment memoryd's pods get (envFrom of the memoryd container: ConfigMap
//          data, Secret stringData and data), as NUL-terminated NAME=VALUE; with
//          LOOPBACK_PORT, REDIS_URL and DATABASE_URL keep everything but their hosts and
//          ports (a DATABASE_URL may have several), and REDIS_CLUSTER_NODES and
//          REDIS_SENTINELS keep their number of entries: each becomes 127.0.0.1:LOOPBACK_PORT
//          (so that a test contacts no other machine)
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseAllDocuments, stringify } from "yaml";

const [command, built, outdir] = process.argv.slice(2);
const loopbackPort = command === "env" ? outdir : undefined;
const objs = built ? parseAllDocuments(readFileSync(built, "utf8")).map((d) => d.toJS()).filter(Boolean) : [];
const die = (msg) => {
  console.error(`extract.mjs: ${msg}`);
  process.exit(1);
};

if (command === "rules" && outdir) {
  const rules = objs.filter((o) => o.apiVersion === "monitoring.coreos.com/v1" && o.kind === "PrometheusRule");
  if (rules.length === 0) die(`no PrometheusRule in ${built}`);
  for (const o of rules) {
    const file = path.join(outdir, `${o.metadata.name}.rules.yaml`);
    writeFileSync(file, stringify({ groups: o.spec?.groups ?? [] }));
    console.log(file);
  }
} else if (command === "env") {
  const dep = objs.find((o) => o.kind === "Deployment" && o.metadata?.name === "memoryd");
  const c = dep?.spec?.template?.spec?.containers?.find((x) => x.name === "memoryd");
  if (!c) die(`no memoryd container in ${built}`);
  const env = {};
  for (const ef of c.envFrom ?? []) {
    const ref = ef.configMapRef ?? ef.secretRef;
    const o = objs.find((x) => x.kind === (ef.configMapRef ? "ConfigMap" : "Secret") && x.metadata?.name === ref?.name);
    if (!o) die(`envFrom names ${ref?.name}, which is not in ${built}`);
    Object.assign(env, o.data && ef.secretRef
      ? Object.fromEntries(Object.entries(o.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]))
      : o.data ?? {}, o.stringData ?? {});
  }
  for (const e of c.env ?? []) if (typeof e.value === "string") env[e.name] = e.value;
  if (loopbackPort) {
    const loopback = `127.0.0.1:${loopbackPort}`;
    for (const k of ["REDIS_URL", "DATABASE_URL"]) {
      if (env[k] === undefined) continue;
      // scheme://[userinfo@]host[:port][,host[:port]...][/...]: every host replaced
      const m = /^([a-z]+:\/\/(?:[^@/]*@)?)([^/?#]+)(.*)$/s.exec(env[k]);
      if (!m) die(`cannot point ${k} at 127.0.0.1: no host in it`);
      env[k] = m[1] + m[2].split(",").map(() => loopback).join(",") + m[3];
    }
    for (const k of ["REDIS_CLUSTER_NODES", "REDIS_SENTINELS"]) {
      if (env[k] !== undefined) env[k] = env[k].split(",").map(() => loopback).join(",");
    }
  }
  process.stdout.write(Object.entries(env).map(([k, v]) => `${k}=${v}\0`).join(""));
} else {
  console.error("usage: node extract.mjs rules BUILT.yaml OUTDIR | env BUILT.yaml");
  process.exit(2);
}
