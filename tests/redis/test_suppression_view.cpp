// test_suppression_view.cpp - ViewedSuppressionStore against a real Redis.
//
// Each case starts its own redis-server and checks the contract of
// adapters/redis/suppression_view.hpp: absent keys answered with no round
// trip, keys in the filter confirmed in Redis, entries written through
// another node's store (put, put_many, a soft-bounce count at its limit)
// seen after one read of the changes stream, a view that lags more than
// max_lag sending every lookup to Redis, rebuilds when the stream lost
// entries (trimmed, deleted) and on the rescan, and the view thread keeping
// the bound on its own.
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/suppression_view.hpp"
#include "core/suppress/suppress.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using adapters::RedisSuppressionStore;
using adapters::SuppressionChanges;
using adapters::SuppressionViewOptions;
using adapters::SuppressionViewStats;
using adapters::ViewedSuppressionStore;
using core::SuppressionEntry;
using core::SuppressReason;
using test::RedisServer;
using namespace std::chrono_literals;

const core::SuppressionKeys kKeys("t:");

SuppressionEntry entry(SuppressReason reason = SuppressReason::HardBounce) {
    SuppressionEntry e;
    e.reason = reason;
    e.added_at = test::now_ms() / 1000;
    e.source = "test";
    return e;
}

std::string key(const std::string& address) {
    return kKeys.entry_key({}, address);
}

long long calls(const RedisServer& redis, const std::string& command) {
    const auto info = redis.command({"INFO", "commandstats"}).str;
    const std::string tag = "cmdstat_" + command + ":calls=";
    const auto at = info.find(tag);
    return at == std::string::npos ? 0 : std::stoll(info.substr(at + tag.size()));
}

SuppressionChanges changes(std::size_t max_length = 100000) {
    return {kKeys.changes_key(), max_length};
}

// A view driven by hand (no thread): sync() is one poll.
SuppressionViewOptions by_hand(SuppressionViewStats& stats,
                               std::chrono::milliseconds max_lag = 60s) {
    SuppressionViewOptions o;
    o.pattern = kKeys.scan_pattern();
    o.poll = 0ms;
    o.max_lag = max_lag;
    o.rescan = 0s;
    o.stats = &stats;
    return o;
}

// Whether the view's lookup of `address` finds an entry (REQUIREs success).
bool listed(ViewedSuppressionStore& view, const std::string& address) {
    const std::vector<std::string> keys{key(address)};
    auto r = view.lookup(keys);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    REQUIRE(r->size() == 1);
    return r->front().has_value();
}

}  // namespace

TEST_CASE("view: recipients on no list cost no round trip; listed ones are confirmed",
          "[suppression_view]") {
    RedisServer redis;
    RedisSuppressionStore writer(redis.options(), changes());
    std::vector<core::KeyedEntry> rows;
    for (int i = 0; i < 2000; ++i) {
        rows.push_back({key("u" + std::to_string(i) + "@example.com"), entry()});
    }
    REQUIRE(writer.put_many(rows).value() == 2000);

    SuppressionViewStats stats;
    ViewedSuppressionStore view(redis.options(), changes(), by_hand(stats));
    CHECK_FALSE(view.fresh());
    // Before the first build: Redis answers (a fallback).
    CHECK(listed(view, "u1@example.com"));
    CHECK(stats.fallback == 1);
    REQUIRE(view.sync().ok());
    CHECK(view.fresh());
    CHECK(stats.rebuilds == 1);
    CHECK(stats.keys == 2000);

    const auto mgets = calls(redis, "mget");
    int absent_found = 0;
    for (int i = 0; i < 1000; ++i) {
        absent_found += listed(view, "nobody" + std::to_string(i) + "@example.net") ? 1 : 0;
    }
    CHECK(absent_found == 0);
    // At most ~1% false positives went to Redis; the rest cost nothing.
    INFO("MGETs for 1000 absent recipients: " << calls(redis, "mget") - mgets);
    CHECK(calls(redis, "mget") - mgets <= 20);
    CHECK(stats.local >= 980);
    CHECK(stats.local + stats.confirmed == 1000);

    // Every listed recipient is found (no false negatives), each confirmed.
    const auto confirmed = stats.confirmed.load();
    for (int i = 0; i < 2000; i += 7) {
        REQUIRE(listed(view, "u" + std::to_string(i) + "@example.com"));
    }
    CHECK(stats.confirmed - confirmed == 286);
}

TEST_CASE("view: entries written through another store are seen after one read",
          "[suppression_view]") {
    RedisServer redis;
    RedisSuppressionStore other(redis.options(), changes());
    SuppressionViewStats stats;
    ViewedSuppressionStore view(redis.options(), changes(), by_hand(stats));
    REQUIRE(view.sync().ok());
    CHECK(redis.command({"XLEN", kKeys.changes_key()}).integer == 1);  // the marker

    REQUIRE(other.put(key("new@example.com"), entry()).ok());
    std::vector<core::KeyedEntry> rows{{key("bulk1@example.com"), entry()},
                                       {key("bulk2@example.com"), entry()}};
    REQUIRE(other.put_many(rows).value() == 2);
    for (int i = 0; i < 2; ++i) {
        auto sb = other.count_soft_bounce(kKeys.soft_bounce_key("soft@example.com"), 3600, 2,
                                          key("soft@example.com"), entry());
        REQUIRE(sb.ok());
        CHECK(sb->suppressed == (i == 1));
    }
    CHECK(redis.command({"XLEN", kKeys.changes_key()}).integer == 5);
    // Not read yet: the view says absent (within its lag, by design).
    CHECK_FALSE(listed(view, "new@example.com"));
    REQUIRE(view.sync().ok());
    for (const char* a :
         {"new@example.com", "bulk1@example.com", "bulk2@example.com", "soft@example.com"}) {
        INFO(a);
        CHECK(listed(view, a));
    }
    CHECK(stats.rebuilds == 1);  // read from the stream, not rebuilt
    // This node's own writes are in its view at once.
    REQUIRE(view.put(key("mine@example.com"), entry()).ok());
    CHECK(listed(view, "mine@example.com"));
}

TEST_CASE("view: a view older than max_lag sends every lookup to Redis", "[suppression_view]") {
    RedisServer redis;
    SuppressionViewStats stats;
    ViewedSuppressionStore view(redis.options(), changes(), by_hand(stats, 100ms));
    REQUIRE(view.sync().ok());
    CHECK(view.fresh());
    // Written behind the view's back (not announced): only Redis knows.
    redis.command({"SET", key("direct@example.com"), core::encode_entry_value(entry())});
    CHECK_FALSE(listed(view, "direct@example.com"));  // fresh: answered locally
    std::this_thread::sleep_for(150ms);
    CHECK_FALSE(view.fresh());
    const auto fallback = stats.fallback.load();
    CHECK(listed(view, "direct@example.com"));
    CHECK(stats.fallback == fallback + 1);

    // Redis dead: the view cannot read; a lookup is a store error, never a
    // silent "not listed".
    redis.kill();
    CHECK_FALSE(view.sync().ok());
    CHECK(stats.failures >= 1);
    const std::vector<std::string> keys{key("anyone@example.com")};
    CHECK_FALSE(view.lookup(keys).ok());
}

TEST_CASE("view: a stream that lost unread entries makes the view rebuild",
          "[suppression_view]") {
    RedisServer redis;
    // A short stream: MAXLEN ~ trims whole nodes of 100 entries.
    RedisSuppressionStore other(redis.options(), changes(10));
    SuppressionViewStats stats;
    ViewedSuppressionStore view(redis.options(), changes(10), by_hand(stats));
    REQUIRE(view.sync().ok());

    std::vector<core::KeyedEntry> rows;
    for (int i = 0; i < 1000; ++i) {
        rows.push_back({key("t" + std::to_string(i) + "@example.com"), entry()});
    }
    REQUIRE(other.put_many(rows).value() == 1000);
    REQUIRE(redis.command({"XLEN", kKeys.changes_key()}).integer < 1000);  // trimmed
    REQUIRE(view.sync().ok());
    CHECK(stats.rebuilds == 2);
    for (int i = 0; i < 1000; i += 37) {
        REQUIRE(listed(view, "t" + std::to_string(i) + "@example.com"));
    }

    // The stream deleted (FLUSHALL, a Redis restart without persistence):
    // rebuilt again, from what Redis now holds.
    redis.command({"FLUSHALL"});
    redis.command({"SET", key("after@example.com"), core::encode_entry_value(entry())});
    REQUIRE(view.sync().ok());
    CHECK(stats.rebuilds == 3);
    CHECK(stats.keys == 1);
    CHECK(listed(view, "after@example.com"));
}

TEST_CASE("view: the rescan picks up entries written around the stream", "[suppression_view]") {
    RedisServer redis;
    SuppressionViewStats stats;
    auto o = by_hand(stats);
    o.rescan = 1s;
    ViewedSuppressionStore view(redis.options(), changes(), o);
    REQUIRE(view.sync().ok());
    redis.command({"SET", key("script@example.com"), core::encode_entry_value(entry())});
    REQUIRE(view.sync().ok());
    CHECK_FALSE(listed(view, "script@example.com"));  // not announced, not yet rescanned
    std::this_thread::sleep_for(1100ms);
    REQUIRE(view.sync().ok());
    CHECK(stats.rebuilds == 2);
    CHECK(listed(view, "script@example.com"));
}

TEST_CASE("view: the view thread enforces a new entry within max_lag", "[suppression_view]") {
    RedisServer redis;
    RedisSuppressionStore other(redis.options(), changes());
    SuppressionViewStats stats;
    SuppressionViewOptions o;
    o.pattern = kKeys.scan_pattern();
    o.poll = 50ms;
    o.max_lag = 1000ms;
    o.stats = &stats;
    ViewedSuppressionStore view(redis.options(), changes(), o);
    (void)listed(view, "warmup@example.com");  // starts the thread
    for (int i = 0; i < 200 && !view.fresh(); ++i) {
        std::this_thread::sleep_for(10ms);
    }
    REQUIRE(view.fresh());
    for (int round = 0; round < 5; ++round) {
        const std::string a = "late" + std::to_string(round) + "@example.com";
        REQUIRE(other.put(key(a), entry()).ok());
        const auto written = std::chrono::steady_clock::now();
        // From here on the view answers "listed" or goes to Redis; "not
        // listed" is allowed only within the lag the view promises.
        while (!listed(view, a)) {
            REQUIRE(std::chrono::steady_clock::now() - written < o.max_lag);
            std::this_thread::sleep_for(5ms);
        }
        const auto took = std::chrono::steady_clock::now() - written;
        INFO("seen after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                           << "ms");
        CHECK(took < 500ms);
    }
    CHECK(stats.rebuilds == 1);
    CHECK(stats.local >= 1);
}

}  // namespace staffel
