-- Put one memory item (key-value memory, service/memory.h) in one atomic
-- step: the item, its namespace index, the tenant's namespace registry and
-- version counter, every key with its TTL.
-- KEYS[1] item hash (v value, ver version, c created ms, u updated ms,
--         x expires ms or "", t TTL seconds or 0, which a refresh on read
--         (memory_touch.lua) starts again)
-- KEYS[2] namespace index: zset of encoded item keys by version
-- KEYS[3] tenant namespace registry: zset (score 0) of encoded namespace paths
-- KEYS[4] tenant version counter
-- ARGV: encoded key, encoded namespace path, value, ttl seconds (0: none),
--       if-match ("" none, "*" must exist, else the version it must have),
--       now (ms), version ("": the next of the counter; else a dual write of
--       the primary's version, which the counter then does not fall behind)
-- Returns {"ok", version, created, updated, expires} or {"precondition", current}.
local ttl = tonumber(ARGV[4])
local now = ARGV[6]
local kind = redis.call('TYPE', KEYS[1]).ok
local cur, created = false, false
if kind == 'hash' then
  local h = redis.call('HMGET', KEYS[1], 'ver', 'c')
  cur, created = h[1], h[2]
elseif kind == 'string' then
  cur = ''
end
if ARGV[5] ~= '' then
  if kind == 'none' then return {'precondition', ''} end
  if ARGV[5] ~= '*' and cur ~= ARGV[5] then return {'precondition', cur or ''} end
end
-- Containers live as long as their longest-lived item; read their TTLs
-- before this write creates them.
local before = {}
for i = 2, 4 do before[i] = redis.call('TTL', KEYS[i]) end
local ver
if ARGV[7] ~= '' then
  ver = ARGV[7]
  local c = tonumber(redis.call('GET', KEYS[4]) or '0') or 0
  if c < tonumber(ver) then redis.call('SET', KEYS[4], ver, 'KEEPTTL') end
else
  ver = tostring(redis.call('INCR', KEYS[4]))
end
if kind ~= 'hash' then
  if kind ~= 'none' then redis.call('DEL', KEYS[1]) end
  created = now
end
local expires = ''
if ttl > 0 then expires = string.format('%.0f', tonumber(now) + ttl * 1000) end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'ver', ver, 'c', created or now, 'u', now,
           'x', expires, 't', ttl)
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
else
  redis.call('PERSIST', KEYS[1])
end
redis.call('ZADD', KEYS[2], ver, ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[2])
for i = 2, 4 do
  local t = before[i]
  if ttl == 0 then
    redis.call('PERSIST', KEYS[i])
  elseif t == -2 or (t >= 0 and t < ttl) then
    redis.call('EXPIRE', KEYS[i], ttl)
  end
end
return {'ok', ver, created or now, now, expires}
