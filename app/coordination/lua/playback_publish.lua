-- Write a session's clock checkpoint and publish a note to the replicas that follow it, only while the caller
-- holds the session's lease (a stale owner's writes are refused by its epoch).
-- KEYS[1] the lease key; KEYS[2] the checkpoint key; ARGV[1] the caller's lease token; ARGV[2] the checkpoint
-- ('' leaves it); ARGV[3] the channel ('' publishes nothing); ARGV[4] the note; ARGV[5] the checkpoint's TTL in ms;
-- ARGV[6] PUBLISH, or SPUBLISH on a Redis Cluster (the channel shares the keys' hash tag, so it is in their slot).
-- Returns 1 when done, 0 when the lease is not the caller's (it must stop playing at once).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[5])
end
if ARGV[3] ~= '' then
  redis.call(ARGV[6], ARGV[3], ARGV[4])
end
return 1
