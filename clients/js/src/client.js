// Thin REST client for memoryd (see the memoryd v1 contract).
import { Pool } from "undici";

/**
 * Error raised for any non-2xx memoryd response (and for network failures).
 * `status` is the HTTP status (0 for a network failure or a call refused before it
 * was sent), `code` the contract's
 * error code (e.g. "invalid_field"), `requestId` the X-Request-Id of the call.
 */
export class MemorydError extends Error {
  /**
   * @param {string} message
   * @param {{status?: number, code?: string, requestId?: string, field?: string, body?: unknown, cause?: unknown}} [info]
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
  }
}

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
 * The default transport: an undici Pool of keep-alive connections to memoryd's
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

/**
 * Low-level memoryd REST client: one method per endpoint, JSON in, JSON out.
 * It holds a pool of keep-alive connections: share one client between a saver
 * and a store (the `client` option), and `close()` it when done.
 */
export class MemorydClient {
  /**
   * @param {object} options
   * @param {string} options.url base URL of memoryd, e.g. "http://127.0.0.1:8080"
   * @param {string} [options.tenant] sent as X-Tenant-Id (server default: "default")
   * @param {string} [options.token] sent as `Authorization: Bearer <token>`
   * @param {Record<string,string>} [options.headers] extra headers for every request
   * @param {typeof fetch} [options.fetch] send through this fetch instead of the connection pool
   * @param {number} [options.timeoutMs] per-request timeout (default: none)
   * @param {number} [options.maxConnections] the pool's connections at most (default 64)
   * @param {number} [options.keepAliveTimeoutMs] how long an idle connection is kept (default 4000)
   */
  constructor({ url, tenant, token, headers, fetch: fetchImpl, timeoutMs, maxConnections, keepAliveTimeoutMs } = {}) {
    if (typeof url !== "string" || url.length === 0) {
      throw new TypeError("MemorydClient: `url` is required");
    }
    this.url = url.replace(/\/+$/, "");
    this.tenant = tenant;
    this.token = token;
    this.extraHeaders = headers ?? {};
    this.timeoutMs = timeoutMs;
    if (fetchImpl !== undefined && typeof fetchImpl !== "function") {
      throw new TypeError("MemorydClient: `fetch` must be a function");
    }
    this.transport = fetchImpl
      ? new FetchTransport(this.url, fetchImpl)
      : new PoolTransport(this.url, {
          maxConnections: maxConnections ?? 64,
          keepAliveTimeoutMs: keepAliveTimeoutMs ?? 4000,
        });
    // Headers are the same for every call but Content-Type: built once.
    this._baseHeaders = { accept: "application/json", ...lowerKeys(this.extraHeaders) };
    if (tenant !== undefined && tenant !== null) this._baseHeaders["x-tenant-id"] = String(tenant);
    if (token) this._baseHeaders.authorization = `Bearer ${token}`;
    this._bodyHeaders = { ...this._baseHeaders, "content-type": "application/json" };
  }

  /** Closes the pool's connections (after the requests in flight). */
  async close() {
    await this.transport.close();
  }

  /**
   * Perform a request. `body` is a JSON value, or a string already holding
   * the JSON text. Returns `{status, body, headers}` for 2xx responses (body
   * parsed as JSON when present), and for statuses listed in `allow`.
   * Throws MemorydError otherwise.
   */
  async request(method, path, { body, allow = [], signal } = {}) {
    const payload = body === undefined || typeof body === "string" ? body : JSON.stringify(body);
    const headers = payload === undefined ? this._baseHeaders : this._bodyHeaders;
    let res;
    try {
      res = await this.transport.send(method, path, headers, payload, this.timeoutMs, signal);
    } catch (err) {
      throw new MemorydError(`memoryd ${method} ${path}: request failed: ${err?.message ?? err}`, {
        status: 0,
        code: "network_error",
        cause: err,
      });
    }
    const { status, text } = res;
    let parsed;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    if ((status >= 200 && status < 300) || allow.includes(status)) {
      return { status, body: parsed, headers: { get: res.header } };
    }
    const requestId = res.header("x-request-id");
    const err = parsed && typeof parsed === "object" ? parsed.error : undefined;
    const code = err?.code ?? `http_${status}`;
    const message = err?.message ?? (text.slice(0, 200) || `HTTP ${status}`);
    throw new MemorydError(`memoryd ${method} ${path} -> ${status} ${code}: ${message}`, {
      status,
      code,
      requestId: err?.request_id ?? requestId,
      field: err?.field,
      body: parsed ?? text,
    });
  }

  /** GET /healthz */
  async health() {
    return (await this.request("GET", "/healthz")).body;
  }

  /** GET /readyz (returns the body for 200 and 503 alike) */
  async ready() {
    return (await this.request("GET", "/readyz", { allow: [503] })).body;
  }

  /** POST /checkpoints (body: the request as a JSON value or as its JSON text); returns the response body ({config}). */
  async putCheckpoint(body) {
    return (await this.request("POST", "/checkpoints", { body })).body;
  }

  /**
   * GET /checkpoints/{thread_id}; returns the tuple, or undefined on 404.
   * @param {string} threadId
   * @param {{checkpoint_ns?: string, checkpoint_id?: string}} [params]
   */
  async getCheckpoint(threadId, params = {}) {
    const path = `/checkpoints/${encodeURIComponent(threadId)}${buildQuery({
      checkpoint_ns: params.checkpoint_ns,
      checkpoint_id: params.checkpoint_id || undefined,
    })}`;
    const res = await this.request("GET", path, { allow: [404] });
    return res.status === 404 ? undefined : res.body;
  }

  /**
   * GET /checkpoints (one page).
   * @param {{thread_id?: string, checkpoint_ns?: string, before?: string, limit?: number, filter?: object}} [params]
   * @returns {Promise<{checkpoints: object[], truncated: boolean}>}
   */
  async listCheckpoints(params = {}) {
    const path = `/checkpoints${buildQuery({
      thread_id: params.thread_id,
      checkpoint_ns: params.checkpoint_ns,
      before: params.before,
      limit: params.limit,
      filter: params.filter === undefined ? undefined : JSON.stringify(params.filter),
    })}`;
    return (await this.request("GET", path)).body;
  }

  /** POST /checkpoints/{thread_id}/writes */
  async putWrites(threadId, body) {
    return (await this.request("POST", `/checkpoints/${encodeURIComponent(threadId)}/writes`, { body })).body;
  }

  /** DELETE /checkpoints/{thread_id} */
  async deleteThread(threadId) {
    await this.request("DELETE", `/checkpoints/${encodeURIComponent(threadId)}`);
  }

  /**
   * POST /memory/batch: up to 1000 memory operations in one round trip.
   * @param {Array<Record<string, unknown>>} operations each `{op, ...}` as in the contract
   * @returns {Promise<Array<Record<string, any>>>} one result (or `{error}`) per operation
   */
  async memoryBatch(operations) {
    return (await this.memoryBatchPage(operations)).results;
  }

  /**
   * POST /memory/batch, the whole answer: `truncated` is true when memoryd ran
   * out of the batch's budget (MEMORY_WORK_BUDGET, RESPONSE_MAX_BYTES) and
   * refused the operations after that point (413 payload_too_large each).
   * @param {Array<Record<string, unknown>>} operations
   * @returns {Promise<{results: Array<Record<string, any>>, truncated: boolean}>}
   */
  async memoryBatchPage(operations) {
    const body = (await this.request("POST", "/memory/batch", { body: { operations } })).body;
    return { results: body.results, truncated: body.truncated === true };
  }
}
