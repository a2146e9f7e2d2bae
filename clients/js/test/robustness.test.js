// Offline: retries, timeouts, aborts, tokens and request ids, through the
// client's undici pool against a small local HTTP server playing memoryd's
// failures (resets, 503 with Retry-After, a server that never answers).
import { createServer } from "node:http";
import { getEventListeners } from "node:events";
import { createServer as createTcpServer } from "node:net";
import { inspect } from "node:util";
import { emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { MemorydClient, MemorydError, MemorydSaver, MemorydStore } from "../src/index.js";
import { backoffMs, retryAfterMs } from "../src/client.js";
import { bodyBuffer } from "../src/http1.js";

/** A server answering each request with the next of `script` (a function of (req, res, n)). */
async function scriptedServer(script) {
  const seen = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const step = script[Math.min(seen.length - 1, script.length - 1)];
      step(req, res, seen.length);
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(resolve);
      }),
  };
}

const json = (status, body, headers = {}) => (req, res) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
};
const reset = () => (req, res) => req.socket.destroy();
const never = () => () => {};
const unavailable = (retryAfter) =>
  json(503, { error: { code: "store_unavailable", message: "down" } }, retryAfter === undefined ? {} : { "retry-after": retryAfter });

const FAST = { attempts: 4, minDelayMs: 5, maxDelayMs: 20, maxElapsedMs: 5000 };

describe("retries", () => {
  let srv;
  afterEach(async () => srv?.close());

  it("a checkpoint read is retried after connection resets and a 503, then answers", async () => {
    srv = await scriptedServer([reset(), unavailable("0"), json(404, { error: { code: "not_found", message: "no" } })]);
    const saver = new MemorydSaver({ url: srv.url, retry: FAST });
    expect(await saver.getTuple({ configurable: { thread_id: "t" } })).toBeUndefined();
    expect(srv.seen).toHaveLength(3);
    await saver.end();
  });

  it("a put (an upsert) is retried on 503 and sends the same body", async () => {
    srv = await scriptedServer([
      unavailable("0"),
      json(201, { config: { thread_id: "t", checkpoint_ns: "", checkpoint_id: "c1" } }),
    ]);
    const saver = new MemorydSaver({ url: srv.url, retry: FAST });
    await saver.put({ configurable: { thread_id: "t" } }, { ...emptyCheckpoint(), id: "c1" }, {}, {});
    expect(srv.seen).toHaveLength(2);
    expect(srv.seen[1].body).toBe(srv.seen[0].body);
    await saver.end();
  });

  it("honours Retry-After", async () => {
    srv = await scriptedServer([unavailable("1"), json(200, { status: "ok" })]);
    const client = new MemorydClient({ url: srv.url, retry: FAST });
    const t0 = Date.now();
    await client.health();
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    await client.close();
  });

  it("gives up after `attempts`, and when Retry-After reaches past maxElapsedMs", async () => {
    srv = await scriptedServer([unavailable("0")]);
    const client = new MemorydClient({ url: srv.url, retry: FAST });
    const err = await client.health().catch((e) => e);
    expect(err).toMatchObject({ status: 503, code: "store_unavailable", attempts: 4 });
    expect(srv.seen).toHaveLength(4);
    await srv.close();
    srv = await scriptedServer([unavailable("30")]);
    const p2 = new MemorydClient({ url: srv.url, retry: { ...FAST, maxElapsedMs: 500 } });
    const t0 = Date.now();
    await expect(p2.health()).rejects.toMatchObject({ status: 503, attempts: 1 });
    expect(Date.now() - t0).toBeLessThan(400);
    await Promise.all([client.close(), p2.close()]);
  });

  it("does not retry what is not safe to repeat: an append with a message without id, /readyz", async () => {
    srv = await scriptedServer([unavailable("0")]);
    const client = new MemorydClient({ url: srv.url, retry: FAST });
    await expect(client.appendMessages("c", { messages: [{ role: "user", content: "x" }] })).rejects.toMatchObject({
      status: 503,
    });
    expect(srv.seen).toHaveLength(1);
    await expect(client.appendMessages("c", { messages: [{ id: "m1", role: "user", content: "x" }] })).rejects.toMatchObject(
      { status: 503, attempts: 4 }
    );
    expect(srv.seen).toHaveLength(5);
    await client.close();
  });

  it("does not retry 4xx/500 and `retry: false` turns retries off", async () => {
    srv = await scriptedServer([json(500, { error: { code: "internal", message: "x" } })]);
    const client = new MemorydClient({ url: srv.url, retry: FAST });
    await expect(client.health()).rejects.toMatchObject({ status: 500, attempts: 1 });
    await srv.close();
    srv = await scriptedServer([unavailable("0")]);
    const off = new MemorydClient({ url: srv.url, retry: false });
    await expect(off.health()).rejects.toMatchObject({ status: 503, attempts: 1 });
    expect(srv.seen).toHaveLength(1);
    await Promise.all([client.close(), off.close()]);
  });

  it("connection refused: retried, then network_error", async () => {
    const client = new MemorydClient({ url: "http://127.0.0.1:1", retry: FAST });
    const err = await client.health().catch((e) => e);
    expect(err).toMatchObject({ status: 0, code: "network_error", attempts: 4 });
    expect(err.message).toMatch(/ECONNREFUSED/);
    await client.close();
  });

  it("backoff: full jitter under min(maxDelayMs, minDelayMs * 2^(n-1)); Retry-After as seconds or a date", () => {
    const r = { attempts: 5, minDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 1e4 };
    expect(backoffMs(r, 1, () => 0.999)).toBe(99);
    expect(backoffMs(r, 3, () => 0.5)).toBe(200);
    expect(backoffMs(r, 10, () => 0.999)).toBe(999);
    expect(backoffMs(r, 2, () => 0)).toBe(0);
    expect(retryAfterMs("3")).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs("soon")).toBeUndefined();
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});

describe("timeouts and aborts", () => {
  let srv;
  afterEach(async () => srv?.close());

  it("a server that does not answer: MemorydError code timeout (own HTTP/1.1 and fetch transports)", async () => {
    srv = await scriptedServer([never()]);
    const client = new MemorydClient({ url: srv.url, timeoutMs: 200, retry: false });
    const t0 = Date.now();
    const err = await client.health().catch((e) => e);
    expect(err).toBeInstanceOf(MemorydError);
    expect(err).toMatchObject({ status: 0, code: "timeout" });
    expect(Date.now() - t0).toBeLessThan(2000);
    const viaFetch = new MemorydClient({ url: srv.url, timeoutMs: 200, retry: false, fetch: globalThis.fetch });
    await expect(viaFetch.health()).rejects.toMatchObject({ status: 0, code: "timeout" });
    await client.close();
  });

  it("the default timeout is 30 s; 0 turns it off", () => {
    expect(new MemorydClient({ url: "http://x" }).timeoutMs).toBe(30000);
    expect(new MemorydClient({ url: "http://x", timeoutMs: 0 }).timeoutMs).toBe(0);
  });

  it("config.signal aborts a saver call (code aborted), also while it waits to retry", async () => {
    srv = await scriptedServer([never()]);
    const saver = new MemorydSaver({ url: srv.url });
    const ac = new AbortController();
    const p = saver.getTuple({ configurable: { thread_id: "t" }, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    await expect(p).rejects.toMatchObject({ name: "MemorydError", code: "aborted" });
    await srv.close();

    srv = await scriptedServer([unavailable("10")]);
    const s2 = new MemorydSaver({ url: srv.url, retry: { ...FAST, maxElapsedMs: 60000 } });
    const ac2 = new AbortController();
    const t0 = Date.now();
    const p2 = s2.getTuple({ configurable: { thread_id: "t" }, signal: ac2.signal });
    setTimeout(() => ac2.abort(), 100);
    await expect(p2).rejects.toMatchObject({ code: "aborted" });
    expect(Date.now() - t0).toBeLessThan(2000);
    await Promise.all([saver.end(), s2.end()]);
  });

  it("one signal for many requests: one listener, the requests in flight aborted, let go once idle", async () => {
    const ok = json(200, {});
    srv = await scriptedServer([ok, ok, ok, ok, never(), never(), never()]);
    const client = new MemorydClient({ url: srv.url, timeoutMs: 5000, retry: false });
    const ac = new AbortController();
    const listeners = () => getEventListeners(ac.signal, "abort").length;
    for (let i = 0; i < 4; i++) {
      await client.health({ signal: ac.signal });
      expect(listeners()).toBe(1); // kept between the requests of a run
    }
    const pending = [1, 2, 3].map(() => client.health({ signal: ac.signal }).catch((e) => e));
    await new Promise((r) => setTimeout(r, 50));
    expect(listeners()).toBe(1);
    ac.abort();
    for (const err of await Promise.all(pending)) expect(err).toMatchObject({ status: 0, code: "aborted" });
    await expect(client.health({ signal: ac.signal })).rejects.toMatchObject({ code: "aborted" });

    // Let go by the sweeper once the signal has no request in flight (every 500 ms at this timeout).
    const ac2 = new AbortController();
    srv.seen.length = 0;
    await client.close();
    const c2 = new MemorydClient({ url: srv.url, timeoutMs: 5000, retry: false });
    await c2.health({ signal: ac2.signal });
    expect(getEventListeners(ac2.signal, "abort")).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 700));
    expect(getEventListeners(ac2.signal, "abort")).toHaveLength(0);
    await c2.health({ signal: ac2.signal });
    await c2.close(); // and at close
    expect(getEventListeners(ac2.signal, "abort")).toHaveLength(0);
  });

  it("the client's own signal aborts every request", async () => {
    srv = await scriptedServer([never()]);
    const ac = new AbortController();
    const client = new MemorydClient({ url: srv.url, signal: ac.signal });
    const p = client.health();
    ac.abort();
    await expect(p).rejects.toMatchObject({ code: "aborted" });
    await client.close();
  });
});

describe("tokens and request ids", () => {
  let srv;
  afterEach(async () => srv?.close());

  it("a token provider is asked before every request; X-Request-Id from configurable.request_id", async () => {
    srv = await scriptedServer([json(404, { error: { code: "not_found", message: "no" } })]);
    let n = 0;
    const saver = new MemorydSaver({ url: srv.url, token: async () => `tok-${++n}` });
    await saver.getTuple({ configurable: { thread_id: "t", request_id: "req-1" } });
    await saver.getTuple({ configurable: { thread_id: "t" } });
    expect(srv.seen[0].headers.authorization).toBe("Bearer tok-1");
    expect(srv.seen[0].headers["x-request-id"]).toBe("req-1");
    expect(srv.seen[1].headers.authorization).toBe("Bearer tok-2");
    expect(srv.seen[1].headers["x-request-id"]).toBeUndefined();
    await saver.end();
  });

  it("the token is not shown by util.inspect nor JSON.stringify", () => {
    const secret = "s3cr3t-token-value";
    const saver = new MemorydSaver({ url: "http://127.0.0.1:9", token: secret, tenant: "acme" });
    const store = new MemorydStore({ client: saver.client });
    for (const o of [saver, store, saver.client]) {
      expect(inspect(o, { depth: 10, showHidden: true })).not.toContain(secret);
      expect(JSON.stringify(o)).not.toContain(secret);
    }
    expect(JSON.stringify(saver.client)).toBe('{"url":"http://127.0.0.1:9","tenant":"acme"}');
    expect(() => new MemorydClient({ url: "http://x", token: 42 })).toThrow(/token/);
  });
});

describe("shape", () => {
  it("fromUrl / fromConnString and a no-op setup(), as on PostgresSaver", async () => {
    const saver = MemorydSaver.fromUrl("http://127.0.0.1:9/", { tenant: "acme" });
    expect(saver).toBeInstanceOf(MemorydSaver);
    expect(saver.client.url).toBe("http://127.0.0.1:9");
    expect(saver.client.tenant).toBe("acme");
    expect(MemorydSaver.fromConnString("http://h:1")).toBeInstanceOf(MemorydSaver);
    await expect(saver.setup()).resolves.toBeUndefined();
    await saver.end();
  });
});

/** A TCP server answering each request (read up to its blank line and body) with `answer(n)`: raw bytes. */
async function rawServer(answer) {
  let n = 0;
  const sockets = new Set();
  let connections = 0;
  const requests = []; // each request's bytes, latin1
  const server = createTcpServer((socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    let buf = "";
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const len = Number(/content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + len) return;
        requests.push(buf.slice(0, end + 4 + len));
        buf = buf.slice(end + 4 + len);
        answer(++n, socket);
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    connections: () => connections,
    requests,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(resolve);
      }),
  };
}

describe("HTTP/1.1 transport (http: URLs)", () => {
  let srv;
  afterEach(async () => srv?.close());
  const head = (status, extra = "") => `HTTP/1.1 ${status} X\r\ncontent-type: application/json\r\n${extra}`;

  it("keeps a connection alive, reads a response split anywhere, chunked, or up to the close", async () => {
    const body = JSON.stringify({ status: "ok", pad: "é".repeat(3000) });
    srv = await rawServer((n, socket) => {
      if (n === 1) {
        // Content-Length, one byte a write.
        const bytes = Buffer.from(`${head(200, `content-length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}`);
        let i = 0;
        const drip = () => {
          if (i < bytes.length) socket.write(bytes.subarray(i, (i += 97)), () => setImmediate(drip));
        };
        drip();
      } else if (n === 2) {
        const a = body.slice(0, 10);
        const b = body.slice(10);
        socket.write(
          `${head(200, "Transfer-Encoding: chunked\r\n")}\r\n${Buffer.byteLength(a).toString(16)}\r\n${a}\r\n` +
            `${Buffer.byteLength(b).toString(16)};ext=1\r\n${b}\r\n0\r\nx-trailer: 1\r\n\r\n`
        );
      } else {
        socket.end(`${head(200, "connection: close\r\n")}\r\n${body}`);
      }
    });
    const client = new MemorydClient({ url: srv.url, retry: false });
    expect((await client.health()).pad).toHaveLength(3000);
    expect((await client.health()).pad).toHaveLength(3000);
    expect(srv.connections()).toBe(1);
    expect((await client.health()).pad).toHaveLength(3000);
    expect((await client.health()).pad).toHaveLength(3000); // a new connection after the close
    expect(srv.connections()).toBe(2);
    await client.close();
  });

  it("reads heads, bodies and chunk framing split across many reads (a few bytes each)", async () => {
    const body = JSON.stringify({ status: "ok", pad: "é€".repeat(700) });
    const drip = (socket, bytes, then) => {
      socket.setNoDelay(true);
      let i = 0;
      const next = () => {
        if (i >= bytes.length) return then?.();
        socket.write(bytes.subarray(i, (i += 5 + (i % 7))), () => setTimeout(next, 0));
      };
      next();
    };
    const half = body.slice(0, 333);
    const rest = body.slice(333);
    srv = await rawServer((n, socket) => {
      if (n === 1) drip(socket, Buffer.from(`${head(200, `content-length: ${Buffer.byteLength(body)}\r\n`)}\r\n${body}`));
      else if (n === 2) {
        const chunked =
          `${head(200, "Transfer-Encoding: chunked\r\n")}\r\n${Buffer.byteLength(half).toString(16)}\r\n${half}\r\n` +
          `${Buffer.byteLength(rest).toString(16)}\r\n${rest}\r\n0\r\n\r\n`;
        drip(socket, Buffer.from(`HTTP/1.1 100 Continue\r\n\r\n${chunked}`));
      } else drip(socket, Buffer.from(`${head(200, "connection: close\r\n")}\r\n${body}`), () => socket.end());
    });
    const client = new MemorydClient({ url: srv.url, retry: false });
    for (let i = 0; i < 3; i++) expect(await client.request("GET", "/x")).toMatchObject({ status: 200, body: JSON.parse(body) });
    expect(srv.connections()).toBe(1);
    await client.close();
  });

  it("204 and 1xx heads, headers of an error, requests queued beyond maxConnections", async () => {
    srv = await rawServer((n, socket) => {
      if (n === 1) socket.write(`HTTP/1.1 100 Continue\r\n\r\n${head(204)}\r\n`);
      else if (n === 2) {
        const e = JSON.stringify({ error: { code: "conflict", message: "no" } });
        socket.write(`${head(409, `X-Request-Id: rid-9\r\ncontent-length: ${e.length}\r\n`)}\r\n${e}`);
      }
      else setTimeout(() => socket.write(`${head(200, "content-length: 2\r\n")}\r\n{}`), 5);
    });
    const client = new MemorydClient({ url: srv.url, retry: false, maxConnections: 2 });
    await client.deleteThread("t");
    const err = await client.health().catch((e) => e);
    expect(err).toMatchObject({ status: 409, code: "conflict", requestId: "rid-9" });
    const res = await Promise.all(Array.from({ length: 9 }, () => client.health()));
    expect(res).toEqual(Array(9).fill({}));
    expect(srv.connections()).toBeLessThanOrEqual(2);
    await client.close();
  });

  it("an idle connection memoryd closed is not reused; a reset under a request is retried when safe", async () => {
    srv = await rawServer((n, socket) => {
      if (n === 2) socket.destroy();
      else socket.write(`${head(200, "content-length: 2\r\n")}\r\n{}`);
      if (n === 1) setTimeout(() => socket.end(), 5);
    });
    const client = new MemorydClient({ url: srv.url, retry: FAST });
    await client.health();
    await new Promise((r) => setTimeout(r, 50));
    await client.health(); // a fresh connection (the idle one was closed), reset, then a third
    expect(srv.connections()).toBe(3);
    await client.close();
  });

  it("writes each request's exact bytes: a head, then a body of bytes (a view), text or none", async () => {
    srv = await rawServer((n, socket) => socket.write(`${head(200, "content-length: 2\r\n")}\r\n{}`));
    const client = new MemorydClient({ url: srv.url, retry: false, tenant: "t1", headers: { "X-Extra": "v" } });
    const backing = Buffer.from('xx{"a":"\u00e9","b":"AAEC"}yy');
    const bytes = backing.subarray(2, backing.length - 2); // a view: byteOffset 2
    await client.request("POST", "/checkpoints", { body: bytes });
    await client.request("POST", "/memory/batch", { body: { k: "ü" } });
    await client.request("GET", "/checkpoints/a%20b?x=1");
    await client.request("PUT", "/x");
    const h = (line, length) =>
      `${line} HTTP/1.1\r\nhost: ${new URL(srv.url).host}\r\naccept: application/json\r\nx-extra: v\r\nx-tenant-id: t1\r\n` +
      (length === undefined ? "" : `content-type: application/json\r\n`) +
      (length === undefined ? "\r\n" : `content-length: ${length}\r\n\r\n`);
    expect(srv.requests).toEqual([
      h("POST /checkpoints", bytes.length) + bytes.toString("latin1"),
      h("POST /memory/batch", 10) + Buffer.from('{"k":"ü"}').toString("latin1"),
      h("GET /checkpoints/a%20b?x=1"),
      h("PUT /x").replace("\r\n\r\n", "\r\ncontent-length: 0\r\n\r\n"),
    ]);

    // A bodyBuffer (the saver's): the head written into the room before it, sent twice the same;
    // a head longer than that room (a long header) copied in front of it instead.
    const roomy = bodyBuffer(bytes.length);
    roomy.set(bytes);
    srv.requests.length = 0;
    await client.request("POST", "/checkpoints", { body: roomy });
    await client.request("POST", "/checkpoints", { body: roomy });
    const long = new MemorydClient({ url: srv.url, retry: false, headers: { "x-long": "v".repeat(5000) } });
    await long.request("POST", "/checkpoints", { body: roomy });
    const want = h("POST /checkpoints", bytes.length) + bytes.toString("latin1");
    expect(srv.requests.slice(0, 2)).toEqual([want, want]);
    expect(srv.requests[2]).toBe(want.replace("x-tenant-id: t1\r\n", "").replace("x-extra: v\r\n", `x-long: ${"v".repeat(5000)}\r\n`));
    expect(roomy.toString()).toBe(bytes.toString());
    await Promise.all([client.close(), long.close()]);
  });

  it("a response that is not HTTP, and a header value that would split the request, fail cleanly", async () => {
    srv = await rawServer((n, socket) => socket.write("SSH-2.0-nope\r\n\r\n"));
    const client = new MemorydClient({ url: srv.url, retry: false });
    await expect(client.health()).rejects.toMatchObject({ status: 0, code: "network_error" });
    const bad = new MemorydClient({ url: srv.url, retry: false, headers: { "x-a": "1\r\nx-b: 2" } });
    await expect(bad.health()).rejects.toMatchObject({ status: 0 });
    await Promise.all([client.close(), bad.close()]);
  });
});
