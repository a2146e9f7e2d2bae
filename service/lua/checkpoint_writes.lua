-- Store pending writes of one task. mode 'overwrite' replaces (a call whose
-- writes all go to special channels); 'keep' stores each (task_id, idx)
-- once and ignores a repeat.
-- KEYS[1] writes hash, KEYS[2] thread key registry
-- ARGV[1] ttl, ARGV[2] mode, then field/value pairs
local ttl = tonumber(ARGV[1])
local overwrite = ARGV[2] == 'overwrite'
for i = 3, #ARGV, 2 do
  if overwrite then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
  else
    redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('SADD', KEYS[2], KEYS[1])
redis.call('EXPIRE', KEYS[2], ttl)
return 1
