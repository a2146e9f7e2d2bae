-- wrk script: GET /checkpoints/{thread_id} (the latest checkpoint) round-robin
-- over GET_THREADS threads named bench-get-0.., which run.sh stores first.
-- Configuration from the environment: BENCH_NAME (memoryd_get),
-- GET_THREADS (8), TENANT (bench).
package.path = (os.getenv("BENCH_DIR") or "bench") .. "/?.lua;" .. package.path
local report = require("report")
local name = os.getenv("BENCH_NAME") or "memoryd_get"
local nthreads = tonumber(os.getenv("GET_THREADS") or "8")
local tenant = os.getenv("TENANT") or "bench"
local headers = { ["X-Tenant-Id"] = tenant }
local requests_made = 0

function request()
  requests_made = requests_made + 1
  return wrk.format("GET", "/checkpoints/bench-get-" .. (requests_made % nthreads), headers)
end

function done(summary, latency, requests)
  report(name, summary, latency)
end
