-- One bounded step of a search over the memory items under a namespace
-- prefix, highest version (most recently updated) first. The caller walks
-- the prefix's namespaces in steps ('cands'), keeps the best candidates of
-- all steps, then reads those items ('items'). No call walks more than the
-- namespaces and entries its arguments allow.
-- KEYS[1] tenant namespace registry
-- ARGV[1] 'cands': ARGV: index key base, encoded prefix path ("" for all),
--   max score ("+inf" or "(<version>"), min score ("-inf" or "(<version>":
--   what the best n so far already beat), n, after (the last namespace a
--   previous step visited; "" to start), most namespaces to visit.
--   Namespaces whose index is gone leave the registry on the way.
--   Returns {next ("" when no namespace is left), {{ns, key, version}...}
--   (the step's best n, highest first), work (namespaces visited + index
--   entries read)}.
-- ARGV[1] 'items': ARGV: index key base, item key base, most value bytes
--   (the first item always comes), then ns, key, version triples. Index
--   entries whose item has expired are pruned.
--   Returns {cut 0/1 (the bytes ran out before the last triple), {{ns, key,
--   value|false, version, created, updated, expires, kind}...}} for those
--   that still exist.
local mode, ixb = ARGV[1], ARGV[2]
if mode == 'items' then
  local itb, most = ARGV[3], tonumber(ARGV[4])
  local out, bytes = {}, 0
  for i = 5, #ARGV, 3 do
    local ns, key, ver = ARGV[i], ARGV[i + 1], ARGV[i + 2]
    local k = itb .. ':' .. ns .. ':' .. key
    local kind = redis.call('TYPE', k).ok
    if kind == 'none' then
      redis.call('ZREM', ixb .. ':' .. ns, key)
    elseif kind == 'hash' then
      local h = redis.call('HMGET', k, 'v', 'ver', 'c', 'u', 'x')
      bytes = bytes + #(h[1] or '')
      if #out > 0 and bytes > most then return {1, out} end
      out[#out + 1] = {ns, key, h[1] or false, ver, h[3] or '', h[4] or '', h[5] or '', kind}
    else
      out[#out + 1] = {ns, key, false, ver, '', '', '', kind}
    end
  end
  return {0, out}
end
local pre, max, min, n, after, most =
  ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]), ARGV[7], tonumber(ARGV[8])
-- the prefix's namespaces: pre itself, then pre:... (the lex range
-- [pre:, pre;) holds exactly those), in lex order from after
local nss, lo, hi = {}, '-', '+'
if pre ~= '' then
  if after == '' then nss = redis.call('ZRANGEBYLEX', KEYS[1], '[' .. pre, '[' .. pre) end
  lo, hi = '[' .. pre .. ':', '(' .. pre .. ';'
end
if after ~= '' then lo = '(' .. after end
local step = redis.call('ZRANGEBYLEX', KEYS[1], lo, hi, 'LIMIT', 0, most)
for _, s in ipairs(step) do nss[#nss + 1] = s end
local cands, work = {}, #nss
for _, ns in ipairs(nss) do
  local idx = ixb .. ':' .. ns
  local r = redis.call('ZREVRANGEBYSCORE', idx, max, min, 'WITHSCORES', 'LIMIT', 0, n)
  if #r == 0 and redis.call('EXISTS', idx) == 0 then redis.call('ZREM', KEYS[1], ns) end
  for i = 1, #r, 2 do cands[#cands + 1] = {ns, r[i], tonumber(r[i + 1])} end
  work = work + #r / 2
end
table.sort(cands, function(a, b) return a[3] > b[3] end)
local out = {}
for i = 1, math.min(n, #cands) do
  local c = cands[i]
  out[i] = {c[1], c[2], string.format('%.0f', c[3])}
end
local next = ''
if #step == most then next = step[#step] end
return {next, out, work}
