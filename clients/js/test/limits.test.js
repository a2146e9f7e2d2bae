// Against a real memoryd started with tokens and small limits (ctest
// js_client_limits; see tests/CMakeLists.txt):
//   API_TOKENS="js-limits-token-acme:js-acme;js-limits-token-all:*" MAX_BODY_BYTES=65536
//   CONV_MAX_MESSAGE_BYTES=1024 MEMORY_MAX_VALUE_BYTES=1024
// 401 and 403 from API_TOKENS, 413 from the size limits, and the token
// provider; none of them retried.
import { randomUUID } from "node:crypto";
import { emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { FailedOperation, MemorydClient, MemorydSaver, MemorydStore } from "../src/index.js";

const url = process.env.MEMORYD_URL;
if (!url) throw new Error("MEMORYD_URL must point at a running memoryd");
if (process.env.API_TOKENS !== "js-limits-token-acme:js-acme;js-limits-token-all:*") {
  throw new Error('limits.test.js needs memoryd run with API_TOKENS="js-limits-token-acme:js-acme;js-limits-token-all:*" (ctest js_client_limits)');
}

const thread = () => `t-${randomUUID()}`;
const cfg = (thread_id) => ({ configurable: { thread_id } });

describe("401 and 403 with API_TOKENS", () => {
  it("no token: 401 unauthorized, not retried", async () => {
    const saver = new MemorydSaver({ url, tenant: "js-acme" });
    const err = await saver.getTuple(cfg(thread())).catch((e) => e);
    expect(err).toMatchObject({ name: "MemorydError", status: 401, code: "unauthorized", attempts: 1 });
    expect(err.requestId).toMatch(/^[0-9a-f]+$/);
    await saver.end();
  });

  it("a token for another tenant: 403 forbidden; the right one works", async () => {
    const other = new MemorydSaver({ url, tenant: "js-other", token: "js-limits-token-acme" });
    await expect(other.getTuple(cfg(thread()))).rejects.toMatchObject({ status: 403, code: "forbidden" });
    await other.end();
    const saver = new MemorydSaver({ url, tenant: "js-acme", token: "js-limits-token-acme" });
    const t = thread();
    await saver.put(cfg(t), { ...emptyCheckpoint(), id: "1ef00000-0000-6000-8000-000000000001" }, {}, {});
    expect((await saver.getTuple(cfg(t))).checkpoint.id).toBe("1ef00000-0000-6000-8000-000000000001");
    await saver.deleteThread(t);
    await saver.end();
  });

  it("a token provider: each request carries the token it answers (rotation)", async () => {
    const tokens = ["js-limits-token-acme", "revoked-js-limits-token", "js-limits-token-all"];
    let i = 0;
    const client = new MemorydClient({ url, tenant: "js-acme", token: () => tokens[i++ % tokens.length] });
    expect(await client.getCheckpoint(thread())).toBeUndefined();
    await expect(client.getCheckpoint(thread())).rejects.toMatchObject({ status: 401 });
    expect(await client.getCheckpoint(thread())).toBeUndefined();
    await client.close();
  });
});

describe("413 payload_too_large", () => {
  const client = new MemorydClient({ url, tenant: "js-acme", token: "js-limits-token-all" });
  afterAll(() => client.close());

  it("a checkpoint put over MAX_BODY_BYTES", async () => {
    const saver = new MemorydSaver({ client });
    const checkpoint = { ...emptyCheckpoint(), id: "1ef00000-0000-6000-8000-000000000002", channel_values: { big: "x".repeat(100000) }, channel_versions: { big: 1 } };
    const err = await saver.put(cfg(thread()), checkpoint, {}, { big: 1 }).catch((e) => e);
    expect(err).toMatchObject({ status: 413, code: "payload_too_large", attempts: 1 });
  });

  it("a store value over MEMORY_MAX_VALUE_BYTES fails that operation alone", async () => {
    const store = new MemorydStore({ client });
    const ns = [`ns-${randomUUID()}`];
    const results = await store.batch([
      { namespace: ns, key: "small", value: { v: 1 } },
      { namespace: ns, key: "big", value: { v: "x".repeat(2000) } },
    ]);
    expect(results[0]).toBeUndefined();
    expect(results[1]).toBeInstanceOf(FailedOperation);
    await expect(results[1]).rejects.toMatchObject({ status: 413, code: "payload_too_large", field: "value" });
    await expect(store.put(ns, "big", { v: "x".repeat(2000) })).rejects.toMatchObject({ status: 413 });
    expect((await store.get(ns, "small")).value).toEqual({ v: 1 });
    await store.delete(ns, "small");
  });

  it("a conversation message over CONV_MAX_MESSAGE_BYTES", async () => {
    const id = `c-${randomUUID()}`;
    const err = await client
      .appendMessages(id, { messages: [{ id: "m1", role: "user", content: "x".repeat(2000) }] })
      .catch((e) => e);
    expect(err).toMatchObject({ status: 413, code: "payload_too_large", attempts: 1 });
    await client.deleteConversation(id);
  });
});
