-- Release a lock only while this holder still owns it (compare-and-delete).
-- KEYS[1] the lock key; ARGV[1] the holder's token. Returns 1 released, 0 held by another holder or expired.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
