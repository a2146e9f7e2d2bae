-- Delete a conversation's keys.
-- KEYS[1] meta hash   KEYS[2] messages zset   KEYS[3] ids hash
-- Reply: the customer_id it had ('' none), or false when it did not exist.
local customer = redis.call('HGET', KEYS[1], 'customer_id')
local n = redis.call('UNLINK', KEYS[1], KEYS[2], KEYS[3])
if n == 0 then return false end
return customer or ''
