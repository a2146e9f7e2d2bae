// End-to-end: a real LangGraph graph (Send fan-out, subgraph, interrupt/resume)
// run once with MemorySaver and once with MemorydSaver must end in the same
// state and history. Runs against the real memoryd at MEMORYD_URL.
import { randomUUID } from "node:crypto";
import {
  Annotation,
  BaseCheckpointSaver,
  Command,
  DeltaChannel,
  END,
  MemorySaver,
  START,
  Send,
  StateGraph,
  interrupt,
} from "@langchain/langgraph";
import { MemorydSaver } from "../src/index.js";

const State = Annotation.Root({
  items: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
  results: Annotation({ reducer: (a, b) => a.concat(b), default: () => [] }),
  tags: Annotation({ reducer: (a, b) => new Set([...a, ...b]), default: () => new Set() }),
  approved: Annotation(),
  sub: Annotation(),
});

const SubState = Annotation.Root({ sub: Annotation() });

function buildGraph(checkpointer) {
  const subgraph = new StateGraph(SubState)
    .addNode("inner", (s) => ({ sub: `${s.sub ?? ""}+inner` }))
    .addEdge(START, "inner")
    .addEdge("inner", END)
    .compile();
  return new StateGraph(State)
    .addNode("worker", (s) => ({ results: [String(s.item).toUpperCase()], tags: new Set([s.item]) }))
    .addNode("child", subgraph)
    .addNode("approve", () => ({ approved: interrupt({ question: "ok?" }) }))
    .addConditionalEdges(START, (s) => s.items.map((item) => new Send("worker", { item })))
    .addEdge("worker", "child")
    .addEdge("child", "approve")
    .addEdge("approve", END)
    .compile({ checkpointer });
}

async function scenario(checkpointer) {
  const graph = buildGraph(checkpointer);
  const config = { configurable: { thread_id: "graph-thread" } };
  const first = await graph.invoke({ items: ["a", "b", "c"], sub: "s" }, config);
  const pending = await graph.getState(config);
  const final = await graph.invoke(new Command({ resume: "yes" }), config);
  const state = await graph.getState(config);
  const history = [];
  for await (const snap of graph.getStateHistory(config)) history.push(snap);
  const second = await graph.invoke({ items: ["d"] }, config);
  return { first, pending, final, state, history, second };
}

function normalize(r) {
  const strip = (snap) => ({
    values: snap.values,
    next: snap.next,
    step: snap.metadata?.step,
    source: snap.metadata?.source,
    tasks: snap.tasks.map((t) => ({ name: t.name, interrupts: t.interrupts.map((i) => i.value) })),
  });
  // Interrupt ids derive from checkpoint ids, which differ per run.
  const noIds = (out) => ({ ...out, __interrupt__: out.__interrupt__?.map((i) => i.value) });
  return {
    first: noIds(r.first),
    pending: strip(r.pending),
    final: r.final,
    state: strip(r.state),
    history: r.history.map(strip),
    second: noIds(r.second),
  };
}

describe("LangGraph StateGraph with MemorydSaver", () => {
  const url = process.env.MEMORYD_URL;
  if (!url) throw new Error("MEMORYD_URL must point at a running memoryd");

  it("matches MemorySaver on fan-out, subgraph, interrupt and resume", async () => {
    const expected = normalize(await scenario(new MemorySaver()));
    const saver = new MemorydSaver({ url, tenant: `graph-${randomUUID()}` });
    const actual = normalize(await scenario(saver));
    expect(actual).toEqual(expected);
    expect(actual.final.results.sort()).toEqual(["A", "B", "C"]);
    expect(actual.final.tags).toEqual(new Set(["a", "b", "c"]));
    expect(actual.final.approved).toBe("yes");
    expect(actual.pending.tasks[0].interrupts).toEqual([{ question: "ok?" }]);

    // Subgraph checkpoints land in their own namespace; list() without ns sees them.
    const namespaces = new Set();
    for await (const t of saver.list({ configurable: { thread_id: "graph-thread" } })) {
      namespaces.add(t.config.configurable.checkpoint_ns);
    }
    expect(namespaces.has("")).toBe(true);

    await saver.deleteThread("graph-thread");
    expect(await saver.getTuple({ configurable: { thread_id: "graph-thread" } })).toBeUndefined();
  });

  it("rebuilds DeltaChannel state as MemorySaver does, in a few requests, on a forked thread", async () => {
    // No snapshot for 1000 updates: every read replays the writes from the root.
    const Delta = Annotation.Root({
      items: new DeltaChannel((a, b) => a.concat(b.flat()), { snapshotFrequency: 1000, initialValueFactory: () => [] }),
    });
    const build = (checkpointer) =>
      new StateGraph(Delta)
        .addNode("a", (s) => ({ items: [`a${s.items.length}`] }))
        .addNode("b", (s) => ({ items: [`b${s.items.length}`] }))
        .addEdge(START, "a")
        .addEdge("a", "b")
        .compile({ checkpointer });
    const run = async (checkpointer) => {
      const graph = build(checkpointer);
      const config = { configurable: { thread_id: "delta-thread" } };
      for (let i = 0; i < 8; i++) await graph.invoke({ items: [`u${i}`] }, config);
      // Fork from the fourth turn's end: the old branch's checkpoints stay
      // in the thread, between the new branch's and their common ancestors.
      const history = [];
      for await (const snap of graph.getStateHistory(config)) history.push(snap);
      const fork = history.find((snap) => snap.values.items.length === 12 && snap.next.length === 0);
      for (let i = 0; i < 3; i++) await graph.invoke({ items: [`f${i}`] }, i === 0 ? fork.config : config);
      return { graph, config, state: (await graph.getState(config)).values };
    };
    const expected = await run(new MemorySaver());
    const saver = new MemorydSaver({ url, tenant: `delta-${randomUUID()}` });
    const actual = await run(saver);
    expect(actual.state).toEqual(expected.state);
    expect(actual.state.items.slice(0, 13)).toEqual(expected.state.items.slice(0, 13));
    expect(actual.state.items).toContain("f2");

    let requests = 0;
    const request = saver.client.request.bind(saver.client);
    saver.client.request = (...args) => {
      requests += 1;
      return request(...args);
    };
    const fast = await saver.getDeltaChannelHistory({ config: actual.config, channels: ["items"] });
    const fastRequests = requests;
    requests = 0;
    const walked = await BaseCheckpointSaver.prototype.getDeltaChannelHistory.call(saver, {
      config: actual.config,
      channels: ["items"],
    });
    expect(fast).toEqual(walked);
    expect(fast.items.seed).toBeUndefined(); // the root has no stored value
    expect(fast.items.writes.length).toBe(actual.state.items.length); // every item is a write
    expect(requests).toBeGreaterThan(20); // one getTuple per ancestor
    expect(fastRequests).toBeLessThanOrEqual(4);
    await saver.end();
  });
});
