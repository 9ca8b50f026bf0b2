-- Replace the active set with PostgreSQL's truth, unless another replica already did since this Redis started.
-- Ids are loaded with score -1: some may be sessions still waiting for their own admission step.
-- KEYS[1] active set, KEYS[2] sync marker; ARGV the ids of ACTIVE sessions in PostgreSQL.
-- Returns 1 rebuilt, 0 already in sync.
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
if redis.call('GET', KEYS[2]) == run_id then
  return 0
end
redis.call('DEL', KEYS[1])
for i = 1, #ARGV, 1000 do
  local batch = {}
  for j = i, math.min(i + 999, #ARGV) do
    table.insert(batch, -1)
    table.insert(batch, ARGV[j])
  end
  redis.call('ZADD', KEYS[1], unpack(batch))
end
redis.call('SET', KEYS[2], run_id)
return 1
