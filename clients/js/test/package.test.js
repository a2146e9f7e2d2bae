// Offline: the package as consumers load it. The CommonJS build (require),
// index.d.ts against the implementation, and TypeScript consumers (ESM and
// CommonJS) compiled with tsc --noEmit. `npm test` builds dist/ first (pretest).
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import * as esm from "../src/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

/** Exported classes of index.d.ts: name -> { instance: [methods], static: [methods] }. */
function declaredClasses() {
  const file = join(root, "src/index.d.ts");
  const source = ts.createSourceFile(file, ts.sys.readFile(file), ts.ScriptTarget.Latest, true);
  const out = {};
  for (const st of source.statements) {
    if (!ts.isClassDeclaration(st) || !st.name) continue;
    const methods = { instance: [], static: [] };
    for (const m of st.members) {
      if (!ts.isMethodDeclaration(m) || !m.name || !ts.isIdentifier(m.name)) continue;
      const isStatic = m.modifiers?.some((x) => x.kind === ts.SyntaxKind.StaticKeyword);
      methods[isStatic ? "static" : "instance"].push(m.name.text);
    }
    out[st.name.text] = methods;
  }
  return out;
}

describe("package", () => {
  it("require('@memoryd/client') loads the CommonJS build, with the ESM build's exports", () => {
    const cjs = require("@memoryd/client");
    expect(require.resolve("@memoryd/client")).toMatch(/dist[\\/]index\.cjs$/);
    expect(Object.keys(cjs).sort()).toEqual(Object.keys(esm).sort());
    const saver = cjs.MemorydSaver.fromUrl("http://127.0.0.1:9");
    expect(saver).toBeInstanceOf(cjs.MemorydSaver);
    // In a plain CommonJS process, too (no vitest transform).
    const printed = execFileSync(
      process.execPath,
      ["-e", 'const m = require("@memoryd/client"); console.log(Object.keys(m).sort().join(","))'],
      { cwd: root, encoding: "utf8" }
    );
    expect(printed.trim()).toBe(Object.keys(esm).sort().join(","));
  });

  it("index.d.ts declares what the implementation exports, method for method", () => {
    const declared = declaredClasses();
    const classes = Object.entries(esm).filter(([, v]) => typeof v === "function");
    expect(Object.keys(declared).sort()).toEqual(classes.map(([k]) => k).sort());
    for (const [name, cls] of classes) {
      for (const m of declared[name].instance) {
        expect(typeof cls.prototype[m], `${name}.prototype.${m}`).toBe("function");
      }
      for (const m of declared[name].static) expect(typeof cls[m], `${name}.${m}`).toBe("function");
      // And the other way: every public method of the implementation is declared.
      const own = Object.getOwnPropertyNames(cls.prototype).filter(
        (m) => m !== "constructor" && !m.startsWith("_") && typeof cls.prototype[m] === "function"
      );
      for (const m of own) expect(declared[name].instance, `${name}.${m} declared`).toContain(m);
    }
  });

  it("TypeScript consumers (ESM and CommonJS) compile with tsc --noEmit", () => {
    const tsc = join(root, "node_modules/typescript/bin/tsc");
    try {
      execFileSync(process.execPath, [tsc, "-p", "test/types/tsconfig.json"], { cwd: root, encoding: "utf8" });
    } catch (err) {
      throw new Error(`tsc failed:\n${err.stdout}${err.stderr}`);
    }
  }, 120000);
});

describe("package.json", () => {
  const pkg = JSON.parse(ts.sys.readFile(join(root, "package.json")));
  it("license agrees with LICENSE and openapi.yaml", () => {
    const license = ts.sys.readFile(join(root, "LICENSE"));
    const openapi = ts.sys.readFile(join(root, "../../openapi.yaml"));
    const id = /identifier: (\S+)/.exec(openapi.slice(openapi.indexOf("license:")))[1];
    expect(license).toContain(`SPDX-License-Identifier: ${id}`);
    expect(pkg.license).toBe("SEE LICENSE IN LICENSE");
    expect(pkg.files).toContain("LICENSE");
  });
  it("peer ranges and engines as @langchain/langgraph-checkpoint-postgres 1.0.5's; exact dev pins", () => {
    expect(pkg.peerDependencies).toEqual({ "@langchain/core": "^1.1.44", "@langchain/langgraph-checkpoint": "^1.1.4" });
    expect(pkg.engines).toEqual({ node: ">=18" });
    for (const [name, range] of Object.entries(pkg.devDependencies)) expect(range, name).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
