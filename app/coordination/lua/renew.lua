-- Extend a lease only while this holder still owns it (compare-and-pexpire).
-- KEYS[1] the lease key; ARGV[1] the holder's token; ARGV[2] the new lease in ms. Returns 1 renewed, 0 lost.
-- With KEYS[2] (the lease's epoch counter) and ARGV[3] (the holder's epoch): a lease that expired while its holder
-- was slow is taken back when nobody took it since (the epoch did not move), so no lease is lost to nobody. A
-- counter that is gone too (Redis restarted empty, or was flushed) means the same: a take-over would have made it
-- again; it is set back to the holder's epoch, so that epochs keep growing.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
if not holder and KEYS[2] then
  local epoch = redis.call('GET', KEYS[2])
  if epoch == ARGV[3] or not epoch then
    redis.call('SET', KEYS[2], ARGV[3], 'NX')
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return 1
  end
end
return 0
