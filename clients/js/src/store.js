import { BaseStore, validateNamespace } from "@langchain/langgraph-checkpoint";
import { MemorydClient, MemorydError } from "./client.js";

// Contract limits (schemas/memory.json).
const MAX_OPS = 1000; // operations per POST /memory/batch
const MAX_PAGE = 1000; // search and list_namespaces limit
const MAX_OFFSET = 10000; // search and list_namespaces offset
const MAX_DEPTH = 16; // labels in a namespace
const MAX_TTL = 315360000;
const WILDCARD = "*";
// What the single endpoints answer for a code a batch operation fails with.
const STATUS_OF_CODE = {
  invalid_json: 400,
  invalid_field: 400,
  missing_field: 400,
  not_found: 404,
  conflict: 409,
  precondition_failed: 412,
  payload_too_large: 413,
  malformed_value: 500,
  internal: 500,
  store_unavailable: 503,
};

/**
 * The result of a store operation that failed: a thenable that rejects with
 * the error when awaited (and only then: no unhandled rejection when nobody
 * looks), so a caller resolving a promise with it, as AsyncBatchedStore does,
 * rejects that promise.
 */
export class FailedOperation {
  constructor(error) {
    this.error = error;
  }

  then(onFulfilled, onRejected) {
    return Promise.reject(this.error).then(onFulfilled, onRejected);
  }
}

/** An error for an operation refused before anything was sent. */
function refuse(field, message) {
  return new MemorydError(`MemorydStore: ${message}`, { status: 0, code: "invalid_field", field });
}

/** LangGraph's TTL minutes as memoryd's whole seconds (rounded up: never shorter). */
function minutesToSeconds(minutes, name) {
  if (typeof minutes !== "number" || !Number.isFinite(minutes) || minutes <= 0) {
    throw refuse(name, `${name} must be a number of minutes > 0, got ${minutes}`);
  }
  return Math.ceil(minutes * 60);
}

function checkCount(value, name, max) {
  if (value === undefined || value === null) return;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw refuse(name, `${name} must be an integer 0..${max}, got ${value}`);
  }
}

function toDate(text) {
  // null for an item written outside memoryd (no times known): the epoch.
  return new Date(text ?? 0);
}

/** A wire Item (snake_case, RFC 3339 strings) as a LangGraph Item. */
function toItem(w) {
  return {
    namespace: w.namespace,
    key: w.key,
    value: w.value,
    createdAt: toDate(w.created_at),
    updatedAt: toDate(w.updated_at),
    expiresAt: w.expires_at ? new Date(w.expires_at) : null,
    version: w.version,
  };
}

/**
 * LangGraph's filter as memoryd's: top-level fields, each a value (JSON
 * equality) or an operator object ($eq, $ne, $gt, $gte, $lt, $lte, $in, $nin,
 * $exists), evaluated by memoryd (which refuses another operator).
 */
function wireFilter(filter) {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== "object" || Array.isArray(filter)) throw refuse("filter", "filter must be an object");
  let out;
  for (const field of Object.keys(filter)) {
    if (filter[field] === undefined) continue;
    (out ??= {})[field] = filter[field];
  }
  return out;
}

/** Labels compared as memoryd orders them (strcmp on UTF-8, label by label). */
function compareNamespaces(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const c = Buffer.compare(Buffer.from(a[i], "utf8"), Buffer.from(b[i], "utf8"));
    if (c !== 0) return c;
  }
  return a.length - b.length;
}

function matches(condition, ns) {
  const { matchType, path } = condition;
  if (path.length > ns.length) return false;
  const start = matchType === "prefix" ? 0 : ns.length - path.length;
  return path.every((label, i) => label === WILDCARD || ns[start + i] === label);
}

function kindOf(op) {
  if (op === null || typeof op !== "object") throw refuse("operation", "an operation must be an object");
  if ("namespacePrefix" in op) return "search";
  if ("namespace" in op && "key" in op) return "value" in op ? "put" : "get";
  if ("matchConditions" in op || "maxDepth" in op || "limit" in op || "offset" in op) return "listNamespaces";
  throw refuse("operation", `unknown operation ${JSON.stringify(op)}`);
}

/**
 * LangGraph's long-term memory store (`BaseStore`) over memoryd's /memory API.
 *
 *   const store = new MemorydStore({ url: "http://127.0.0.1:8080", tenant: "acme" });
 *   const graph = builder.compile({ checkpointer, store });
 *
 * batch() sends all its operations in one POST /memory/batch, run by memoryd
 * in the order given. A further round trip is made only when memoryd's answer
 * calls for one (see README: search and listNamespaces beyond one page).
 */
export class MemorydStore extends BaseStore {
  /**
   * @param {object} options
   * @param {string} options.url base URL of memoryd
   * @param {string} [options.tenant] X-Tenant-Id (server default "default")
   * @param {string} [options.token] bearer token (Authorization header)
   * @param {number} [options.ttlSeconds] TTL of every put (absent: the server's
   *   MEMORY_DEFAULT_TTL_SECONDS; 0: no expiry, if the server allows it)
   * @param {Record<string,string>} [options.headers]
   * @param {typeof fetch} [options.fetch]
   * @param {number} [options.timeoutMs]
   * @param {MemorydClient} [options.client] use this client instead of building one
   */
  constructor(options = {}) {
    super();
    checkCount(options.ttlSeconds, "ttlSeconds", MAX_TTL);
    this.ttlSeconds = options.ttlSeconds;
    // LangGraph's TTLConfig (Python's names): defaultTtl in minutes;
    // refreshOnRead true by default, as LangGraph's.
    const ttl = options.ttl;
    this.refreshOnRead = true;
    if (ttl !== undefined && ttl !== null) {
      if (typeof ttl !== "object") throw refuse("ttl", "ttl must be { defaultTtl?, refreshOnRead? }");
      if (ttl.refreshOnRead !== undefined && typeof ttl.refreshOnRead !== "boolean") {
        throw refuse("ttl.refreshOnRead", "refreshOnRead must be a boolean");
      }
      this.refreshOnRead = ttl.refreshOnRead ?? true;
      if (ttl.defaultTtl !== undefined && ttl.defaultTtl !== null) {
        if (options.ttlSeconds !== undefined) throw refuse("ttl", "give ttl.defaultTtl or ttlSeconds, not both");
        this.ttlSeconds = minutesToSeconds(ttl.defaultTtl, "ttl.defaultTtl");
      }
    }
    this._ownsClient = options.client === undefined;
    this.client = options.client ?? new MemorydClient(options);
  }

  /** Closes the client's connections, when the store made the client (not when one was given). */
  async end() {
    if (this._ownsClient) await this.client.close();
  }

  /**
   * BaseStore's put, with memoryd's TTL: `options.ttl` (minutes, LangGraph's
   * Python unit; null: no expiry) or `options.ttlSeconds` overrides the
   * store's for this item.
   */
  async put(namespace, key, value, index, options = {}) {
    validateNamespace(namespace);
    const op = { namespace, key, value, index };
    if (options.ttlSeconds !== undefined) op.ttlSeconds = options.ttlSeconds;
    if (options.ttl !== undefined) op.ttl = options.ttl;
    await (await this.batch([op]))[0];
  }

  /**
   * BaseStore's get; `options.refreshTtl` (default: the store's
   * ttl.refreshOnRead) starts the item's TTL again, in memoryd.
   */
  async get(namespace, key, options = {}) {
    validateNamespace(namespace, { allowEmpty: true, allowReservedRoot: true });
    const op = { namespace, key };
    if (options.refreshTtl !== undefined) op.refreshTtl = options.refreshTtl;
    return (await this.batch([op]))[0];
  }

  /** BaseStore's search; `options.refreshTtl` as for get, for every item answered. */
  async search(namespacePrefix, options = {}) {
    validateNamespace(namespacePrefix, { allowEmpty: true, allowReservedRoot: true });
    const { filter, limit = 10, offset = 0, query, refreshTtl } = options;
    const op = { namespacePrefix, filter, limit, offset, query };
    if (refreshTtl !== undefined) op.refreshTtl = refreshTtl;
    return (await this.batch([op]))[0];
  }

  /** BaseStore's delete, failing when memoryd fails it. */
  async delete(namespace, key) {
    validateNamespace(namespace, { allowEmpty: true, allowReservedRoot: true });
    await (await this.batch([{ namespace, key, value: null }]))[0];
  }

  /**
   * Runs the operations, in order, in one POST /memory/batch (per 1000), and
   * answers one result each: get an Item or null, search Items, put
   * undefined, listNamespaces string[][].
   *
   * One failed operation fails alone: its result is a FailedOperation, a
   * thenable that rejects with its MemorydError when awaited (so LangGraph's
   * AsyncBatchedStore, which resolves each queued call with its result,
   * rejects that call only), and the others are answered. That holds for an
   * operation refused before anything is sent (semantic `query`, a filter
   * operator memoryd does not evaluate) and for one memoryd fails. batch()
   * itself throws only when the request fails as a whole (network, 503 after
   * the retries, 401/403, ...).
   */
  async batch(operations) {
    if (!Array.isArray(operations)) throw refuse("operations", "batch() takes an array of operations");
    const results = new Array(operations.length);
    // Each operation is a generator: it yields wire operations and receives
    // their results until it returns its own.
    let pending = [];
    for (let index = 0; index < operations.length; index++) {
      const op = operations[index];
      try {
        const kind = kindOf(op);
        const gen = this[`_${kind}`](op);
        pending.push({ index, kind, gen, step: gen.next() });
      } catch (err) {
        results[index] = new FailedOperation(err);
      }
    }
    while (pending.length > 0) {
      const waiting = [];
      for (const t of pending) {
        if (t.step.done) results[t.index] = t.step.value;
        else waiting.push(t);
      }
      if (waiting.length === 0) break;
      const { answers, refused } = await this._send(waiting.map((t) => t.step.value));
      const fail = (t, error) => {
        t.gen.return(undefined);
        results[t.index] = new FailedOperation(
          new MemorydError(
            `memoryd POST /memory/batch: operation ${t.index} (${t.kind}) failed: ${error.code}: ${error.message}`,
            { status: STATUS_OF_CODE[error.code] ?? 500, code: error.code, field: error.field, body: error }
          )
        );
      };
      pending = [];
      const resend = [];
      for (let k = 0; k < waiting.length; k++) {
        const t = waiting[k];
        const error = answers[k]?.error;
        // past the batch's budget memoryd ran nothing: send it again
        if (refused[k] && error?.code === "payload_too_large") {
          resend.push([t, error]);
          continue;
        }
        if (error) {
          fail(t, error);
          continue;
        }
        try {
          t.step = t.gen.next(answers[k]);
          pending.push(t);
        } catch (err) {
          results[t.index] = new FailedOperation(err);
        }
      }
      // Those past the budget go again, unless not even one operation fit.
      if (resend.length === waiting.length) for (const [t, error] of resend) fail(t, error);
      else pending.push(...resend.map(([t]) => t));
    }
    return results;
  }

  /**
   * One POST /memory/batch per MAX_OPS wire operations; their results in
   * order, and per operation whether its batch was truncated (memoryd refused
   * what came past its budget).
   */
  async _send(wireOps) {
    const answers = [];
    const refused = [];
    for (let i = 0; i < wireOps.length; i += MAX_OPS) {
      const chunk = wireOps.slice(i, i + MAX_OPS);
      const { results, truncated } = await this.client.memoryBatchPage(chunk);
      if (!Array.isArray(results) || results.length !== chunk.length) {
        throw new MemorydError(
          `memoryd POST /memory/batch: ${chunk.length} operations sent, ` +
            `${Array.isArray(results) ? results.length : "no"} results answered`,
          { status: 200, code: "internal", body: results }
        );
      }
      answers.push(...results);
      refused.push(...results.map(() => truncated));
    }
    return { answers, refused };
  }

  *_get(op) {
    const wire = { op: "get", namespace: op.namespace, key: op.key };
    if (op.refreshTtl ?? this.refreshOnRead) wire.refresh_ttl = true;
    const r = yield wire;
    return r.item ? toItem(r.item) : null;
  }

  *_put(op) {
    if (op.value === null) {
      yield { op: "delete", namespace: op.namespace, key: op.key };
      return undefined;
    }
    if (op.value === undefined) throw refuse("value", "a put's value must be a JSON object, or null to delete");
    let ttl = op.ttlSeconds ?? this.ttlSeconds;
    if (op.ttl !== undefined && op.ttlSeconds === undefined) ttl = op.ttl === null ? 0 : minutesToSeconds(op.ttl, "ttl");
    checkCount(ttl, "ttlSeconds", MAX_TTL);
    // `index` (fields to embed) has nothing to act on: memoryd keeps no
    // embeddings, as a BaseStore built without an index config.
    const wire = { op: "put", namespace: op.namespace, key: op.key, value: op.value };
    if (ttl !== undefined) wire.ttl_seconds = ttl;
    yield wire;
    return undefined;
  }

  *_search(op) {
    if (op.query) {
      throw refuse(
        "query",
        "semantic search (query) is not offered: memoryd keeps no embeddings; search by namespacePrefix and filter"
      );
    }
    const limit = op.limit ?? 10;
    const offset = op.offset ?? 0;
    checkCount(limit, "limit", Number.MAX_SAFE_INTEGER);
    checkCount(offset, "offset", Number.MAX_SAFE_INTEGER);
    const filter = wireFilter(op.filter);
    if (limit === 0) return [];
    const base = { op: "search", namespace_prefix: op.namespacePrefix };
    if (filter) base.filter = filter;
    if (op.refreshTtl ?? this.refreshOnRead) base.refresh_ttl = true;
    const items = [];
    // memoryd skips `offset` matches itself (up to MAX_OFFSET); beyond, or when
    // it cannot say how far it got, the skipping is done here.
    let serverOffset = offset <= MAX_OFFSET ? offset : 0;
    let skip = offset - serverOffset;
    let cursor;
    for (;;) {
      const wire = { ...base, limit: Math.min(limit - items.length + skip, MAX_PAGE) };
      if (serverOffset) wire.offset = serverOffset;
      if (cursor) wire.cursor = cursor;
      const r = yield wire;
      if (serverOffset && r.items.length === 0 && r.next_cursor) {
        // memoryd stopped at its scan budget before it had skipped all of
        // `offset` (a selective filter over many items), and a cursor does not
        // carry what is left to skip: start over, skipping here.
        skip = serverOffset;
        serverOffset = 0;
        cursor = undefined;
        continue;
      }
      serverOffset = 0;
      for (const w of r.items) {
        if (skip > 0) skip--;
        else if (items.length < limit) items.push(toItem(w));
      }
      // A page can be short and still have a cursor: go on until limit.
      if (items.length >= limit || !r.next_cursor) return items;
      cursor = r.next_cursor;
    }
  }

  *_listNamespaces(op) {
    const conditions = op.matchConditions ?? [];
    for (const c of conditions) {
      if (c?.matchType !== "prefix" && c?.matchType !== "suffix") {
        throw refuse("matchConditions", `matchType must be "prefix" or "suffix", got ${c?.matchType}`);
      }
      if (!Array.isArray(c.path)) throw refuse("matchConditions", "a match condition's path must be an array of labels");
    }
    const limit = op.limit ?? 100;
    const offset = op.offset ?? 0;
    checkCount(limit, "limit", Number.MAX_SAFE_INTEGER);
    checkCount(offset, "offset", MAX_OFFSET);
    checkCount(op.maxDepth, "maxDepth", Number.MAX_SAFE_INTEGER);
    // Namespaces have at most MAX_DEPTH labels: a deeper cut cuts nothing.
    const maxDepth = op.maxDepth > MAX_DEPTH ? undefined : op.maxDepth;
    if (limit === 0) return [];
    const prefixes = conditions.filter((c) => c.matchType === "prefix");
    const suffixes = conditions.filter((c) => c.matchType === "suffix");
    const literal = conditions.every((c) => !c.path.includes(WILDCARD));

    if (literal && prefixes.length <= 1 && suffixes.length <= 1) {
      // memoryd does it all: match, cut to maxDepth, dedupe, order, page.
      const base = { op: "list_namespaces" };
      if (prefixes.length) base.prefix = prefixes[0].path;
      if (suffixes.length) base.suffix = suffixes[0].path;
      if (maxDepth) base.max_depth = maxDepth;
      const out = [];
      for (let at = offset; out.length < limit; ) {
        const n = Math.min(limit - out.length, MAX_PAGE);
        if (at > MAX_OFFSET) throw refuse("offset", `listNamespaces reaches past memoryd's offset ${MAX_OFFSET}`);
        const r = yield { ...base, limit: n, offset: at };
        out.push(...r.namespaces);
        if (r.namespaces.length < n) break;
        at += n;
      }
      return out;
    }

    // "*" (any one label) or several conditions of a kind: memoryd takes
    // labels literally, so ask it for every namespace under the literal head
    // of a prefix and match, cut and page here.
    const head = [];
    for (const label of prefixes[0]?.path ?? []) {
      if (label === WILDCARD) break;
      head.push(label);
    }
    const all = [];
    for (let at = 0; ; at += MAX_PAGE) {
      if (at > MAX_OFFSET) {
        throw refuse("matchConditions", `more than ${MAX_OFFSET} namespaces under [${head}] to match "*" against`);
      }
      const r = yield { op: "list_namespaces", prefix: head, limit: MAX_PAGE, offset: at };
      all.push(...r.namespaces);
      if (r.namespaces.length < MAX_PAGE) break;
    }
    const seen = new Set();
    const picked = [];
    for (const ns of all) {
      if (!conditions.every((c) => matches(c, ns))) continue;
      const cut = maxDepth ? ns.slice(0, maxDepth) : ns;
      const id = JSON.stringify(cut);
      if (seen.has(id)) continue;
      seen.add(id);
      picked.push(cut);
    }
    picked.sort(compareNamespaces);
    return picked.slice(offset, offset + limit);
  }
}
