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

export interface MemorydClientOptions {
  /** Base URL of memoryd, e.g. "http://127.0.0.1:8080". */
  url: string;
  /** Sent as X-Tenant-Id (server default "default"). */
  tenant?: string;
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  /** Extra headers for every request. */
  headers?: Record<string, string>;
  /**
   * Send through this fetch instead of the client's own pool of keep-alive
   * connections (an undici Pool): for tests, proxies or other runtimes.
   */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default: none). */
  timeoutMs?: number;
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

/** A put in MemorydStore.batch() may carry its own TTL. */
export interface MemorydPutOperation extends PutOperation {
  ttlSeconds?: number;
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
  request(
    method: string,
    path: string,
    options?: { body?: unknown; allow?: number[]; signal?: AbortSignal }
  ): Promise<{ status: number; body: any; headers: { get(name: string): string | undefined } }>;
  /** Closes the pool's connections (after the requests in flight). */
  close(): Promise<void>;
  health(): Promise<{ status: string }>;
  ready(): Promise<Record<string, unknown>>;
  /** The request as a JSON value, or as its JSON text. */
  putCheckpoint(body: Record<string, unknown> | string): Promise<{ config: WireConfig }>;
  getCheckpoint(
    threadId: string,
    params?: { checkpoint_ns?: string; checkpoint_id?: string }
  ): Promise<WireTuple | undefined>;
  listCheckpoints(params?: {
    thread_id?: string;
    checkpoint_ns?: string;
    before?: string;
    limit?: number;
    filter?: Record<string, unknown>;
  }): Promise<{ checkpoints: WireTuple[]; truncated: boolean }>;
  putWrites(threadId: string, body: Record<string, unknown>): Promise<{ stored: number }>;
  deleteThread(threadId: string): Promise<void>;
  /** POST /memory/batch: one result (or `{error}`) per operation. */
  memoryBatch(operations: Array<Record<string, unknown>>): Promise<Array<Record<string, any>>>;
  /** POST /memory/batch, with `truncated`: memoryd refused the operations past its budget. */
  memoryBatchPage(
    operations: Array<Record<string, unknown>>
  ): Promise<{ results: Array<Record<string, any>>; truncated: boolean }>;
}

export declare class MemorydSaver extends BaseCheckpointSaver {
  constructor(options: MemorydSaverOptions);
  client: MemorydClient;
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
  /** Closes the connections of the client the saver made (not of one passed as `client`). */
  end(): Promise<void>;
}

/**
 * LangGraph's BaseStore over memoryd's /memory API. batch() runs its
 * operations in order in one POST /memory/batch (per 1000 operations).
 * Semantic search (`query`) and filter operators other than `$eq` throw
 * MemorydError before anything is sent.
 */
export declare class MemorydStore extends BaseStore {
  constructor(options: MemorydStoreOptions);
  client: MemorydClient;
  ttlSeconds?: number;
  /** Closes the connections of the client the store made (not of one passed as `client`). */
  end(): Promise<void>;
  batch<Op extends Operation[]>(operations: Op): Promise<OperationResults<Op>>;
  get(namespace: string[], key: string): Promise<MemorydItem | null>;
  search(
    namespacePrefix: string[],
    options?: { filter?: Record<string, any>; limit?: number; offset?: number; query?: string }
  ): Promise<MemorydItem[]>;
  /** BaseStore's put; `options.ttlSeconds` overrides the store's TTL for this item. */
  put(
    namespace: string[],
    key: string,
    value: Record<string, any>,
    index?: false | string[],
    options?: { ttlSeconds?: number }
  ): Promise<void>;
}
