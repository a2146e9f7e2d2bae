import type {
  BaseCheckpointSaver,
  BaseStore,
  Item,
  Operation,
  OperationResults,
  PutOperation,
  ChannelVersions,
  Checkpoint,
  CheckpointListOptions,
  CheckpointMetadata,
  CheckpointTuple,
  PendingWrite,
  SerializerProtocol,
} from "@langchain/langgraph-checkpoint";
import type { RunnableConfig } from "@langchain/core/runnables";
import type { BaseMessage } from "@langchain/core/messages";
import { BaseListChatMessageHistory } from "@langchain/core/chat_history";

/** Retries of requests safe to repeat, on 503 and on connections reset or refused. */
export interface RetryOptions {
  /** Sends at most, the first included (default 4). */
  attempts?: number;
  /** The first backoff's ceiling in milliseconds, doubled each retry (default 100). */
  minDelayMs?: number;
  /** A backoff's ceiling in milliseconds (default 2000); a delay is random below it (full jitter). */
  maxDelayMs?: number;
  /** No retry that would end later than this after the first send (default 10000). */
  maxElapsedMs?: number;
}

/** Per-call options of MemorydClient's methods. */
export interface RequestOptions {
  /** Aborts the call (MemorydError code "aborted"). */
  signal?: AbortSignal;
  /** Sent as X-Request-Id. */
  requestId?: string;
}

export interface MemorydClientOptions {
  /** Base URL of memoryd, e.g. "http://127.0.0.1:8080". */
  url: string;
  /** Sent as X-Tenant-Id (server default "default"). */
  tenant?: string;
  /**
   * Sent as `Authorization: Bearer <token>`; a function is asked before every
   * request (rotating tokens).
   */
  token?: string | (() => string | Promise<string>);
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /**
   * Send through this fetch instead of the client's own pool of keep-alive
   * connections (its own HTTP/1.1 client; an undici Pool for https:): for
   * tests, proxies or other runtimes.
   */
  fetch?: typeof fetch;
  /**
   * How long to wait for the response headers, and then between body chunks,
   * in milliseconds (default 30000; 0: no timeout). MemorydError code "timeout".
   */
  timeoutMs?: number;
  /** Retries of requests safe to repeat (default: 4 attempts in 10 s at most); false: none. */
  retry?: RetryOptions | false;
  /** Aborts every request of the client (e.g. at shutdown). */
  signal?: AbortSignal;
  /** Connections the pool opens to memoryd at most (default 64). */
  maxConnections?: number;
  /** How long an idle pooled connection is kept, in milliseconds (default 4000). */
  keepAliveTimeoutMs?: number;
}

export interface MemorydSaverOptions extends Partial<MemorydClientOptions> {
  serde?: SerializerProtocol;
  /** Use this client instead of building one from the options. */
  client?: MemorydClient;
}

export interface MemorydStoreOptions extends Partial<MemorydClientOptions> {
  /**
   * TTL of every put, in seconds (absent: the server's MEMORY_DEFAULT_TTL_SECONDS;
   * 0: no expiry, only where the server runs with MEMORY_ALLOW_PERSISTENT=1).
   */
  ttlSeconds?: number;
  /**
   * LangGraph's TTLConfig (Python's names): defaultTtl in minutes, as ttlSeconds;
   * refreshOnRead (default true): get and search start the TTL of what they
   * return again, in memoryd.
   */
  ttl?: { defaultTtl?: number; refreshOnRead?: boolean };
  /** Use this client instead of building one from the options. */
  client?: MemorydClient;
}

/** What MemorydStore answers for an item: LangGraph's Item and memoryd's own fields. */
export interface MemorydItem extends Item {
  /** When the item expires; null when it never does. */
  expiresAt: Date | null;
  /** The item's version (its ETag in memoryd's REST API). */
  version: string;
}

/** A put in MemorydStore.batch() may carry its own TTL: seconds, or minutes (null: no expiry). */
export interface MemorydPutOperation extends PutOperation {
  ttlSeconds?: number;
  ttl?: number | null;
}

export declare class MemorydError extends Error {
  /** HTTP status; 0 for a network failure or a call refused before it was sent. */
  status: number;
  /** Contract error code, e.g. "invalid_field", "not_found", "store_unavailable". */
  code: string;
  requestId?: string;
  request_id?: string;
  field?: string;
  body?: unknown;
  /** How many times the request was sent (retries included). */
  attempts: number;
}

/**
 * The result of a MemorydStore.batch() operation that failed alone: awaiting
 * it rejects with `error`.
 */
export declare class FailedOperation implements PromiseLike<never> {
  constructor(error: Error);
  error: Error;
  then<TResult1 = never, TResult2 = never>(
    onfulfilled?: ((value: never) => TResult1 | PromiseLike<TResult1>) | null,
    onrejected?: ((reason: any) => TResult2 | PromiseLike<TResult2>) | null
  ): Promise<TResult1 | TResult2>;
}

/** A message as memoryd stores it in a conversation. */
export interface WireMessage {
  seq: number;
  id: string | null;
  role: "user" | "assistant" | "system" | "tool" | "developer" | "function";
  content: string;
  metadata: Record<string, unknown>;
  created_at: string;
}

export interface AppendMessagesRequest {
  messages: Array<{ id?: string; role: WireMessage["role"]; content: string; metadata?: Record<string, unknown> }>;
  /** Precondition: the last seq the caller saw (0 for a new conversation); 409 conflict otherwise. */
  expected_seq?: number;
  customer_id?: string;
  metadata?: Record<string, unknown>;
}

export interface AppendMessagesResponse {
  conversation_id: string;
  created: boolean;
  msg_count_before: number;
  message_count: number;
  last_seq: number;
  stored: number;
  messages: Array<{ seq: number; id: string | null; duplicate: boolean }>;
}

export interface MessagesPage {
  conversation_id: string;
  messages: WireMessage[];
  first_seq: number;
  last_seq: number;
  prev_cursor: string | null;
  next_cursor: string | null;
}

export interface Conversation {
  conversation_id: string;
  customer_id: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  message_count: number;
  first_seq: number;
  ttl_seconds: number;
  stores: Record<string, unknown>;
}

export interface WireOpaque {
  type: string;
  data: string;
}

export interface WireConfig {
  thread_id: string;
  checkpoint_ns: string;
  checkpoint_id: string;
}

export interface WireTuple {
  config: WireConfig;
  checkpoint: Record<string, unknown>;
  channel_values: Record<string, WireOpaque>;
  metadata: Record<string, unknown>;
  parent_config?: WireConfig;
  pending_writes: Array<WireOpaque & { task_id: string; task_path: string; channel: string; idx: number }>;
}

export declare class MemorydClient {
  constructor(options: MemorydClientOptions);
  url: string;
  tenant?: string;
  timeoutMs: number;
  retry: Required<RetryOptions>;
  request(
    method: string,
    path: string,
    options?: {
      body?: unknown;
      allow?: number[];
      signal?: AbortSignal;
      /** Safe to send again: retried on 503 and on connections reset or refused. */
      idempotent?: boolean;
      requestId?: string;
    }
  ): Promise<{ status: number; body: any; headers: { get(name: string): string | undefined } }>;
  /** Closes the pool's connections (after the requests in flight). */
  close(): Promise<void>;
  /** The same as close(). */
  end(): Promise<void>;
  toJSON(): { url: string; tenant?: string };
  health(opts?: RequestOptions): Promise<{ status: string }>;
  ready(opts?: RequestOptions): Promise<Record<string, unknown>>;
  /** The request as a JSON value, or as its JSON text. */
  putCheckpoint(body: Record<string, unknown> | string | Uint8Array, opts?: RequestOptions): Promise<{ config: WireConfig }>;
  getCheckpoint(
    threadId: string,
    params?: { checkpoint_ns?: string; checkpoint_id?: string },
    opts?: RequestOptions
  ): Promise<WireTuple | undefined>;
  listCheckpoints(
    params?: {
      thread_id?: string;
      checkpoint_ns?: string;
      before?: string;
      limit?: number;
      filter?: Record<string, unknown>;
    },
    opts?: RequestOptions
  ): Promise<{ checkpoints: WireTuple[]; truncated: boolean }>;
  putWrites(threadId: string, body: Record<string, unknown> | string | Uint8Array, opts?: RequestOptions): Promise<{ stored: number }>;
  deleteThread(threadId: string, opts?: RequestOptions): Promise<void>;
  /** POST /memory/batch: one result (or `{error}`) per operation. */
  memoryBatch(operations: Array<Record<string, unknown>>, opts?: RequestOptions): Promise<Array<Record<string, any>>>;
  /** POST /memory/batch, with `truncated`: memoryd refused the operations past its budget. */
  memoryBatchPage(
    operations: Array<Record<string, unknown>>,
    opts?: RequestOptions
  ): Promise<{ results: Array<Record<string, any>>; truncated: boolean }>;
  /** Retried only when every message has an id. */
  appendMessages(conversationId: string, body: AppendMessagesRequest, opts?: RequestOptions): Promise<AppendMessagesResponse>;
  /** Undefined when the conversation does not exist. */
  getMessages(
    conversationId: string,
    params?: { limit?: number; before_seq?: number; after_seq?: number; cursor?: string },
    opts?: RequestOptions
  ): Promise<MessagesPage | undefined>;
  iterMessages(
    conversationId: string,
    params?: { pageSize?: number; afterSeq?: number },
    opts?: RequestOptions
  ): AsyncGenerator<WireMessage>;
  getConversation(conversationId: string, opts?: RequestOptions): Promise<Conversation | undefined>;
  updateConversation(
    conversationId: string,
    body: { customer_id?: string | null; metadata?: Record<string, unknown> },
    opts?: RequestOptions
  ): Promise<Conversation>;
  deleteConversation(conversationId: string, opts?: RequestOptions): Promise<void>;
  listConversations(
    params: { customer_id: string; limit?: number; cursor?: string },
    opts?: RequestOptions
  ): Promise<{ conversations: Conversation[]; next_cursor: string | null }>;
}

export interface MemorydChatMessageHistoryOptions extends Partial<MemorydClientOptions> {
  conversationId: string;
  /** The conversation's customer (set when it is created). */
  customerId?: string;
  /** Conversation metadata, sent with every append. */
  metadata?: Record<string, unknown>;
  /** getMessages answers only the last `window` messages. */
  window?: number;
  client?: MemorydClient;
}

/** LangChain's chat message history over a memoryd conversation. */
export declare class MemorydChatMessageHistory extends BaseListChatMessageHistory {
  constructor(options: MemorydChatMessageHistoryOptions);
  lc_namespace: string[];
  client: MemorydClient;
  conversationId: string;
  getMessages(): Promise<BaseMessage[]>;
  addMessage(message: BaseMessage): Promise<void>;
  addMessages(messages: BaseMessage[]): Promise<void>;
  clear(): Promise<void>;
  end(): Promise<void>;
}

export declare class MemorydSaver extends BaseCheckpointSaver {
  constructor(options: MemorydSaverOptions);
  /** A saver for memoryd at `url`, as PostgresSaver.fromConnString. */
  static fromUrl(url: string, options?: Omit<MemorydSaverOptions, "url">): MemorydSaver;
  /** fromUrl under PostgresSaver's name. */
  static fromConnString(url: string, options?: Omit<MemorydSaverOptions, "url">): MemorydSaver;
  client: MemorydClient;
  /** Nothing to set up: memoryd owns its schema. */
  setup(): Promise<void>;
  getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined>;
  list(config: RunnableConfig, options?: CheckpointListOptions): AsyncGenerator<CheckpointTuple>;
  put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions
  ): Promise<RunnableConfig>;
  putWrites(config: RunnableConfig, writes: PendingWrite[], taskId: string, taskPath?: string): Promise<void>;
  deleteThread(threadId: string): Promise<void>;
  /** BaseCheckpointSaver's walk up the parent chain for DeltaChannel state, over pages of list. */
  getDeltaChannelHistory(args: { config: RunnableConfig; channels: string[] }): ReturnType<BaseCheckpointSaver["getDeltaChannelHistory"]>;
  /** Closes the connections of the client the saver made (not of one passed as `client`). */
  end(): Promise<void>;
}

/**
 * LangGraph's BaseStore over memoryd's /memory API. batch() runs its
 * operations in order in one POST /memory/batch (per 1000 operations).
 * An operation that fails (refused before sending: semantic `query`, a filter
 * operator memoryd does not evaluate; or failed by memoryd) fails alone: its
 * result is a FailedOperation, which rejects with a MemorydError when awaited.
 */
export declare class MemorydStore extends BaseStore {
  constructor(options: MemorydStoreOptions);
  client: MemorydClient;
  ttlSeconds?: number;
  /** Whether get and search refresh TTLs when not told (ttl.refreshOnRead). */
  refreshOnRead: boolean;
  /** Closes the connections of the client the store made (not of one passed as `client`). */
  end(): Promise<void>;
  batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>>;
  delete(namespace: string[], key: string): Promise<void>;
  get(namespace: string[], key: string, options?: { refreshTtl?: boolean }): Promise<MemorydItem | null>;
  search(
    namespacePrefix: string[],
    options?: {
      filter?: Record<string, any>;
      limit?: number;
      offset?: number;
      query?: string;
      refreshTtl?: boolean;
    }
  ): Promise<MemorydItem[]>;
  /** BaseStore's put; `options.ttlSeconds` overrides the store's TTL for this item. */
  put(
    namespace: string[],
    key: string,
    value: Record<string, any>,
    index?: false | string[],
    options?: { ttlSeconds?: number; ttl?: number | null }
  ): Promise<void>;
}
