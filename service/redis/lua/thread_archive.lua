-- The archiver's two steps on one checkpoint thread. A write to the thread
-- (every put and write) sets its key registry's TTL back to
-- CHECKPOINT_TTL_SECONDS, and nothing else raises it: while the registry's
-- PTTL only falls, the thread is as the dump read it.
-- KEYS[1] thread key registry (set)   KEYS[2] thread namespaces (set)
-- ARGV[1] 'dump', one bounded step: ARGV[2] ttl_ms (CHECKPOINT_TTL_SECONDS),
--   ARGV[3] idle_ms (ARCHIVE_AFTER_SECONDS), ARGV[4] SSCAN cursor of the
--   registry ('0' to start), ARGV[5] keys a step reads (SSCAN COUNT), ARGV[6]
--   the PTTL the first step saw ('' in the first step). The first step reads
--   idle from the registry's TTL (a registry without one is left alone).
--   Reply: {} when the thread is gone, not idle, or written since the first
--   step; else {the first step's PTTL, next cursor ('0': done),
--   {key, {hash field/value pairs sorted | string value}}...} for the hash
--   and string keys of this step (checkpoints, blobs, writes, heads). A key
--   may come in two steps (SSCAN).
-- ARGV[1] 'drop': ARGV[2] the PTTL the dump's first step saw. Unlinks every
--   key of the thread only if it was not written since (no value is read).
--   Reply: 1 when it went, 0 when it was written meanwhile or is gone.
local function sorted_pairs(flat)
  local idx = {}
  for i = 1, #flat, 2 do idx[#idx + 1] = i end
  table.sort(idx, function(a, b) return flat[a] < flat[b] end)
  local out = {}
  for _, i in ipairs(idx) do out[#out + 1] = flat[i]; out[#out + 1] = flat[i + 1] end
  return out
end
local pttl = redis.call('PTTL', KEYS[1])
if ARGV[1] == 'dump' then
  if pttl < 0 then return {} end
  if ARGV[6] == '' then
    if tonumber(ARGV[2]) - pttl < tonumber(ARGV[3]) then return {} end
  elseif pttl > tonumber(ARGV[6]) then
    return {}
  end
  local r = redis.call('SSCAN', KEYS[1], ARGV[4], 'COUNT', ARGV[5])
  local reply = {ARGV[6] == '' and tostring(pttl) or ARGV[6], r[1]}
  for _, k in ipairs(r[2]) do
    local t = redis.call('TYPE', k).ok
    if t == 'hash' then
      reply[#reply + 1] = {k, sorted_pairs(redis.call('HGETALL', k))}
    elseif t == 'string' then
      reply[#reply + 1] = {k, {redis.call('GET', k)}}
    end
  end
  return reply
end
if pttl < 0 or pttl > tonumber(ARGV[2]) then return 0 end
local keys = redis.call('SMEMBERS', KEYS[1])
for i = 1, #keys, 500 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('UNLINK', KEYS[1], KEYS[2])
return 1
