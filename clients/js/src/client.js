// Thin REST client for memoryd (see the memoryd v1 contract).

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

function buildQuery(params) {
  const parts = [];
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    parts.push(`${q(key)}=${q(value)}`);
  }
  return parts.length > 0 ? `?${parts.join("&")}` : "";
}

/**
 * Low-level memoryd REST client: one method per endpoint, JSON in, JSON out.
 */
export class MemorydClient {
  /**
   * @param {object} options
   * @param {string} options.url base URL of memoryd, e.g. "http://127.0.0.1:8080"
   * @param {string} [options.tenant] sent as X-Tenant-Id (server default: "default")
   * @param {string} [options.token] sent as `Authorization: Bearer <token>`
   * @param {Record<string,string>} [options.headers] extra headers for every request
   * @param {typeof fetch} [options.fetch] fetch implementation (default: global fetch)
   * @param {number} [options.timeoutMs] per-request timeout (default: none)
   */
  constructor({ url, tenant, token, headers, fetch: fetchImpl, timeoutMs } = {}) {
    if (typeof url !== "string" || url.length === 0) {
      throw new TypeError("MemorydClient: `url` is required");
    }
    this.url = url.replace(/\/+$/, "");
    this.tenant = tenant;
    this.token = token;
    this.extraHeaders = headers ?? {};
    this.fetch = fetchImpl ?? globalThis.fetch;
    if (typeof this.fetch !== "function") {
      throw new TypeError("MemorydClient: no fetch implementation (Node >= 18 has a global fetch)");
    }
    this.timeoutMs = timeoutMs;
  }

  _headers(hasBody) {
    const headers = { Accept: "application/json", ...this.extraHeaders };
    if (hasBody) headers["Content-Type"] = "application/json";
    if (this.tenant !== undefined && this.tenant !== null) headers["X-Tenant-Id"] = String(this.tenant);
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  /**
   * Perform a request. Returns `{status, body, headers}` for 2xx responses
   * (body parsed as JSON when present), and for statuses listed in `allow`.
   * Throws MemorydError otherwise.
   */
  async request(method, path, { body, allow = [] } = {}) {
    const init = { method, headers: this._headers(body !== undefined) };
    if (body !== undefined) init.body = JSON.stringify(body);
    if (this.timeoutMs) init.signal = AbortSignal.timeout(this.timeoutMs);
    let res;
    try {
      res = await this.fetch(this.url + path, init);
    } catch (err) {
      throw new MemorydError(`memoryd ${method} ${path}: request failed: ${err?.message ?? err}`, {
        status: 0,
        code: "network_error",
        cause: err,
      });
    }
    const text = await res.text();
    let parsed;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
    }
    const requestId = res.headers.get("x-request-id") ?? undefined;
    if ((res.status >= 200 && res.status < 300) || allow.includes(res.status)) {
      return { status: res.status, body: parsed, headers: res.headers };
    }
    const err = parsed && typeof parsed === "object" ? parsed.error : undefined;
    const code = err?.code ?? `http_${res.status}`;
    const message = err?.message ?? (text.slice(0, 200) || res.statusText);
    throw new MemorydError(`memoryd ${method} ${path} -> ${res.status} ${code}: ${message}`, {
      status: res.status,
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

  /** POST /checkpoints; returns the response body ({config}). */
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
