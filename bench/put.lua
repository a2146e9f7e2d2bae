-- wrk script: POST /checkpoints with a ~10 KB checkpoint (three channel blobs
-- of BLOB_B64 base64 characters each). Every request stores a new checkpoint
-- id; each wrk thread writes its own THREAD_SPREAD threads, so ids grow per
-- thread. Configuration from the environment (run.sh sets it):
--   BENCH_NAME (memoryd_put), BLOB_B64 (3300), THREAD_SPREAD (16), TENANT (bench)
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
local report = require("report")
local name = os.getenv("BENCH_NAME") or "memoryd_put"
local blob_len = tonumber(os.getenv("BLOB_B64") or "3300")
local spread = tonumber(os.getenv("THREAD_SPREAD") or "16")
local tenant = os.getenv("TENANT") or "bench"

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("wid", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local blobs = {}
local counter = 0
local headers = { ["Content-Type"] = "application/json", ["X-Tenant-Id"] = tenant }

function init(args)
  -- Valid base64 without padding: blob_len is rounded down to a multiple of 4.
  local n = blob_len - blob_len % 4
  for b = 1, 3 do
    local parts = {}
    for i = 1, n do
      local k = (i * 7 + b * 13 + math.floor(i / 64)) % 64 + 1
      parts[i] = alphabet:sub(k, k)
    end
    blobs[b] = table.concat(parts)
  end
end

function request()
  counter = counter + 1
  local thread = string.format("bench-w%d-%d", wid, counter % spread)
  local cid = string.format("1ef%02d%015d", wid, counter)
  local parent = "null"
  if counter > spread then
    parent = string.format('"1ef%02d%015d"', wid, counter - spread)
  end
  local v1, v2, v3 = cid .. ".1", cid .. ".2", cid .. ".3"
  local body = '{"thread_id":"' .. thread .. '","checkpoint_ns":"","checkpoint_id":"' .. cid ..
    '","parent_checkpoint_id":' .. parent ..
    ',"checkpoint":{"v":4,"id":"' .. cid .. '","ts":"2024-07-31T20:14:19.804150+00:00",' ..
    '"channel_versions":{"messages":"' .. v1 .. '","scratch":"' .. v2 .. '","summary":"' .. v3 .. '"},' ..
    '"versions_seen":{"__input__":{},"agent":{"messages":"' .. v1 .. '"}},"pending_sends":[]},' ..
    '"metadata":{"source":"loop","step":' .. counter .. ',"writes":null,"parents":{}},' ..
    '"blobs":[{"channel":"messages","version":"' .. v1 .. '","type":"json","data":"' .. blobs[1] .. '"},' ..
    '{"channel":"scratch","version":"' .. v2 .. '","type":"msgpack","data":"' .. blobs[2] .. '"},' ..
    '{"channel":"summary","version":"' .. v3 .. '","type":"json","data":"' .. blobs[3] .. '"}]}'
  return wrk.format("POST", "/checkpoints", headers, body)
end

function done(summary, latency, requests)
  report(name, summary, latency)
end
