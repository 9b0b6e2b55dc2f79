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
local MAX_EXACT = 9007199254740991 -- 2^53 - 1
local MAX_SPAN = 4503599627370496 -- 2^52
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

-- The counters named by KEYS and ARGV, or an error reply.
local function parse_counters()
    if #ARGV ~= FIELDS * #KEYS then
        return nil, 'quota_read: want ' .. FIELDS .. ' ARGV per key, got ' .. #ARGV ..
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
        local where = 'quota_read: counter ' .. i .. ': '
        if enforce ~= '0' and enforce ~= '1' then
            return nil, where .. 'enforce must be 0 or 1'
        end
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
