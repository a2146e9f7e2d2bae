-- One bounded step of deleting a thread, every namespace: one SSCAN step of
-- its key registry from cursor ARGV[1] (COUNT ARGV[2]); those keys are
-- unlinked and leave the registry. The step that ends the scan (cursor
-- "0") also unlinks the registry and the namespace set. Each step is safe
-- to interrupt: what is left is still listed, and deleting again (from
-- cursor "0") finishes it.
-- KEYS[1] thread key registry (set), KEYS[2] thread namespaces (set)
-- Returns {next cursor ("0": done), keys unlinked}
local r = redis.call('SSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local n = 0
if #r[2] > 0 then
  n = redis.call('UNLINK', unpack(r[2]))
  redis.call('SREM', KEYS[1], unpack(r[2]))
end
if r[1] == '0' then redis.call('UNLINK', KEYS[1], KEYS[2]) end
return {r[1], n}
