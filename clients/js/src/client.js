// Thin REST client for memoryd (see the memoryd v1 contract).
import { Pool } from "undici";
import { Http1Transport } from "./http1.js";

/**
 * Error raised for any non-2xx memoryd response (and for network failures).
 * `status` is the HTTP status (0 for a network failure or a call refused before it
 * was sent), `code` the contract's
 * error code (e.g. "invalid_field"), `requestId` the X-Request-Id of the call.
 */
export class MemorydError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, requestId?: string, field?: string, body?: unknown, cause?: unknown, attempts?: number}} [info]
   */
  constructor(message, info = {}) {
    super(message, info.cause === undefined ? undefined : { cause: info.cause });
    this.name = "MemorydError";
    this.status = info.status ?? 0;
    this.code = info.code ?? "unknown";
    this.requestId = info.requestId;
    this.request_id = info.requestId;
    this.field = info.field;
    this.body = info.body;
    /** How many times the request was sent (retries included). */
    this.attempts = info.attempts ?? 1;
  }
}

const ALLOW_404 = [404];

/** Percent-encode one query component (space as %20, never "+"). */
function q(value) {
  return encodeURIComponent(String(value));
}

function lowerKeys(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) out[k.toLowerCase()] = v;
  return out;
}

function buildQuery(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    parts.push(`${q(key)}=${q(value)}`);
  }
  return parts.length > 0 ? `?${parts.join("&")}` : "";
}

/**
 * The transport of an https: URL: an undici Pool of keep-alive connections to memoryd's
 * origin. undici's request API costs a fraction of the global fetch's CPU per
 * call (no WHATWG streams, Request/Response objects or per-call abort
 * plumbing), and a string body goes out in one write.
 */
class PoolTransport {
  constructor(url, { maxConnections, keepAliveTimeoutMs }) {
    const u = new URL(url);
    this.base = u.pathname.replace(/\/+$/, "");
    this.pool = new Pool(u.origin, {
      connections: maxConnections,
      keepAliveTimeout: keepAliveTimeoutMs,
      // memoryd closes idle connections after HTTP_CONNECTION_TIMEOUT_SECONDS;
      // never reuse one it may be closing.
      keepAliveMaxTimeout: keepAliveTimeoutMs,
    });
  }

  async send(method, path, headers, body, timeoutMs, signal) {
    const res = await this.pool.request({
      method,
      path: this.base + path,
      headers,
      body,
      signal,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    const h = res.headers;
    return { status: res.statusCode, text, header: (name) => first(h[name]) };
  }

  close() {
    return this.pool.close();
  }
}

function first(value) {
  return Array.isArray(value) ? value[0] : value;
}

/** A caller's fetch (tests, proxies, other runtimes). */
class FetchTransport {
  constructor(url, fetchImpl) {
    this.url = url.replace(/\/+$/, "");
    this.fetch = fetchImpl;
  }

  async send(method, path, headers, body, timeoutMs, signal) {
    const init = { method, headers };
    if (body !== undefined) init.body = body;
    if (timeoutMs) {
      const timeout = AbortSignal.timeout(timeoutMs);
      init.signal = signal ? AbortSignal.any([signal, timeout]) : timeout;
    } else if (signal) {
      init.signal = signal;
    }
    const res = await this.fetch(this.url + path, init);
    const text = await res.text();
    return { status: res.status, text, header: (name) => res.headers.get(name) ?? undefined };
  }

  close() {}
}

// Errors of a connection memoryd (or the network) dropped or refused: a
// request that is safe to repeat is sent again (a pod restart, a failover).
const RESET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "EPIPE",
  "ENOTCONN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
]);
const TIMEOUT_CODES = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT", "UND_ERR_CONNECT_TIMEOUT", "ETIMEDOUT"]);

const DEFAULT_TIMEOUT_MS = 30000;
const DEFAULT_RETRY = Object.freeze({ attempts: 4, minDelayMs: 100, maxDelayMs: 2000, maxElapsedMs: 10000 });
const NO_RETRY = Object.freeze({ attempts: 1, minDelayMs: 0, maxDelayMs: 0, maxElapsedMs: 0 });

function errorCode(err) {
  return err?.code ?? err?.cause?.code;
}

/** Milliseconds a Retry-After header asks for (delta-seconds or an HTTP date), or undefined. */
export function retryAfterMs(value, now = Date.now()) {
  if (value === undefined || value === null || value === "") return undefined;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Full jitter: a random delay up to min(maxDelayMs, minDelayMs * 2^(attempt-1)). */
export function backoffMs(retry, attempt, random = Math.random) {
  const cap = Math.min(retry.maxDelayMs, retry.minDelayMs * 2 ** (attempt - 1));
  return Math.floor(random() * cap);
}

function normalizeRetry(retry) {
  if (retry === false || retry === 0) return NO_RETRY;
  if (retry === undefined || retry === true) return DEFAULT_RETRY;
  if (typeof retry !== "object") throw new TypeError("MemorydClient: `retry` must be an object or false");
  const out = { ...DEFAULT_RETRY, ...retry };
  for (const k of Object.keys(DEFAULT_RETRY)) {
    if (!Number.isFinite(out[k]) || out[k] < 0) throw new TypeError(`MemorydClient: retry.${k} must be a number >= 0`);
  }
  out.attempts = Math.max(1, Math.floor(out.attempts));
  return Object.freeze(out);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** A signal aborted by either of two (AbortSignal.any where there is one: Node 20.3+). */
export function anySignal(a, b) {
  if (!a) return b;
  if (!b) return a;
  if (typeof AbortSignal.any === "function") return AbortSignal.any([a, b]);
  const c = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) {
      c.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => c.abort(s.reason), { once: true });
  }
  return c.signal;
}

/**
 * Low-level memoryd REST client: one method per endpoint, JSON in, JSON out.
 * It holds a pool of keep-alive connections: share one client between a saver
 * and a store (the `client` option), and `close()` it when done.
 */
export class MemorydClient {
  // Kept out of util.inspect and JSON.stringify: they hold the token.
  #token;
  #baseHeaders;
  #bodyHeaders;

  /**
   * @param {object} options
   * @param {string} options.url base URL of memoryd, e.g. "http://127.0.0.1:8080"
   * @param {string} [options.tenant] sent as X-Tenant-Id (server default: "default")
   * @param {string | (() => string | Promise<string>)} [options.token] sent as
   *   `Authorization: Bearer <token>`; a function is asked before every request (rotating tokens)
   * @param {Record<string,string>} [options.headers] extra headers for every request
   * @param {typeof fetch} [options.fetch] send through this fetch instead of the connection pool
   * @param {number} [options.timeoutMs] per-request timeout (default 30000; 0: none)
   * @param {object|false} [options.retry] retries of requests safe to repeat (false: none)
   * @param {AbortSignal} [options.signal] aborts every request of this client (e.g. at shutdown)
   * @param {number} [options.maxConnections] the pool's connections at most (default 64)
   * @param {number} [options.keepAliveTimeoutMs] how long an idle connection is kept (default 4000)
   */
  constructor({
    url,
    tenant,
    token,
    headers,
    fetch: fetchImpl,
    timeoutMs,
    retry,
    signal,
    maxConnections,
    keepAliveTimeoutMs,
  } = {}) {
    if (typeof url !== "string" || url.length === 0) {
      throw new TypeError("MemorydClient: `url` is required");
    }
    if (token !== undefined && token !== null && typeof token !== "string" && typeof token !== "function") {
      throw new TypeError("MemorydClient: `token` must be a string or a function returning one");
    }
    if (timeoutMs !== undefined && (!Number.isFinite(timeoutMs) || timeoutMs < 0)) {
      throw new TypeError("MemorydClient: `timeoutMs` must be a number >= 0");
    }
    this.url = url.replace(/\/+$/, "");
    this.tenant = tenant;
    this.timeoutMs = timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.retry = normalizeRetry(retry);
    this.signal = signal;
    if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
      throw new TypeError("MemorydClient: `fetch` must be a function");
    }
    this.transport = fetchImpl
      ? new FetchTransport(this.url, fetchImpl)
      : new (new URL(this.url).protocol === "http:" ? Http1Transport : PoolTransport)(this.url, {
          maxConnections: maxConnections ?? 64,
          keepAliveTimeoutMs: keepAliveTimeoutMs ?? 4000,
        });
    // Headers are the same for every call but Content-Type: built once.
    const base = { accept: "application/json", ...lowerKeys(headers ?? {}) };
    if (tenant !== undefined && tenant !== null) base["x-tenant-id"] = String(tenant);
    this.#token = typeof token === "function" ? token : undefined;
    if (typeof token === "string" && token) base.authorization = `Bearer ${token}`;
    this.#baseHeaders = base;
    this.#bodyHeaders = { ...base, "content-type": "application/json" };
  }

  /** What util.inspect and JSON.stringify show: no token, no headers. */
  toJSON() {
    return { url: this.url, tenant: this.tenant };
  }

  [Symbol.for("nodejs.util.inspect.custom")]() {
    return `MemorydClient { url: ${JSON.stringify(this.url)}, tenant: ${JSON.stringify(this.tenant)} }`;
  }

  /** Closes the pool's connections (after the requests in flight). */
  async close() {
    await this.transport.close();
  }

  /** The same as close(), as on PostgresSaver. */
  async end() {
    await this.close();
  }

  async #headers(hasBody, requestId) {
    const h = { ...(hasBody ? this.#bodyHeaders : this.#baseHeaders) };
    if (requestId) h["x-request-id"] = String(requestId);
    if (this.#token !== undefined) {
      const t = await this.#token();
      if (typeof t === "string" && t) h.authorization = `Bearer ${t}`;
    }
    return h;
  }

  /**
   * Perform a request. `body` is a JSON value, or a string (or the UTF-8
   * bytes, a Uint8Array) already holding the JSON text. Returns `{status, body, headers}` for 2xx responses (body
   * parsed as JSON when present), and for statuses listed in `allow`.
   * Throws MemorydError otherwise.
   *
   * `idempotent`: the request is safe to send again; it is retried (see
   * `retry`) on 503 (after Retry-After) and on a connection reset or refused.
   * `signal` aborts it (code "aborted"); `requestId` is sent as X-Request-Id.
   */
  async request(method, path, { body, allow, signal, idempotent = false, requestId } = {}) {
    const payload =
      body === undefined || typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
    const sig = this.signal ? anySignal(this.signal, signal) : signal;
    const retry = idempotent ? this.retry : NO_RETRY;
    const t0 = retry.attempts > 1 ? Date.now() : 0;
    for (let attempt = 1; ; attempt++) {
      let res;
      try {
        // The same headers object every call, unless a token provider or a request id asks for one.
        const headers =
          this.#token === undefined && !requestId
            ? payload === undefined
              ? this.#baseHeaders
              : this.#bodyHeaders
            : await this.#headers(payload !== undefined, requestId);
        res = await this.transport.send(method, path, headers, payload, this.timeoutMs, sig);
      } catch (err) {
        const e = this.#failure(method, path, err, sig);
        if (e.code === "network_error" && RESET_CODES.has(errorCode(err))) {
          const wait = this.#retryDelay(retry, attempt, t0, undefined);
          if (wait !== undefined) {
            await this.#pause(wait, sig, method, path);
            continue;
          }
        }
        e.attempts = attempt;
        throw e;
      }
      const { status, text } = res;
      if (status === 503 && retry.attempts > attempt) {
        const wait = this.#retryDelay(retry, attempt, t0, retryAfterMs(res.header("retry-after")));
        if (wait !== undefined) {
          await this.#pause(wait, sig, method, path);
          continue;
        }
      }
      let parsed;
      if (text.length > 0) {
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
      }
      if ((status >= 200 && status < 300) || (allow !== undefined && allow.includes(status))) {
        return { status, body: parsed, headers: { get: res.header } };
      }
      const reqId = res.header("x-request-id");
      const err = parsed && typeof parsed === "object" ? parsed.error : undefined;
      const code = err?.code ?? `http_${status}`;
      const message = err?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
      throw new MemorydError(`memoryd ${method} ${path} -> ${status} ${code}: ${message}`, {
        status,
        code,
        requestId: err?.request_id ?? reqId,
        field: err?.field,
        body: parsed ?? text,
        attempts: attempt,
      });
    }
  }

  /** The delay before another attempt, or undefined when there is none to make. */
  #retryDelay(retry, attempt, t0, asked) {
    if (attempt >= retry.attempts) return undefined;
    const wait = Math.max(asked ?? 0, backoffMs(retry, attempt));
    if (Date.now() + wait - t0 > retry.maxElapsedMs) return undefined;
    return wait;
  }

  async #pause(ms, signal, method, path) {
    try {
      await sleep(ms, signal);
    } catch (err) {
      throw this.#failure(method, path, err, signal);
    }
  }

  #failure(method, path, err, signal) {
    if (err instanceof MemorydError) return err;
    const code = errorCode(err);
    if (signal?.aborted && !(err?.name === "TimeoutError" || TIMEOUT_CODES.has(code))) {
      return new MemorydError(`memoryd ${method} ${path}: aborted`, { status: 0, code: "aborted", cause: err });
    }
    if (err?.name === "TimeoutError" || TIMEOUT_CODES.has(code)) {
      return new MemorydError(`memoryd ${method} ${path}: timed out after ${this.timeoutMs} ms`, {
        status: 0,
        code: "timeout",
        cause: err,
      });
    }
    return new MemorydError(`memoryd ${method} ${path}: request failed: ${err?.message ?? err}${code ? ` (${code})` : ""}`, {
      status: 0,
      code: "network_error",
      cause: err,
    });
  }

  /** GET /healthz */
  async health(opts) {
    return (await this.request("GET", "/healthz", { ...opts, idempotent: true })).body;
  }

  /** GET /readyz (returns the body for 200 and 503 alike; not retried) */
  async ready(opts) {
    return (await this.request("GET", "/readyz", { ...opts, allow: [503] })).body;
  }

  /**
   * POST /checkpoints (body: the request as a JSON value, as its JSON text or its UTF-8 bytes);
   * returns the response body ({config}). An upsert: retried.
   */
  async putCheckpoint(body, opts) {
    return (await this.request("POST", "/checkpoints", { ...opts, body, idempotent: true })).body;
  }

  /**
   * GET /checkpoints/{thread_id}; returns the tuple, or undefined on 404.
   * @param {string} threadId
   * @param {{checkpoint_ns?: string, checkpoint_id?: string}} [params]
   */
  async getCheckpoint(threadId, params = {}, opts) {
    const path = `/checkpoints/${encodeURIComponent(threadId)}${buildQuery({
      checkpoint_ns: params.checkpoint_ns,
      checkpoint_id: params.checkpoint_id || undefined,
    })}`;
    const res = await this.request("GET", path, { ...opts, allow: ALLOW_404, idempotent: true });
    return res.status === 404 ? undefined : res.body;
  }

  /**
   * GET /checkpoints (one page).
   * @param {{thread_id?: string, checkpoint_ns?: string, before?: string, limit?: number, filter?: object}} [params]
   * @returns {Promise<{checkpoints: object[], truncated: boolean}>}
   */
  async listCheckpoints(params = {}, opts) {
    const path = `/checkpoints${buildQuery({
      thread_id: params.thread_id,
      checkpoint_ns: params.checkpoint_ns,
      before: params.before,
      limit: params.limit,
      filter: params.filter === undefined ? undefined : JSON.stringify(params.filter),
    })}`;
    return (await this.request("GET", path, { ...opts, idempotent: true })).body;
  }

  /** POST /checkpoints/{thread_id}/writes (the first (task_id, idx) is kept: retried) */
  async putWrites(threadId, body, opts) {
    return (
      await this.request("POST", `/checkpoints/${encodeURIComponent(threadId)}/writes`, {
        ...opts,
        body,
        idempotent: true,
      })
    ).body;
  }

  /** DELETE /checkpoints/{thread_id} */
  async deleteThread(threadId, opts) {
    await this.request("DELETE", `/checkpoints/${encodeURIComponent(threadId)}`, { ...opts, idempotent: true });
  }

  /**
   * POST /memory/batch: up to 1000 memory operations in one round trip. Every
   * operation is safe to repeat (get, search, list, put is an upsert, delete): retried.
   * @param {Array<Record<string, unknown>>} operations each `{op, ...}` as in the contract
   * @returns {Promise<Array<Record<string, any>>>} one result (or `{error}`) per operation
   */
  async memoryBatch(operations, opts) {
    return (await this.memoryBatchPage(operations, opts)).results;
  }

  /**
   * POST /memory/batch, the whole answer: `truncated` is true when memoryd ran
   * out of the batch's budget (MEMORY_WORK_BUDGET, RESPONSE_MAX_BYTES) and
   * refused the operations after that point (413 payload_too_large each).
   * @param {Array<Record<string, unknown>>} operations
   * @returns {Promise<{results: Array<Record<string, any>>, truncated: boolean}>}
   */
  async memoryBatchPage(operations, opts) {
    const body = (await this.request("POST", "/memory/batch", { ...opts, body: { operations }, idempotent: true }))
      .body;
    return { results: body.results, truncated: body.truncated === true };
  }

  // ---- conversations ---------------------------------------------------------

  /**
   * POST /conversations/{id}/messages: append messages in one atomic step
   * (creating the conversation). Retried only when every message has an `id`
   * (memoryd stores an id once, so a repeat is answered as the first).
   * @param {string} conversationId
   * @param {{messages: Array<{id?: string, role: string, content: string, metadata?: object}>,
   *   expected_seq?: number, customer_id?: string, metadata?: object}} body
   */
  async appendMessages(conversationId, body, opts) {
    const idempotent = Array.isArray(body?.messages) && body.messages.every((m) => typeof m?.id === "string" && m.id);
    return (
      await this.request("POST", `/conversations/${encodeURIComponent(conversationId)}/messages`, {
        ...opts,
        body,
        idempotent,
      })
    ).body;
  }

  /**
   * GET /conversations/{id}/messages: without paging parameters, the last
   * `limit` messages (the window); with `before_seq`, `after_seq` or `cursor`,
   * that page. Oldest first. Undefined when the conversation does not exist.
   * @param {string} conversationId
   * @param {{limit?: number, before_seq?: number, after_seq?: number, cursor?: string}} [params]
   */
  async getMessages(conversationId, params = {}, opts) {
    const path = `/conversations/${encodeURIComponent(conversationId)}/messages${buildQuery({
      limit: params.limit,
      cursor: params.cursor,
      before_seq: params.before_seq,
      after_seq: params.after_seq,
    })}`;
    const res = await this.request("GET", path, { ...opts, allow: ALLOW_404, idempotent: true });
    return res.status === 404 ? undefined : res.body;
  }

  /**
   * Every message of a conversation, oldest first, page after page
   * (`pageSize` a page, at most 1000).
   * @returns {AsyncGenerator<object>}
   */
  async *iterMessages(conversationId, { pageSize = 1000, afterSeq = 0 } = {}, opts) {
    let after = afterSeq;
    for (;;) {
      const page = await this.getMessages(conversationId, { limit: pageSize, after_seq: after }, opts);
      const msgs = page?.messages ?? [];
      for (const m of msgs) yield m;
      if (msgs.length === 0 || msgs.length < pageSize || page.next_cursor === null) return;
      after = msgs[msgs.length - 1].seq;
    }
  }

  /** GET /conversations/{id}: metadata, counts, TTL; undefined when it does not exist. */
  async getConversation(conversationId, opts) {
    const res = await this.request("GET", `/conversations/${encodeURIComponent(conversationId)}`, {
      ...opts,
      allow: ALLOW_404,
      idempotent: true,
    });
    return res.status === 404 ? undefined : res.body;
  }

  /**
   * PATCH /conversations/{id}: set customer_id (null removes it) and/or replace metadata.
   * @param {{customer_id?: string|null, metadata?: object}} body
   */
  async updateConversation(conversationId, body, opts) {
    return (
      await this.request("PATCH", `/conversations/${encodeURIComponent(conversationId)}`, {
        ...opts,
        body,
        idempotent: true,
      })
    ).body;
  }

  /** DELETE /conversations/{id}: everywhere (Redis and PostgreSQL); unknown ids too. */
  async deleteConversation(conversationId, opts) {
    await this.request("DELETE", `/conversations/${encodeURIComponent(conversationId)}`, { ...opts, idempotent: true });
  }

  /**
   * GET /conversations?customer_id=: one page of a customer's conversations,
   * most recently updated first; pass `next_cursor` back as `cursor`.
   * @param {{customer_id: string, limit?: number, cursor?: string}} params
   */
  async listConversations(params, opts) {
    const path = `/conversations${buildQuery({
      customer_id: params?.customer_id,
      limit: params?.limit,
      cursor: params?.cursor,
    })}`;
    return (await this.request("GET", path, { ...opts, idempotent: true })).body;
  }
}
