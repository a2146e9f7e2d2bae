-- Read one checkpoint tuple in one round trip: the checkpoint (by id, or the
-- latest in the namespace), the blobs of its channel versions and its
-- pending writes. Index entries whose checkpoint has expired are dropped.
-- KEYS[1] ns index (zset), KEYS[2] ns head ("<generation>|<latest id>")
-- ARGV[1] checkpoint key prefix, ARGV[2] writes key prefix,
-- ARGV[3] blob key prefix, ARGV[4] checkpoint id ('' = latest)
-- Returns nil, or {id, checkpoint, metadata, parent, {channel lines},
-- {blob values}, {write values}, head}; head (latest only) is the version
-- the tuple was read at, repaired here when it is missing or stale.
local function next_gen(old)
  local t = redis.call('TIME')
  local g = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local og = old and tonumber(string.match(old, '^(%d+)|')) or 0
  if g <= og then g = og + 1 end
  return string.format('%.0f', g)
end
local function enc(s)
  return (string.gsub(s, '[%%:{}%*%?%[%]\\ %c]', function(c)
    return string.format('%%%02X', string.byte(c))
  end))
end
local id = ARGV[4]
local latest = id == ''
local h
if id == '' then
  for _ = 1, 64 do
    local ids = redis.call('ZREVRANGEBYLEX', KEYS[1], '+', '-', 'LIMIT', 0, 1)
    if #ids == 0 then return nil end
    id = ids[1]
    h = redis.call('HMGET', ARGV[1] .. enc(id), 'checkpoint', 'metadata', 'parent', 'channels')
    if h[1] then break end
    redis.call('ZREM', KEYS[1], id)
    h = nil
  end
else
  h = redis.call('HMGET', ARGV[1] .. enc(id), 'checkpoint', 'metadata', 'parent', 'channels')
end
if not h or not h[1] then return nil end
local lines, keys = {}, {}
for line in string.gmatch(h[4] or '', '[^\n]+') do
  lines[#lines + 1] = line
  keys[#keys + 1] = ARGV[3] .. line
end
local vals = {}
if #keys > 0 then vals = redis.call('MGET', unpack(keys)) end
local writes = redis.call('HVALS', ARGV[2] .. enc(id))
local head = false
if latest then
  head = redis.call('GET', KEYS[2])
  if not head or string.match(head, '^%d+|(.*)$') ~= id then
    local pttl = redis.call('PTTL', ARGV[1] .. enc(id))
    if pttl > 0 then
      head = next_gen(head) .. '|' .. id
      redis.call('SET', KEYS[2], head, 'PX', pttl)
    else
      head = false
    end
  end
end
return {id, h[1], h[2], h[3], lines, vals, writes, head}
