-- The JSON line every wrk script of bench/ prints when its run is done:
--   local report = require("report"); function done(s, l) report(name, s, l) end
-- (scripts find this file through BENCH_DIR, which run.sh and conv.sh set).
return function(name, summary, latency)
  local e = summary.errors
  local secs = summary.duration / 1e6
  io.write(string.format(
    '{"name":"%s","tool":"wrk","requests":%d,"seconds":%.3f,"rps":%.1f,' ..
    '"p50_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,"socket_errors":%d,"non_2xx_3xx":%d}\n',
    name, summary.requests, secs, summary.requests / secs,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
end
