-- Append a batch of messages to a conversation in one atomic step, creating
-- it on first use; every key gets its TTL here.
-- KEYS[1] meta hash   KEYS[2] messages zset (score = seq)   KEYS[3] ids hash
-- (message id -> seq)
-- ARGV: ttl, max_messages, trim ('delete': drop the oldest beyond
--       max_messages; 'keep': leave them for the archiver and report how many),
--       expected_seq ('' none), customer_id ('' keep), metadata ('' keep),
--       index_every (seconds between customer index writes), base (the last
--       seq of history kept elsewhere, where a new conversation's numbering
--       continues; '': unknown, so a new conversation is not created), n,
--       then per message: id ('' none), role, metadata, content; then
--       optionally, per message, the seq under which that history holds its
--       id ('' none): for a new conversation, such a message is a retry of
--       what is stored there, answered as a duplicate and not stored again
-- Reply: {'ok', created (new here, and no history elsewhere), count_before,
--         last_seq, overflow, customer whose index entry is due ('' none),
--         seqs...,
--         duplicate flags...}
--        {'conflict', last_seq} | {'customer', current customer_id} |
--        {'missing'} (a new conversation, and base is unknown)
local max = tonumber(ARGV[2])
local n = tonumber(ARGV[9])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local meta = redis.call('HMGET', KEYS[1], 'last_seq', 'customer_id', 'indexed_at')
local created = meta[1] == false
local last = tonumber(meta[1] or '0')
local customer = meta[2] or ''
if created then
  if ARGV[8] == '' then return {'missing'} end
  last = tonumber(ARGV[8])
end
if ARGV[5] ~= '' and customer ~= '' and customer ~= ARGV[5] then
  return {'customer', customer}
end
local known = 9 + 4 * n
local seqs, dup, fresh, seen, elsewhere = {}, {}, 0, {}, {}
for i = 1, n do
  local id = ARGV[9 + 4 * (i - 1) + 1]
  local s = nil
  if id ~= '' then s = seen[id] or redis.call('HGET', KEYS[3], id) end
  if not s and created and id ~= '' and (ARGV[known + i] or '') ~= '' then
    s = ARGV[known + i]
    elsewhere[#elsewhere + 1] = {id, s}
  end
  if s then
    seqs[i], dup[i] = tonumber(s), 1
  else
    fresh = fresh + 1
    seqs[i], dup[i] = last + fresh, 0
    if id ~= '' then seen[id] = seqs[i] end
  end
end
if fresh > 0 and ARGV[4] ~= '' and tonumber(ARGV[4]) ~= last then
  return {'conflict', last}
end
local function ok(is_new, overflow, index)
  local reply = {'ok', is_new and 1 or 0, last, last + fresh, overflow, index}
  for i = 1, n do reply[#reply + 1] = seqs[i] end
  for i = 1, n do reply[#reply + 1] = dup[i] end
  return reply
end
-- only retries of the history kept elsewhere: nothing to create here
if created and fresh == 0 then return ok(false, 0, '') end
-- remembered here, so later retries of them are found without asking
for _, e in ipairs(elsewhere) do redis.call('HSET', KEYS[3], e[1], e[2]) end
if fresh > 0 then
  for i = 1, n do
    if dup[i] == 0 then
      local b = 9 + 4 * (i - 1)
      local id = ARGV[b + 1]
      redis.call('ZADD', KEYS[2], seqs[i], seqs[i] .. '\0' .. id .. '\0' .. ARGV[b + 2] ..
                 '\0' .. now .. '\0' .. ARGV[b + 3] .. '\0' .. ARGV[b + 4])
      if id ~= '' then redis.call('HSET', KEYS[3], id, seqs[i]) end
    end
  end
end
-- a customer named for the first time is set (another was refused above)
local named = ARGV[5] ~= '' and ARGV[5] ~= customer
if named then customer = ARGV[5] end
-- The customer index has the customer's hash tag, so this script cannot
-- write it, and on a Redis Cluster it is on another primary for most
-- conversations: the caller writes the conversation's entry, in a round trip
-- of its own, when this returns the customer, which is when the entry is
-- due: the customer is set here, or indexed_at is index_every seconds old.
-- Setting the customer leaves indexed_at 0, so the next append writes the
-- entry again (one failed write is mended there); then indexed_at is now.
local index = ''
if customer ~= '' and
   (named or now - tonumber(meta[3] or '0') > tonumber(ARGV[7]) * 1000) then
  index = customer
end
if created then
  redis.call('HSET', KEYS[1], 'created_at', now, 'epoch', t[1] .. '.' .. t[2])
end
if named then
  redis.call('HSET', KEYS[1], 'customer_id', customer, 'indexed_at', 0)
elseif index ~= '' then
  redis.call('HSET', KEYS[1], 'indexed_at', now)
end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'metadata', ARGV[6]) end
if fresh > 0 then redis.call('HSET', KEYS[1], 'last_seq', last + fresh, 'updated_at', now) end
local overflow = 0
-- every message held has a seq of its own in [1, last_seq] (only this
-- script adds them, each above last_seq), so a conversation numbered up to
-- max holds at most max: no count needed (were the meta hash lost alone, as
-- an eviction may, the next messages would go uncounted until last_seq
-- passed max)
local held = 0
if last + fresh > max then held = redis.call('ZCARD', KEYS[2]) end
if held > max then
  if ARGV[3] == 'delete' then
    local old = redis.call('ZRANGE', KEYS[2], 0, held - max - 1)
    for _, m in ipairs(old) do
      local id = string.match(m, '^%d+%z([^%z]*)%z')
      if id and id ~= '' then redis.call('HDEL', KEYS[3], id) end
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, held - max - 1)
  else
    overflow = held - max
  end
end
-- the TTL as sent (a number would be formatted again for each call); EXPIRE
-- leaves a key that does not exist (ids, when no message had an id) as it is
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return ok(created and last == 0, overflow, index)
