-- Read messages of a conversation, oldest first.
-- KEYS[1] meta hash   KEYS[2] messages zset (score = seq)
-- ARGV: mode ('window' | 'before' | 'after' | 'range'), seq (before/after;
--       range: from), limit (range: to), most bytes of members ('' no bound;
--       one always comes): a window or before read keeps the newest that
--       fit, an after read the oldest
-- Reply: {} when there is no such conversation, else
--        {last_seq, first_seq held, epoch, customer_id, cut 0/1, members...}
local meta = redis.call('HMGET', KEYS[1], 'last_seq', 'epoch', 'customer_id')
if not meta[1] then return {} end
local mode, seq, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local m
if mode == 'window' then
  m = redis.call('ZRANGE', KEYS[2], -limit, -1)
elseif mode == 'before' then
  m = redis.call('ZREVRANGEBYSCORE', KEYS[2], '(' .. seq, '-inf', 'LIMIT', 0, limit)
  local n = #m
  for i = 1, math.floor(n / 2) do m[i], m[n - i + 1] = m[n - i + 1], m[i] end
elseif mode == 'after' then
  m = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. seq, '+inf', 'LIMIT', 0, limit)
else
  m = redis.call('ZRANGEBYSCORE', KEYS[2], seq, ARGV[3])
end
local lo, hi, cut = 1, #m, 0
if (ARGV[4] or '') ~= '' and mode ~= 'range' then
  local most, bytes = tonumber(ARGV[4]), 0
  if mode == 'after' then
    for i = 1, #m do
      bytes = bytes + #m[i]
      if i > 1 and bytes > most then hi, cut = i - 1, 1; break end
    end
  else
    for i = #m, 1, -1 do
      bytes = bytes + #m[i]
      if i < #m and bytes > most then lo, cut = i + 1, 1; break end
    end
  end
end
local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')[2] or (tonumber(meta[1]) + 1)
local reply = {tonumber(meta[1]), tonumber(first), meta[2] or '', meta[3] or '', cut}
for i = lo, hi do reply[#reply + 1] = m[i] end
return reply
