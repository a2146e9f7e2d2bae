-- The namespaces at or under a prefix that still have an index; those whose
-- index has expired leave the registry.
-- KEYS[1] tenant namespace registry
-- ARGV: index key base, encoded prefix path ("" for all), most to return
local ixb, pre, most = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nss
if pre == '' then
  nss = redis.call('ZRANGE', KEYS[1], 0, most - 1)
else
  nss = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre, '[' .. pre)
  local sub = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre .. ':', '(' .. pre .. ';',
                         'LIMIT', 0, most)
  for _, s in ipairs(sub) do nss[#nss + 1] = s end
end
local out = {}
for _, ns in ipairs(nss) do
  if redis.call('EXISTS', ixb .. ':' .. ns) == 1 then
    out[#out + 1] = ns
  else
    redis.call('ZREM', KEYS[1], ns)
  end
end
return out
