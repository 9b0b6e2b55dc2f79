// test_suppression_store.cpp - RedisSuppressionStore against a real Redis.
//
// Each case starts its own redis-server (redis_server.hpp) and checks the
// contract of core/suppress/store.hpp and adapters/redis/suppression_store.hpp:
// one MGET for many keys, expiry (the key's TTL and the clock), put and
// remove, soft-bounce counting to the limit (scripts/suppress_soft_bounce.lua),
// pipelined bulk writes, SCAN, and values that do not decode.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/suppression_store.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using adapters::RedisSuppressionStore;
using core::SuppressionEntry;
using core::SuppressReason;
using test::RedisServer;

std::int64_t now_s() {
    return test::now_ms() / 1000;
}

SuppressionEntry entry(SuppressReason reason, std::vector<std::string> streams = {},
                       std::int64_t expires_at = 0, std::string source = "test") {
    SuppressionEntry e;
    e.reason = reason;
    e.streams = std::move(streams);
    e.added_at = now_s();
    e.expires_at = expires_at;
    e.source = std::move(source);
    return e;
}

// Calls of one command since the server started (INFO commandstats).
long long calls(const RedisServer& redis, const std::string& command) {
    const auto info = redis.command({"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
}

std::string str(const RedisServer& redis, const std::string& key) {
    return redis.command({"GET", key}).str;
}

}  // namespace

TEST_CASE("lookup reads many keys in one round trip, in order", "[suppression_store]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    const auto hard = entry(SuppressReason::HardBounce);
    const auto unsub = entry(SuppressReason::Unsubscribe, {"bulk", "news"});
    REQUIRE(store.put("t:s:*:a@example.org", hard).ok());
    REQUIRE(store.put("t:s:example.com:b@example.org", unsub).ok());
    const auto before = calls(redis, "mget");

    const std::vector<std::string> keys{"t:s:*:b@example.org", "t:s:*:a@example.org",
                                        "t:s:example.com:b@example.org", "t:s:*:nobody@x.org"};
    auto got = store.lookup(keys);
    INFO((got ? std::string() : got.error().message));
    REQUIRE(got.ok());
    CHECK(calls(redis, "mget") == before + 1);
    REQUIRE(got->size() == 4);
    CHECK_FALSE((*got)[0].has_value());
    REQUIRE((*got)[1].has_value());
    CHECK(*(*got)[1] == hard);  // address and scope stay empty: they are the key's
    REQUIRE((*got)[2].has_value());
    CHECK(*(*got)[2] == unsub);
    CHECK_FALSE((*got)[3].has_value());

    auto none = store.lookup({});
    REQUIRE(none.ok());
    CHECK(none->empty());
    CHECK(store.errors() == 0);
}

TEST_CASE("put replaces, remove says whether the entry existed", "[suppression_store]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    const std::string key = "t:s:*:a@example.org";
    struct Step {
        const char* what;
        bool put;  // else remove
        bool want;
    };
    const Step steps[] = {
        {"first put", true, false},     {"second put", true, true},        {"remove", false, true},
        {"remove again", false, false}, {"put after remove", true, false},
    };
    for (const auto& s : steps) {
        INFO(s.what);
        auto got = s.put ? store.put(key, entry(SuppressReason::Manual)) : store.remove(key);
        REQUIRE(got.ok());
        CHECK(*got == s.want);
    }
    CHECK(str(redis, key).rfind("1|manual|*|", 0) == 0);
}

TEST_CASE("an expiring entry carries its TTL and is absent once past", "[suppression_store]") {
    RedisServer redis;
    std::int64_t clock = now_s();
    RedisSuppressionStore store(redis.options(), {}, [&] { return clock; });
    const std::string key = "t:s:*:a@example.org";
    const auto expires = clock + 100;
    REQUIRE(store.put(key, entry(SuppressReason::Complaint, {}, expires)).ok());
    CHECK(redis.command({"EXPIRETIME", key}).integer == expires);
    const std::string never = "t:s:*:b@example.org";
    REQUIRE(store.put(never, entry(SuppressReason::Complaint)).ok());
    CHECK(redis.command({"TTL", never}).integer == -1);

    // Redis still holds it, but by the store's clock it has expired.
    clock = expires;
    auto got = store.lookup(std::vector<std::string>{key, never});
    REQUIRE(got.ok());
    CHECK_FALSE((*got)[0].has_value());
    CHECK((*got)[1].has_value());
    CHECK(redis.command({"EXISTS", key}).integer == 1);
    std::size_t seen = 0;
    REQUIRE(store.scan("t:s:*", [&](std::string_view, const auto&) { ++seen; }).ok());
    CHECK(seen == 1);

    // An entry that has expired already is refused, not written.
    auto refused = store.put("t:s:*:c@example.org", entry(SuppressReason::Manual, {}, clock - 1));
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("expired"));
    CHECK(redis.command({"EXISTS", "t:s:*:c@example.org"}).integer == 0);
}

TEST_CASE("soft bounces are counted in a window, and suppress at the limit",
          "[suppression_store][soft_bounce]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    const std::string counter = "t:sb:a@example.org";
    const std::string key = "t:s:*:a@example.org";
    const auto expires = now_s() + 3600;
    const auto e = entry(SuppressReason::HardBounce, {}, expires, "soft-bounces");
    struct Step {
        std::int64_t want_count;
        bool want_suppressed;
    };
    // limit 3; after suppressing, counting starts again.
    const Step steps[] = {{1, false}, {2, false}, {3, true}, {1, false}};
    int i = 0;
    for (const auto& s : steps) {
        INFO("soft bounce " << ++i);
        auto got = store.count_soft_bounce(counter, 60, 3, key, e);
        INFO((got ? std::string() : got.error().message));
        REQUIRE(got.ok());
        CHECK(got->count == s.want_count);
        CHECK(got->suppressed == s.want_suppressed);
        if (i == 1) {
            const auto ttl = redis.command({"TTL", counter}).integer;
            CHECK((ttl > 55 && ttl <= 60));
            REQUIRE(redis.command({"EXPIRE", counter, "30"}).integer == 1);
        }
        if (i == 2) {
            // Later bounces do not extend the window (EXPIRE NX).
            CHECK(redis.command({"TTL", counter}).integer <= 30);
        }
        if (s.want_suppressed) {
            CHECK(redis.command({"EXISTS", counter}).integer == 0);
            CHECK(redis.command({"EXPIRETIME", key}).integer == expires);
            auto stored = store.lookup(std::vector<std::string>{key});
            REQUIRE(stored.ok());
            REQUIRE((*stored)[0].has_value());
            CHECK(*(*stored)[0] == e);
        }
    }

    // A limit of 1 suppresses at once; an entry that never expires has no TTL.
    auto once = store.count_soft_bounce("t:sb:b@example.org", 60, 1, "t:s:*:b@example.org",
                                        entry(SuppressReason::HardBounce));
    REQUIRE(once.ok());
    CHECK(once->suppressed);
    CHECK(redis.command({"TTL", "t:s:*:b@example.org"}).integer == -1);

    // The first call found no script (a new Redis) and sent the source;
    // after SCRIPT FLUSH it is sent once more.
    CHECK(store.script_loads() == 1);
    REQUIRE(redis.command({"SCRIPT", "FLUSH"}).type == REDIS_REPLY_STATUS);
    REQUIRE(store.count_soft_bounce("t:sb:c@example.org", 60, 5, "t:s:*:c@example.org", e).ok());
    REQUIRE(store.count_soft_bounce("t:sb:c@example.org", 60, 5, "t:s:*:c@example.org", e).ok());
    CHECK(store.script_loads() == 2);

    // A counter that is not an integer is an error reply, counted.
    REQUIRE(redis.command({"SET", "t:sb:d@example.org", "x"}).type == REDIS_REPLY_STATUS);
    auto bad = store.count_soft_bounce("t:sb:d@example.org", 60, 5, "t:s:*:d@example.org", e);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("suppress_soft_bounce.lua"));
    CHECK(store.errors() == 1);
    auto expired = store.count_soft_bounce(counter, 60, 1, key,
                                           entry(SuppressReason::HardBounce, {}, now_s() - 5));
    CHECK_FALSE(expired.ok());
}

TEST_CASE("put_many writes 10000 rows pipelined, and counts them", "[suppression_store][bulk]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    std::vector<core::KeyedEntry> rows;
    for (int i = 0; i < 10000; ++i) {
        const bool expiring = i % 3 == 0;
        rows.push_back(
            {"t:s:*:user" + std::to_string(i) + "@example.org",
             entry(i % 2 == 0 ? SuppressReason::HardBounce : SuppressReason::Unsubscribe,
                   i % 2 == 0 ? std::vector<std::string>{} : std::vector<std::string>{"bulk"},
                   expiring ? now_s() + 3600 + i : 0)});
    }
    const auto set_before = calls(redis, "set");
    auto written = store.put_many(rows);
    INFO((written ? std::string() : written.error().message));
    REQUIRE(written.ok());
    CHECK(*written == 10000);
    CHECK(calls(redis, "set") == set_before + 10000);
    CHECK(redis.command({"DBSIZE"}).integer == 10000);
    CHECK(redis.command({"EXPIRETIME", rows[9999].key}).integer == rows[9999].entry.expires_at);
    CHECK(redis.command({"TTL", rows[1].key}).integer == -1);
    auto back = store.lookup(std::vector<std::string>{rows[0].key, rows[7777].key});
    REQUIRE(back.ok());
    CHECK(*(*back)[0] == rows[0].entry);
    CHECK(*(*back)[1] == rows[7777].entry);

    // Expired rows are skipped, not counted.
    std::vector<core::KeyedEntry> some{
        {"t:s:*:x@example.org", entry(SuppressReason::Manual, {}, now_s() - 1)},
        {"t:s:*:y@example.org", entry(SuppressReason::Manual)}};
    auto n = store.put_many(some);
    REQUIRE(n.ok());
    CHECK(*n == 1);
    CHECK(redis.command({"EXISTS", "t:s:*:x@example.org"}).integer == 0);
    auto empty = store.put_many({});
    REQUIRE(empty.ok());
    CHECK(*empty == 0);
}

TEST_CASE("put_many goes on past rows Redis refuses", "[suppression_store][bulk]") {
    RedisServer redis;
    // A user that may write t:s:* keys only: other keys get -NOPERM.
    REQUIRE(redis.command({"ACL", "SETUSER", "writer", "on", ">secret", "~t:s:*", "+@all"}).type ==
            REDIS_REPLY_STATUS);
    auto options = redis.options();
    options.username = "writer";
    options.password = "secret";
    RedisSuppressionStore store(options);
    std::vector<core::KeyedEntry> rows;
    for (int i = 0; i < 2500; ++i) {
        const std::string space = i % 500 == 7 ? "other:" : "t:s:*:";
        rows.push_back({space + std::to_string(i) + "@example.org", entry(SuppressReason::Manual)});
    }
    auto written = store.put_many(rows);
    INFO((written ? std::string() : written.error().message));
    REQUIRE(written.ok());
    CHECK(*written == 2500 - 5);
    CHECK(redis.command({"DBSIZE"}).integer == 2500 - 5);
    CHECK(store.errors() == 5);
    // The connection is still in step: the next call works.
    auto got = store.lookup(std::vector<std::string>{rows.back().key});
    REQUIRE(got.ok());
    CHECK((*got)[0].has_value());
}

TEST_CASE("scan visits every matching entry once, in batches", "[suppression_store][scan]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    std::vector<core::KeyedEntry> rows;
    for (int i = 0; i < 2500; ++i) {
        rows.push_back({"t:s:" + std::string(i % 5 == 0 ? "example.com" : "*") + ":u" +
                            std::to_string(i) + "@example.org",
                        entry(SuppressReason::Complaint, {}, 0, "row" + std::to_string(i))});
    }
    REQUIRE(*store.put_many(rows) == rows.size());
    // Keys the pattern must not match: another prefix, soft-bounce counters.
    REQUIRE(redis.command({"SET", "u:s:*:a@example.org", "1|manual|*|0|0|x"}).type ==
            REDIS_REPLY_STATUS);
    REQUIRE(redis.command({"SET", "t:sb:a@example.org", "3"}).type == REDIS_REPLY_STATUS);

    std::map<std::string, std::string> seen;  // key -> source
    std::size_t visits = 0;
    auto n =
        store.scan("t:s:*", [&](std::string_view key, const core::Result<SuppressionEntry>& e) {
            ++visits;
            REQUIRE(e.ok());
            seen.emplace(std::string(key), e->source);
        });
    REQUIRE(n.ok());
    CHECK(*n == visits);
    CHECK(visits == rows.size());
    REQUIRE(seen.size() == rows.size());
    for (const auto& r : rows) {
        CHECK(seen[r.key] == r.entry.source);
    }

    // A narrower pattern: one scope.
    std::size_t scoped = 0;
    REQUIRE(store.scan("t:s:example.com:*", [&](std::string_view, const auto&) { ++scoped; }).ok());
    CHECK(scoped == 500);
}

TEST_CASE("a stored value that does not decode is an error, named by its key",
          "[suppression_store][corrupt]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    REQUIRE(store.put("t:s:*:good@example.org", entry(SuppressReason::Manual)).ok());
    struct Case {
        const char* value;
        const char* want;
    };
    const Case cases[] = {
        {"garbage", "too few fields"},
        {"2|manual|*|0|0|x", "unknown format version"},
        {"1|bounced|*|0|0|x", "unknown reason"},
        {"1|manual|*|yesterday|0|x", "malformed time"},
    };
    std::uint64_t errors = 0;
    for (const auto& c : cases) {
        INFO("value " << c.value);
        REQUIRE(redis.command({"SET", "t:s:*:bad@example.org", c.value}).type ==
                REDIS_REPLY_STATUS);
        auto got = store.lookup(
            std::vector<std::string>{"t:s:*:good@example.org", "t:s:*:bad@example.org"});
        REQUIRE_FALSE(got.ok());
        CHECK_THAT(got.error().message,
                   Catch::Contains("t:s:*:bad@example.org") && Catch::Contains(c.want));
        CHECK(store.errors() == ++errors);

        std::set<std::string> good;
        std::set<std::string> bad;
        auto n = store.scan("t:s:*", [&](std::string_view key, const auto& e) {
            (e.ok() ? good : bad).insert(std::string(key));
        });
        REQUIRE(n.ok());
        CHECK(*n == 2);
        CHECK(good == std::set<std::string>{"t:s:*:good@example.org"});
        CHECK(bad == std::set<std::string>{"t:s:*:bad@example.org"});
    }
    // A key of another type is not an entry: MGET answers nil for it.
    REQUIRE(redis.command({"DEL", "t:s:*:bad@example.org"}).integer == 1);
    REQUIRE(redis.command({"HSET", "t:s:*:hash@example.org", "f", "v"}).integer == 1);
    auto got = store.lookup(std::vector<std::string>{"t:s:*:hash@example.org"});
    REQUIRE(got.ok());
    CHECK_FALSE((*got)[0].has_value());
}

TEST_CASE("an unreachable Redis is an error on every call, counted", "[suppression_store][down]") {
    RedisServer redis;
    RedisSuppressionStore store(redis.options());
    redis.kill();
    const std::vector<std::string> keys{"t:s:*:a@example.org"};
    const std::vector<core::KeyedEntry> rows{
        {"t:s:*:a@example.org", entry(SuppressReason::Manual)}};
    CHECK_FALSE(store.lookup(keys).ok());
    CHECK_FALSE(store.put(keys[0], entry(SuppressReason::Manual)).ok());
    CHECK_FALSE(store.remove(keys[0]).ok());
    CHECK_FALSE(store.put_many(rows).ok());
    CHECK_FALSE(store.scan("t:s:*", [](std::string_view, const auto&) {}).ok());
    auto sb = store.count_soft_bounce("t:sb:a", 60, 3, keys[0], entry(SuppressReason::Manual));
    REQUIRE_FALSE(sb.ok());
    CHECK_THAT(sb.error().message, Catch::Contains("Redis at"));
    CHECK(store.errors() == 6);

    redis.start();
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // past the pool's backoff
    CHECK(store.put(keys[0], entry(SuppressReason::Manual)).ok());
}

}  // namespace staffel
