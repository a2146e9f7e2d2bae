-- The archiver's two steps on one checkpoint thread, over one digest of
-- everything Redis holds for it (every key of its registry, and the registry
-- and namespace sets themselves).
-- KEYS[1] thread key registry (set)   KEYS[2] thread namespaces (set)
-- ARGV[1] 'dump': ARGV[2] ttl_ms (CHECKPOINT_TTL_SECONDS), ARGV[3] idle_ms
--   (ARCHIVE_AFTER_SECONDS). Idle is read from what every put and write
--   refreshes, the registry's TTL; a registry without a TTL is left alone.
--   Reply: {} when it is gone or not idle, else
--          {digest, {key, {hash field/value pairs sorted | string value}}...}
--   for every hash and string key (checkpoints, blobs, writes, heads).
-- ARGV[1] 'drop': ARGV[2] the digest 'dump' gave. Unlinks every key of the
--   thread only if it is still exactly what was dumped (and so archived).
--   Reply: 1 when it went, 0 when it changed meanwhile or is gone.
local function sorted_pairs(flat)
  local idx = {}
  for i = 1, #flat, 2 do idx[#idx + 1] = i end
  table.sort(idx, function(a, b) return flat[a] < flat[b] end)
  local out = {}
  for _, i in ipairs(idx) do out[#out + 1] = flat[i]; out[#out + 1] = flat[i + 1] end
  return out
end
local function state(collect)
  local keys = redis.call('SMEMBERS', KEYS[1])
  if #keys == 0 then return nil end
  table.sort(keys)
  local ns = redis.call('SMEMBERS', KEYS[2])
  table.sort(ns)
  local parts, out = {}, {}
  local function add(s) parts[#parts + 1] = #s .. ':' .. s end
  for _, n in ipairs(ns) do add(n) end
  for _, k in ipairs(keys) do
    local t = redis.call('TYPE', k).ok
    local v = {}
    if t == 'hash' then v = sorted_pairs(redis.call('HGETALL', k))
    elseif t == 'string' then v = {redis.call('GET', k)}
    elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
    elseif t == 'set' then v = redis.call('SMEMBERS', k); table.sort(v) end
    add(k); add(t)
    for _, x in ipairs(v) do add(x) end
    if collect and (t == 'hash' or t == 'string') then out[#out + 1] = {k, v} end
  end
  return redis.sha1hex(table.concat(parts)), out, keys
end
if ARGV[1] == 'dump' then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or tonumber(ARGV[2]) - pttl < tonumber(ARGV[3]) then return {} end
  local digest, out = state(true)
  if not digest then return {} end
  local reply = {digest}
  for _, kv in ipairs(out) do reply[#reply + 1] = kv end
  return reply
end
local digest, _, keys = state(false)
if not digest or digest ~= ARGV[2] then return 0 end
for i = 1, #keys, 500 do
  redis.call('UNLINK', unpack(keys, i, math.min(i + 499, #keys)))
end
redis.call('UNLINK', KEYS[1], KEYS[2])
return 1
