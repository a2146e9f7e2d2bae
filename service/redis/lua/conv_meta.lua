-- A conversation's metadata, optionally updated first.
-- KEYS[1] meta hash   KEYS[2] messages zset   KEYS[3] ids hash
-- ARGV: ttl, customer_id ('\0': keep; '': remove), metadata ('': keep)
-- An update refreshes the TTL of every key, as an append does.
-- Reply: {} when there is no such conversation, else
--        {customer_id, metadata, created_at, updated_at, last_seq, first_seq,
--         ttl ms, previous customer_id}
local f = redis.call('HMGET', KEYS[1], 'customer_id', 'metadata', 'created_at', 'updated_at',
                     'last_seq')
if not f[5] then return {} end
local before = f[1] or ''
if ARGV[2] ~= '\0' or ARGV[3] ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if ARGV[2] == '' then
    redis.call('HDEL', KEYS[1], 'customer_id')
    f[1] = false
  elseif ARGV[2] ~= '\0' then
    redis.call('HSET', KEYS[1], 'customer_id', ARGV[2], 'indexed_at', now)
    f[1] = ARGV[2]
  end
  if ARGV[3] ~= '' then
    redis.call('HSET', KEYS[1], 'metadata', ARGV[3])
    f[2] = ARGV[3]
  end
  redis.call('HSET', KEYS[1], 'updated_at', now)
  f[4] = tostring(now)
  local ttl = tonumber(ARGV[1])
  for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ttl) end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or (tonumber(f[5]) + 1)
return {f[1] or '', f[2] or '', f[3] or '0', f[4] or '0', tonumber(f[5]), tonumber(first),
        redis.call('PTTL', KEYS[1]), before}
