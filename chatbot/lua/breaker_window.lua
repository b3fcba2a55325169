-- The sliding window, the start of breaker_allow.lua and breaker_record.lua. KEYS[1]; ARGV: now,
-- window_s, slots. Slot i holds its index `t`, successes `s`, failures `f` and calls dropped by
-- the throttle `d`.
local key = KEYS[1]
local now = tonumber(ARGV[1])
local slots = tonumber(ARGV[3])
local idx = math.floor(now / (tonumber(ARGV[2]) / slots))
local function bump(field)
  local slot = idx % slots
  if tonumber(redis.call('HGET', key, 't' .. slot)) ~= idx then
    redis.call('HSET', key, 't' .. slot, idx, 's' .. slot, 0, 'f' .. slot, 0, 'd' .. slot, 0)
  end
  redis.call('HINCRBY', key, field .. slot, 1)
  redis.call('EXPIRE', key, 86400)
end
local function totals()
  local s, f, d = 0, 0, 0
  for i = 0, slots - 1 do
    local v = redis.call('HMGET', key, 't' .. i, 's' .. i, 'f' .. i, 'd' .. i)
    if tonumber(v[1]) and tonumber(v[1]) > idx - slots then
      s = s + tonumber(v[2])
      f = f + tonumber(v[3])
      d = d + (tonumber(v[4]) or 0)
    end
  end
  return s, f, d
end
