-- quota_charge.lua - check every quota counter, charge them all or none.
--
-- Caller: staffel::adapters::RedisCounterStore::charge() (EVALSHA; the
--   source is compiled into staffeld from this file). Semantics are those
--   of milter/core/quota/store.hpp; this script is their reference.
-- KEYS[i]: counter i (prefix, per-sender hash tag, limit, period). The
--   keys may sit in different hash slots: the target is a single Redis
--   node, not Redis Cluster. A key may appear twice: each occurrence sees
--   the charges of the earlier ones.
-- ARGV: 5 fields per key, ARGV[5*(i-1)+1 .. 5*i] for KEYS[i]:
--   1 kind       "window" or "gcra"
--   2 amount     integer >= 0 (recipients, or 1 for a message)
--   3 enforce    "1" enforcing, "0" shadow (counted, never denies)
--   4,5 window:  limit >= 0, expire_at_ms > 0 (epoch milliseconds)
--       gcra:    interval_us >= 1, burst >= 0
--   Integers are decimal, at most 2^53 - 1 in magnitude (Lua numbers are
--   doubles); burst * interval_us and amount * interval_us <= 2^52.
--   Malformed ARGV: an error reply, nothing read or written.
-- Stored values:
--   window: a string integer, the count. Charging does INCRBY amount and
--     PEXPIREAT expire_at_ms, so the counter vanishes when its period ends.
--   gcra: a string integer, the theoretical arrival time TAT in epoch
--     microseconds of Redis TIME (absent or past = now). Charging stores
--     new_tat with PX = ceil((new_tat - now) / 1000) + 1000 ms of slack,
--     so the key vanishes soon after the TAT is in the past.
-- Decision: window admits when count + amount <= limit. gcra, with
--   tat = max(TAT, now) and new_tat = tat + amount * interval_us, admits
--   when new_tat - now <= burst * interval_us. If every enforcing counter
--   admits, every counter (shadow ones too) is charged; otherwise none is.
-- Returns: an array of integers
--   { admitted (1/0), now_us, then per key: admits (1/0), used, retry_at_us }
--   used: window count, or gcra units in use ceil((tat - now) / interval_us),
--     after this call (charged if admitted, unchanged otherwise).
--   retry_at_us: gcra that did not admit: new_tat - burst * interval_us
--     (when the amount fits), or -1 if amount > burst (it never fits);
--     0 otherwise.
-- Redis: >= 5 (redis.replicate_commands, a no-op in Redis 7, lets TIME be
--   followed by writes on 5.x and 6.x).
-- #include quota_lib.lua

local counters, err = parse_counters('quota_charge', true)
if counters == nil then
    return redis.error_reply(err)
end

-- Pass 1: read each key once, decide each counter against the state the
-- earlier counters of this call would leave (state[key]), write nothing.
local state = {}
local admitted = true
for i, c in ipairs(counters) do
    local s = state[c.key]
    if s == nil then
        local raw = redis.call('GET', c.key)
        local v = 0
        if raw then
            v = to_int(raw)
            if v == nil then
                return redis.error_reply('quota_charge: ' .. c.key .. ' does not hold an integer')
            end
        end
        -- value: as this call has charged so far; stored: as Redis holds it.
        s = { kind = c.kind, value = v, stored = v, present = raw ~= false }
        s.stored_present = s.present
        state[c.key] = s
    elseif s.kind ~= c.kind then
        return redis.error_reply('quota_charge: ' .. c.key .. ' named as window and gcra')
    end
    if c.kind == 'window' then
        c.admits = s.value + c.amount <= c.limit
        c.before = s.stored
        c.after = s.value + c.amount
        c.retry_at = 0
        if c.after > MAX_EXACT then
            return redis.error_reply('quota_charge: ' .. c.key .. ' overflows')
        end
    else
        local tat = now
        if s.present and s.value > now then
            tat = s.value
        end
        c.before = now
        if s.stored_present and s.stored > now then
            c.before = s.stored
        end
        local new_tat = tat + c.amount * c.interval_us
        if new_tat > MAX_EXACT then
            return redis.error_reply('quota_charge: ' .. c.key .. ' TAT overflows')
        end
        local span = c.burst * c.interval_us
        c.admits = new_tat - now <= span
        c.after = new_tat
        c.retry_at = 0
        if not c.admits then
            if c.amount > c.burst then
                c.retry_at = -1
            else
                c.retry_at = new_tat - span
            end
        end
    end
    -- Later occurrences of this key see this charge, as they would if the
    -- message is admitted.
    s.value = c.after
    s.present = true
    if c.enforce and not c.admits then
        admitted = false
    end
end

-- Pass 2: charge every counter, or none.
if admitted then
    for _, c in ipairs(counters) do
        if c.kind == 'window' then
            redis.call('INCRBY', c.key, fmt(c.amount))
            redis.call('PEXPIREAT', c.key, fmt(c.expire_at_ms))
        else
            local ttl_ms = ceil_div(c.after - now, 1000) + GCRA_SLACK_MS
            redis.call('SET', c.key, fmt(c.after), 'PX', fmt(ttl_ms))
        end
    end
end

local out = { admitted and 1 or 0, now }
for _, c in ipairs(counters) do
    local v = admitted and c.after or c.before
    local used = v
    if c.kind == 'gcra' then
        used = ceil_div(v - now, c.interval_us)
    end
    out[#out + 1] = c.admits and 1 or 0
    out[#out + 1] = used
    out[#out + 1] = c.retry_at
end
return out
