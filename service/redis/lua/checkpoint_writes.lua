-- Store pending writes of one task. mode 'overwrite' replaces (a call whose
-- writes all go to special channels); 'keep' stores each (task_id, idx)
-- once and ignores a repeat. Writes to the namespace's latest checkpoint
-- give its head a new generation (cached copies become stale).
-- KEYS[1] writes hash, KEYS[2] thread key registry, KEYS[3] ns head
-- ARGV[1] ttl, ARGV[2] mode, ARGV[3] checkpoint id, then field/value pairs
local function next_gen(old)
  local t = redis.call('TIME')
  local g = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local og = old and tonumber(string.match(old, '^(%d+)|')) or 0
  if g <= og then g = og + 1 end
  return string.format('%.0f', g)
end
local ttl = tonumber(ARGV[1])
local overwrite = ARGV[2] == 'overwrite'
for i = 4, #ARGV, 2 do
  if overwrite then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  else
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ttl)
local head = redis.call('GET', KEYS[3])
if head and string.match(head, '^%d+|(.*)$') == ARGV[3] then
  redis.call('SET', KEYS[3], next_gen(head) .. '|' .. ARGV[3], 'KEEPTTL')
end
return 1
