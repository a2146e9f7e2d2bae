-- Delete one memory item, under If-Match, and its index entry; the
-- namespace leaves the registry when its index empties.
-- KEYS[1] item hash   KEYS[2] namespace index   KEYS[3] namespace registry
-- ARGV: encoded key, encoded namespace path, if-match ("" none, "*", version)
-- Returns {"ok", deleted 0/1} or {"precondition", current}.
local kind = redis.call('TYPE', KEYS[1]).ok
if ARGV[3] ~= '' then
  if kind == 'none' then return {'precondition', ''} end
  local cur = ''
  if kind == 'hash' then cur = redis.call('HGET', KEYS[1], 'ver') or '' end
  if ARGV[3] ~= '*' and cur ~= ARGV[3] then return {'precondition', cur} end
end
local n = redis.call('UNLINK', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('ZCARD', KEYS[2]) == 0 then
  redis.call('UNLINK', KEYS[2])
  redis.call('ZREM', KEYS[3], ARGV[2])
end
return {'ok', n}
