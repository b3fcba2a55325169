-- Drops a claim only while it is still the caller's (see claim_extend.lua).
-- KEYS[1]: the claim; ARGV: holder. Returns 1 when dropped.
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
