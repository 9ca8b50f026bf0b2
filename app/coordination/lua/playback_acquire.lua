-- Take a session's playback lease, with a new epoch, unless another replica holds it.
-- KEYS[1] the lease key; KEYS[2] the session's epoch counter; ARGV[1] this replica's id; ARGV[2] the lease in ms.
-- Returns {1, token} when taken (token is "<replica>:<epoch>"), or {0, token of the holder}.
local holder = redis.call('GET', KEYS[1])
if holder and string.sub(holder, 1, string.len(ARGV[1]) + 1) ~= ARGV[1] .. ':' then
  return {0, holder}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- A counter lost with Redis's data starts again from the clock (in ms), not from 1: an epoch never goes back,
  -- or followers would ignore the new owner's notes as a stale owner's.
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
end
local token = ARGV[1] .. ':' .. redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
return {1, token}
