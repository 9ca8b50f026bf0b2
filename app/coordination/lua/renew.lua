-- Extend a lock's lease only while this holder still owns it (compare-and-pexpire).
-- KEYS[1] the lock key; ARGV[1] the holder's token; ARGV[2] the new lease in ms. Returns 1 renewed, 0 lost.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
