-- The archiver's two steps on one conversation, over one digest of its
-- state: the meta hash (every append of a new message moves last_seq and
-- updated_at, a metadata update updated_at, a new incarnation the epoch) and
-- the count, first and last of its messages (a trim only removes messages
-- the trim path archived first). So anything written since the dump changes
-- the digest, and the drop reads O(1) messages, not the whole conversation.
-- KEYS[1] meta hash   KEYS[2] messages zset   KEYS[3] ids hash
-- ARGV[1] 'dump': ARGV[2] ttl_ms (CONV_TTL_SECONDS), ARGV[3] idle_ms
--   (ARCHIVE_AFTER_SECONDS). Idle is read from what every write refreshes,
--   the TTL of the meta hash: it was last written ttl_ms - PTTL ago; a key
--   without a TTL never expires and is left alone.
--   Reply: {} when it is gone or not idle, else
--          {epoch, customer_id, digest, metadata, created_at, updated_at,
--           last_seq, members...}
-- ARGV[1] 'drop': ARGV[2] the digest 'dump' gave. Removes the conversation
--   only if its digest is still that one (what was dumped is archived).
--   Reply: {1, customer_id ('' none)} when it went, {0} when it changed
--   meanwhile (it stays for the next pass) or is gone.
local function state()
  local meta = redis.call('HGETALL', KEYS[1])
  local kv = {}
  for i = 1, #meta, 2 do
    kv[#kv + 1] = #meta[i] .. ':' .. meta[i] .. #meta[i + 1] .. ':' .. meta[i + 1]
  end
  table.sort(kv)
  local first = redis.call('ZRANGE', KEYS[2], 0, 0)
  local last = redis.call('ZRANGE', KEYS[2], -1, -1)
  local parts = {table.concat(kv), redis.call('ZCARD', KEYS[2])}
  for _, m in ipairs({first[1] or '', last[1] or ''}) do parts[#parts + 1] = #m .. ':' .. m end
  return #meta > 0, redis.sha1hex(table.concat(parts, '|'))
end
if ARGV[1] == 'dump' then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl < 0 or tonumber(ARGV[2]) - pttl < tonumber(ARGV[3]) then return {} end
  local _, digest = state()
  local m = redis.call('ZRANGE', KEYS[2], 0, -1)
  local f = redis.call('HMGET', KEYS[1], 'epoch', 'customer_id', 'metadata', 'created_at',
                      'updated_at', 'last_seq')
  local reply = {f[1] or '', f[2] or '', digest, f[3] or '', f[4] or '0', f[5] or '0',
                 f[6] or '0'}
  for i = 1, #m do reply[#reply + 1] = m[i] end
  return reply
end
local exists, digest = state()
if not exists or digest ~= ARGV[2] then return {0} end
local customer = redis.call('HGET', KEYS[1], 'customer_id') or ''
redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
return {1, customer}
