// The Dockerfile, read with dockerfile-ast (the parser behind dockerfile-utils).
//
// Usage: node dockerfile.mjs COMMAND DOCKERFILE [ARGS]
//   lint                 dockerfile-utils' validator (any diagnostic, warning or error, fails:
//                        its CLI exits 0 on warnings), then what issue 8 asks of the image:
//                        a build and a runtime stage, a numeric non-root USER, EXPOSE 8080,
//                        a HEALTHCHECK on /healthz, ENV BIND_ADDRESS=0.0.0.0,
//                        ENTRYPOINT memoryd, no -dev package in the runtime stage
//   runtime-packages     print the packages the last stage apt-get installs, one a line
//   build-packages       the same for the stage the last stage copies from
//   healthcheck          print the HEALTHCHECK command's words, NUL-terminated
//   build-stage CONTEXT OUT
//                        replay, without Docker, the stage that the last stage copies from:
//                        its WORKDIR and COPY instructions (honouring .dockerignore) into OUT,
//                        and its RUN instructions that do not call apt-get, with bash in the
//                        copy; then print the path, under OUT, of the file the last stage
//                        copies from it
import { readFileSync, existsSync, mkdirSync, cpSync, statSync, readdirSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { DockerfileParser } from "dockerfile-ast";
import { validate } from "dockerfile-utils";

const [command, file, ...rest] = process.argv.slice(2);
if (!command || !file) {
  console.error("usage: node dockerfile.mjs lint|runtime-packages|healthcheck|build-stage DOCKERFILE [ARGS]");
  process.exit(2);
}
const content = readFileSync(file, "utf8");
const dockerfile = DockerfileParser.parse(content);

// Stages: [{ name, image, instructions }]
const stages = [];
for (const ins of dockerfile.getInstructions()) {
  if (ins.getKeyword() === "FROM") {
    const args = ins.getArguments().map((a) => a.getValue());
    stages.push({ image: args[0], name: args[1]?.toUpperCase() === "AS" ? args[2] : null, instructions: [] });
  } else if (stages.length) {
    stages[stages.length - 1].instructions.push(ins);
  }
}
const runtime = stages[stages.length - 1];
const keyword = (ins) => ins.getKeyword();
const argsOf = (ins) => ins.getArguments().map((a) => a.getValue());
const flagsOf = (ins) => (typeof ins.getFlags === "function" ? ins.getFlags() : []);
const flagValue = (ins, name) => flagsOf(ins).find((f) => f.getName() === name)?.getValue() ?? null;

// The packages after `apt-get install` in RUN commands of a stage.
function aptInstalls(stage) {
  const pkgs = [];
  for (const ins of stage.instructions.filter((i) => keyword(i) === "RUN")) {
    for (const part of ins.getArgumentsContent().split(/&&|\|\||;|\|/)) {
      const words = part.trim().split(/\s+/);
      const at = words.findIndex((w, i) => w === "install" && /(^|\/)apt(-get)?$/.test(words[i - 1] ?? ""));
      if (at < 0) continue;
      for (const w of words.slice(at + 1)) if (w && !w.startsWith("-")) pkgs.push(w.replace(/=.*$/, ""));
    }
  }
  return pkgs;
}

function healthcheckWords() {
  const hc = runtime?.instructions.find((i) => keyword(i) === "HEALTHCHECK");
  if (!hc) return null;
  const text = hc.getArgumentsContent().replace(/^(--\S+\s+)*/, "");
  const m = /^CMD\s+(\[[\s\S]*\])\s*$/.exec(text);
  if (m) return JSON.parse(m[1]);
  const shell = /^CMD\s+([\s\S]+)$/.exec(text);
  return shell ? ["/bin/sh", "-c", shell[1]] : null;
}

function lint() {
  const problems = [];
  for (const d of validate(content)) {
    problems.push(`line ${d.range.start.line + 1}: ${d.message} (dockerfile-utils)`);
  }
  if (stages.length < 2) problems.push("needs a build stage and a runtime stage");
  if (runtime) {
    if (!/^debian:bookworm-slim(@|$)/.test(runtime.image)) problems.push(`runtime stage must be FROM debian:bookworm-slim, not ${runtime.image}`);
    const last = (kw) => runtime.instructions.filter((i) => keyword(i) === kw).pop();
    const user = last("USER");
    if (!user || !/^[1-9]\d*(:\d+)?$/.test(argsOf(user)[0])) problems.push("runtime stage needs USER <uid>[:<gid>], numeric and not 0 (runAsNonRoot checks it)");
    const exposes = runtime.instructions.filter((i) => keyword(i) === "EXPOSE").flatMap(argsOf);
    if (!exposes.some((p) => /^8080(\/tcp)?$/.test(p))) problems.push("runtime stage must EXPOSE 8080");
    const env = runtime.instructions.filter((i) => keyword(i) === "ENV").map((i) => i.getArgumentsContent()).join(" ");
    if (!/(^|\s)BIND_ADDRESS=0\.0\.0\.0(\s|$)/.test(env)) problems.push("runtime stage needs ENV BIND_ADDRESS=0.0.0.0");
    const entry = last("ENTRYPOINT");
    if (!entry || !/^\[\s*"(\/usr\/local\/bin\/)?memoryd"/.test(entry.getArgumentsContent())) problems.push('runtime stage needs ENTRYPOINT ["memoryd"] (exec form)');
    const words = healthcheckWords();
    if (!words || !words.join(" ").includes("/healthz")) problems.push("runtime stage needs a HEALTHCHECK on /healthz");
    const pkgs = aptInstalls(runtime);
    if (pkgs.length === 0) problems.push("runtime stage installs no package with apt-get install");
    for (const p of pkgs) {
      if (/-dev$/.test(p) || ["build-essential", "cmake", "gcc", "make", "pkg-config"].includes(p)) problems.push(`runtime stage installs build tool or -dev package ${p}`);
    }
    if (!runtime.instructions.some((i) => keyword(i) === "COPY" && flagValue(i, "from"))) problems.push("runtime stage copies nothing from the build stage");
  }
  if (problems.length) {
    for (const p of problems) console.log(`FAIL ${file}: ${p}`);
    process.exit(1);
  }
  console.log(`${file}: lint clean (${stages.length} stages: ${stages.map((s) => s.name ?? s.image).join(", ")})`);
}

// .dockerignore: Go filepath.Match-like patterns; `**` crosses directories; `!` re-includes;
// a path is excluded when it or one of its parent directories is (last match wins).
function dockerignore(context) {
  const f = path.join(context, ".dockerignore");
  if (!existsSync(f)) return () => false;
  const rules = readFileSync(f, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")).map((l) => {
    const negate = l.startsWith("!");
    const pat = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, "")).replace(/\/+$/, "");
    let re = "";
    for (let i = 0; i < pat.length; i++) {
      const c = pat[i];
      if (c === "*" && pat[i + 1] === "*") { re += ".*"; i++; if (pat[i + 1] === "/") i++; }
      else if (c === "*") re += "[^/]*";
      else if (c === "?") re += "[^/]";
      else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
    }
    return { negate, re: new RegExp(`^${re}$`) };
  });
  return (rel) => {
    const parts = rel.split("/");
    let excluded = false;
    for (let n = 1; n <= parts.length; n++) {
      const p = parts.slice(0, n).join("/");
      for (const r of rules) if (r.re.test(p)) excluded = !r.negate;
      if (excluded && n < parts.length) return true; // an excluded directory stays excluded
    }
    return excluded;
  };
}

function copyFiltered(src, dest, rel, ignored) {
  if (ignored(rel)) return;
  if (statSync(src).isDirectory()) {
    mkdirSync(dest, { recursive: true });
    for (const e of readdirSync(src)) copyFiltered(path.join(src, e), path.join(dest, e), `${rel}/${e}`, ignored);
  } else {
    mkdirSync(path.dirname(dest), { recursive: true });
    cpSync(src, dest);
  }
}

// The stage the last stage copies from, and that COPY instruction.
function sourceStage() {
  const copyFrom = runtime.instructions.find((i) => keyword(i) === "COPY" && flagValue(i, "from"));
  if (!copyFrom) throw new Error("the last stage copies nothing from another stage");
  const from = flagValue(copyFrom, "from");
  const stage = stages.find((s) => s.name === from) ?? stages[Number(from)];
  if (!stage) throw new Error(`COPY --from=${from}: no such stage`);
  return { stage, copyFrom, from };
}

function buildStage(context, out) {
  const { stage, copyFrom, from } = sourceStage();
  const ignored = dockerignore(context);
  let workdir = "/";
  const inOut = (p) => path.join(out, path.posix.resolve(workdir, p));
  for (const ins of stage.instructions) {
    const kw = keyword(ins);
    if (kw === "WORKDIR") {
      workdir = path.posix.resolve(workdir, argsOf(ins)[0]);
      mkdirSync(inOut("."), { recursive: true });
    } else if (kw === "COPY" || kw === "ADD") {
      if (flagValue(ins, "from")) throw new Error(`${kw} --from in the build stage is not replayed here`);
      const args = argsOf(ins);
      const dest = args.pop();
      for (const src of args) {
        const rel = path.posix.normalize(src).replace(/\/+$/, "");
        const abs = path.join(context, rel);
        if (rel.startsWith("..") || !existsSync(abs)) throw new Error(`${kw} ${src}: not in the build context`);
        if (ignored(rel)) throw new Error(`${kw} ${src}: excluded by .dockerignore`);
        if (statSync(abs).isDirectory()) copyFiltered(abs, inOut(dest), rel, ignored); // a directory's contents
        else copyFiltered(abs, dest.endsWith("/") ? path.join(inOut(dest), path.basename(rel)) : inOut(dest), rel, ignored);
      }
    } else if (kw === "RUN") {
      const cmd = ins.getArgumentsContent();
      if (/\bapt(-get)?\b/.test(cmd)) { console.error(`skip (packages): RUN ${cmd.replace(/\s+/g, " ")}`); continue; }
      console.error(`RUN ${cmd.replace(/\s+/g, " ")}`);
      execFileSync("bash", ["-euo", "pipefail", "-c", cmd], { cwd: inOut("."), stdio: ["ignore", 2, 2] });
    }
  }
  const args = argsOf(copyFrom);
  const built = path.join(out, path.posix.resolve(workdir, args[0]));
  if (!existsSync(built)) throw new Error(`COPY --from=${from} ${args[0]}: the build stage did not produce it`);
  console.log(built);
}

switch (command) {
  case "lint": lint(); break;
  case "runtime-packages": for (const p of aptInstalls(runtime)) console.log(p); break;
  case "build-packages":
    try { for (const p of aptInstalls(sourceStage().stage)) console.log(p); } catch (e) { console.error(e.message); process.exit(1); }
    break;
  case "healthcheck": {
    const words = healthcheckWords();
    if (!words) { console.error("no HEALTHCHECK in the last stage"); process.exit(1); }
    process.stdout.write(words.map((w) => `${w}\0`).join(""));
    break;
  }
  case "build-stage":
    try { buildStage(path.resolve(rest[0]), path.resolve(rest[1])); } catch (e) { console.error(`build-stage: ${e.message}`); process.exit(1); }
    break;
  default:
    console.error(`unknown command ${command}`);
    process.exit(2);
}
