// Unit tests: the exact requests MemorydSaver sends, and how it reads answers.
import { TASKS, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { FailedOperation, MemorydClient, MemorydError, MemorydSaver, MemorydStore } from "../src/index.js";

/** A fetch that records calls and answers from a queue of [status, body, headers]. */
function recordingFetch(responses = []) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, method: init.method, headers: init.headers, body: init.body && JSON.parse(init.body) });
    const [status, body, headers = {}] = responses.shift() ?? [200, {}];
    return new Response(body === undefined ? null : JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json", ...headers },
    });
  };
  fn.calls = calls;
  return fn;
}

const b64 = (s) => Buffer.from(s).toString("base64");

const wireTuple = (extra = {}) => ({
  config: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c2" },
  checkpoint: { v: 4, id: "c2", ts: "2024-01-01T00:00:00.000Z", channel_versions: { a: 1 }, versions_seen: {} },
  channel_values: { a: { type: "json", data: b64('"x"') } },
  metadata: { source: "loop", step: 1 },
  pending_writes: [],
  ...extra,
});

describe("MemorydSaver requests", () => {
  it("put: headers, stripped channel_values, blobs for newVersions only", async () => {
    const fetch = recordingFetch([[201, { config: { thread_id: "t1", checkpoint_ns: "ns", checkpoint_id: "c2" } }]]);
    const saver = new MemorydSaver({ url: "http://x/", tenant: "acme", token: "sekret", fetch });
    const checkpoint = {
      ...emptyCheckpoint(),
      id: "c2",
      channel_values: { a: { n: 1 }, b: new Uint8Array([1, 2, 3]), c: "unchanged" },
      channel_versions: { a: 2, b: "00003.5", c: 1, gone: 4 },
    };
    const config = await saver.put(
      { configurable: { thread_id: "t1", checkpoint_ns: "ns", checkpoint_id: "c1", extra: 1 } },
      checkpoint,
      { source: "loop", step: 1, tags: new Set(["x"]) },
      { a: 2, b: "00003.5", gone: 4 }
    );
    expect(config).toEqual({ configurable: { thread_id: "t1", checkpoint_ns: "ns", checkpoint_id: "c2" } });
    const [call] = fetch.calls;
    expect(call.url).toBe("http://x/checkpoints");
    expect(call.method).toBe("POST");
    expect(call.headers["x-tenant-id"]).toBe("acme");
    expect(call.headers.authorization).toBe("Bearer sekret");
    expect(call.headers["content-type"]).toBe("application/json");
    expect(call.body.thread_id).toBe("t1");
    expect(call.body.checkpoint_ns).toBe("ns");
    expect(call.body.checkpoint_id).toBe("c2");
    expect(call.body.parent_checkpoint_id).toBe("c1");
    expect(call.body.checkpoint.channel_values).toBeUndefined();
    expect(call.body.checkpoint.channel_versions).toEqual(checkpoint.channel_versions);
    expect(call.body.metadata.tags).toEqual({ lc: 2, type: "constructor", id: ["Set"], method: null, args: [["x"]], kwargs: {} });
    expect(call.body.blobs).toEqual([
      { channel: "a", version: 2, type: "json", data: b64('{"n":1}') },
      { channel: "b", version: "00003.5", type: "bytes", data: b64("\x01\x02\x03") },
      { channel: "gone", version: 4, type: "empty" },
    ]);
    expect(checkpoint.channel_values.a).toEqual({ n: 1 }); // input not mutated
  });

  it("put: root checkpoint sends parent_checkpoint_id null and default ns", async () => {
    const fetch = recordingFetch([[201, { config: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c1" } }]]);
    const saver = new MemorydSaver({ url: "http://x", fetch });
    await saver.put({ configurable: { thread_id: "t1" } }, { ...emptyCheckpoint(), id: "c1" }, {}, {});
    expect(fetch.calls[0].body).toMatchObject({ checkpoint_ns: "", parent_checkpoint_id: null, blobs: [] });
    expect(fetch.calls[0].headers["x-tenant-id"]).toBeUndefined();
    expect(fetch.calls[0].headers.authorization).toBeUndefined();
  });

  it("put/putWrites reject a config without thread_id before any request", async () => {
    const fetch = recordingFetch();
    const saver = new MemorydSaver({ url: "http://x", fetch });
    await expect(saver.put({}, emptyCheckpoint(), {}, {})).rejects.toThrow(/thread_id/);
    await expect(saver.putWrites({ configurable: { thread_id: "t" } }, [["a", 1]], "task")).rejects.toThrow(/checkpoint_id/);
    expect(fetch.calls).toHaveLength(0);
  });

  it("putWrites: body with task_path and typed values", async () => {
    const fetch = recordingFetch([[200, { stored: 2 }]]);
    const saver = new MemorydSaver({ url: "http://x", fetch });
    await saver.putWrites(
      { configurable: { thread_id: "t/1", checkpoint_ns: "child:1", checkpoint_id: "c1" } },
      [["a", 1], ["__interrupt__", { value: "q" }]],
      "task-1",
      "~__pregel_pull, node"
    );
    expect(fetch.calls[0].url).toBe("http://x/checkpoints/t%2F1/writes");
    expect(fetch.calls[0].body).toEqual({
      checkpoint_ns: "child:1",
      checkpoint_id: "c1",
      task_id: "task-1",
      task_path: "~__pregel_pull, node",
      writes: [
        { channel: "a", type: "json", data: b64("1") },
        { channel: "__interrupt__", type: "json", data: b64('{"value":"q"}') },
      ],
    });
  });

  it("getTuple: query, rebuild, pending writes, parent config; 404 -> undefined", async () => {
    const fetch = recordingFetch([
      [
        200,
        wireTuple({
          parent_config: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c1" },
          pending_writes: [
            { task_id: "k", task_path: "", channel: "a", idx: 0, type: "json", data: b64("[1]") },
            { task_id: "k", task_path: "", channel: "raw", idx: 1, type: "bytes", data: b64("hi") },
          ],
        }),
      ],
      [404, { error: { code: "not_found", message: "no", request_id: "r1" } }],
    ]);
    const saver = new MemorydSaver({ url: "http://x", fetch });
    const t = await saver.getTuple({ configurable: { thread_id: "t 1", checkpoint_ns: "", checkpoint_id: "c2" } });
    expect(fetch.calls[0].url).toBe("http://x/checkpoints/t%201?checkpoint_ns=&checkpoint_id=c2");
    expect(t.config).toEqual({ configurable: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c2" } });
    expect(t.parentConfig).toEqual({ configurable: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c1" } });
    expect(t.checkpoint.channel_values).toEqual({ a: "x" });
    expect(t.checkpoint.channel_versions).toEqual({ a: 1 });
    expect(t.metadata).toEqual({ source: "loop", step: 1 });
    expect(t.pendingWrites).toEqual([["k", "a", [1]], ["k", "raw", new TextEncoder().encode("hi")]]);
    expect(await saver.getTuple({ configurable: { thread_id: "t1" } })).toBeUndefined();
    expect(fetch.calls[1].url).toBe("http://x/checkpoints/t1?checkpoint_ns=");
    expect(await saver.getTuple({ configurable: {} })).toBeUndefined();
    expect(fetch.calls).toHaveLength(2);
  });

  it("list: query parameters, and limit / pagination", async () => {
    const page = (ids, truncated) => ({
      checkpoints: ids.map((id) => wireTuple({ config: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: id } })),
      truncated,
    });
    const fetch = recordingFetch([[200, page(["c9", "c8"], true)]]);
    const saver = new MemorydSaver({ url: "http://x", fetch });
    const got = [];
    for await (const t of saver.list(
      { configurable: { thread_id: "t1", checkpoint_ns: "" } },
      { limit: 2, before: { configurable: { checkpoint_id: "c10" } }, filter: { source: "loop", step: 1 } }
    )) got.push(t.config.configurable.checkpoint_id);
    expect(got).toEqual(["c9", "c8"]);
    expect(fetch.calls).toHaveLength(1);
    const u = new URL(fetch.calls[0].url);
    expect(u.pathname).toBe("/checkpoints");
    expect(u.searchParams.get("thread_id")).toBe("t1");
    expect(u.searchParams.get("checkpoint_ns")).toBe("");
    expect(u.searchParams.get("before")).toBe("c10");
    expect(u.searchParams.get("limit")).toBe("2");
    expect(JSON.parse(u.searchParams.get("filter"))).toEqual({ source: "loop", step: 1 });

    // No limit: pages of 1000 until a short, untruncated page.
    const fetch2 = recordingFetch([[200, page(["c9", "c8"], true)], [200, page(["c7"], false)]]);
    const saver2 = new MemorydSaver({ url: "http://x", fetch: fetch2 });
    const all = [];
    for await (const t of saver2.list({})) all.push(t.config.configurable.checkpoint_id);
    expect(all).toEqual(["c9", "c8", "c7"]);
    const u1 = new URL(fetch2.calls[0].url);
    expect([...u1.searchParams.keys()]).toEqual(["limit"]); // no thread_id / ns: all threads, all ns
    expect(u1.searchParams.get("limit")).toBe("1000");
    expect(new URL(fetch2.calls[1].url).searchParams.get("before")).toBe("c8");

    const fetch3 = recordingFetch();
    for await (const _ of new MemorydSaver({ url: "http://x", fetch: fetch3 }).list({}, { limit: 0 })) got.push(_);
    expect(fetch3.calls).toHaveLength(0);
  });

  it("list with a checkpoint_id: one getTuple, not a walk over pages", async () => {
    const fetch = recordingFetch([[200, wireTuple()], [404, { error: { code: "not_found", message: "no" } }]]);
    const saver = new MemorydSaver({ url: "http://x", fetch });
    const one = async (config, options) => {
      const out = [];
      for await (const t of saver.list(config, options)) out.push(t);
      return out;
    };
    const got = await one({ configurable: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c2" } });
    expect(got.map((t) => t.config.configurable.checkpoint_id)).toEqual(["c2"]);
    expect(fetch.calls[0].url).toBe("http://x/checkpoints/t1?checkpoint_ns=&checkpoint_id=c2");
    expect(await one({ configurable: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c3" } })).toEqual([]);
    expect(fetch.calls).toHaveLength(2);
    // `before` at or older than the id: nothing to ask.
    const before = { configurable: { checkpoint_id: "c2" } };
    expect(await one({ configurable: { thread_id: "t1", checkpoint_ns: "", checkpoint_id: "c2" } }, { before })).toEqual([]);
    expect(fetch.calls).toHaveLength(2);
  });

  it("errors carry status, code, request_id and field", async () => {
    const fetch = recordingFetch([
      [400, { error: { code: "invalid_field", message: "bad", request_id: "abc", field: "thread_id" } }],
      [503, { error: { code: "store_unavailable", message: "down", request_id: "r2" } }, { "Retry-After": "1" }],
      [500, undefined, { "X-Request-Id": "hdr" }],
    ]);
    const saver = new MemorydSaver({ url: "http://x", fetch, retry: false });
    const err = await saver.put({ configurable: { thread_id: "t" } }, emptyCheckpoint(), {}, {}).catch((e) => e);
    expect(err).toBeInstanceOf(MemorydError);
    expect(err).toMatchObject({ status: 400, code: "invalid_field", request_id: "abc", requestId: "abc", field: "thread_id" });
    const err2 = await saver.getTuple({ configurable: { thread_id: "t" } }).catch((e) => e);
    expect(err2).toMatchObject({ status: 503, code: "store_unavailable", request_id: "r2" });
    const err3 = await saver.deleteThread("t").catch((e) => e);
    expect(err3).toMatchObject({ status: 500, code: "http_500", request_id: "hdr" });
  });

  it("network failure becomes MemorydError status 0", async () => {
    const client = new MemorydClient({ url: "http://127.0.0.1:1" });
    await expect(client.health()).rejects.toMatchObject({ status: 0, code: "network_error" });
  });
});

describe("MemorydStore requests", () => {
  const wireItem = (extra = {}) => ({
    namespace: ["a", "b"],
    key: "k",
    value: { x: 1 },
    version: "7",
    created_at: "2026-01-02T03:04:05.678Z",
    updated_at: "2026-01-03T03:04:05.678Z",
    expires_at: null,
    ...extra,
  });

  it("batch: operations memoryd refused past its budget (truncated) are sent again", async () => {
    const tooLarge = { error: { code: "payload_too_large", message: "the batch's budget is spent" } };
    const fetch = recordingFetch([
      [200, { results: [{ item: wireItem() }, tooLarge, tooLarge], truncated: true }],
      [200, { results: [{ item: null }, {}], truncated: false }],
    ]);
    const store = new MemorydStore({ url: "http://x/", fetch });
    const results = await store.batch([
      { namespace: ["a", "b"], key: "k" },
      { namespace: ["a", "b"], key: "k2" },
      { namespace: ["a", "b"], key: "k3", value: { v: 1 } },
    ]);
    expect(fetch.calls).toHaveLength(2);
    expect(fetch.calls[1].body.operations).toEqual([
      { op: "get", namespace: ["a", "b"], key: "k2", refresh_ttl: true },
      { op: "put", namespace: ["a", "b"], key: "k3", value: { v: 1 } },
    ]);
    expect(results[0].key).toBe("k");
    expect(results[1]).toBeNull();
    expect(results[2]).toBeUndefined();
    // refused again with nothing run: that operation fails, no loop
    const stuck = recordingFetch([
      [200, { results: [tooLarge], truncated: true }],
      [200, { results: [tooLarge], truncated: true }],
    ]);
    const s2 = new MemorydStore({ url: "http://x/", fetch: stuck });
    const [only] = await s2.batch([{ namespacePrefix: ["a"] }]);
    expect(only.error).toMatchObject({ code: "payload_too_large" });
    await expect(s2.search(["a"])).rejects.toMatchObject({ code: "payload_too_large" });
    expect(stuck.calls).toHaveLength(2);
  });

  it("batch: one POST /memory/batch with tenant and token, each operation as the contract has it", async () => {
    const fetch = recordingFetch([
      [200, { results: [{ item: wireItem() }, {}, { deleted: true }, { items: [wireItem({ expires_at: "2026-02-01T00:00:00.000Z" })], next_cursor: null }, { namespaces: [["a"]] }, { item: null }] }],
    ]);
    const store = new MemorydStore({ url: "http://x/", tenant: "acme", token: "sekret", fetch, ttlSeconds: 60 });
    const results = await store.batch([
      { namespace: ["a", "b"], key: "k" },
      { namespace: ["a", "b"], key: "k2", value: { y: "ü" }, index: ["y"] },
      { namespace: ["a", "b"], key: "k3", value: null },
      { namespacePrefix: ["a"], filter: { x: { $eq: 1 }, z: [1, 2], gone: undefined }, limit: 5, offset: 2 },
      { matchConditions: [{ matchType: "prefix", path: ["a"] }, { matchType: "suffix", path: ["b"] }], maxDepth: 99, limit: 10, offset: 0 },
      { namespace: ["none"], key: "k" },
    ]);
    expect(fetch.calls).toHaveLength(1);
    const [call] = fetch.calls;
    expect(call.url).toBe("http://x/memory/batch");
    expect(call.method).toBe("POST");
    expect(call.headers["x-tenant-id"]).toBe("acme");
    expect(call.headers.authorization).toBe("Bearer sekret");
    expect(call.body.operations).toEqual([
      { op: "get", namespace: ["a", "b"], key: "k", refresh_ttl: true },
      { op: "put", namespace: ["a", "b"], key: "k2", value: { y: "ü" }, ttl_seconds: 60 },
      { op: "delete", namespace: ["a", "b"], key: "k3" },
      { op: "search", namespace_prefix: ["a"], filter: { x: { $eq: 1 }, z: [1, 2] }, limit: 5, offset: 2, refresh_ttl: true },
      { op: "list_namespaces", prefix: ["a"], suffix: ["b"], limit: 10, offset: 0 },
      { op: "get", namespace: ["none"], key: "k", refresh_ttl: true },
    ]);
    expect(results[0]).toEqual({
      namespace: ["a", "b"],
      key: "k",
      value: { x: 1 },
      createdAt: new Date("2026-01-02T03:04:05.678Z"),
      updatedAt: new Date("2026-01-03T03:04:05.678Z"),
      expiresAt: null,
      version: "7",
    });
    expect(results[1]).toBeUndefined();
    expect(results[2]).toBeUndefined();
    expect(results[3][0].expiresAt).toEqual(new Date("2026-02-01T00:00:00.000Z"));
    expect(results[4]).toEqual([["a"]]);
    expect(results[5]).toBeNull();
  });

  it("an operation's error fails that operation alone, with its code, field and the single endpoint's status", async () => {
    const fetch = recordingFetch([
      [200, { results: [{}, { error: { code: "payload_too_large", message: "value is 9 bytes; at most 8", field: "value" } }, { item: null }] }],
    ]);
    const store = new MemorydStore({ url: "http://x", fetch });
    const results = await store.batch([
      { namespace: ["a"], key: "k1", value: { v: 1 } },
      { namespace: ["a"], key: "k2", value: { v: "too big" } },
      { namespace: ["a"], key: "k3" },
    ]);
    expect(results[0]).toBeUndefined();
    expect(results[2]).toBeNull();
    expect(results[1]).toBeInstanceOf(FailedOperation);
    const err = await Promise.resolve(results[1]).catch((e) => e);
    expect(err).toBeInstanceOf(MemorydError);
    expect(err).toMatchObject({ status: 413, code: "payload_too_large", field: "value" });
    expect(err.message).toMatch(/operation 1 \(put\) failed: payload_too_large: value is 9 bytes/);
  });

  it("TTL in LangGraph's terms: minutes per put, TTLConfig defaultTtl and refreshOnRead", async () => {
    const fetch = recordingFetch([
      [200, { results: [{}, {}, {}, {}] }],
    ]);
    const store = new MemorydStore({ url: "http://x", fetch, ttl: { defaultTtl: 1.5, refreshOnRead: false } });
    expect(store.ttlSeconds).toBe(90);
    await store.batch([
      { namespace: ["a"], key: "k1", value: { v: 1 } },
      { namespace: ["a"], key: "k2", value: { v: 1 }, ttl: 10 },
      { namespace: ["a"], key: "k3", value: { v: 1 }, ttl: null },
      { namespace: ["a"], key: "k4", value: { v: 1 }, ttl: 0.01 },
    ]);
    expect(fetch.calls[0].body.operations.map((o) => o.ttl_seconds)).toEqual([90, 600, 0, 1]);
    expect(() => new MemorydStore({ url: "http://x", ttl: { refreshOnRead: "yes" } })).toThrow(/must be a boolean/);
    const reads = recordingFetch([
      [200, { results: [{ item: null }, { items: [] }, { item: null }, { items: [] }] }],
      [200, { results: [{ item: null }, { item: null }] }],
    ]);
    const refreshing = new MemorydStore({ url: "http://x", fetch: reads });
    expect(refreshing.refreshOnRead).toBe(true);
    await refreshing.batch([
      { namespace: ["a"], key: "k" },
      { namespacePrefix: ["a"] },
      { namespace: ["a"], key: "k", refreshTtl: false },
      { namespacePrefix: ["a"], refreshTtl: false },
    ]);
    expect(reads.calls[0].body.operations.map((o) => o.refresh_ttl)).toEqual([true, true, undefined, undefined]);
    const still = new MemorydStore({ url: "http://x", fetch: reads, ttl: { refreshOnRead: false } });
    await still.batch([{ namespace: ["a"], key: "k" }, { namespace: ["a"], key: "k", refreshTtl: true }]);
    expect(reads.calls[1].body.operations.map((o) => o.refresh_ttl)).toEqual([undefined, true]);
    expect(() => new MemorydStore({ url: "http://x", ttl: { defaultTtl: 1 }, ttlSeconds: 5 })).toThrow(/not both/);
    await expect(store.put(["a"], "k", { v: 1 }, undefined, { ttl: -1 })).rejects.toThrow(/minutes > 0/);
  });

  it("refuses before sending: query, a put of undefined, a bad TTL or matchType", async () => {
    const fetch = recordingFetch();
    const store = new MemorydStore({ url: "http://x", fetch });
    await expect(store.search(["a"], { query: "q" })).rejects.toMatchObject({ code: "invalid_field", field: "query", status: 0 });
    await expect(store.search(["a"], { filter: [1] })).rejects.toThrow(/filter must be an object/);
    await expect((await store.batch([{ namespace: ["a"], key: "k", value: undefined }]))[0]).rejects.toThrow(/null to delete/);
    await expect(store.put(["a"], "k", { v: 1 }, undefined, { ttlSeconds: 1.5 })).rejects.toThrow(/ttlSeconds/);
    await expect((await store.batch([{ matchConditions: [{ matchType: "infix", path: [] }] }]))[0]).rejects.toThrow(/matchType/);
    expect(fetch.calls).toHaveLength(0);
    expect(await store.search(["a"], { limit: 0 })).toEqual([]);
    expect(fetch.calls).toHaveLength(0);
  });
});
