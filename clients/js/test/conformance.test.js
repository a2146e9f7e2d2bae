// LangGraph checkpoint-saver conformance suite against a running memoryd.
// Usage: MEMORYD_URL=http://127.0.0.1:8080 npm run conformance
// MEMORYD_TRACE=/path/file.jsonl records every request and response (one JSON line each).
import { appendFileSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { validate } from "@langchain/langgraph-checkpoint-validation";
import { MemorydSaver, MemorydClient } from "../src/index.js";

const url = process.env.MEMORYD_URL;
if (!url) throw new Error("MEMORYD_URL must point at a running memoryd (e.g. http://127.0.0.1:8080)");

const tracePath = process.env.MEMORYD_TRACE;
const tracingFetch = tracePath
  ? async (input, init = {}) => {
      const res = await fetch(input, init);
      const text = await res.clone().text();
      const test = globalThis.expect?.getState?.().currentTestName;
      appendFileSync(
        tracePath,
        `${JSON.stringify({ test, method: init.method, url: String(input), tenant: init.headers?.["x-tenant-id"], request: init.body, status: res.status, response: text })}\n`
      );
      return res;
    }
  : undefined;

validate({
  checkpointerName: "MemorydSaver",
  async beforeAll() {
    // Fail fast with a clear message when the server is not there.
    await new MemorydClient({ url }).health();
  },
  createCheckpointer() {
    // A fresh tenant per checkpointer: the suite reuses fixed thread ids
    // ("1", "2", "thread-1") and counts everything a list() returns.
    return new MemorydSaver({
      url,
      tenant: `conformance-${randomUUID()}`,
      token: process.env.MEMORYD_TOKEN,
      fetch: tracingFetch,
    });
  },
});
