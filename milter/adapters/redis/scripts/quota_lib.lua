-- quota_lib.lua - what every quota script shares; not a script of its own.
--
-- Each quota_*.lua has the line "-- #include quota_lib.lua" where this text
-- is put when the scripts are compiled in (milter/CMakeLists.txt), so what
-- Redis runs, and what EVALSHA names, is one self-contained script.
-- Defines: MAX_EXACT, MAX_SPAN, GCRA_SLACK_MS, FIELDS; to_int, floor_div,
--   ceil_div, fmt; parse_counters(script, charging), which checks KEYS and
--   ARGV (5 fields per key, see quota_charge.lua) and returns the counters
--   or nil and an error text naming `script`; and `now`, Redis TIME in
--   epoch microseconds.
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
local function parse_counters(script, charging)
    if #ARGV ~= FIELDS * #KEYS then
        return nil, script .. ': want ' .. FIELDS .. ' ARGV per key, got ' .. #ARGV ..
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
        local where = script .. ': counter ' .. i .. ': '
        if enforce ~= '0' and enforce ~= '1' then
            return nil, where .. 'enforce must be 0 or 1'
        end
        c.enforce = enforce == '1'
        if c.amount == nil or c.amount < 0 then
            return nil, where .. 'amount must be an integer >= 0'
        end
        if c.kind == 'window' then
            if not charging then
                -- limit and expire_at_ms are not used; they need only be integers.
                if c.a == nil or c.b == nil then
                    return nil, where .. 'limit and expire_at_ms must be integers'
                end
            elseif c.a == nil or c.a < 0 then
                return nil, where .. 'limit must be an integer >= 0'
            elseif c.b == nil or c.b <= 0 then
                return nil, where .. 'expire_at_ms must be an integer > 0'
            end
            c.limit, c.expire_at_ms = c.a, c.b
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


local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
