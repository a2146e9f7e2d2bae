-- The oldest messages beyond max_messages, for the archiver.
-- KEYS[1] meta hash   KEYS[2] messages zset
-- ARGV: max_messages, limit
-- Reply: {} when there is none, else {epoch, customer_id, digest, members...}
-- (digest: what conv_trim.lua checks before it drops them)
local held = redis.call('ZCARD', KEYS[2])
local over = held - tonumber(ARGV[1])
if over <= 0 then return {} end
if over > tonumber(ARGV[2]) then over = tonumber(ARGV[2]) end
local meta = redis.call('HMGET', KEYS[1], 'epoch', 'customer_id')
local m = redis.call('ZRANGE', KEYS[2], 0, over - 1)
local parts = {}
for i = 1, #m do parts[i] = #m[i] .. ':' .. m[i] end
local reply = {meta[1] or '', meta[2] or '', redis.sha1hex(table.concat(parts))}
for i = 1, #m do reply[#reply + 1] = m[i] end
return reply
