-- bench/run.sh's yardstick for Redis time per put (the redis_put_simple
-- phase): the least a checkpoint put can be. One HSET of the checkpoint, its
-- metadata and its blobs (the same bytes memoryd's put stores), the id in an
-- index, and the two keys' EXPIREs; no registry, no head, no blob keys of
-- their own. redis_driver --mode simple sends it:
-- KEYS[1] the hash, KEYS[2] the index, KEYS[3 ..] the blobs' field names;
-- ARGV ttl, checkpoint id, checkpoint, metadata, then the blobs.
local fields = {'checkpoint', ARGV[3], 'metadata', ARGV[4]}
for i = 3, #KEYS do
  fields[#fields + 1] = KEYS[i]
  fields[#fields + 1] = ARGV[2 + i]
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], 0, ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
