-- Upsert one checkpoint with the blobs of its new channel versions, in one
-- atomic step, every key with its TTL.
-- KEYS[1] checkpoint hash   KEYS[2] ns index (zset of checkpoint ids)
-- KEYS[3] thread key registry (set)   KEYS[4] thread namespaces (set)
-- KEYS[5] pending writes hash of this checkpoint (TTL refreshed when present)
-- KEYS[6] ns head: "<generation>|<latest checkpoint id>", the version that
--         validates cached copies of the latest tuple
-- KEYS[7 .. 6+nb] blobs to write; KEYS[7+nb ..] blobs the checkpoint
-- references (TTL refreshed so a live thread never loses a channel value)
-- ARGV: ttl, checkpoint_id, checkpoint, metadata, parent, channels, ns, nb,
--       then nb blob values
local function next_gen(old)
  local t = redis.call('TIME')
  local g = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local og = old and tonumber(string.match(old, '^(%d+)|')) or 0
  if g <= og then g = og + 1 end
  return string.format('%.0f', g)
end
local ttl = tonumber(ARGV[1])
local nb = tonumber(ARGV[8])
redis.call('HSET', KEYS[1], 'checkpoint', ARGV[3], 'metadata', ARGV[4],
           'parent', ARGV[5], 'channels', ARGV[6])
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('EXPIRE', KEYS[2], ttl)
local reg = {KEYS[1], KEYS[2], KEYS[5], KEYS[6]}
for i = 1, nb do
  redis.call('SET', KEYS[6 + i], ARGV[8 + i], 'EX', ttl)
  reg[#reg + 1] = KEYS[6 + i]
end
for i = 7 + nb, #KEYS do
  redis.call('EXPIRE', KEYS[i], ttl)
end
redis.call('EXPIRE', KEYS[5], ttl)
if redis.call('ZREVRANGEBYLEX', KEYS[2], '+', '-', 'LIMIT', 0, 1)[1] == ARGV[2] then
  local head = redis.call('GET', KEYS[6])
  redis.call('SET', KEYS[6], next_gen(head) .. '|' .. ARGV[2], 'EX', ttl)
end
redis.call('SADD', KEYS[3], unpack(reg))
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('SADD', KEYS[4], ARGV[7])
redis.call('EXPIRE', KEYS[4], ttl)
return 1
