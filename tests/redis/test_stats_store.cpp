// test_stats_store.cpp - RedisStatsStore and stats_flush.lua against a real
// Redis: counts add up across flushes in the hourly and daily hashes with
// their TTLs, values past max_values count as "other" (and say how many),
// events land as one stream entry, a Redis that lost its scripts costs
// nothing, and sum() reads back what was written.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "adapters/redis/stats_store.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using core::stats::CountMap;
using core::stats::Dimension;

CountMap counts(std::initializer_list<std::pair<std::string, std::int64_t>> senders,
                std::string counter = "messages") {
    CountMap m;
    for (const auto& [value, n] : senders) {
        m[{"2026120413", Dimension::Sender, value, counter}] = n;
    }
    return m;
}

long long hget(const test::RedisServer& r, const std::string& key, const std::string& field) {
    const auto reply = r.command({"HGET", key, field});
    return reply.type == REDIS_REPLY_STRING ? std::stoll(reply.str) : 0;
}

}  // namespace

TEST_CASE("flushes add up in the hourly and daily hashes, which expire", "[stats_store]") {
    test::RedisServer redis;
    redis.start();
    adapters::RedisStatsStore store(redis.options());
    const adapters::StatsRetention retention{std::chrono::hours(24), std::chrono::hours(48), 100};
    REQUIRE(store.flush(counts({{"a@x.example", 2}, {"b@x.example", 1}}), "p:", retention));
    REQUIRE(store.flush(counts({{"a@x.example", 3}}), "p:", retention));
    struct Want {
        std::string key, field;
        long long n;
    };
    for (const auto& w :
         std::vector<Want>{{"p:stats:sender:h:2026120413", "a@x.example|messages", 5},
                           {"p:stats:sender:d:20261204", "a@x.example|messages", 5},
                           {"p:stats:sender:d:20261204", "b@x.example|messages", 1}}) {
        INFO(w.key << " " << w.field);
        CHECK(hget(redis, w.key, w.field) == w.n);
    }
    const auto hourly_ttl = redis.command({"TTL", "p:stats:sender:h:2026120413"}).integer;
    const auto daily_ttl = redis.command({"TTL", "p:stats:sender:d:20261204"}).integer;
    CHECK((hourly_ttl > 86000 && hourly_ttl <= 86400));
    CHECK((daily_ttl > 172000 && daily_ttl <= 172800));
    CHECK(redis.command({"SCARD", "p:stats:values:sender:20261204"}).integer == 2);

    const std::vector<std::string> keys{"p:stats:sender:h:2026120413", "p:stats:missing"};
    auto table = store.sum(keys);
    REQUIRE(table);
    CHECK(table->at("a@x.example").at("messages") == 5);
    CHECK(table->at("b@x.example").at("messages") == 1);
}

TEST_CASE("past max_values a new value counts as other, across flushes", "[stats_store]") {
    test::RedisServer redis;
    redis.start();
    adapters::RedisStatsStore store(redis.options());
    const adapters::StatsRetention retention{std::chrono::hours(24), std::chrono::hours(48), 2};
    auto folded = store.flush(counts({{"a", 1}, {"b", 1}}), "p:", retention);
    REQUIRE(folded);
    CHECK(*folded == 0);
    folded = store.flush(counts({{"a", 1}, {"c", 4}, {"d", 2}}), "p:", retention);
    REQUIRE(folded);
    CHECK(*folded == 6);
    const std::string day = "p:stats:sender:d:20261204";
    CHECK(hget(redis, day, "a|messages") == 2);
    CHECK(hget(redis, day, "b|messages") == 1);
    CHECK(hget(redis, day, "other|messages") == 6);
    CHECK(hget(redis, day, "c|messages") == 0);
}

TEST_CASE("events are one stream entry per flush; lost scripts are sent again", "[stats_store]") {
    test::RedisServer redis;
    redis.start();
    adapters::RedisStatsStore store(redis.options());
    const std::vector<std::string> events{R"({"v":1,"type":"a"})", R"({"v":1,"type":"b"})"};
    REQUIRE(store.flush(counts({{"a", 1}}), "p:", {}, events, 1000));
    CHECK(redis.command({"XLEN", "p:events"}).integer == 1);
    CHECK(redis.command({"SCRIPT", "FLUSH"}).type == REDIS_REPLY_STATUS);
    REQUIRE(store.flush(counts({{"a", 1}}), "p:", {}, events, 1000));
    CHECK(hget(redis, "p:stats:sender:d:20261204", "a|messages") == 2);
    CHECK(redis.command({"XLEN", "p:events"}).integer == 2);
}

TEST_CASE("a dead Redis is an error naming it; nothing is half written", "[stats_store]") {
    test::RedisServer redis;
    redis.start();
    adapters::RedisStatsStore store(redis.options());
    redis.kill();
    auto r = store.flush(counts({{"a", 1}}), "p:", {});
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains("Redis at"));
}

}  // namespace staffel
