-- After breaker_window.lua. ARGV (after the window's): ok, failure_rate, min_calls, cooldown,
-- probes, probes to close. Returns the transition: '', 'opened', 'reopened' or 'closed'.
local ok = ARGV[4] == '1'
bump(ok and 's' or 'f')
local v = redis.call('HMGET', key, 'state', 'opened_at')
if v[1] == 'open' then
  if now < (tonumber(v[2]) or 0) + tonumber(ARGV[7]) then return '' end
  local needed = tonumber(ARGV[9])
  local n = redis.call('HINCRBY', key, ok and 'probe_ok' or 'probe_failed', 1)
  if ok and n >= needed then
    for i = 0, slots - 1 do redis.call('HDEL', key, 't' .. i, 's' .. i, 'f' .. i, 'd' .. i) end
    redis.call('HSET', key, 'state', 'closed', 'probes', 0, 'probe_ok', 0, 'probe_failed', 0)
    redis.call('HINCRBY', key, 'closes', 1)
    return 'closed'
  end
  if not ok and n > tonumber(ARGV[8]) - needed then
    redis.call('HSET', key, 'opened_at', tostring(now), 'probes', 0, 'probe_ok', 0,
      'probe_failed', 0)
    return 'reopened'
  end
  return ''
end
local s, f, d = totals()
if s + f + d >= tonumber(ARGV[6]) and f / (s + f) > tonumber(ARGV[5]) then
  redis.call('HSET', key, 'state', 'open', 'opened_at', tostring(now), 'probes', 0,
    'probe_ok', 0, 'probe_failed', 0)
  redis.call('HINCRBY', key, 'opens', 1)
  return 'opened'
end
return ''
