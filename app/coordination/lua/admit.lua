-- Admit one session under the global limit, atomically.
-- KEYS[1] active set (zset: session id -> admission time ms; -1 for ids loaded by a rebuild),
-- KEYS[2] sync marker (the run_id of the Redis server the set was rebuilt on)
-- ARGV[1] limit, ARGV[2] session id, ARGV[3] now (ms)
-- Returns 1 admitted, 0 limit reached, -1 the set must be rebuilt from PostgreSQL first.
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('GET', KEYS[2]) ~= run_id then
  return -1
end
local score = redis.call('ZSCORE', KEYS[1], ARGV[2])
if not score then
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
    return 0
  end
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  return 1
end
if tonumber(score) >= 0 then
  return 1
end
-- A rebuild counted this session while it waited to be admitted: it must fit beside the others.
if redis.call('ZCARD', KEYS[1]) - 1 >= tonumber(ARGV[1]) then
  redis.call('ZREM', KEYS[1], ARGV[2])
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
return 1
