-- Token buckets, all or nothing: takes `cost` from every bucket, or from none and says how
-- long to wait. KEYS: bucket keys. ARGV: now, then capacity, refill_per_s, cost for each key.
-- Returns {allowed, wait_s}.
local now = tonumber(ARGV[1])
local levels = {}
local wait = 0
for i = 1, #KEYS do
  local cap = tonumber(ARGV[i * 3 - 1])
  local rate = tonumber(ARGV[i * 3])
  local cost = math.min(tonumber(ARGV[i * 3 + 1]), cap)
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1]) or cap
  local ts = tonumber(v[2]) or now
  if now > ts then tokens = math.min(cap, tokens + (now - ts) * rate) end
  levels[i] = tokens
  if tokens < cost then
    local w = (cost - tokens) / rate
    if w > wait then wait = w end
  end
end
if wait > 0 then return {0, tostring(wait)} end
for i = 1, #KEYS do
  local cap = tonumber(ARGV[i * 3 - 1])
  local rate = tonumber(ARGV[i * 3])
  local cost = math.min(tonumber(ARGV[i * 3 + 1]), cap)
  redis.call('HSET', KEYS[i], 'tokens', tostring(levels[i] - cost), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(cap / rate * 1000) + 1000)
end
return {1, '0'}
