// bench/graph: what an agent feels. A LangGraph JS StateGraph of three nodes
// (plan, act, reply; each turn adds about 1.5 KB of messages to a growing
// list) runs THREADS threads at once, TURNS turns each, with MemorySaver,
// LangGraph's PostgresSaver (on DATABASE_URL) and MemorydSaver (on
// MEMORYD_URL), alternating in one process, ROUNDS times. Each phase prints
// one JSON line: turns/s, p50/p99 per turn, the saver calls it made and the
// process's CPU per call (process.cpuUsage); the summary gives MemorydSaver's
// ratios to the others and its CPU per call above MemorySaver's (the client's
// own cost: HTTP, JSON, base64). SAVERS may add "baseline": the client module
// named by BASELINE_CLIENT, to compare two builds of the client in one run.
// Run by bench/graph/run.sh.
import { randomUUID } from "node:crypto";
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { MemorySaver, MessagesAnnotation, START, StateGraph } from "@langchain/langgraph";
import { PostgresSaver } from "@langchain/langgraph-checkpoint-postgres";
import { MemorydSaver } from "@memoryd/client";

const env = process.env;
const THREADS = Number(env.THREADS ?? 16);
const TURNS = Number(env.TURNS ?? 25);
const ROUNDS = Number(env.ROUNDS ?? 2);
const SAVERS = (env.SAVERS ?? "memory,postgres,memoryd").split(",");
const THREAD_COUNTS = (env.THREAD_COUNTS ?? `${THREADS},1`).split(",").map(Number);

// About 1.5 KB a turn: the user's 300 bytes and three 400-byte answers.
const text = (tag, n) => `${tag}: ${"lorem ipsum dolor sit amet ".repeat(Math.ceil(n / 27))}`.slice(0, n);

function buildGraph(checkpointer) {
  return new StateGraph(MessagesAnnotation)
    .addNode("plan", () => ({ messages: [new AIMessage({ content: text("plan", 400), name: "planner" })] }))
    .addNode("act", () => ({ messages: [new AIMessage({ content: text("act", 400), name: "tool" })] }))
    .addNode("reply", () => ({ messages: [new AIMessage(text("reply", 400))] }))
    .addEdge(START, "plan")
    .addEdge("plan", "act")
    .addEdge("act", "reply")
    .compile({ checkpointer });
}

// Counts the saver calls the graph makes (each is one request for the
// savers that talk to a server).
function counted(saver) {
  const counts = { calls: 0 };
  for (const name of ["getTuple", "put", "putWrites"]) {
    const orig = saver[name].bind(saver);
    saver[name] = (...args) => {
      counts.calls += 1;
      return orig(...args);
    };
  }
  const list = saver.list.bind(saver);
  saver.list = (...args) => {
    counts.calls += 1;
    return list(...args);
  };
  return counts;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function makeSaver(kind) {
  if (kind === "memory") return { saver: new MemorySaver(), close: async () => {} };
  if (kind === "postgres") {
    const saver = PostgresSaver.fromConnString(env.DATABASE_URL, { schema: "bench_graph" });
    await saver.setup();
    return { saver, close: () => saver.end() };
  }
  if (kind === "memoryd" || kind === "baseline") {
    // baseline: another build of the client (BASELINE_CLIENT, a module
    // specifier resolvable from here), for before/after figures in one run.
    const Saver = kind === "memoryd" ? MemorydSaver : (await import(env.BASELINE_CLIENT)).MemorydSaver;
    const saver = new Saver({ url: env.MEMORYD_URL, tenant: "bench-graph", token: env.MEMORYD_TOKEN });
    return { saver, close: async () => saver.end?.() };
  }
  throw new Error(`unknown saver ${kind}`);
}

async function phase(kind, threads, round) {
  const { saver, close } = await makeSaver(kind);
  const counts = counted(saver);
  const graph = buildGraph(saver);
  const prefix = `${kind}-${round}-${randomUUID()}`;
  // One warm-up turn per thread (connections, prepared statements, JIT).
  const configs = Array.from({ length: threads }, (_, i) => ({ configurable: { thread_id: `${prefix}-${i}` } }));
  await Promise.all(configs.map((c) => graph.invoke({ messages: [new HumanMessage(text("hi", 300))] }, c)));
  counts.calls = 0;

  const latencies = [];
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(
    configs.map(async (config) => {
      for (let turn = 0; turn < TURNS; turn++) {
        const start = performance.now();
        await graph.invoke({ messages: [new HumanMessage(text(`user ${turn}`, 300))] }, config);
        latencies.push(performance.now() - start);
      }
    })
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Every thread holds all its turns: the state survived the phase.
  const last = await graph.getState(configs[0]);
  const want = 4 * (TURNS + 1);
  if (last.values.messages.length !== want) {
    throw new Error(`${kind}: thread holds ${last.values.messages.length} messages, want ${want}`);
  }
  await close();
  latencies.sort((a, b) => a - b);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return {
    name: `graph_${kind}`,
    saver: kind,
    threads,
    round,
    turns: latencies.length,
    seconds: +seconds.toFixed(3),
    turns_per_s: +(latencies.length / seconds).toFixed(1),
    p50_ms: +quantile(latencies, 0.5).toFixed(2),
    p99_ms: +quantile(latencies, 0.99).toFixed(2),
    calls: counts.calls,
    cpu_ms: +cpuMs.toFixed(1),
    cpu_user_ms: +(cpu.user / 1000).toFixed(1),
    cpu_system_ms: +(cpu.system / 1000).toFixed(1),
    cpu_ms_per_call: +(cpuMs / counts.calls).toFixed(3),
  };
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

const results = [];
for (const threads of THREAD_COUNTS) {
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order between rounds so no saver always runs first.
    const order = round % 2 === 0 ? SAVERS : [...SAVERS].reverse();
    for (const kind of order) {
      const r = await phase(kind, threads, round);
      results.push(r);
      console.log(JSON.stringify(r));
    }
  }
}

// Summary per thread count: means over the rounds, and MemorydSaver's ratios.
for (const threads of THREAD_COUNTS) {
  const of = (kind) => results.filter((r) => r.saver === kind && r.threads === threads);
  const agg = {};
  for (const kind of SAVERS) {
    const rs = of(kind);
    agg[kind] = {
      turns_per_s: mean(rs.map((r) => r.turns_per_s)),
      p50_ms: mean(rs.map((r) => r.p50_ms)),
      p99_ms: mean(rs.map((r) => r.p99_ms)),
      cpu_ms_per_call: mean(rs.map((r) => r.cpu_ms_per_call)),
      cpu_ms: mean(rs.map((r) => r.cpu_ms)),
      calls: mean(rs.map((r) => r.calls)),
    };
  }
  const summary = { name: "graph_summary", threads, savers: agg };
  const m = agg.memoryd;
  if (m && agg.postgres) summary.memoryd_vs_postgres = +(m.turns_per_s / agg.postgres.turns_per_s).toFixed(2);
  if (m && agg.memory) {
    summary.memoryd_vs_memory = +(m.turns_per_s / agg.memory.turns_per_s).toFixed(2);
    summary.memoryd_p50_above_memory_ms = +(m.p50_ms - agg.memory.p50_ms).toFixed(2);
    // The client's own CPU per request: what memoryd's phase spent beyond
    // MemorySaver's doing the same turns, over memoryd's requests.
    summary.client_cpu_ms_per_request = +((m.cpu_ms - agg.memory.cpu_ms) / m.calls).toFixed(3);
  }
  const b = agg.baseline;
  if (m && b) summary.memoryd_vs_baseline = +(m.turns_per_s / b.turns_per_s).toFixed(2);
  if (b && agg.memory) {
    summary.baseline_client_cpu_ms_per_request = +((b.cpu_ms - agg.memory.cpu_ms) / b.calls).toFixed(3);
  }
  console.log(JSON.stringify(summary));
}
