-- quota_read.lua - read quota counters without changing them.
--
-- Caller: staffel::adapters::RedisCounterStore::read() (EVALSHA; the
--   source is compiled into the binaries from this file), for staffelctl.
--   Semantics are those of milter/core/quota/store.hpp.
-- KEYS[i]: counter i, as given to quota_charge.lua. The keys may sit in
--   different hash slots: the target is a single Redis node, not Redis
--   Cluster.
-- ARGV: 5 fields per key, exactly as for quota_charge.lua:
--   kind ("window"/"gcra"), amount and enforce (ignored here), then
--   limit, expire_at_ms (window; ignored here) or interval_us, burst
--   (gcra; interval_us is used). Malformed ARGV: an error reply.
-- Stored values, as quota_charge.lua writes them: window a string integer
--   count; gcra a string integer TAT in epoch microseconds. Nothing is
--   written and no TTL changes.
-- Returns: an array of integers { now_us, then per key: used }
--   used: window count (0 if absent); gcra units in use
--   ceil((max(TAT, now) - now) / interval_us) (0 if absent or past).
-- #include quota_lib.lua

local counters, err = parse_counters('quota_read', false)
if counters == nil then
    return redis.error_reply(err)
end

local out = { now }
for _, c in ipairs(counters) do
    local raw = redis.call('GET', c.key)
    local used = 0
    if raw then
        local v = to_int(raw)
        if v == nil then
            return redis.error_reply('quota_read: ' .. c.key .. ' does not hold an integer')
        end
        if c.kind == 'window' then
            used = v
        elseif v > now then
            used = ceil_div(v - now, c.interval_us)
        end
    end
    out[#out + 1] = used
end
return out
