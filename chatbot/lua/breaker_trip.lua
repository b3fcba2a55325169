-- Opens the breaker (whatever its state), probes from scratch.
-- KEYS[1]; ARGV: opened_at. Returns 'opened', or '' when it was open already.
local was = redis.call('HGET', KEYS[1], 'state')
redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'probes', 0, 'probe_ok', 0,
  'probe_failed', 0)
redis.call('EXPIRE', KEYS[1], 86400)
if was == 'open' then return '' end
redis.call('HINCRBY', KEYS[1], 'opens', 1)
return 'opened'
