// Offline: retries, timeouts, aborts, tokens and request ids, through the
// client's undici pool against a small local HTTP server playing memoryd's
// failures (resets, 503 with Retry-After, a server that never answers).
import { createServer } from "node:http";
import { inspect } from "node:util";
import { emptyCheckpoint } from "@langchain/langgraph-checkpoint";
import { MemorydClient, MemorydError, MemorydSaver, MemorydStore } from "../src/index.js";
import { backoffMs, retryAfterMs } from "../src/client.js";

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

  it("a server that does not answer: MemorydError code timeout (pool and fetch transports)", async () => {
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
