-- quota_refund.lua - undo an admitted charge of quota counters.
--
-- Caller: staffel::adapters::RedisCounterStore::refund() (EVALSHA; the
--   source is compiled into staffeld from this file), e.g. when a message
--   that was charged at RCPT is rejected later. Semantics are those of
--   milter/core/quota/store.hpp.
-- KEYS[i]: counter i, as given to quota_charge.lua. The keys may sit in
--   different hash slots: the target is a single Redis node, not Redis
--   Cluster.
-- ARGV: 5 fields per key, exactly as for quota_charge.lua:
--   kind ("window"/"gcra"), amount, enforce ("0"/"1", ignored here),
--   then limit, expire_at_ms (window; ignored here) or interval_us, burst
--   (gcra). Malformed ARGV: an error reply, nothing read or written.
-- Effect, per key in order:
--   window: the count drops by amount, never below zero, keeping its TTL
--     (DECRBY). An absent key (already expired) is left absent.
--   gcra: the TAT (epoch microseconds) moves back by amount * interval_us.
--     A TAT that is then not after now (Redis TIME) is deleted; otherwise
--     it is stored with PX = ceil((tat - now) / 1000) + 1000 ms of slack,
--     as quota_charge.lua does. An absent or past TAT is left alone.
-- Returns: an integer, how many of the keys held something to undo (a
--   window count above zero, a gcra TAT after now).
-- Redis: >= 5 (redis.replicate_commands, a no-op in Redis 7, lets TIME be
--   followed by writes on 5.x and 6.x).
-- #include quota_lib.lua

local counters, err = parse_counters('quota_refund', false)
if counters == nil then
    return redis.error_reply(err)
end

-- Check every stored value before the first write, so that a key holding
-- something else fails the call without a partial refund.
local values = {}
for i, c in ipairs(counters) do
    local raw = redis.call('GET', c.key)
    if raw then
        local v = to_int(raw)
        if v == nil then
            return redis.error_reply('quota_refund: ' .. c.key .. ' does not hold an integer')
        end
        values[i] = v
    end
end

local undone = 0
local seen = {} -- key -> its value after this call's refunds so far (false: absent)
for i, c in ipairs(counters) do
    local v = seen[c.key]
    if v == nil then
        v = values[i] or false
    end
    if v and c.kind == 'window' then
        if v > 0 then
            local drop = math.min(v, c.amount)
            if drop > 0 then
                redis.call('DECRBY', c.key, fmt(drop))
            end
            v = v - drop
            undone = undone + 1
        end
    elseif v and v > now then
        v = v - c.amount * c.interval_us
        if v > now then
            local ttl_ms = ceil_div(v - now, 1000) + GCRA_SLACK_MS
            redis.call('SET', c.key, fmt(v), 'PX', fmt(ttl_ms))
        else
            redis.call('DEL', c.key)
            v = false
        end
        undone = undone + 1
    end
    seen[c.key] = v
end
return undone
