import {
  BaseCheckpointSaver,
  TASKS,
  getCheckpointId,
  maxChannelVersion,
} from "@langchain/langgraph-checkpoint";
import { MemorydClient } from "./client.js";
import { bodyBuffer } from "./http1.js";

const MAX_PAGE = 1000; // contract: list limit is 1..1000
// Wrapper for a checkpoint/metadata that the serde did not encode as "json".
const TYPED_KEY = "__memoryd_typed__";

function toBase64(bytes) {
  if (typeof bytes === "string") return Buffer.from(bytes, "utf8").toString("base64");
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function fromBase64(data) {
  // A fresh Uint8Array (not a Buffer view into Node's pool).
  return Uint8Array.from(Buffer.from(data ?? "", "base64"));
}

/**
 * The bytes a serde's type reads. "json" is decoded to text by the serde at
 * once, so the decoded Buffer goes as it is; any other type may be handed to
 * the caller (bytes): a fresh Uint8Array.
 */
function opaqueBytes(type, data) {
  return type === "json" ? Buffer.from(data ?? "", "base64") : fromBase64(data);
}

function decodeUtf8(bytes) {
  return typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes);
}

/**
 * A request body built from pieces and written once into one Buffer: JSON
 * text (UTF-8), bytes the serde already encoded (copied as they are), and
 * base64 (ASCII, copied byte for byte). No JSON.stringify over a channel's
 * base64 (it scans every character for escapes) and no UTF-8 encoding of a
 * long string: a put of a 60 KB channel costs about a fifth of building the
 * same body as one string.
 */
class BodyBuilder {
  constructor() {
    this.parts = [];
    this.text = "";
    this.length = 0;
  }

  /** JSON text (small: ids, names, punctuation). */
  json(text) {
    this.text += text;
    return this;
  }

  #flush() {
    if (this.text.length === 0) return;
    this.parts.push(this.text);
    this.length += Buffer.byteLength(this.text);
    this.text = "";
  }

  /** UTF-8 bytes of JSON text (a serde's output), or that text. */
  bytes(value) {
    if (typeof value === "string") return this.json(value);
    this.#flush();
    this.parts.push(value);
    this.length += value.byteLength;
    return this;
  }

  /** A JSON string of base64 text (no character needs escaping). */
  base64(value) {
    this.text += '"';
    this.#flush();
    this.parts.push({ ascii: value });
    this.length += value.length;
    this.text = '"';
    return this;
  }

  finish() {
    this.#flush();
    const out = bodyBuffer(this.length);
    let at = 0;
    for (const p of this.parts) {
      if (typeof p === "string") at += out.write(p, at, "utf8");
      else if (p instanceof Uint8Array) {
        out.set(p, at);
        at += p.byteLength;
      } else at += out.write(p.ascii, at, "latin1");
    }
    return out;
  }
}

/** Appends one opaque value ({type, data} after the other members) to a body. */
function opaqueMembers(b, type, bytes) {
  b.json(`"type":${JSON.stringify(type)},"data":`);
  b.base64(toBase64(bytes));
}

/** The request options of a config: its signal, and configurable.request_id as X-Request-Id. */
function requestOptions(config) {
  const signal = config?.signal;
  const requestId = config?.configurable?.request_id;
  if (signal === undefined && requestId === undefined) return undefined;
  return { signal, requestId };
}

function optionalString(value) {
  return value === undefined || value === null ? undefined : String(value);
}

/**
 * LangGraph checkpoint saver backed by memoryd.
 *
 *   const checkpointer = new MemorydSaver({ url: "http://127.0.0.1:8080", tenant: "acme" });
 *   const graph = builder.compile({ checkpointer });
 */
export class MemorydSaver extends BaseCheckpointSaver {
  /**
   * @param {object} options
   * @param {string} options.url base URL of memoryd
   * @param {string} [options.tenant] X-Tenant-Id (server default "default")
   * @param {string} [options.token] bearer token (Authorization header)
   * @param {import("@langchain/langgraph-checkpoint").SerializerProtocol} [options.serde]
   * @param {Record<string,string>} [options.headers]
   * @param {typeof fetch} [options.fetch]
   * @param {number} [options.timeoutMs]
   * @param {MemorydClient} [options.client] use this client instead of building one
   */
  constructor(options = {}) {
    super(options.serde);
    this._ownsClient = options.client === undefined;
    this.client = options.client ?? new MemorydClient(options);
  }

  /**
   * A saver for a memoryd URL, as PostgresSaver.fromConnString takes a
   * PostgreSQL one: `MemorydSaver.fromUrl("http://127.0.0.1:8080", { tenant: "acme" })`.
   * @param {string} url
   * @param {object} [options] the constructor's other options
   */
  static fromUrl(url, options = {}) {
    return new this({ ...options, url });
  }

  /** fromUrl under PostgresSaver's name, for code written against it. */
  static fromConnString(url, options = {}) {
    return this.fromUrl(url, options);
  }

  /** Nothing to set up (memoryd owns its schema); there for code written for PostgresSaver. */
  async setup() {}

  // ---- serde helpers -------------------------------------------------------

  /** Serialize a value to a JSON value for the request body, through the serde. */
  async _toJson(value) {
    return JSON.parse(await this._toJsonText(value));
  }

  /**
   * The JSON text of a value for the request body, through the serde: the
   * serde's own text when it encodes to "json" (spliced into the body as it
   * is, not parsed and written again), else the typed wrapper.
   */
  async _toJsonText(value, isCheckpoint = false) {
    return decodeUtf8(await this._toJsonBytes(value, isCheckpoint));
  }

  /** _toJsonText's UTF-8 bytes (the serde's own when it encodes to "json"), or its text. */
  async _toJsonBytes(value, isCheckpoint = false) {
    const [type, bytes] = await this.serde.dumpsTyped(value);
    if (type === "json") return bytes;
    const wrapper = { [TYPED_KEY]: [type, toBase64(bytes)] };
    // memoryd reads checkpoint.channel_versions to find the channel blobs: a
    // checkpoint the serde did not write as JSON carries them beside, plain.
    if (isCheckpoint) wrapper.channel_versions = value.channel_versions ?? {};
    return JSON.stringify(wrapper);
  }

  /** Inverse of _toJson (a typed wrapper may carry plain fields beside: channel_versions). */
  async _fromJson(value) {
    if (value !== null && typeof value === "object" && !Array.isArray(value) && Array.isArray(value[TYPED_KEY])) {
      const [type, data] = value[TYPED_KEY];
      return this.serde.loadsTyped(type, fromBase64(data));
    }
    return this.serde.loadsTyped("json", JSON.stringify(value));
  }

  async _loadOpaque(opaque) {
    return this.serde.loadsTyped(opaque.type, opaqueBytes(opaque.type, opaque.data));
  }

  async _dumpOpaque(value) {
    const [type, bytes] = await this.serde.dumpsTyped(value);
    return { type, data: toBase64(bytes) };
  }

  // ---- wire -> CheckpointTuple --------------------------------------------

  async _tupleFromWire(wire) {
    const cfg = wire.config ?? {};
    const thread_id = cfg.thread_id;
    const checkpoint_ns = cfg.checkpoint_ns ?? "";
    const checkpoint_id = cfg.checkpoint_id;

    const checkpoint = await this._fromJson(wire.checkpoint ?? {});
    const channel_values = {};
    for (const [channel, opaque] of Object.entries(wire.channel_values ?? {})) {
      if (!opaque || opaque.type === "empty") continue;
      channel_values[channel] = await this._loadOpaque(opaque);
    }
    checkpoint.channel_values = channel_values;

    const pendingWrites = [];
    for (const w of wire.pending_writes ?? []) {
      pendingWrites.push([w.task_id, w.channel, await this._loadOpaque(w)]);
    }

    const tuple = {
      config: { configurable: { thread_id, checkpoint_ns, checkpoint_id } },
      checkpoint,
      metadata: await this._fromJson(wire.metadata ?? {}),
      pendingWrites,
    };
    const parent = wire.parent_config;
    if (parent && parent.checkpoint_id) {
      tuple.parentConfig = {
        configurable: {
          thread_id: parent.thread_id ?? thread_id,
          checkpoint_ns: parent.checkpoint_ns ?? checkpoint_ns,
          checkpoint_id: parent.checkpoint_id,
        },
      };
      if (typeof checkpoint.v === "number" && checkpoint.v < 4) {
        await this._migratePendingSends(checkpoint, thread_id, checkpoint_ns, parent.checkpoint_id);
      }
    }
    return tuple;
  }

  /**
   * Checkpoints older than format v4 kept pending sends as writes to TASKS on
   * the parent checkpoint; surface them as the TASKS channel (as MemorySaver does).
   */
  async _migratePendingSends(checkpoint, threadId, checkpointNs, parentCheckpointId) {
    const parent = await this.client.getCheckpoint(threadId, {
      checkpoint_ns: checkpointNs,
      checkpoint_id: parentCheckpointId,
    });
    const sends = [];
    for (const w of parent?.pending_writes ?? []) {
      if (w.channel === TASKS) sends.push(await this._loadOpaque(w));
    }
    checkpoint.channel_values ??= {};
    checkpoint.channel_values[TASKS] = sends;
    checkpoint.channel_versions ??= {};
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.getNextVersion(undefined);
  }

  // ---- BaseCheckpointSaver --------------------------------------------------

  async getTuple(config) {
    const threadId = optionalString(config?.configurable?.thread_id);
    if (threadId === undefined) return undefined;
    const checkpointNs = optionalString(config.configurable.checkpoint_ns) ?? "";
    const checkpointId = getCheckpointId(config) || undefined;
    const wire = await this.client.getCheckpoint(
      threadId,
      { checkpoint_ns: checkpointNs, checkpoint_id: checkpointId },
      requestOptions(config)
    );
    if (wire === undefined) return undefined;
    return this._tupleFromWire(wire);
  }

  async *list(config, options = {}) {
    const { before, filter } = options ?? {};
    let remaining = options?.limit;
    if (remaining !== undefined && remaining !== null && remaining <= 0) return;
    if (remaining === null) remaining = undefined;

    const configurable = config?.configurable ?? {};
    const threadId = optionalString(configurable.thread_id);
    const checkpointNs = optionalString(configurable.checkpoint_ns);
    const onlyId = configurable.checkpoint_id || undefined; // client-side filter
    const beforeId = before ? getCheckpointId(before) || undefined : undefined;
    const wireFilter = filter === undefined || filter === null ? undefined : await this._toJson(filter);
    const opts = requestOptions(config);

    // One checkpoint of one namespace: a getTuple, not a walk over the pages.
    if (onlyId !== undefined && threadId !== undefined && checkpointNs !== undefined && wireFilter === undefined) {
      if (beforeId !== undefined && !(onlyId < beforeId)) return;
      const wire = await this.client.getCheckpoint(threadId, { checkpoint_ns: checkpointNs, checkpoint_id: onlyId }, opts);
      if (wire !== undefined) yield await this._tupleFromWire(wire);
      return;
    }

    let cursor = beforeId;
    for (;;) {
      const pageSize =
        remaining === undefined || onlyId !== undefined ? MAX_PAGE : Math.min(remaining, MAX_PAGE);
      const page = await this.client.listCheckpoints(
        {
          thread_id: threadId,
          checkpoint_ns: checkpointNs,
          before: cursor,
          limit: pageSize,
          filter: wireFilter,
        },
        opts
      );
      const items = page?.checkpoints ?? [];
      for (const wire of items) {
        if (onlyId !== undefined && wire.config?.checkpoint_id !== onlyId) continue;
        yield await this._tupleFromWire(wire);
        if (remaining !== undefined) {
          remaining -= 1;
          if (remaining <= 0) return;
        }
      }
      if (items.length === 0 || (!page.truncated && items.length < pageSize)) return;
      // Next page: strictly older than the last id seen (ids are unique per ns;
      // equal ids in several threads/namespaces at a page boundary may be skipped).
      cursor = items[items.length - 1].config.checkpoint_id;
    }
  }

  /**
   * BaseCheckpointSaver's walk up the parent chain for DeltaChannel state
   * (MessagesDeltaValue and others), in a few requests instead of one per
   * ancestor: the target's getTuple, then pages of the thread's older
   * checkpoints (8, 32, 128, 512, then 1000 at a time), followed down the
   * parent links (fork siblings in between are skipped) until every channel
   * has its seed or the chain ends. The result is the base class's.
   */
  async getDeltaChannelHistory({ config, channels }) {
    if (channels.length === 0) return {};
    const collected = Object.fromEntries(channels.map((ch) => [ch, []]));
    const seeds = {};
    const remaining = new Set(channels);
    const target = await this.getTuple(config);
    let want = target?.parentConfig?.configurable?.checkpoint_id;
    const threadId = target?.config.configurable.thread_id;
    const checkpointNs = target?.config.configurable.checkpoint_ns ?? "";
    let before = target?.config.configurable.checkpoint_id;
    let pageSize = 8;
    const opts = requestOptions(config);
    while (want !== undefined && remaining.size > 0) {
      const page = await this.client.listCheckpoints(
        { thread_id: threadId, checkpoint_ns: checkpointNs, before, limit: pageSize },
        opts
      );
      const items = page?.checkpoints ?? [];
      for (const wire of items) {
        if (want === undefined || remaining.size === 0) break;
        if (wire.config?.checkpoint_id !== want) continue; // another branch
        const tuple = await this._tupleFromWire(wire);
        const perChannel = {};
        for (const write of tuple.pendingWrites ?? []) {
          if (remaining.has(write[1])) (perChannel[write[1]] ??= []).push(write);
        }
        for (const [ch, block] of Object.entries(perChannel)) {
          for (let i = block.length - 1; i >= 0; i -= 1) collected[ch].push(block[i]);
        }
        for (const ch of Array.from(remaining)) {
          if (Object.prototype.hasOwnProperty.call(tuple.checkpoint.channel_values, ch)) {
            seeds[ch] = tuple.checkpoint.channel_values[ch];
            remaining.delete(ch);
          }
        }
        want = tuple.parentConfig?.configurable?.checkpoint_id;
      }
      if (items.length === 0 || (!page.truncated && items.length < pageSize)) break;
      before = items[items.length - 1].config.checkpoint_id;
      pageSize = Math.min(pageSize * 4, MAX_PAGE);
    }
    const result = {};
    for (const ch of channels) {
      result[ch] = { writes: collected[ch].slice().reverse() };
      if (Object.prototype.hasOwnProperty.call(seeds, ch)) result[ch].seed = seeds[ch];
    }
    return result;
  }

  async put(config, checkpoint, metadata, newVersions) {
    const configurable = config?.configurable;
    const threadId = optionalString(configurable?.thread_id);
    if (threadId === undefined) {
      throw new Error(
        'MemorydSaver.put: config.configurable.thread_id is required (e.g. { configurable: { thread_id: "t1" } })'
      );
    }
    const checkpointNs = optionalString(configurable.checkpoint_ns) ?? "";
    const parentId = configurable.checkpoint_id || null;

    const { channel_values: values = {}, ...rest } = checkpoint;
    // The body as bytes: the serde's JSON goes in as it came out, a blob's
    // base64 without JSON.stringify.
    const b = new BodyBuilder();
    b.json(
      `{"thread_id":${JSON.stringify(threadId)},"checkpoint_ns":${JSON.stringify(checkpointNs)},` +
        `"checkpoint_id":${JSON.stringify(checkpoint.id)},"parent_checkpoint_id":${JSON.stringify(parentId)},` +
        `"checkpoint":`
    );
    b.bytes(await this._toJsonBytes(rest, true));
    b.json(`,"metadata":`);
    b.bytes(await this._toJsonBytes(metadata ?? {}));
    b.json(`,"blobs":[`);
    let first = true;
    for (const channel of Object.keys(newVersions ?? {})) {
      const version = newVersions[channel];
      b.json(`${first ? "" : ","}{"channel":${JSON.stringify(channel)},`);
      if (version !== undefined) b.json(`"version":${JSON.stringify(version)},`);
      first = false;
      if (Object.prototype.hasOwnProperty.call(values, channel)) {
        const [type, bytes] = await this.serde.dumpsTyped(values[channel]);
        opaqueMembers(b, type, bytes);
      } else {
        b.json(`"type":"empty"`);
      }
      b.json("}");
    }
    b.json("]}");
    const body = b.finish();
    const res = await this.client.putCheckpoint(body, requestOptions(config));
    const out = res?.config ?? {};
    return {
      configurable: {
        thread_id: out.thread_id ?? threadId,
        checkpoint_ns: out.checkpoint_ns ?? checkpointNs,
        checkpoint_id: out.checkpoint_id ?? checkpoint.id,
      },
    };
  }

  async putWrites(config, writes, taskId, taskPath) {
    const configurable = config?.configurable;
    const threadId = optionalString(configurable?.thread_id);
    if (threadId === undefined) {
      throw new Error("MemorydSaver.putWrites: config.configurable.thread_id is required");
    }
    const checkpointId = getCheckpointId(config);
    if (!checkpointId) {
      throw new Error("MemorydSaver.putWrites: config.configurable.checkpoint_id is required");
    }
    if (!writes || writes.length === 0) return;
    const b = new BodyBuilder();
    b.json(
      `{"checkpoint_ns":${JSON.stringify(optionalString(configurable.checkpoint_ns) ?? "")},` +
        `"checkpoint_id":${JSON.stringify(checkpointId)},` +
        (taskId === undefined ? "" : `"task_id":${JSON.stringify(taskId)},`) +
        `"task_path":${JSON.stringify(taskPath ?? "")},"writes":[`
    );
    let first = true;
    for (const [channel, value] of writes) {
      b.json(`${first ? "" : ","}{"channel":${JSON.stringify(channel)},`);
      first = false;
      const [type, bytes] = await this.serde.dumpsTyped(value);
      opaqueMembers(b, type, bytes);
      b.json("}");
    }
    b.json("]}");
    await this.client.putWrites(threadId, b.finish(), requestOptions(config));
  }

  /** Closes the client's connections, when the saver made the client (not when one was given). */
  async end() {
    if (this._ownsClient) await this.client.close();
  }

  async deleteThread(threadId) {
    if (threadId === undefined || threadId === null) {
      throw new Error("MemorydSaver.deleteThread: threadId is required");
    }
    await this.client.deleteThread(String(threadId));
  }
}
