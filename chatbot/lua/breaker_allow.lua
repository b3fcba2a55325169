-- After breaker_window.lua. ARGV (after the window's): draw, min_calls, K, cooldown, probes.
-- Returns {allowed, probe, retry_at, throttled}.
local v = redis.call('HMGET', key, 'state', 'opened_at', 'probe_at', 'probes')
if v[1] == 'open' then
  local cooldown = tonumber(ARGV[7])
  local opened_at = tonumber(v[2]) or 0
  if now < opened_at + cooldown then return {0, 0, tostring(opened_at + cooldown), 0} end
  local probe_at = tonumber(v[3]) or 0
  local probes = tonumber(v[4]) or 0
  if probes >= tonumber(ARGV[8]) then
    if now < probe_at + cooldown then return {0, 0, tostring(probe_at + cooldown), 0} end
    probes = 0
    redis.call('HSET', key, 'probe_ok', 0, 'probe_failed', 0)
  end
  redis.call('HSET', key, 'probes', probes + 1, 'probe_at', tostring(now))
  return {1, 1, '0', 0}
end
local s, f, d = totals()
local requests = s + f + d
if requests >= tonumber(ARGV[5]) then
  if tonumber(ARGV[4]) < (requests - tonumber(ARGV[6]) * s) / (requests + 1) then
    bump('d')
    return {0, 0, '0', 1}
  end
end
return {1, 0, '0', 0}
