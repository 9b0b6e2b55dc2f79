-- suppress_soft_bounce.lua - count one soft bounce of an address; at the
-- limit, store its suppression entry and forget the count.
--
-- Caller: staffel::adapters::RedisSuppressionStore::count_soft_bounce()
--   (EVALSHA; the source is compiled into the binaries from this file), for
--   `staffelctl ingest`. Semantics are those of
--   milter/core/suppress/store.hpp; this script is their reference.
-- KEYS[1]: the soft-bounce counter, PREFIX "sb:" ADDRESS
--   (core/suppress/suppress.hpp).
-- KEYS[2]: the entry key, PREFIX "s:" SCOPE ":" ADDRESS. The keys may
--   sit in different hash slots: the target is a single Redis node, not
--   Redis Cluster.
-- KEYS[3] (optional): the changes stream, PREFIX "suppress:changes", where
--   a stored entry is announced to every node's local view
--   (adapters/redis/suppression_view): XADD KEYS[3] MAXLEN ~ ARGV[5] * k
--   KEYS[2], in this script, so the entry and its announcement are one step.
-- ARGV:
--   1 window_seconds  integer >= 1: the counter's TTL, set when it is
--                     created (EXPIRE ... NX): the window runs from the
--                     first soft bounce, later ones do not extend it
--   2 limit           integer >= 1: the count that suppresses
--   3 value           the entry's value, "1|REASON|STREAMS|ADDED|EXPIRES|SOURCE"
--                     (core::encode_entry_value); stored as given
--   4 expires_at      integer >= 0, epoch seconds; 0 = the entry never
--                     expires, else it is stored with EXAT expires_at (the
--                     caller makes sure it lies in the future)
--   5 max_length      with KEYS[3] only: integer >= 1, the stream's
--                     approximate cap
--   Malformed ARGV: an error reply, nothing read or written.
-- Stored values: the counter is a string integer (INCR). When INCR reaches
--   `limit`, the entry is SET (replacing any entry under KEYS[2]) and the
--   counter is deleted, so the next soft bounce starts a new window. A
--   counter that does not hold an integer is an error reply (from INCR).
-- Returns: an array of two integers { count, suppressed (1/0) }
--   count: soft bounces counted in the window, this one included.
-- Redis: >= 7.0 (EXPIRE NX).

local MAX_EXACT = 9007199254740991 -- 2^53 - 1

local function to_int(s)
    if type(s) ~= 'string' or #s > 17 or not string.find(s, '^%d+$') then
        return nil
    end
    local n = tonumber(s)
    if n == nil or n > MAX_EXACT then
        return nil
    end
    return n
end

if not ((#KEYS == 2 and #ARGV == 4) or (#KEYS == 3 and #ARGV == 5)) then
    return redis.error_reply('suppress_soft_bounce: expected 2 keys and 4 arguments, or 3 and 5')
end
local max_length = nil
if #KEYS == 3 then
    max_length = to_int(ARGV[5])
    if max_length == nil or max_length < 1 then
        return redis.error_reply('suppress_soft_bounce: max_length must be an integer >= 1')
    end
end
local window = to_int(ARGV[1])
local limit = to_int(ARGV[2])
local value = ARGV[3]
local expires_at = to_int(ARGV[4])
if window == nil or window < 1 then
    return redis.error_reply('suppress_soft_bounce: window_seconds must be an integer >= 1')
end
if limit == nil or limit < 1 then
    return redis.error_reply('suppress_soft_bounce: limit must be an integer >= 1')
end
if expires_at == nil then
    return redis.error_reply('suppress_soft_bounce: expires_at must be an integer >= 0')
end
if value == '' then
    return redis.error_reply('suppress_soft_bounce: the entry value is empty')
end

local count = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], window, 'NX')
if count < limit then
    return { count, 0 }
end
if expires_at > 0 then
    redis.call('SET', KEYS[2], value, 'EXAT', expires_at)
else
    redis.call('SET', KEYS[2], value)
end
redis.call('DEL', KEYS[1])
if max_length ~= nil then
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', max_length, '*', 'k', KEYS[2])
end
return { count, 1 }
