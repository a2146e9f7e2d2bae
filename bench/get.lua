-- wrk script: GET /checkpoints/{thread_id} (the latest checkpoint) round-robin
-- over GET_THREADS threads named bench-get-0.., which run.sh stores first.
-- Configuration from the environment: BENCH_NAME (memoryd_get),
-- GET_THREADS (8), TENANT (bench).
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
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"name":"%s","tool":"wrk","requests":%d,"seconds":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"socket_errors":%d,"non_2xx_3xx":%d}\n',
    name, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
