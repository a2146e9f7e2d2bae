// MemorydStore (LangGraph's BaseStore) against the real memoryd at MEMORYD_URL:
// an agent-style sequence, batch() as one round trip, unicode, TTL, tenants,
// what memoryd does not offer, and a StateGraph whose nodes use the store.
import { randomUUID } from "node:crypto";
import { Annotation, END, START, Send, StateGraph } from "@langchain/langgraph";
import { AsyncBatchedStore, InMemoryStore } from "@langchain/langgraph-checkpoint";
import { MemorydError, MemorydSaver, MemorydStore } from "../src/index.js";

const url = process.env.MEMORYD_URL;
if (!url) throw new Error("MEMORYD_URL must point at a running memoryd");
const defaultTtl = Number(process.env.MEMORY_DEFAULT_TTL_SECONDS ?? 86400);

/** The global fetch, recording each call (the requests reach memoryd as they are). */
function countingFetch() {
  const calls = [];
  const fn = (target, init = {}) => {
    calls.push({ url: String(target), method: init.method, body: init.body && JSON.parse(init.body) });
    return fetch(target, init);
  };
  fn.calls = calls;
  return fn;
}

const created = [];
function newStore(options = {}) {
  const f = countingFetch();
  const store = new MemorydStore({ url, tenant: `store-${randomUUID()}`, fetch: f, ...options });
  created.push(store);
  return { store, calls: f.calls };
}

// Leave the shared Redis (or PostgreSQL) as found: later suites scan the
// whole keyspace. Cleanup of each top-level namespace of each tenant used.
afterAll(async () => {
  for (const store of created) {
    const roots = await store.listNamespaces({ maxDepth: 1, limit: 1000 });
    if (roots.length === 0) continue;
    const results = await store.client.memoryBatch(roots.map((ns) => ({ op: "cleanup", namespace_prefix: ns })));
    for (const r of results) expect(r.error).toBeUndefined();
    expect(await store.listNamespaces()).toEqual([]);
  }
});

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const valuesOf = (items) => items.map((i) => i.value);
const secondsUntil = (date) => (date.getTime() - Date.now()) / 1000;

describe("MemorydStore", () => {
  it("serves an agent's put, search, get, listNamespaces and delete", async () => {
    const { store } = newStore();
    await store.put(["users", "u1", "facts"], "lang", { fact: "speaks Welsh", kind: "language", score: 3 });
    await store.put(["users", "u1", "facts"], "food", { fact: "vegetarian", kind: "diet", score: 5 });
    await store.put(["users", "u1", "prefs"], "theme", { theme: "dark", kind: "ui" });
    await store.put(["users", "u2", "facts"], "lang", { fact: "speaks Basque", kind: "language" });
    await store.put(["docs"], "readme", { title: "README", kind: "doc" });

    // get: the value as put, with its times.
    const lang = await store.get(["users", "u1", "facts"], "lang");
    expect(lang).toMatchObject({
      namespace: ["users", "u1", "facts"],
      key: "lang",
      value: { fact: "speaks Welsh", kind: "language", score: 3 },
    });
    expect(lang.createdAt).toBeInstanceOf(Date);
    expect(lang.updatedAt).toBeInstanceOf(Date);
    expect(Math.abs(Date.now() - lang.updatedAt.getTime())).toBeLessThan(60_000);
    expect(await store.get(["users", "u1", "facts"], "nope")).toBeNull();

    // search: under a prefix, most recently updated first.
    expect(valuesOf(await store.search(["users", "u1"]))).toEqual([
      { theme: "dark", kind: "ui" },
      { fact: "vegetarian", kind: "diet", score: 5 },
      { fact: "speaks Welsh", kind: "language", score: 3 },
    ]);
    // "users" is a prefix label by label: ["users"] holds u1 and u2, not docs.
    expect((await store.search(["users"], { filter: { kind: "language" } })).map((i) => i.namespace)).toEqual([
      ["users", "u2", "facts"],
      ["users", "u1", "facts"],
    ]);
    expect(valuesOf(await store.search(["users", "u1"], { filter: { kind: { $eq: "diet" } } }))).toEqual([
      { fact: "vegetarian", kind: "diet", score: 5 },
    ]);
    expect(await store.search(["users"], { filter: { kind: "language", score: 4 } })).toEqual([]);
    expect((await store.search([], { limit: 2, offset: 1 })).map((i) => [...i.namespace, i.key].join("/"))).toEqual([
      "users/u2/facts/lang",
      "users/u1/prefs/theme",
    ]);

    // An update moves the item to the front and keeps createdAt.
    await sleep(5);
    await store.put(["users", "u1", "facts"], "lang", { fact: "speaks Welsh and Irish", kind: "language", score: 4 });
    const updated = await store.get(["users", "u1", "facts"], "lang");
    expect(updated.value.fact).toBe("speaks Welsh and Irish");
    expect(updated.createdAt).toEqual(lang.createdAt);
    expect(updated.updatedAt.getTime()).toBeGreaterThan(lang.updatedAt.getTime());
    expect((await store.search(["users", "u1"], { limit: 1 }))[0].key).toBe("lang");

    // listNamespaces: all, by prefix, by suffix, cut to maxDepth, paged.
    expect(await store.listNamespaces()).toEqual([
      ["docs"],
      ["users", "u1", "facts"],
      ["users", "u1", "prefs"],
      ["users", "u2", "facts"],
    ]);
    expect(await store.listNamespaces({ prefix: ["users"], maxDepth: 2 })).toEqual([
      ["users", "u1"],
      ["users", "u2"],
    ]);
    expect(await store.listNamespaces({ suffix: ["facts"] })).toEqual([
      ["users", "u1", "facts"],
      ["users", "u2", "facts"],
    ]);
    expect(await store.listNamespaces({ prefix: ["users", "u1"], suffix: ["prefs"] })).toEqual([["users", "u1", "prefs"]]);
    expect(await store.listNamespaces({ limit: 2, offset: 1 })).toEqual([
      ["users", "u1", "facts"],
      ["users", "u1", "prefs"],
    ]);
    // "*" is BaseStore's any-one-label; memoryd's labels are literal, so the store matches it.
    expect(await store.listNamespaces({ prefix: ["users", "*", "facts"] })).toEqual([
      ["users", "u1", "facts"],
      ["users", "u2", "facts"],
    ]);
    expect(await store.listNamespaces({ suffix: ["u1", "*"], maxDepth: 2 })).toEqual([["users", "u1"]]);

    // delete: gone from get, search and (its last item) listNamespaces.
    await store.delete(["users", "u1", "prefs"], "theme");
    await store.delete(["users", "u1", "prefs"], "never-there");
    expect(await store.get(["users", "u1", "prefs"], "theme")).toBeNull();
    expect((await store.search(["users", "u1"])).map((i) => i.key)).toEqual(["lang", "food"]);
    expect(await store.listNamespaces({ prefix: ["users", "u1"] })).toEqual([["users", "u1", "facts"]]);
  });

  it("runs a batch() of every operation in one HTTP request, in order", async () => {
    const { store, calls } = newStore();
    await store.put(["agent", "notes"], "old", { text: "to be deleted" });
    calls.length = 0;

    const results = await store.batch([
      { namespace: ["agent", "notes"], key: "n1", value: { text: "first", tag: "a" } },
      { namespace: ["agent", "notes"], key: "n2", value: { text: "second", tag: "b" } },
      { namespace: ["agent", "todo"], key: "t1", value: { text: "call back", tag: "a" } },
      { namespace: ["agent", "notes"], key: "n1" },
      { namespacePrefix: ["agent"], filter: { tag: "a" }, limit: 10, offset: 0 },
      { matchConditions: [{ matchType: "prefix", path: ["agent"] }], limit: 100, offset: 0 },
      { namespace: ["agent", "notes"], key: "old", value: null },
      { namespace: ["agent", "notes"], key: "old" },
      { namespace: ["agent", "missing"], key: "x" },
    ]);

    expect(calls).toHaveLength(1);
    expect(calls[0].method).toBe("POST");
    expect(calls[0].url).toBe(`${url}/memory/batch`);
    expect(calls[0].body.operations.map((o) => o.op)).toEqual([
      "put", "put", "put", "get", "search", "list_namespaces", "delete", "get", "get",
    ]);
    expect(results).toHaveLength(9);
    expect(results.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(results[3].value).toEqual({ text: "first", tag: "a" }); // the put before it ran first
    expect(results[4].map((i) => [i.namespace, i.key])).toEqual([
      [["agent", "todo"], "t1"],
      [["agent", "notes"], "n1"],
    ]);
    expect(results[5]).toEqual([["agent", "notes"], ["agent", "todo"]]);
    expect(results[6]).toBeUndefined();
    expect(results[7]).toBeNull();
    expect(results[8]).toBeNull();
  });

  it("splits a batch() over 1000 operations, and pages a search past 1000", async () => {
    const { store, calls } = newStore();
    const ops = [];
    for (let i = 0; i < 1001; i++) ops.push({ namespace: ["bulk"], key: `k${String(i).padStart(4, "0")}`, value: { i } });
    await store.batch(ops);
    expect(calls.map((c) => c.body.operations.length)).toEqual([1000, 1]);

    calls.length = 0;
    const all = await store.search(["bulk"], { limit: 1001 });
    expect(all).toHaveLength(1001);
    expect(all.map((it) => it.value.i)).toEqual([...Array(1001).keys()].reverse());
    expect(calls).toHaveLength(2); // a page of 1000, then the rest from its cursor
    expect(calls[1].body.operations[0].cursor).toEqual(expect.any(String));

    const page = await store.search(["bulk"], { limit: 3, offset: 995 });
    expect(page.map((it) => it.value.i)).toEqual([5, 4, 3]);
  });

  it("fills a page and an offset past memoryd's scan budget per call", { timeout: 180_000 }, async () => {
    // memoryd scans at most 20000 items per search call, then answers what it
    // found with a cursor. Three matches older than 20500 others: the first
    // call finds none, and cannot say how much of the offset it skipped.
    const { store, calls } = newStore();
    const ops = [];
    for (let i = 0; i < 3; i++) ops.push({ namespace: ["deep"], key: `hit${i}`, value: { hit: true, i } });
    for (let i = 0; i < 20500; i++) ops.push({ namespace: ["deep"], key: `miss${i}`, value: { hit: false } });
    await store.batch(ops);
    calls.length = 0;
    const found = await store.search(["deep"], { filter: { hit: true }, limit: 2, offset: 1 });
    expect(found.map((it) => it.value.i)).toEqual([1, 0]);
    // offset 1 (none found, no progress known); from the start skipping here; on from the cursor.
    const sent = calls.map((c) => c.body.operations[0]);
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatchObject({ offset: 1, limit: 2, filter: { hit: true } });
    expect(sent[1]).toEqual({ op: "search", namespace_prefix: ["deep"], filter: { hit: true }, limit: 3, refresh_ttl: true });
    expect(sent[2]).toMatchObject({ limit: 3, cursor: expect.any(String) });
    expect(sent[2].offset).toBeUndefined();
  });

  it("round-trips unicode values, keys and labels exactly", async () => {
    const { store } = newStore();
    const value = {
      text: "Grüße, 世界! 👩🏽‍💻 naïve café — ‘quotes’ «guillemets»",
      rtl: "שלום עולם مرحبا",
      combining: "e\u0301 vs \u00e9",
      escapes: "tab\tnewline\nnul-free \u0001\u001f \u2028\u2029 \"quoted\" back\\slash",
      astral: "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 🎉",
      nested: { "ключ": ["значение", 1.5, -0.25, true, null], "🔑": { deep: "✓" } },
      big: 12345678901234,
    };
    const ns = ["ünïcödé", "日本語", "emoji🎉"];
    await store.put(ns, "clé-🔑", value);
    const got = await store.get(ns, "clé-🔑");
    expect(got.value).toEqual(value);
    expect(JSON.stringify(got.value)).toBe(JSON.stringify(value));
    expect(got.namespace).toEqual(ns);
    expect(got.key).toBe("clé-🔑");
    const [found] = await store.search(["ünïcödé"], { filter: { rtl: "שלום עולם مرحبا" } });
    expect(JSON.stringify(found.value)).toBe(JSON.stringify(value));
    expect(await store.listNamespaces({ prefix: ["ünïcödé"] })).toEqual([ns]);
  });

  it("sets the TTL: the store's, a put's own, the server default; and honours it", async () => {
    const tenant = `store-${randomUUID()}`;
    const plain = newStore({ tenant }).store;
    const short = newStore({ tenant, ttlSeconds: 120 }).store;

    await plain.put(["ttl"], "default", { v: 1 });
    await short.put(["ttl"], "store", { v: 2 });
    await plain.put(["ttl"], "own", { v: 3 }, undefined, { ttlSeconds: 600 });
    await short.batch([{ namespace: ["ttl"], key: "op", value: { v: 4 }, ttlSeconds: 300 }]);

    const ttlOf = async (key) => secondsUntil((await plain.get(["ttl"], key)).expiresAt);
    expect(await ttlOf("default")).toBeGreaterThan(defaultTtl - 60);
    expect(await ttlOf("default")).toBeLessThanOrEqual(defaultTtl + 1);
    expect(await ttlOf("store")).toBeGreaterThan(60);
    expect(await ttlOf("store")).toBeLessThanOrEqual(121);
    expect(await ttlOf("own")).toBeGreaterThan(540);
    expect(await ttlOf("own")).toBeLessThanOrEqual(601);
    expect(await ttlOf("op")).toBeGreaterThan(240);
    expect(await ttlOf("op")).toBeLessThanOrEqual(301);

    // Expiry is honoured: gone from get and search.
    await plain.put(["ttl", "brief"], "gone", { v: 5 }, undefined, { ttlSeconds: 1 });
    expect((await plain.get(["ttl", "brief"], "gone")).value).toEqual({ v: 5 });
    await sleep(2200);
    expect(await plain.get(["ttl", "brief"], "gone")).toBeNull();
    expect(await plain.search(["ttl", "brief"])).toEqual([]);

    expect(() => new MemorydStore({ url, ttlSeconds: -1 })).toThrow(/ttlSeconds/);
  });

  it("refreshes TTLs on read (ttl.refreshOnRead, true by default), in memoryd", async () => {
    const tenant = `store-${randomUUID()}`;
    const reader = newStore({ tenant }).store;
    const still = newStore({ tenant, ttl: { refreshOnRead: false } }).store;
    await reader.put(["fresh"], "a", { v: 1 }, undefined, { ttlSeconds: 600 });
    await reader.put(["fresh"], "b", { v: 2 }, undefined, { ttlSeconds: 600 });
    const expiry = async (key) => (await still.get(["fresh"], key)).expiresAt.getTime();
    const a0 = await expiry("a");
    const b0 = await expiry("b");
    await sleep(1100);
    expect(await expiry("a")).toBe(a0); // a read that does not refresh leaves it
    expect((await still.search(["fresh"])).map((i) => i.expiresAt.getTime())).toEqual([b0, a0]);

    const got = await reader.get(["fresh"], "a");
    expect(got.expiresAt.getTime()).toBeGreaterThanOrEqual(a0 + 1000);
    expect(await expiry("a")).toBe(got.expiresAt.getTime()); // stored, not only answered
    const [found] = await reader.search(["fresh"], { filter: { v: 2 } });
    expect(found.expiresAt.getTime()).toBeGreaterThanOrEqual(b0 + 1000);
    expect(await expiry("b")).toBe(found.expiresAt.getTime());
    // per call, either way
    await sleep(1100);
    expect((await reader.get(["fresh"], "a", { refreshTtl: false })).expiresAt.getTime()).toBe(
      got.expiresAt.getTime()
    );
    expect((await still.get(["fresh"], "a", { refreshTtl: true })).expiresAt.getTime()).toBeGreaterThanOrEqual(
      got.expiresAt.getTime() + 1000
    );
  });

  it("keeps tenants apart", async () => {
    const a = newStore().store;
    const b = newStore().store;
    await a.put(["shared", "ns"], "k", { owner: "a" });
    await b.put(["shared", "ns"], "k", { owner: "b" });
    await a.put(["only", "a"], "k", { owner: "a" });

    expect((await a.get(["shared", "ns"], "k")).value).toEqual({ owner: "a" });
    expect((await b.get(["shared", "ns"], "k")).value).toEqual({ owner: "b" });
    expect(await b.get(["only", "a"], "k")).toBeNull();
    expect(valuesOf(await b.search([]))).toEqual([{ owner: "b" }]);
    expect(await b.listNamespaces()).toEqual([["shared", "ns"]]);
    expect(await a.listNamespaces()).toEqual([["only", "a"], ["shared", "ns"]]);

    await b.delete(["shared", "ns"], "k");
    expect(await b.get(["shared", "ns"], "k")).toBeNull();
    expect((await a.get(["shared", "ns"], "k")).value).toEqual({ owner: "a" });
  });

  it("refuses what memoryd does not offer before sending, and reports what it fails", async () => {
    const { store, calls } = newStore();
    await expect(store.search(["x"], { query: "what does the user like?" })).rejects.toMatchObject({
      name: "MemorydError",
      code: "invalid_field",
      field: "query",
      message: expect.stringMatching(/semantic search \(query\) is not offered/),
    });
    await expect(store.search(["x"], { filter: { score: { $regex: "a" } } })).rejects.toMatchObject({
      status: 400,
      code: "invalid_field",
      message: expect.stringMatching(/unknown operator \$regex/),
    });
    calls.length = 0;
    expect(calls).toHaveLength(0);
    // A refused operation fails alone: the put beside it is sent.
    const mixed = await store.batch([
      { namespace: ["x"], key: "k", value: { v: 1 } },
      { namespacePrefix: ["x"], query: "semantic" },
    ]);
    expect(mixed[0]).toBeUndefined();
    await expect(mixed[1]).rejects.toMatchObject({ code: "invalid_field", field: "query" });
    expect(calls).toHaveLength(1);
    expect((await store.get(["x"], "k")).value).toEqual({ v: 1 });

    // An operation memoryd refuses fails after the round trip; the others ran and answered.
    calls.length = 0;
    const results = await store.batch([
      { namespace: ["x"], key: "before", value: { v: 1 } },
      { namespace: ["x"], key: "bad\u0001key", value: { v: 2 } },
      { namespace: ["x"], key: "after", value: { v: 3 } },
      { namespace: ["x"], key: "before" },
    ]);
    const err = await Promise.resolve(results[1]).catch((e) => e);
    expect(err).toBeInstanceOf(MemorydError);
    expect(err).toMatchObject({ status: 400, code: "invalid_field" });
    expect(err.message).toMatch(/operation 1 \(put\) failed/);
    expect(results[3].value).toEqual({ v: 1 });
    expect(calls).toHaveLength(1);
    expect((await store.get(["x"], "after")).value).toEqual({ v: 3 });
    // The single-operation methods throw it.
    await expect(store.put(["x"], "bad\u0001key", { v: 2 })).rejects.toMatchObject({ code: "invalid_field" });
    await expect(store.delete(["x"], "bad\u0001key")).rejects.toMatchObject({ code: "invalid_field" });
  });

  it("filter operators, evaluated by memoryd, answer as LangGraph's InMemoryStore", async () => {
    const { store, calls } = newStore();
    const mem = new InMemoryStore();
    const values = [
      { n: 1, s: "a", tags: ["x"] },
      { n: 5, s: "b" },
      { n: 9, s: "B", none: null },
      { s: "c" },
      { n: 2.5, s: "ab" },
    ];
    for (const [i, v] of values.entries()) {
      await store.put(["ops"], `k${i}`, v);
      await mem.put(["ops"], `k${i}`, v);
    }
    const filters = [
      { n: { $gt: 1 } },
      { n: { $gte: 1, $lt: 9 } },
      { n: { $lte: 2.5 } },
      { n: { $in: [1, 9, "9"] } },
      { n: { $nin: [1, 9] } },
      { s: { $ne: "a" } },
      { n: { $eq: 5 }, s: "b" },
      { none: { $eq: null } },
    ];
    const keys = (items) => items.map((i) => i.key).sort();
    for (const filter of filters) {
      const got = keys(await store.search(["ops"], { filter, limit: 100 }));
      const want = keys(await mem.search(["ops"], { filter, limit: 100 }));
      expect(got, JSON.stringify(filter)).toEqual(want);
    }
    // Where InMemoryStore (JS ===, Number()) and LangGraph's Python stores differ, memoryd
    // answers as Python's: strings ordered, arrays and objects equal by content.
    expect(keys(await store.search(["ops"], { filter: { s: { $gt: "a", $lt: "c" } } }))).toEqual(["k1", "k4"]);
    expect(keys(await store.search(["ops"], { filter: { tags: { $eq: ["x"] } } }))).toEqual(["k0"]);
    expect(keys(await store.search(["ops"], { filter: { n: { $exists: false } } }))).toEqual(["k3"]);
    expect(keys(await store.search(["ops"], { filter: { none: { $exists: true } } }))).toEqual(["k2"]);
    // Served by memoryd: one request a search, the operators sent as they are.
    expect(calls.filter((c) => c.body.operations.some((o) => o.op === "search")).length).toBe(filters.length + 4);
  });

  it("under LangGraph's AsyncBatchedStore, one failed operation rejects only its own call", async () => {
    const { store, calls } = newStore();
    const batched = new AsyncBatchedStore(store);
    batched.start();
    try {
      const [ok, bad, got] = await Promise.allSettled([
        batched.put(["y"], "good", { v: 1 }),
        batched.put(["y"], "bad\u0001key", { v: 2 }),
        batched.get(["y"], "good"),
      ]);
      expect(ok.status).toBe("fulfilled");
      expect(bad.status).toBe("rejected");
      expect(bad.reason).toMatchObject({ name: "MemorydError", code: "invalid_field" });
      expect(got.status).toBe("fulfilled");
      expect(got.value.value).toEqual({ v: 1 });
      expect(calls).toHaveLength(1); // one batch for the three
    } finally {
      batched.stop();
    }
  });
});

describe("MemorydStore in a LangGraph StateGraph", () => {
  const State = Annotation.Root({
    user: Annotation(),
    newFacts: Annotation(),
    facts: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
    recalled: Annotation(),
  });

  // Fan-out nodes remember facts for the user; a last node recalls them.
  function buildGraph(store, checkpointer) {
    return new StateGraph(State)
      .addNode("remember", async (s, config) => {
        await config.store.put(["memories", s.user], s.fact.key, { text: s.fact.text, topic: s.fact.topic });
        return { facts: [s.fact.key] };
      })
      .addNode("recall", async (s, config) => {
        const items = await config.store.search(["memories", s.user], { filter: { topic: "food" } });
        return { recalled: items.map((i) => i.value.text).sort() };
      })
      .addConditionalEdges(START, (s) =>
        (s.newFacts ?? []).map((fact) => new Send("remember", { user: s.user, fact }))
      )
      .addEdge("remember", "recall")
      .addEdge("recall", END)
      .compile({ store, checkpointer });
  }

  it("keeps facts across threads of one user", async () => {
    const f = countingFetch();
    const tenant = `graph-store-${randomUUID()}`;
    const store = new MemorydStore({ url, tenant, fetch: f });
    created.push(store);
    const saver = new MemorydSaver({ url, tenant });
    const graph = buildGraph(store, saver);
    const out = await graph.invoke(
      {
        user: "u1",
        newFacts: [
          { key: "f1", text: "likes ramen", topic: "food" },
          { key: "f2", text: "lives in Cardiff", topic: "home" },
          { key: "f3", text: "hates olives", topic: "food" },
        ],
      },
      { configurable: { thread_id: "t1" } }
    );
    expect(out.facts.sort()).toEqual(["f1", "f2", "f3"]);
    expect(out.recalled).toEqual(["hates olives", "likes ramen"]);
    // The three parallel puts reached memoryd as one batch.
    expect(f.calls[0].body.operations.map((o) => o.op)).toEqual(["put", "put", "put"]);

    // Another thread of the same user recalls them; the store has them all.
    const later = await graph.invoke(
      { user: "u1", newFacts: [{ key: "f4", text: "vegetarian now", topic: "food" }] },
      { configurable: { thread_id: "t2" } }
    );
    expect(later.recalled).toEqual(["hates olives", "likes ramen", "vegetarian now"]);
    expect((await store.get(["memories", "u1"], "f2")).value).toEqual({ text: "lives in Cardiff", topic: "home" });
    await saver.deleteThread("t1");
    await saver.deleteThread("t2");
  });
});
