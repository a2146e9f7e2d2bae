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
--       then nb blob values, then the head's candidate generation (the
--       caller's clock in microseconds; the head's generation only grows)
--
-- Each redis.call has a fixed cost (about 9,000 instructions in Redis 7.0,
-- whatever it carries), so the common path makes as few as it can: the registry gets only the keys this put
-- creates (the index and head once per namespace; the writes hash is the
-- writes script's), a new checkpoint has no writes hash to refresh, and the
-- head is swapped in one SET ... GET, put right only when this put was not
-- the latest or the clock went back.
local ttl = ARGV[1]
local nb = tonumber(ARGV[8])
local id = ARGV[2]
local fresh = redis.call('HSET', KEYS[1], 'checkpoint', ARGV[3], 'metadata', ARGV[4],
                         'parent', ARGV[5], 'channels', ARGV[6]) == 4
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], 0, id)
redis.call('EXPIRE', KEYS[2], ttl)
local reg = {KEYS[1]}
for i = 1, nb do
  redis.call('SET', KEYS[6 + i], ARGV[8 + i], 'EX', ttl)
  reg[#reg + 1] = KEYS[6 + i]
end
for i = 7 + nb, #KEYS do
  redis.call('EXPIRE', KEYS[i], ttl)
end
if not fresh then
  redis.call('EXPIRE', KEYS[5], ttl)
end
if redis.call('SADD', KEYS[4], ARGV[7]) == 1 then
  reg[#reg + 1] = KEYS[2]
  reg[#reg + 1] = KEYS[6]
end
redis.call('EXPIRE', KEYS[4], ttl)
redis.call('SADD', KEYS[3], unpack(reg))
redis.call('EXPIRE', KEYS[3], ttl)
local gen = ARGV[9 + nb]
local old = redis.call('SET', KEYS[6], gen .. '|' .. id, 'GET', 'EX', ttl)
if old then
  local bar = string.find(old, '|', 1, true)
  local og, latest = tonumber(string.sub(old, 1, bar - 1)), string.sub(old, bar + 1)
  if latest < id then
    latest = id
  end
  if latest ~= id or og >= tonumber(gen) then
    gen = string.format('%.0f', math.max(og, tonumber(gen)) + 1)
    redis.call('SET', KEYS[6], gen .. '|' .. latest, 'EX', ttl)
  end
else
  -- no head (a new namespace, or one written before heads existed): the
  -- index says which checkpoint is the latest
  local top = redis.call('ZREVRANGEBYLEX', KEYS[2], '+', '-', 'LIMIT', 0, 1)[1]
  if top ~= id then
    redis.call('SET', KEYS[6], gen .. '|' .. top, 'EX', ttl)
  end
end
return 1
