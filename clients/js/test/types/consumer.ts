// A TypeScript consumer of @memoryd/client (ESM), compiled with tsc --noEmit by test/package.test.js.
import { AIMessage, HumanMessage } from "@langchain/core/messages";
import { Annotation, END, START, StateGraph } from "@langchain/langgraph";
import type { BaseCheckpointSaver, BaseStore } from "@langchain/langgraph-checkpoint";
import {
  FailedOperation,
  MemorydChatMessageHistory,
  MemorydClient,
  MemorydError,
  MemorydSaver,
  MemorydStore,
  type MemorydItem,
} from "@memoryd/client";

export async function main(url: string): Promise<void> {
  const client = new MemorydClient({
    url,
    tenant: "acme",
    token: async () => "rotating",
    timeoutMs: 5000,
    retry: { attempts: 3, maxElapsedMs: 2000 },
    signal: new AbortController().signal,
  });
  const saver: BaseCheckpointSaver = MemorydSaver.fromUrl(url, { tenant: "acme", retry: false });
  const pgStyle = MemorydSaver.fromConnString(url);
  await pgStyle.setup();
  const store: BaseStore = new MemorydStore({ client, ttlSeconds: 3600 });

  const State = Annotation.Root({ n: Annotation<number>() });
  const graph = new StateGraph(State)
    .addNode("inc", (s) => ({ n: s.n + 1 }))
    .addEdge(START, "inc")
    .addEdge("inc", END)
    .compile({ checkpointer: saver, store });
  const out = await graph.invoke({ n: 1 }, { configurable: { thread_id: "t", request_id: "r-1" } });
  const n: number = out.n;

  const mstore = new MemorydStore({ client });
  await mstore.put(["a"], "k", { v: n }, undefined, { ttlSeconds: 60 });
  const item: MemorydItem | null = await mstore.get(["a"], "k");
  const expires: Date | null | undefined = item?.expiresAt;
  const results = await mstore.batch([{ namespace: ["a"], key: "k" }]);
  if (results[0] instanceof FailedOperation) console.log(results[0].error.message, expires);

  const history = new MemorydChatMessageHistory({ client, conversationId: "c", customerId: "cu", window: 20 });
  await history.addMessages([new HumanMessage("hi"), new AIMessage("hello")]);
  const messages = await history.getMessages();
  console.log(messages.length);

  const appended = await client.appendMessages("c", { expected_seq: 0, messages: [{ id: "m", role: "user", content: "x" }] });
  const seq: number = appended.last_seq;
  const page = await client.getMessages("c", { before_seq: seq }, { requestId: "r-2" });
  for await (const m of client.iterMessages("c")) console.log(m.seq, m.role);
  const list = await client.listConversations({ customer_id: "cu" });
  console.log(page?.next_cursor, list.next_cursor);

  try {
    await client.health();
  } catch (e) {
    if (e instanceof MemorydError && (e.code === "timeout" || e.status === 503)) console.log(e.attempts, e.requestId);
  }
  await history.end();
  await (saver as MemorydSaver).end();
  await client.end();
}
