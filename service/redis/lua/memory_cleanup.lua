-- Delete up to ARGV[4] memory items under a namespace prefix (one batch of a
-- cleanup; the caller repeats while more remain). Works from the namespace
-- registry and indexes: no key pattern is ever matched, and no call visits
-- more than ARGV[4] + 1 namespaces (empty ones included).
-- KEYS[1] tenant namespace registry
-- ARGV: index key base, item key base, encoded prefix path, batch size
-- Returns {items deleted, more 0/1}
local ixb, itb, pre, budget = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
-- pre itself, then pre:... (the lex range [pre:, pre;) holds exactly those)
local nss = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre, '[' .. pre)
local sub = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre .. ':', '(' .. pre .. ';', 'LIMIT', 0,
                       budget)
for _, s in ipairs(sub) do nss[#nss + 1] = s end
local deleted = 0
for _, ns in ipairs(nss) do
  local idx = ixb .. ':' .. ns
  local members = redis.call('ZRANGE', idx, 0, budget - 1)
  if #members > 0 then
    local keys = {}
    for i, m in ipairs(members) do keys[i] = itb .. ':' .. ns .. ':' .. m end
    deleted = deleted + redis.call('UNLINK', unpack(keys))
    redis.call('ZREM', idx, unpack(members))
    budget = budget - #members
  end
  if redis.call('ZCARD', idx) == 0 then
    redis.call('UNLINK', idx)
    redis.call('ZREM', KEYS[1], ns)
  end
  if budget <= 0 then return {deleted, 1} end
end
if #sub == tonumber(ARGV[4]) then return {deleted, 1} end
return {deleted, 0}
