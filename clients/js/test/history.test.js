// MemorydChatMessageHistory (LangChain's BaseListChatMessageHistory) and the
// conversations API of MemorydClient, against the real memoryd at MEMORYD_URL.
import { randomUUID } from "node:crypto";
import { AIMessage, ChatMessage, HumanMessage, SystemMessage, ToolMessage } from "@langchain/core/messages";
import { MemorydChatMessageHistory, MemorydClient } from "../src/index.js";

const url = process.env.MEMORYD_URL;
if (!url) throw new Error("MEMORYD_URL must point at a running memoryd");

const tenant = `hist-${randomUUID()}`;
const client = new MemorydClient({ url, tenant });
const used = [];
function conv() {
  const id = `c-${randomUUID()}`;
  used.push(id);
  return id;
}

afterAll(async () => {
  for (const id of used) await client.deleteConversation(id);
  await client.close();
});

describe("MemorydChatMessageHistory", () => {
  it("keeps each message's type, content blocks, tool calls, kwargs and id", async () => {
    const history = new MemorydChatMessageHistory({ client, conversationId: conv(), customerId: "cust-1" });
    const messages = [
      new SystemMessage("be brief"),
      new HumanMessage({ content: "weather in Paris?", id: "h-1" }),
      new AIMessage({
        content: "",
        id: "ai-1",
        tool_calls: [{ id: "call-1", name: "weather", args: { city: "Paris" }, type: "tool_call" }],
        additional_kwargs: { model: "m" },
      }),
      new ToolMessage({ content: "18C", tool_call_id: "call-1", name: "weather", id: "tool-1" }),
      new AIMessage({ content: [{ type: "text", text: "18C in Paris" }], id: "ai-2" }),
      new ChatMessage({ content: "note", role: "critic", id: "g-1" }),
    ];
    await history.addMessages(messages);
    const got = await history.getMessages();
    expect(got.map((m) => m.getType())).toEqual(["system", "human", "ai", "tool", "ai", "generic"]);
    expect(got[1].id).toBe("h-1");
    expect(got[1].content).toBe("weather in Paris?");
    expect(got[2].tool_calls).toEqual([{ id: "call-1", name: "weather", args: { city: "Paris" }, type: "tool_call" }]);
    expect(got[2].additional_kwargs).toMatchObject({ model: "m" });
    expect(got[3].tool_call_id).toBe("call-1");
    expect(got[3].name).toBe("weather");
    expect(got[4].content).toEqual([{ type: "text", text: "18C in Paris" }]);
    expect(got[5].role).toBe("critic");
    expect(typeof got[0].id).toBe("string"); // an id given on the way in
    // What memoryd holds: roles and text.
    const raw = await client.getMessages(history.conversationId);
    expect(raw.messages.map((m) => m.role)).toEqual(["system", "user", "assistant", "tool", "assistant", "user"]);
    expect((await client.getConversation(history.conversationId)).customer_id).toBe("cust-1");
  });

  it("addMessage, a retried append stored once, window, clear", async () => {
    const id = conv();
    const history = new MemorydChatMessageHistory({ client, conversationId: id });
    await history.addMessage(new HumanMessage({ content: "one", id: "m1" }));
    await history.addMessage(new HumanMessage({ content: "one", id: "m1" })); // the same id: a retry
    await history.addUserMessage("two");
    await history.addAIMessage("three");
    expect((await history.getMessages()).map((m) => m.content)).toEqual(["one", "two", "three"]);
    const windowed = new MemorydChatMessageHistory({ client, conversationId: id, window: 2 });
    expect((await windowed.getMessages()).map((m) => m.content)).toEqual(["two", "three"]);
    await history.clear();
    expect(await history.getMessages()).toEqual([]);
  });

  it("reads messages written by other clients (no LangChain metadata)", async () => {
    const id = conv();
    await client.appendMessages(id, {
      messages: [
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello", id: "a1" },
        { role: "tool", content: "{}", metadata: { tool_call_id: "t1" } },
      ],
    });
    const got = await new MemorydChatMessageHistory({ client, conversationId: id }).getMessages();
    expect(got.map((m) => [m.getType(), m.content])).toEqual([
      ["human", "hi"],
      ["ai", "hello"],
      ["tool", "{}"],
    ]);
    expect(got[1].id).toBe("a1");
    expect(got[2].tool_call_id).toBe("t1");
  });
});

describe("MemorydClient conversations", () => {
  it("append with expected_seq, pages, metadata, a customer's list", async () => {
    const id = conv();
    const customer = `cust-${randomUUID()}`;
    const r1 = await client.appendMessages(id, {
      customer_id: customer,
      expected_seq: 0,
      metadata: { channel: "web" },
      messages: [
        { id: "m1", role: "user", content: "a" },
        { id: "m2", role: "assistant", content: "b" },
      ],
    });
    expect(r1).toMatchObject({ created: true, last_seq: 2, stored: 2 });
    await expect(
      client.appendMessages(id, { expected_seq: 1, messages: [{ id: "m3", role: "user", content: "c" }] })
    ).rejects.toMatchObject({ status: 409, code: "conflict" });
    await client.appendMessages(id, { expected_seq: 2, messages: [{ id: "m3", role: "user", content: "c" }] });
    const page = await client.getMessages(id, { limit: 2, after_seq: 0 });
    expect(page.messages.map((m) => m.content)).toEqual(["a", "b"]);
    const all = [];
    for await (const m of client.iterMessages(id, { pageSize: 1 })) all.push(m.content);
    expect(all).toEqual(["a", "b", "c"]);
    expect((await client.getMessages(id, { before_seq: 3 })).messages.map((m) => m.seq)).toEqual([1, 2]);
    const meta = await client.getConversation(id);
    expect(meta).toMatchObject({ customer_id: customer, metadata: { channel: "web" } });
    await client.updateConversation(id, { metadata: { channel: "phone" } });
    expect((await client.getConversation(id)).metadata).toEqual({ channel: "phone" });
    const list = await client.listConversations({ customer_id: customer });
    expect(list.conversations.map((c) => c.conversation_id)).toEqual([id]);
    expect(await client.getConversation(`none-${randomUUID()}`)).toBeUndefined();
    expect(await client.getMessages(`none-${randomUUID()}`)).toBeUndefined();
  });
});
