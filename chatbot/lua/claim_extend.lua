-- Renews a claim only while it is still the caller's: one that lapsed (its holder stalled
-- past the expiry) and was taken by another process is that process's now.
-- KEYS[1]: the claim; ARGV: holder, ttl in ms. Returns 1 when renewed.
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
