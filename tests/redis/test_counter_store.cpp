// test_counter_store.cpp - RedisCounterStore semantics against a real Redis.
//
// Each case starts its own redis-server (redis_server.hpp) and checks the
// contract of core/quota/store.hpp: window and GCRA decisions, all or
// nothing, shadow counters, refund, read, reset, TTLs, script reloading.
#include <hiredis/hiredis.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/counter_store.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using adapters::RedisCounterStore;
using core::CounterCharge;
using test::RedisServer;

CounterCharge window(std::string key, std::int64_t amount, std::int64_t limit,
                     bool enforce = true) {
    CounterCharge c;
    c.kind = CounterCharge::Kind::Window;
    c.key = std::move(key);
    c.amount = amount;
    c.limit = limit;
    c.enforce = enforce;
    c.expire_at_ms = test::now_ms() + 60'000;
    return c;
}

CounterCharge gcra(std::string key, std::int64_t amount, std::int64_t interval_us,
                   std::int64_t burst, bool enforce = true) {
    CounterCharge c;
    c.kind = CounterCharge::Kind::Gcra;
    c.key = std::move(key);
    c.amount = amount;
    c.interval_us = interval_us;
    c.burst = burst;
    c.enforce = enforce;
    return c;
}

core::ChargeOutcome must_charge(RedisCounterStore& store, const std::vector<CounterCharge>& c) {
    auto r = store.charge(c);
    INFO("charge error: " << (r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    return r.value();
}

std::vector<std::int64_t> must_read(RedisCounterStore& store, const std::vector<CounterCharge>& c) {
    auto r = store.read(c);
    INFO("read error: " << (r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    std::vector<std::int64_t> used;
    for (const auto& s : r.value()) {
        used.push_back(s.used);
    }
    return used;
}

}  // namespace

TEST_CASE("window counter admits until its limit then denies", "[counter_store][window]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    struct Step {
        std::int64_t amount;
        bool want_admitted;
        std::int64_t want_used;
    };
    const Step steps[] = {
        {2, true, 2}, {2, true, 4}, {2, false, 4}, {1, true, 5}, {1, false, 5}, {0, true, 5},
    };
    int i = 0;
    for (const auto& step : steps) {
        const auto got = must_charge(store, {window("w:{a}", step.amount, 5)});
        INFO("step " << i++ << " amount " << step.amount);
        CHECK(got.admitted == step.want_admitted);
        REQUIRE(got.counters.size() == 1);
        CHECK(got.counters[0].admits == step.want_admitted);
        CHECK(got.counters[0].used == step.want_used);
        CHECK(got.counters[0].retry_at_us == 0);
        CHECK(got.counters[0].now_us > 0);
    }
    CHECK(must_read(store, {window("w:{a}", 0, 5)}) == std::vector<std::int64_t>{5});
    CHECK(store.errors() == 0);
}

TEST_CASE("charge is all or nothing", "[counter_store]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    REQUIRE(must_charge(store, {window("full", 2, 2)}).admitted);

    const std::vector<CounterCharge> charges{window("roomy", 1, 10), window("full", 1, 2),
                                             gcra("rate", 1, 1'000'000, 5),
                                             window("shadow", 1, 10, false)};
    const auto got = must_charge(store, charges);
    CHECK_FALSE(got.admitted);
    REQUIRE(got.counters.size() == 4);
    const bool want_admits[] = {true, false, true, true};
    const std::int64_t want_used[] = {0, 2, 0, 0};  // nothing was charged
    for (std::size_t i = 0; i < 4; ++i) {
        INFO("counter " << charges[i].key);
        CHECK(got.counters[i].admits == want_admits[i]);
        CHECK(got.counters[i].used == want_used[i]);
    }
    CHECK(must_read(store, charges) == std::vector<std::int64_t>{0, 2, 0, 0});
    CHECK(redis.command({"EXISTS", "roomy", "rate", "shadow"}).integer == 0);

    SECTION("the same key twice sees its own earlier charge") {
        const auto twice = must_charge(store, {window("dup", 2, 3), window("dup", 2, 3)});
        CHECK_FALSE(twice.admitted);
        CHECK(twice.counters[0].admits);
        CHECK_FALSE(twice.counters[1].admits);
        CHECK(must_read(store, {window("dup", 0, 3)}) == std::vector<std::int64_t>{0});
        CHECK(must_charge(store, {window("dup", 1, 3), window("dup", 2, 3)}).admitted);
        CHECK(must_read(store, {window("dup", 0, 3)}) == std::vector<std::int64_t>{3});
    }
}

TEST_CASE("shadow counters are charged beyond their limit without denying",
          "[counter_store][shadow]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    struct Want {
        bool shadow_admits;
        std::int64_t shadow_used;
        std::int64_t gcra_used;
    };
    const Want wants[] = {{true, 1, 1}, {false, 2, 2}, {false, 3, 3}};
    int i = 0;
    for (const auto& want : wants) {
        const auto got =
            must_charge(store, {window("enforced", 1, 3), window("shadow", 1, 1, false),
                                gcra("shadow-rate", 1, 10'000'000, 1, false)});
        INFO("charge " << i++);
        CHECK(got.admitted);
        CHECK(got.counters[1].admits == want.shadow_admits);
        CHECK(got.counters[1].used == want.shadow_used);
        CHECK(got.counters[2].admits == want.shadow_admits);
        CHECK(got.counters[2].used == want.gcra_used);
    }
    // The enforcing counter is full now: nothing is charged, shadow included.
    const auto denied =
        must_charge(store, {window("enforced", 1, 3), window("shadow", 1, 1, false)});
    CHECK_FALSE(denied.admitted);
    CHECK(denied.counters[1].used == 3);
    CHECK(must_read(store, {window("shadow", 0, 1)}) == std::vector<std::int64_t>{3});
}

TEST_CASE("gcra admits a burst then one unit per interval", "[counter_store][gcra]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    // Long enough that a late wake-up of this thread on a loaded machine
    // (hundreds of milliseconds) cannot refill the bucket behind its back.
    constexpr std::int64_t kInterval = 500'000;  // 500 ms
    const auto rate = [&](std::int64_t amount) { return gcra("g:{a}", amount, kInterval, 3); };

    for (std::int64_t want_used = 1; want_used <= 3; ++want_used) {
        const auto got = must_charge(store, {rate(1)});
        INFO("burst unit " << want_used);
        CHECK(got.admitted);
        CHECK(got.counters[0].used == want_used);
        CHECK(got.counters[0].retry_at_us == 0);
    }
    const auto denied = must_charge(store, {rate(1)});
    REQUIRE_FALSE(denied.admitted);
    const auto& s = denied.counters[0];
    CHECK_FALSE(s.admits);
    CHECK(s.used == 3);
    INFO("retry_at_us - now_us = " << s.retry_at_us - s.now_us);
    CHECK(s.retry_at_us > s.now_us);
    CHECK(s.retry_at_us <= s.now_us + kInterval);
    CHECK(std::abs(s.now_us - test::now_us()) < 1'000'000);  // Redis TIME, same host

    std::this_thread::sleep_for(std::chrono::microseconds(s.retry_at_us - s.now_us + 2'000));
    const auto again = must_charge(store, {rate(1)});
    CHECK(again.admitted);
    // 3 unless this thread woke more than an interval late, when the bucket
    // has room for more and the next charge may be admitted too.
    REQUIRE(again.counters[0].used == 3);
    CHECK_FALSE(must_charge(store, {rate(1)}).admitted);

    std::this_thread::sleep_for(std::chrono::microseconds(kInterval + 2'000));
    CHECK(must_charge(store, {rate(1)}).admitted);

    SECTION("an amount above the burst never fits") {
        const auto never = must_charge(store, {gcra("g:{b}", 4, kInterval, 3)});
        CHECK_FALSE(never.admitted);
        CHECK_FALSE(never.counters[0].admits);
        CHECK(never.counters[0].retry_at_us == -1);
        CHECK(never.counters[0].used == 0);
        CHECK(redis.command({"EXISTS", "g:{b}"}).integer == 0);
    }
    SECTION("a multi-unit amount that does not fit yet gets a retry time") {
        CHECK(must_charge(store, {gcra("g:{c}", 2, kInterval, 3)}).admitted);
        const auto wait = must_charge(store, {gcra("g:{c}", 2, kInterval, 3)});
        CHECK_FALSE(wait.admitted);
        // TAT = t0 + 2 intervals; fits when TAT + 2 intervals - now <= 3 intervals,
        // at t0 + 1 interval.
        CHECK(wait.counters[0].retry_at_us > wait.counters[0].now_us);
        CHECK(wait.counters[0].retry_at_us <= wait.counters[0].now_us + kInterval);
    }
}

TEST_CASE("refund restores window and gcra counters", "[counter_store][refund]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    const auto w = [](std::int64_t amount) { return window("w", amount, 10); };
    const auto g = [](std::int64_t amount) { return gcra("g", amount, 10'000'000, 5); };

    REQUIRE(must_charge(store, {w(3), g(2)}).admitted);
    CHECK(must_read(store, {w(0), g(0)}) == std::vector<std::int64_t>{3, 2});

    auto r = store.refund(std::vector<CounterCharge>{w(2), g(1)});
    REQUIRE(r.ok());
    CHECK(r.value());
    CHECK(must_read(store, {w(0), g(0)}) == std::vector<std::int64_t>{1, 1});
    CHECK(redis.command({"PTTL", "w"}).integer > 50'000);  // the window keeps its TTL

    r = store.refund(std::vector<CounterCharge>{w(5), g(1)});  // never below zero
    REQUIRE(r.ok());
    CHECK(r.value());
    CHECK(must_read(store, {w(0), g(0)}) == std::vector<std::int64_t>{0, 0});
    CHECK(redis.command({"EXISTS", "g"}).integer == 0);  // a TAT in the past is deleted

    r = store.refund(std::vector<CounterCharge>{w(1), g(1)});  // nothing left to undo
    REQUIRE(r.ok());
    CHECK_FALSE(r.value());
    CHECK(redis.command({"EXISTS", "g"}).integer == 0);
    CHECK(must_charge(store, {w(10)}).admitted);
}

TEST_CASE("counters expire - window at expire_at_ms and gcra once its TAT passes",
          "[counter_store][ttl]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    auto w = window("w", 1, 10);
    w.expire_at_ms = test::now_ms() + 30'000;
    REQUIRE(must_charge(store, {w, gcra("g", 3, 100'000, 5)}).admitted);

    const auto window_ttl = redis.command({"PTTL", "w"}).integer;
    INFO("window PTTL " << window_ttl);
    CHECK(window_ttl > 29'000);
    CHECK(window_ttl <= 30'000);
    const auto expire_at = redis.command({"PEXPIRETIME", "w"}).integer;
    CHECK(expire_at == w.expire_at_ms);

    // TAT = now + 300 ms, kept 1 s longer.
    const auto gcra_ttl = redis.command({"PTTL", "g"}).integer;
    INFO("gcra PTTL " << gcra_ttl);
    CHECK(gcra_ttl > 1'000);
    CHECK(gcra_ttl <= 1'300);
    const auto tat = std::stoll(redis.command({"GET", "g"}).str);
    CHECK(std::abs(tat - (test::now_us() + 300'000)) < 200'000);

    auto past = window("past", 1, 10);
    past.expire_at_ms = test::now_ms() - 1;
    CHECK(must_charge(store, {past}).admitted);
    CHECK(redis.command({"EXISTS", "past"}).integer == 0);
}

TEST_CASE("read and reset", "[counter_store][read]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    const std::vector<CounterCharge> counters{window("a", 4, 10), gcra("b", 2, 10'000'000, 5),
                                              window("c", 1, 10)};
    CHECK(must_read(store, counters) == std::vector<std::int64_t>{0, 0, 0});
    REQUIRE(must_charge(store, {counters[0], counters[1]}).admitted);
    for (int i = 0; i < 2; ++i) {  // reading changes nothing
        auto got = store.read(counters);
        REQUIRE(got.ok());
        CHECK(got.value()[0].used == 4);
        CHECK(got.value()[1].used == 2);
        CHECK(got.value()[2].used == 0);
        CHECK_FALSE(got.value()[0].admits);
        CHECK(got.value()[1].now_us > 0);
    }
    const std::vector<std::string> keys{"a", "b", "c"};
    auto reset = store.reset(keys);
    REQUIRE(reset.ok());
    CHECK(reset.value() == 2);
    CHECK(must_read(store, counters) == std::vector<std::int64_t>{0, 0, 0});
    CHECK(store.reset(std::vector<std::string>{}).value() == 0);
    CHECK(must_charge(store, {}).admitted);
}

TEST_CASE("malformed counters are refused by the script", "[counter_store]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    struct Case {
        CounterCharge charge;
        std::string want;
    };
    const Case cases[] = {
        {gcra("g", 1, 0, 5), "interval_us must be an integer >= 1"},
        {window("w", -1, 5), "amount must be an integer >= 0"},
        {gcra("g", 1, 1'000'000'000'000, 1'000'000), "must be <= 2^52"},
    };
    std::uint64_t want_errors = 0;
    for (const auto& c : cases) {
        const auto got = store.charge(std::vector<CounterCharge>{c.charge});
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\", want it to contain \"" << c.want << "\"");
        CHECK(got.error().message.find(c.want) != std::string::npos);
        CHECK(got.error().message.find("Redis at unix:") == 0);
        CHECK(store.errors() == ++want_errors);
    }
    redis.command({"SET", "text", "hello"});
    const auto got = store.charge(std::vector<CounterCharge>{window("text", 1, 5)});
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().message.find("does not hold an integer") != std::string::npos);
}

TEST_CASE("scripts are reloaded after NOSCRIPT", "[counter_store][noscript]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    const auto w = window("w", 1, 100);
    // A fresh Redis has no scripts: the first call sends the source.
    REQUIRE(must_charge(store, {w}).admitted);
    CHECK(store.script_loads() == 1);
    REQUIRE(must_charge(store, {w}).admitted);
    CHECK(store.script_loads() == 1);

    REQUIRE(redis.command({"SCRIPT", "FLUSH"}).type == REDIS_REPLY_STATUS);
    const auto after_flush = must_charge(store, {w});
    CHECK(after_flush.admitted);
    CHECK(after_flush.counters[0].used == 3);
    CHECK(store.script_loads() == 2);
    CHECK(must_charge(store, {w}).counters[0].used == 4);
    CHECK(store.script_loads() == 2);

    CHECK(must_read(store, {w}) == std::vector<std::int64_t>{4});  // quota_read.lua: first use
    CHECK(store.script_loads() == 3);
    CHECK(store.errors() == 0);
}

}  // namespace staffel
