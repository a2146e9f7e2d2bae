import type {
  BaseCheckpointSaver,
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
  /** fetch implementation (default: the global fetch). */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default: none). */
  timeoutMs?: number;
}

export interface MemorydSaverOptions extends Partial<MemorydClientOptions> {
  serde?: SerializerProtocol;
  /** Use this client instead of building one from the options. */
  client?: MemorydClient;
}

export declare class MemorydError extends Error {
  /** HTTP status; 0 for a network failure. */
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
    options?: { body?: unknown; allow?: number[] }
  ): Promise<{ status: number; body: any; headers: Headers }>;
  health(): Promise<{ status: string }>;
  ready(): Promise<Record<string, unknown>>;
  putCheckpoint(body: Record<string, unknown>): Promise<{ config: WireConfig }>;
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
}
