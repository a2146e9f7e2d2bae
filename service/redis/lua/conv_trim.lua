-- Drop archived messages, only if they are exactly the ones archived.
-- KEYS[1] meta hash   KEYS[2] messages zset   KEYS[3] ids hash
-- ARGV: epoch, first seq, last seq, digest (from conv_overflow.lua)
-- Reply: 1 when they were dropped, 0 when the conversation changed meanwhile
-- (another incarnation, or another caller trimmed them first).
if redis.call('HGET', KEYS[1], 'epoch') ~= ARGV[1] then return 0 end
local m = redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3])
local parts = {}
for i = 1, #m do parts[i] = #m[i] .. ':' .. m[i] end
if #m == 0 or redis.sha1hex(table.concat(parts)) ~= ARGV[4] then return 0 end
for _, x in ipairs(m) do
  local id = string.match(x, '^%d+%z([^%z]*)%z')
  if id and id ~= '' then redis.call('HDEL', KEYS[3], id) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], ARGV[2], ARGV[3])
return 1
