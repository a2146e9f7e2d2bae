import { randomUUID } from "node:crypto";
import { BaseListChatMessageHistory } from "@langchain/core/chat_history";
import { mapStoredMessageToChatMessage } from "@langchain/core/messages";
import { MemorydClient } from "./client.js";

// memoryd's roles for LangChain's message types; the type itself is kept in
// the message's metadata (a generic ChatMessage's own role too).
const ROLE_OF_TYPE = { human: "user", ai: "assistant", system: "system", tool: "tool", function: "function" };
const TYPE_OF_ROLE = { user: "human", assistant: "ai", system: "system", developer: "system", tool: "tool", function: "function" };
const LC = "langchain"; // metadata key holding what memoryd has no field for
const APPEND_BATCH = 100; // CONV_MAX_BATCH's default

/** A LangChain message as a memoryd message: role, text content, id, the rest in metadata. */
export function toWireMessage(message) {
  const { type, data } = message.toDict();
  const { content, id, ...rest } = data;
  const lc = { type, data: rest };
  let text = content;
  if (typeof content !== "string") {
    // Content blocks (images, tool use, ...): their JSON as the text.
    text = JSON.stringify(content ?? "");
    lc.content = "json";
  }
  return {
    id: typeof id === "string" && id.length > 0 ? id : randomUUID(),
    role: ROLE_OF_TYPE[type] ?? "user",
    content: text,
    metadata: { [LC]: lc },
  };
}

/** A memoryd message as a LangChain message (one written by another client too). */
export function fromWireMessage(wire) {
  const lc = wire.metadata?.[LC];
  if (lc && typeof lc === "object" && typeof lc.type === "string") {
    const content = lc.content === "json" ? JSON.parse(wire.content) : wire.content;
    return mapStoredMessageToChatMessage({ type: lc.type, data: { ...lc.data, content, id: wire.id ?? undefined } });
  }
  const type = TYPE_OF_ROLE[wire.role] ?? "human";
  const data = { content: wire.content, id: wire.id ?? undefined, additional_kwargs: {}, response_metadata: {} };
  if (type === "tool") data.tool_call_id = wire.metadata?.tool_call_id ?? "";
  if (type === "function") data.name = wire.metadata?.name ?? "";
  return mapStoredMessageToChatMessage({ type, data });
}

/**
 * LangChain's chat message history (BaseListChatMessageHistory) over a memoryd
 * conversation (/conversations/{conversationId}/messages).
 *
 *   const history = new MemorydChatMessageHistory({ url, tenant: "acme", conversationId: "c-42" });
 *   await history.addMessages([new HumanMessage("hi"), new AIMessage("hello")]);
 *   await history.getMessages();
 *
 * Each message keeps its type, content (blocks too), tool calls, additional
 * kwargs and id. A message without an id gets one (a UUID) when it is sent, so
 * a retried append is stored once.
 */
export class MemorydChatMessageHistory extends BaseListChatMessageHistory {
  lc_namespace = ["langchain", "stores", "message", "memoryd"];

  /**
   * @param {object} options
   * @param {string} options.conversationId
   * @param {string} [options.customerId] the conversation's customer (set when it is created)
   * @param {object} [options.metadata] conversation metadata, sent with every append
   * @param {number} [options.window] getMessages returns only the last `window` messages
   * @param {MemorydClient} [options.client] use this client instead of building one (url, tenant, token, ...)
   */
  constructor(options = {}) {
    super();
    if (typeof options.conversationId !== "string" || options.conversationId.length === 0) {
      throw new TypeError("MemorydChatMessageHistory: `conversationId` is required");
    }
    this.conversationId = options.conversationId;
    this.customerId = options.customerId;
    this.metadata = options.metadata;
    this.window = options.window;
    this._ownsClient = options.client === undefined;
    this.client = options.client ?? new MemorydClient(options);
  }

  /** The conversation's messages, oldest first (the last `window` of them when set). */
  async getMessages() {
    const out = [];
    if (this.window) {
      const page = await this.client.getMessages(this.conversationId, { limit: this.window });
      for (const m of page?.messages ?? []) out.push(fromWireMessage(m));
      return out;
    }
    for await (const m of this.client.iterMessages(this.conversationId)) out.push(fromWireMessage(m));
    return out;
  }

  async addMessage(message) {
    await this.addMessages([message]);
  }

  /** Appends the messages in order, 100 an atomic append. */
  async addMessages(messages) {
    for (let i = 0; i < messages.length; i += APPEND_BATCH) {
      const body = { messages: messages.slice(i, i + APPEND_BATCH).map(toWireMessage) };
      if (this.customerId !== undefined) body.customer_id = this.customerId;
      if (this.metadata !== undefined) body.metadata = this.metadata;
      await this.client.appendMessages(this.conversationId, body);
    }
  }

  /** Deletes the conversation (messages and metadata, archived history included). */
  async clear() {
    await this.client.deleteConversation(this.conversationId);
  }

  /** Closes the client's connections, when the history made the client. */
  async end() {
    if (this._ownsClient) await this.client.close();
  }
}
