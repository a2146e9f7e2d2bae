-- Refresh one memory item's TTL on a read (LangGraph's refresh_on_read):
-- the item expires its own TTL from now, and its containers live at least
-- as long. An item without expiry, gone, or written by hand is left alone.
-- KEYS[1..4] as memory_put.lua (item hash, namespace index, tenant
--         namespace registry, tenant version counter)
-- ARGV: now (ms)
-- Returns the new expiry (ms) or "" when nothing was refreshed.
-- The item's TTL is its field t (seconds, written by memory_put.lua); an
-- item put before t existed takes x - u, which a put set to its TTL.
if redis.call('TYPE', KEYS[1]).ok ~= 'hash' then return '' end
local h = redis.call('HMGET', KEYS[1], 't', 'x', 'u')
local x = tonumber(h[2] or '')
if not x then return '' end
local ttl = tonumber(h[1] or '')
if not ttl then ttl = math.floor((x - (tonumber(h[3] or '') or x)) / 1000 + 0.5) end
if ttl <= 0 then return '' end
local expires = string.format('%.0f', tonumber(ARGV[1]) + ttl * 1000)
redis.call('HSET', KEYS[1], 'x', expires, 't', ttl)
redis.call('EXPIRE', KEYS[1], ttl)
for i = 2, 4 do
  local t = redis.call('TTL', KEYS[i])
  if t >= 0 and t < ttl then redis.call('EXPIRE', KEYS[i], ttl) end
end
return expires
