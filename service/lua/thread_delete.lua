-- Delete every key of a thread, in every namespace, from its key registry.
-- KEYS[1] thread key registry (set), KEYS[2] thread namespaces (set)
local cursor, n = '0', 0
repeat
  local r = redis.call('SSCAN', KEYS[1], cursor, 'COUNT', 500)
  cursor = r[1]
  if #r[2] > 0 then n = n + redis.call('UNLINK', unpack(r[2])) end
until cursor == '0'
redis.call('UNLINK', KEYS[1], KEYS[2])
return n
