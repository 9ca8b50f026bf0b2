-- Admit sessions under the global limit, atomically, one after the other in the order given.
-- KEYS[1] active set (zset: session id -> admission time ms; -1 for ids loaded by a rebuild),
-- KEYS[2] sync marker (the run_id of the Redis server the set was rebuilt on)
-- ARGV[1] now (ms), then pairs: ARGV[2k] session id, ARGV[2k+1] the limit it must fit under.
-- Returns one verdict per session (1 admitted, 0 limit reached), or -1 alone: the set must be rebuilt from
-- PostgreSQL first (nothing was admitted).
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('GET', KEYS[2]) ~= run_id then
  return -1
end
local verdicts = {}
for i = 2, #ARGV, 2 do
  local id, limit = ARGV[i], tonumber(ARGV[i + 1])
  local score = redis.call('ZSCORE', KEYS[1], id)
  local verdict = 1
  if not score then
    if redis.call('ZCARD', KEYS[1]) >= limit then
      verdict = 0
    else
      redis.call('ZADD', KEYS[1], ARGV[1], id)
    end
  elseif tonumber(score) < 0 then
    -- A rebuild counted this session while it waited to be admitted: it must fit beside the others.
    if redis.call('ZCARD', KEYS[1]) - 1 >= limit then
      redis.call('ZREM', KEYS[1], id)
      verdict = 0
    else
      redis.call('ZADD', KEYS[1], ARGV[1], id)
    end
  end
  table.insert(verdicts, verdict)
end
return verdicts
