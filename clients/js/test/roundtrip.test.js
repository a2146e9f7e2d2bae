// MemorydSaver round trips of values JSON cannot hold, against the real memoryd at MEMORYD_URL.
import { randomUUID } from "node:crypto";
import { gunzipSync, gzipSync } from "node:zlib";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import { JsonPlusSerializer, TASKS, emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { MemorydSaver } from "../src/index.js";

describe("MemorydSaver round trips (real memoryd at MEMORYD_URL)", () => {
  const url = process.env.MEMORYD_URL;
  if (!url) throw new Error("MEMORYD_URL must point at a running memoryd");

  it("keeps non-JSON values in checkpoint, metadata, channels and writes", async () => {
    const saver = new MemorydSaver({ url, tenant: "rt" });
    const checkpoint = {
      ...emptyCheckpoint(),
      id: "1ef00000-0000-6000-8000-000000000001",
      channel_values: { m: new Map([["k", new Set([1])]]), u: undefined, bin: new Uint8Array([0, 255]) },
      channel_versions: { m: 1, u: 1, bin: "00001.0" },
      versions_seen: { "": { m: 1 } },
    };
    const metadata = { source: "input", step: -1, parents: {}, when: undefined, re: /a+/g };
    const config = await saver.put({ configurable: { thread_id: "rt" } }, checkpoint, metadata, checkpoint.channel_versions);
    await saver.putWrites(config, [["w", new Set(["z"])]], "task");
    const t = await saver.getTuple(config);
    expect(t.checkpoint).toEqual(checkpoint);
    expect(t.metadata).toEqual(metadata);
    expect(t.pendingWrites).toEqual([["task", "w", new Set(["z"])]]);
    const listed = [];
    for await (const x of saver.list({ configurable: { thread_id: "rt" } }, { filter: { source: "input" } })) listed.push(x);
    expect(listed).toEqual([t]);
  });

  it("migrates pending sends of pre-v4 checkpoints", async () => {
    const saver = new MemorydSaver({ url, tenant: "mig" });
    const c0 = { ...emptyCheckpoint(), v: 1, id: "1ef00000-0000-6000-8000-000000000001" };
    const cfg0 = await saver.put({ configurable: { thread_id: "m" } }, c0, {}, {});
    await saver.putWrites(cfg0, [[TASKS, "s1"]], "t1");
    const c1 = { ...emptyCheckpoint(), v: 1, id: "1ef00000-0000-6000-8000-000000000002", channel_versions: { x: 3 } };
    const cfg1 = await saver.put(cfg0, c1, {}, {});
    const t = await saver.getTuple(cfg1);
    expect(t.checkpoint.channel_values).toEqual({ [TASKS]: ["s1"] });
    expect(t.checkpoint.channel_versions[TASKS]).toBe(3);
  });
});

describe("a serde that does not write JSON (real memoryd)", () => {
  const url = process.env.MEMORYD_URL;

  /** LangGraph's JSON+ serde, its output gzipped under the type "gzip+json". */
  class GzipSerde {
    constructor() {
      this.inner = new JsonPlusSerializer();
    }
    async dumpsTyped(value) {
      const [type, bytes] = await this.inner.dumpsTyped(value);
      return [`gzip+${type}`, new Uint8Array(gzipSync(typeof bytes === "string" ? Buffer.from(bytes) : bytes))];
    }
    async loadsTyped(type, data) {
      if (!type.startsWith("gzip+")) throw new Error(`unexpected type ${type}`);
      return this.inner.loadsTyped(type.slice(5), new Uint8Array(gunzipSync(data)));
    }
  }

  it("round-trips channel values: channel_versions travel beside the typed checkpoint", async () => {
    const saver = new MemorydSaver({ url, tenant: `gz-${randomUUID()}`, serde: new GzipSerde() });
    const checkpoint = {
      ...emptyCheckpoint(),
      id: "1ef00000-0000-6000-8000-000000000001",
      channel_values: { a: { n: 1 }, b: ["x"] },
      channel_versions: { a: 1, b: 2 },
    };
    const config = await saver.put({ configurable: { thread_id: "g" } }, checkpoint, { step: 0 }, { a: 1, b: 2 });
    const t = await saver.getTuple(config);
    expect(t.checkpoint).toEqual(checkpoint);
    expect(t.metadata).toEqual({ step: 0 });

    const State = Annotation.Root({ items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }) });
    const graph = new StateGraph(State)
      .addNode("add", (s) => ({ items: [`n${s.items.length}`] }))
      .addEdge(START, "add")
      .addEdge("add", END)
      .compile({ checkpointer: saver });
    const cfg = { configurable: { thread_id: "graph" } };
    await graph.invoke({ items: ["a"] }, cfg);
    await graph.invoke({ items: ["b"] }, cfg);
    expect((await graph.getState(cfg)).values.items).toEqual(["a", "n1", "b", "n3"]);
    await saver.deleteThread("g");
    await saver.deleteThread("graph");
    await saver.end();
  });
});
