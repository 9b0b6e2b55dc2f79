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
if redis.replicate_commands then
    redis.replicate_commands()
end

local MAX_EXACT = 9007199254740991 -- 2^53 - 1
local MAX_SPAN = 4503599627370496 -- 2^52
local GCRA_SLACK_MS = 1000
local FIELDS = 5

-- A decimal integer within the exact range of a double, or nil.
local function to_int(s)
    if type(s) ~= 'string' or #s > 17 or not string.find(s, '^%-?%d+$') then
        return nil
    end
    local n = tonumber(s)
    if n == nil or n > MAX_EXACT or n < -MAX_EXACT then
        return nil
    end
    return n
end

-- floor(a / b) and ceil(a / b) for integers a >= 0, b >= 1, exact although
-- the division itself rounds.
local function floor_div(a, b)
    local q = math.floor(a / b)
    while q * b > a do
        q = q - 1
    end
    while (q + 1) * b <= a do
        q = q + 1
    end
    return q
end

local function ceil_div(a, b)
    local q = floor_div(a, b)
    if q * b < a then
        q = q + 1
    end
    return q
end

local function fmt(n)
    return string.format('%d', n)
end

-- The counters named by KEYS and ARGV, or an error reply.
local function parse_counters()
    if #ARGV ~= FIELDS * #KEYS then
        return nil, 'quota_refund: want ' .. FIELDS .. ' ARGV per key, got ' .. #ARGV ..
            ' for ' .. #KEYS .. ' keys'
    end
    local counters = {}
    for i = 1, #KEYS do
        local base = FIELDS * (i - 1)
        local c = {
            key = KEYS[i],
            kind = ARGV[base + 1],
            amount = to_int(ARGV[base + 2]),
            a = to_int(ARGV[base + 4]),
            b = to_int(ARGV[base + 5]),
        }
        local enforce = ARGV[base + 3]
        local where = 'quota_refund: counter ' .. i .. ': '
        if enforce ~= '0' and enforce ~= '1' then
            return nil, where .. 'enforce must be 0 or 1'
        end
        c.enforce = enforce == '1'
        if c.amount == nil or c.amount < 0 then
            return nil, where .. 'amount must be an integer >= 0'
        end
        if c.kind == 'window' then
            -- limit and expire_at_ms are not used here; they need only be integers.
            if c.a == nil or c.b == nil then
                return nil, where .. 'limit and expire_at_ms must be integers'
            end
        elseif c.kind == 'gcra' then
            if c.a == nil or c.a < 1 then
                return nil, where .. 'interval_us must be an integer >= 1'
            end
            if c.b == nil or c.b < 0 then
                return nil, where .. 'burst must be an integer >= 0'
            end
            c.interval_us, c.burst = c.a, c.b
            if c.burst * c.interval_us > MAX_SPAN or c.amount * c.interval_us > MAX_SPAN then
                return nil, where .. 'burst * interval_us and amount * interval_us must be <= 2^52'
            end
        else
            return nil, where .. 'kind must be window or gcra'
        end
        counters[i] = c
    end
    return counters
end

local counters, err = parse_counters()
if counters == nil then
    return redis.error_reply(err)
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])

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
