-- Upsert one checkpoint, in one atomic step, every key with its TTL. The
-- blobs of its new channel versions are not arguments here: memoryd sends
-- them in the same round trip, before this script, as plain SET ... EX
-- (registered in the thread's key registry first). Redis's Lua hashes every
-- byte of every string it is given, so a 58 KB value costs a script about
-- 67 us, where a SET of it costs 1.5 us (INFO commandstats); see
-- redis_checkpoint_put for what this means when the script fails.
-- KEYS[1] checkpoint hash   KEYS[2] ns index (zset of checkpoint ids)
-- KEYS[3] thread key registry (set)   KEYS[4] thread namespaces (set)
-- KEYS[5] pending writes hash of this checkpoint (TTL refreshed when present)
-- KEYS[6] ns head: "<generation>|<latest checkpoint id>", the version that
--         validates cached copies of the latest tuple
-- KEYS[7] thread index marker: when (ms, the callers' clock) the caller
--         last wrote the thread's entry in the tenant's thread index; "0"
--         not yet. Created here (and registered); only the caller advances
--         it, after that write (SET ... XX)
-- KEYS[8 ..] blobs the checkpoint references and this put does not write
-- (TTL refreshed so a live thread never loses a channel value)
-- ARGV: ttl, checkpoint_id, checkpoint, metadata, parent, channels, ns,
--       then the head's candidate generation (the caller's clock in
--       microseconds; the head's generation only grows), then index_every
--       (ms between refreshes of the thread's index entry)
-- Reply: 1 when the thread's index entry is due a refresh (the marker is
--        new, or index_every or more away from now), else 0
--
-- Each redis.call has a fixed cost (2,500 to 5,000 instructions in Redis 7.0
-- for one that carries little; bench/README.md), so the common put (a namespace with a head, the
-- thread's entry not due) makes seven: HSET and EXPIRE of the checkpoint,
-- ZADD to the index, the head swapped in one SET ... GET, GET of the marker,
-- SADD and EXPIRE of the registry, and an EXPIRE per referenced blob. The
-- registry's EXPIRE is the archiver's sign of a write, so every put and every
-- write gives it the TTL. The namespace set and the namespaces' indexes only
-- need to outlive the thread's data: they get TTL + 2 * index_every when the
-- namespace is new (it has no head) and, every namespace of the thread, when
-- the thread's index entry is due, which a put finds at least every
-- index_every (the callers' clocks may differ by up to another index_every).
-- So a put that is not due leaves them at least TTL after it. The registry
-- gets only the keys this script creates (the index and head once per
-- namespace; the writes hash is the writes script's, the blobs memoryd's),
-- and a new checkpoint has no writes hash to refresh.
local function enc(s) -- as memoryd encodes ids in keys
  return (string.gsub(s, '[%%:{}%*%?%[%]\\ %c]', function(c)
    return string.format('%%%02X', string.byte(c))
  end))
end
local ttl = ARGV[1]
local id = ARGV[2]
local ns = ARGV[7]
local gen = ARGV[8]
local every = tonumber(ARGV[9])
local fresh = redis.call('HSET', KEYS[1], 'checkpoint', ARGV[3], 'metadata', ARGV[4],
                         'parent', ARGV[5], 'channels', ARGV[6]) == 4
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('ZADD', KEYS[2], 0, id)
local reg = {KEYS[1]}
for i = 8, #KEYS do
  redis.call('EXPIRE', KEYS[i], ttl)
end
if not fresh then
  redis.call('EXPIRE', KEYS[5], ttl)
end
local old = redis.call('SET', KEYS[6], gen .. '|' .. id, 'GET', 'EX', ttl)
-- The tenant's thread index has the tenant's hash tag, so the caller writes
-- it, in a round trip of its own, only when this says it is due.
local now = math.floor(tonumber(gen) / 1000)
local mark = redis.call('GET', KEYS[7])
local due = 0
if not mark then
  redis.call('SET', KEYS[7], '0', 'EX', ttl)
  reg[#reg + 1] = KEYS[7]
  due = 1
elseif math.abs(now - (tonumber(mark) or 0)) >= every then
  -- abs: a marker from a clock ahead of this one is due too
  due = 1
end
local keep = tonumber(ttl) * 1000 + 2 * every
if not old then
  -- a new namespace (or one whose head went): listed, registered, kept
  redis.call('SADD', KEYS[4], ns)
  reg[#reg + 1] = KEYS[2]
  reg[#reg + 1] = KEYS[6]
  if due == 0 then
    redis.call('PEXPIRE', KEYS[2], keep)
    redis.call('PEXPIRE', KEYS[4], keep)
  end
end
if due == 1 then
  -- every namespace's index (keys of this thread: KEYS[2] without its ns)
  local base = string.sub(KEYS[2], 1, #KEYS[2] - #enc(ns))
  for _, n in ipairs(redis.call('SMEMBERS', KEYS[4])) do
    redis.call('PEXPIRE', base .. enc(n), keep)
  end
  redis.call('PEXPIRE', KEYS[4], keep)
end
redis.call('SADD', KEYS[3], unpack(reg))
redis.call('EXPIRE', KEYS[3], ttl)
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
return due
