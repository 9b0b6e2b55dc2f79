-- stats_flush.lua - add one staffeld's statistics counts to the shared
-- hourly and daily hashes, bounding the values of each dimension per day.
--
-- Caller: staffel::adapters::RedisStatsStore::flush() (EVALSHA, pipelined
--   with the other chunks of the same flush). Counts are those of
--   milter/core/stats/counts.hpp.
-- KEYS: three per group (one group per local hour and dimension):
--   KEYS[3g+1]  hourly hash  PREFIXstats:DIM:h:YYYYMMDDHH
--   KEYS[3g+2]  daily hash   PREFIXstats:DIM:d:YYYYMMDD
--   KEYS[3g+3]  values set   PREFIXstats:values:DIM:YYYYMMDD
--   The keys may sit in different hash slots: the target is a single Redis
--   node, not Redis Cluster.
-- ARGV: hourly_ttl_s, daily_ttl_s, max_values, groups, then per group:
--   entries, then per entry: value, counter, increment (a positive integer).
--   Values hold no '|' (the caller escapes it).
-- Stored: hash field "VALUE|COUNTER" -> integer (HINCRBY) in the hourly
--   and the daily hash. The values set holds the distinct values seen that
--   day; once it has max_values members, a new value is counted as
--   "other" instead. TTLs: the hourly hash hourly_ttl_s, the daily hash and
--   the values set daily_ttl_s, set again at every flush.
-- Returns: the sum of the increments counted as "other" because of
--   max_values. Malformed ARGV: an error reply, nothing written for the
--   group at fault or after it.

local hourly_ttl = tonumber(ARGV[1])
local daily_ttl = tonumber(ARGV[2])
local max_values = tonumber(ARGV[3])
local groups = tonumber(ARGV[4])
if not (hourly_ttl and daily_ttl and max_values and groups) or hourly_ttl < 1 or
    daily_ttl < 1 or groups * 3 ~= #KEYS then
    return redis.error_reply('stats_flush: bad ARGV header')
end

local folded = 0
local a = 5
for g = 0, groups - 1 do
    local hourly, daily, values = KEYS[3 * g + 1], KEYS[3 * g + 2], KEYS[3 * g + 3]
    local entries = tonumber(ARGV[a])
    if entries == nil or a + entries * 3 > #ARGV then
        return redis.error_reply('stats_flush: bad entry count in group ' .. g)
    end
    a = a + 1
    local mapped = {}
    for _ = 1, entries do
        local value, counter, inc = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
        a = a + 3
        if inc == nil or inc < 1 or string.find(value, '|', 1, true) then
            return redis.error_reply('stats_flush: bad entry in group ' .. g)
        end
        local v = mapped[value]
        if v == nil then
            v = value
            if value ~= 'other' and redis.call('SISMEMBER', values, value) == 0 then
                if redis.call('SCARD', values) >= max_values then
                    v = 'other'
                else
                    redis.call('SADD', values, value)
                end
            end
            mapped[value] = v
        end
        if v ~= value then
            folded = folded + inc
        end
        local field = v .. '|' .. counter
        redis.call('HINCRBY', hourly, field, inc)
        redis.call('HINCRBY', daily, field, inc)
    end
    redis.call('EXPIRE', hourly, hourly_ttl)
    redis.call('EXPIRE', daily, daily_ttl)
    redis.call('EXPIRE', values, daily_ttl)
end
return folded
