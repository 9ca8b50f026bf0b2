-- Extend a lease only while this holder still owns it (compare-and-pexpire).
-- KEYS[1] the lease key; ARGV[1] the holder's token; ARGV[2] the new lease in ms. Returns 1 renewed, 0 lost.
-- With KEYS[2] (the lease's epoch counter) and ARGV[3] (the holder's epoch): a lease that expired while its holder
-- was slow is taken back when nobody took it since (the epoch did not move), so no lease is lost to nobody.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder and KEYS[2] and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
