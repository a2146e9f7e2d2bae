// A lean HTTP/1.1 client for memoryd's plain-HTTP origin: keep-alive
// connections on net.Socket, one request at a time on each (no pipelining),
// the request written in one go, the response framed by Content-Length (or
// chunked, or up to the close) and decoded once. It costs about a third of
// undici's Pool.request in CPU per request and answers sooner (fewer event
// loop turns between the last byte and the caller), which is what a
// LangGraph agent feels: ten checkpoint requests a turn.
import net from "node:net";

const HEADER_END = Buffer.from("\r\n\r\n");

// Every connection reads into this one buffer (net's `onread`): the bytes
// are parsed, and the ones kept copied, before the callback returns, and
// callbacks never overlap. No ArrayBuffer a read and no Readable stream
// (push, 'data' events) between the socket and the parser.
const READ_BUFFER = Buffer.allocUnsafeSlow(128 * 1024);

// Request bodies made by bodyBuffer: bytes free before them for the head
// (a head is about 200 bytes; 4 KB leaves room for a long bearer token).
const HEADROOM = 4096;
const roomy = new WeakSet();

/**
 * A Buffer of `length` bytes for a request body, with room before it where
 * send() writes the request's head: head and body go out as one Buffer with
 * no copy of the body (a 78 KB put: one allocation and copy fewer).
 */
export function bodyBuffer(length) {
  const out = Buffer.allocUnsafeSlow(HEADROOM + length).subarray(HEADROOM);
  roomy.add(out);
  return out;
}

function socketError(message, code) {
  const err = new Error(message);
  err.code = code;
  return err;
}

function timeoutError(ms) {
  const err = new Error(`no answer within ${ms} ms`);
  err.name = "TimeoutError";
  err.code = "ETIMEDOUT";
  return err;
}

function abortReason(signal) {
  if (signal.reason !== undefined) return signal.reason;
  const err = new Error("This operation was aborted");
  err.name = "AbortError";
  return err;
}

/** "name: value\r\n" lines of a headers object, checked once per object. */
const headerCache = new WeakMap();
function headerLines(headers) {
  let text = headerCache.get(headers);
  if (text !== undefined) return text;
  text = "";
  for (const [k, v] of Object.entries(headers)) {
    const value = String(v);
    if (/[\r\n\0]/.test(k) || /[\r\n\0]/.test(value) || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k)) {
      throw new TypeError(`invalid header ${JSON.stringify(k)}`);
    }
    text += `${k}: ${value}\r\n`;
  }
  headerCache.set(headers, text);
  return text;
}

/** The first value of a header in a response head (`lower`: the head in lower case). */
function headerIn(text, lower, name) {
  const at = lower.indexOf(`\r\n${name}:`);
  if (at < 0) return undefined;
  const from = at + name.length + 3;
  const eol = text.indexOf("\r\n", from);
  return text.slice(from, eol < 0 ? text.length : eol).trim();
}

/** Every header of a response head, names in lower case, the first value of each. */
function headerMap(text) {
  const out = {};
  const lines = text.split("\r\n");
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(":");
    if (colon <= 0) continue;
    const name = lines[i].slice(0, colon).trim().toLowerCase();
    if (out[name] === undefined) out[name] = lines[i].slice(colon + 1).trim();
  }
  return out;
}

/** One keep-alive connection and the response it is reading. */
class Connection {
  constructor(transport) {
    this.transport = transport;
    this.req = undefined; // the request in flight
    this.served = 0;
    this.idleSince = 0;
    this.closed = false;
    this.resetParser();
    const socket = net.connect({
      host: transport.host,
      port: transport.port,
      onread: { buffer: READ_BUFFER, callback: (n, buf) => this.onData(buf.subarray(0, n)) },
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60000);
    socket.on("error", (err) => this.fail(err));
    socket.on("close", () => this.onClose());
    socket.on("end", () => {
      // memoryd closed an idle connection: never hand it out again.
      if (this.req === undefined) this.destroy();
    });
    this.socket = socket;
  }

  resetParser() {
    this.head = undefined; // Buffer of the header bytes so far (before the blank line)
    this.status = 0;
    this.headers = undefined;
    this.mode = 0; // 0 head, 1 content-length, 2 chunked, 3 to the close
    this.body = undefined; // content-length: the body so far, when it spans reads
    this.chunks = []; // chunked, to the close: copies of the body's pieces
    this.received = 0;
    this.length = 0;
    this.keepAlive = true;
    this.chunkBuf = undefined; // chunked: bytes not parsed yet
  }

  send(req) {
    this.req = req;
    req.conn = this;
    this.socket.ref();
    const { body } = req;
    if (body === undefined || typeof body === "string") {
      this.socket.write(body === undefined ? req.head : req.head + body, "utf8");
      return;
    }
    // Bytes: the head in front of them, one Buffer in one write. Cork, two
    // writes and uncork go through Node's writev path (an array of chunks,
    // the head converted in C++): about 25 us more a request than copying a
    // 78 KB body once. A bodyBuffer has the room for the head: no copy.
    const size = req.head.length; // latin1: a byte a character
    let out;
    if (roomy.has(body) && size <= body.byteOffset) {
      out = Buffer.from(body.buffer, body.byteOffset - size, size + body.byteLength);
    } else {
      out = Buffer.allocUnsafeSlow(size + body.byteLength);
      out.set(body, size);
    }
    out.write(req.head, 0, "latin1");
    this.socket.write(out);
  }

  onData(chunk) {
    if (this.req === undefined) {
      // Bytes nobody asked for: the connection cannot be trusted.
      this.destroy();
      return;
    }
    const req = this.req;
    if (req.deadline > 0) req.deadline = Date.now() + req.timeoutMs; // the time between chunks
    try {
      this.parse(chunk);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Bytes read (`chunk`: borrowed, valid until this returns). */
  parse(chunk) {
    if (this.mode === 0) {
      const buf = this.head === undefined ? chunk : Buffer.concat([this.head, chunk]);
      const end = buf.indexOf(HEADER_END);
      if (end < 0) {
        if (buf.length > 65536) throw socketError("response headers too large", "UND_ERR_HEADERS_OVERFLOW");
        this.head = buf === chunk ? Buffer.from(chunk) : buf;
        return;
      }
      this.head = undefined;
      if (!this.parseHead(buf.latin1Slice(0, end))) {
        // 1xx: another head follows.
        const rest = buf.subarray(end + 4);
        if (rest.length > 0) this.parse(rest);
        return;
      }
      chunk = buf.subarray(end + 4);
      if (this.mode === 1 && this.length === 0) {
        this.finish(chunk.length);
        return;
      }
      if (chunk.length === 0) return;
    }
    if (this.mode === 1) {
      const need = this.length - this.received;
      if (chunk.length >= need && this.body === undefined) {
        // The whole body in this read (a put's answer, most reads): decoded from it.
        this.finish(chunk.length - need, chunk.toString("utf8", 0, need));
      } else if (chunk.length >= need) {
        this.body.set(need === chunk.length ? chunk : chunk.subarray(0, need), this.received);
        this.received += need;
        this.finish(chunk.length - need, this.body.toString("utf8"));
      } else {
        this.body ??= Buffer.allocUnsafe(this.length);
        this.body.set(chunk, this.received);
        this.received += chunk.length;
      }
    } else if (this.mode === 2) {
      this.parseChunked(chunk);
    } else {
      this.chunks.push(Buffer.from(chunk));
      this.received += chunk.length;
    }
  }

  /**
   * The status line and the framing headers; false for a 1xx head (the
   * answer is still to come). The other headers are parsed when asked for.
   */
  parseHead(text) {
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(text);
    if (!m) throw socketError(`not an HTTP/1.x response: ${JSON.stringify(text.slice(0, 40))}`, "UND_ERR_SOCKET");
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return false;
    const lower = text.toLowerCase();
    this.status = status;
    this.headers = text;
    const connection = headerIn(text, lower, "connection")?.toLowerCase();
    this.keepAlive = m[1] === "1" ? connection !== "close" : connection === "keep-alive";
    const te = headerIn(text, lower, "transfer-encoding");
    const cl = headerIn(text, lower, "content-length");
    if (this.req.method === "HEAD" || status === 204 || status === 304) {
      this.mode = 1;
      this.length = 0;
    } else if (te !== undefined && te.toLowerCase() !== "identity") {
      if (!/(^|,)\s*chunked\s*$/i.test(te)) throw socketError(`unsupported transfer-encoding ${te}`, "UND_ERR_SOCKET");
      this.mode = 2;
    } else if (cl !== undefined) {
      if (!/^\d+$/.test(cl)) throw socketError(`bad content-length ${JSON.stringify(cl)}`, "UND_ERR_SOCKET");
      this.mode = 1;
      this.length = Number(cl);
    } else {
      this.mode = 3; // up to the close
      this.keepAlive = false;
    }
    return true;
  }

  parseChunked(chunk) {
    let buf = this.chunkBuf === undefined ? chunk : Buffer.concat([this.chunkBuf, chunk]);
    for (;;) {
      const eol = buf.indexOf("\r\n");
      if (eol < 0) break;
      if (this.length < 0) {
        // Trailers, up to an empty line.
        if (eol === 0) {
          this.chunkBuf = undefined;
          this.finish(buf.length - 2);
          return;
        }
        buf = buf.subarray(eol + 2);
        continue;
      }
      const size = parseInt(buf.latin1Slice(0, eol).split(";")[0].trim(), 16);
      if (!Number.isFinite(size) || size < 0) throw socketError("bad chunk size", "UND_ERR_SOCKET");
      if (size === 0) {
        this.length = -1;
        buf = buf.subarray(eol + 2);
        continue;
      }
      if (buf.length < eol + 2 + size + 2) break;
      this.chunks.push(Buffer.from(buf.subarray(eol + 2, eol + 2 + size)));
      this.received += size;
      buf = buf.subarray(eol + 2 + size + 2);
    }
    this.chunkBuf = buf.length > 0 ? Buffer.from(buf) : undefined;
  }

  /** The response is complete (`text`: its body, or in this.chunks); `extra` bytes followed it. */
  finish(extra, text) {
    const req = this.req;
    const body =
      text !== undefined ? text
      : this.chunks.length === 0 ? "" : this.chunks.length === 1 ? this.chunks[0].toString("utf8") : Buffer.concat(this.chunks).toString("utf8");
    const status = this.status;
    const headers = this.headers;
    const reuse = this.keepAlive && extra === 0;
    this.req = undefined;
    this.resetParser();
    this.served += 1;
    this.transport.done(req);
    if (reuse) this.transport.release(this);
    else this.destroy();
    let parsed;
    req.resolve({
      status,
      text: body,
      header: (name) => (parsed ??= headerMap(headers))[name],
    });
  }

  fail(err) {
    const req = this.req;
    this.req = undefined;
    this.destroy();
    if (req !== undefined) {
      this.transport.done(req);
      req.reject(err);
    }
  }

  onClose() {
    if (this.req !== undefined && this.mode === 3) {
      this.keepAlive = false;
      this.finish(0);
      return;
    }
    this.fail(socketError("memoryd closed the connection", "ECONNRESET"));
  }

  destroy() {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.transport.forget(this);
  }
}

/**
 * The transport of MemorydClient for an http: URL (see PoolTransport for the
 * interface): at most `maxConnections` connections, requests beyond them
 * queued; an idle connection is closed after `keepAliveTimeoutMs`, before
 * memoryd's own idle timeout closes it under a request.
 */
export class Http1Transport {
  constructor(url, { maxConnections, keepAliveTimeoutMs }) {
    const u = new URL(url);
    this.host = u.hostname.replace(/^\[(.*)\]$/, "$1");
    this.port = Number(u.port || 80);
    this.hostHeader = u.host;
    this.base = u.pathname.replace(/\/+$/, "");
    this.max = Math.max(1, maxConnections);
    this.keepAliveMs = keepAliveTimeoutMs;
    this.idle = []; // most recently used last
    this.open = 0;
    this.queue = [];
    this.inflight = new Set();
    // signal -> { reqs: its requests in flight, onAbort }: one listener a
    // signal, not one a request. LangGraph passes a run's signal to its ~10
    // checkpoint calls a turn, and add/removeEventListener on an AbortSignal
    // cost about 10 us a request; a signal without requests left is let go by
    // the sweeper (within a second), or at close.
    this.watched = new Map();
    this.sweeper = undefined;
    this.closing = undefined;
    this.closed = false;
  }

  send(method, path, headers, body, timeoutMs, signal) {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(socketError("the client is closed", "UND_ERR_CLOSED"));
        return;
      }
      if (signal?.aborted) {
        reject(abortReason(signal));
        return;
      }
      const length = body === undefined ? (method === "GET" || method === "HEAD" || method === "DELETE" ? -1 : 0)
        : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
      const head =
        `${method} ${this.base}${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n${headerLines(headers)}` +
        (length >= 0 ? `content-length: ${length}\r\n\r\n` : "\r\n");
      const req = { method, head, body, resolve, reject, conn: undefined, deadline: 0, signal };
      if (timeoutMs > 0) {
        req.deadline = Date.now() + timeoutMs;
        req.timeoutMs = timeoutMs;
      }
      if (signal) this.#watch(signal).add(req);
      this.inflight.add(req);
      this.#sweep(timeoutMs);
      this.#dispatch(req);
    });
  }

  #dispatch(req) {
    const now = Date.now();
    while (this.idle.length > 0) {
      const conn = this.idle.pop();
      if (now - conn.idleSince < this.keepAliveMs && !conn.closed && conn.socket.writable) {
        conn.send(req);
        return;
      }
      conn.destroy();
    }
    if (this.open < this.max) {
      this.open += 1;
      new Connection(this).send(req);
      return;
    }
    this.queue.push(req);
  }

  /** The requests in flight a signal aborts (listening to it from the first). */
  #watch(signal) {
    let w = this.watched.get(signal);
    if (w === undefined) {
      const reqs = new Set();
      const onAbort = () => {
        for (const req of [...reqs]) this.abort(req, abortReason(signal));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      w = { reqs, onAbort };
      this.watched.set(signal, w);
    }
    return w.reqs;
  }

  /** Stops listening to the signals without requests in flight. */
  #unwatchIdle() {
    for (const [signal, w] of this.watched) {
      if (w.reqs.size > 0) continue;
      signal.removeEventListener("abort", w.onAbort);
      this.watched.delete(signal);
    }
  }

  /** A request answered or failed: its timer and signal let go. */
  done(req) {
    this.inflight.delete(req);
    if (req.signal) this.watched.get(req.signal)?.reqs.delete(req);
    if (this.closing && this.inflight.size === 0) this.closing();
  }

  release(conn) {
    const next = this.queue.shift();
    if (next !== undefined) {
      conn.send(next);
      return;
    }
    conn.idleSince = Date.now();
    conn.socket.unref();
    this.idle.push(conn);
  }

  forget(conn) {
    this.open -= 1;
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    const next = this.queue.shift();
    if (next !== undefined) this.#dispatch(next);
  }

  abort(req, reason) {
    if (!this.inflight.has(req)) return;
    if (req.conn !== undefined) {
      req.conn.req = undefined;
      req.conn.destroy();
    } else {
      const i = this.queue.indexOf(req);
      if (i >= 0) this.queue.splice(i, 1);
    }
    this.done(req);
    req.reject(reason);
  }

  /** One timer for every request's deadline and the idle connections' age (not one per request). */
  #sweep(timeoutMs) {
    if (this.sweeper !== undefined) return;
    const every = Math.min(1000, Math.max(10, Math.floor((timeoutMs > 0 ? timeoutMs : this.keepAliveMs) / 10)));
    this.sweeper = setInterval(() => {
      const now = Date.now();
      for (const req of this.inflight) {
        if (req.deadline > 0 && now >= req.deadline) this.abort(req, timeoutError(req.timeoutMs));
      }
      for (const conn of [...this.idle]) {
        if (now - conn.idleSince >= this.keepAliveMs) conn.destroy();
      }
      this.#unwatchIdle();
      if (this.inflight.size === 0 && this.idle.length === 0) {
        clearInterval(this.sweeper);
        this.sweeper = undefined;
      }
    }, every);
    this.sweeper.unref();
  }

  /** Closes every connection once the requests in flight are answered. */
  async close() {
    this.closed = true;
    if (this.inflight.size > 0) await new Promise((resolve) => (this.closing = resolve));
    for (const conn of [...this.idle]) conn.destroy();
    this.#unwatchIdle();
    if (this.sweeper !== undefined) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}
