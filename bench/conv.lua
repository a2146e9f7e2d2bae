-- wrk script for bench/conv.sh: /conversations, round-robin over NCONV
-- conversations named bench-c0.. that conv.sh fills first.
--   BENCH_OP=append  POST one 500-byte message (no id: the same Redis work as the replay)
--   BENCH_OP=read    GET the last 20 messages (the window)
-- Configuration from the environment: BENCH_NAME, BENCH_OP, NCONV (16), TENANT (bench),
-- CUSTOMERS (0: an append names no customer_id; N: conversation k's appends
-- name customer bench-u<k mod N>, as a client configured with one does).
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
local report = require("report")
local name = os.getenv("BENCH_NAME") or "memoryd_conv"
local op = os.getenv("BENCH_OP") or "append"
local nconv = tonumber(os.getenv("NCONV") or "16")
local tenant = os.getenv("TENANT") or "bench"
local customers = tonumber(os.getenv("CUSTOMERS") or "0")
local n = 0
local wid = 0
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("wid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local content = string.rep("x", 500)
local post_headers = { ["Content-Type"] = "application/json", ["X-Tenant-Id"] = tenant }
local get_headers = { ["X-Tenant-Id"] = tenant }

function request()
  n = n + 1
  local k = n % nconv
  local conv = "bench-c" .. k
  if op == "read" then
    return wrk.format("GET", "/conversations/" .. conv .. "/messages?limit=20", get_headers)
  end
  local customer = ""
  if customers > 0 then customer = '"customer_id":"bench-u' .. (k % customers) .. '",' end
  local body = '{' .. customer .. '"messages":[{"role":"user","content":"' ..
    content .. '"}]}'
  return wrk.format("POST", "/conversations/" .. conv .. "/messages", post_headers, body)
end

function done(summary, latency, requests)
  report(name, summary, latency)
end
