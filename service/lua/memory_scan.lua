-- One page of memory items under a namespace prefix, highest version (most
-- recently updated) first. Index entries whose item has expired are pruned
-- on the way, and namespaces whose index is gone leave the registry.
-- KEYS[1] tenant namespace registry
-- ARGV: index key base, item key base, encoded prefix path ("" for all),
--       max score ("+inf" or "(<version>"), n
-- Returns {more 0/1, {ns, key, value|false, version, created, updated,
--          expires, kind}...}
local ixb, itb, pre, max, n = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local nss
if pre == '' then
  nss = redis.call('ZRANGE', KEYS[1], 0, -1)
else
  nss = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre, '[' .. pre)
  local sub = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre .. ':', '(' .. pre .. ';')
  for _, s in ipairs(sub) do nss[#nss + 1] = s end
end
local cands = {}
for _, ns in ipairs(nss) do
  local idx = ixb .. ':' .. ns
  local r = redis.call('ZREVRANGEBYSCORE', idx, max, '-inf', 'WITHSCORES', 'LIMIT', 0, n)
  if #r == 0 and redis.call('EXISTS', idx) == 0 then redis.call('ZREM', KEYS[1], ns) end
  for i = 1, #r, 2 do cands[#cands + 1] = {ns, r[i], tonumber(r[i + 1])} end
end
table.sort(cands, function(a, b) return a[3] > b[3] end)
local out = {}
local more = 0
if #cands > n then more = 1 end
for i = 1, math.min(n, #cands) do
  local c = cands[i]
  local k = itb .. ':' .. c[1] .. ':' .. c[2]
  local kind = redis.call('TYPE', k).ok
  if kind == 'none' then
    redis.call('ZREM', ixb .. ':' .. c[1], c[2])
  elseif kind == 'hash' then
    local h = redis.call('HMGET', k, 'v', 'ver', 'c', 'u', 'x')
    out[#out + 1] = {c[1], c[2], h[1] or false, string.format('%.0f', c[3]), h[3] or '',
                     h[4] or '', h[5] or '', kind}
  else
    out[#out + 1] = {c[1], c[2], false, string.format('%.0f', c[3]), '', '', '', kind}
  end
end
if #cands == n then more = 1 end
return {more, out}
