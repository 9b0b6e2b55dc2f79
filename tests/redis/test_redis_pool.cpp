// test_redis_pool.cpp - the Redis connection pool under failure: AUTH,
// a killed, restarted and hung redis-server, a full pool, and concurrency.
//
// Every case starts its own redis-server (redis_server.hpp).
#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <csignal>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/counter_store.hpp"
#include "adapters/redis/round_trips.hpp"
#include "core/log.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using adapters::RedisCounterStore;
using adapters::RedisPool;
using core::CounterCharge;
using test::RedisServer;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::vector<CounterCharge> one_window(std::int64_t limit = 1'000'000) {
    CounterCharge c;
    c.kind = CounterCharge::Kind::Window;
    c.key = "w:{pool}";
    c.amount = 1;
    c.limit = limit;
    c.expire_at_ms = test::now_ms() + 60'000;
    return {c};
}

milliseconds since(Clock::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(Clock::now() - t0);
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("AUTH - required and given or missing or wrong", "[pool][auth]") {
    const std::string secret = "s3cret-Pa55word";
    RedisServer redis(RedisServer::Config{.tcp = false, .password = secret});

    SECTION("the right password, with or without the default user") {
        auto options = redis.options();
        SECTION("password only") {}
        SECTION("username and password") {
            options.username = "default";
        }
        RedisCounterStore store(options);
        const auto got = store.charge(one_window());
        INFO((got ? std::string() : got.error().message));
        REQUIRE(got.ok());
        CHECK(got.value().admitted);
    }
    SECTION("a wrong password is a clear error that does not show it") {
        const std::string wrong = "not-the-" + secret;
        auto options = redis.options();
        options.password = wrong;
        RedisCounterStore store(options);
        const auto got = store.charge(one_window());
        REQUIRE_FALSE(got.ok());
        const auto& message = got.error().message;
        INFO("got \"" << message << "\"");
        CHECK(message.find("Redis at unix:") == 0);
        CHECK(contains(message, "authentication failed"));
        CHECK(contains(message, "WRONGPASS"));
        CHECK_FALSE(contains(message, wrong));
        CHECK_FALSE(contains(message, secret));
        CHECK(store.errors() == 1);
    }
    SECTION("no password: Redis says NOAUTH") {
        auto options = redis.options();
        options.password.clear();
        RedisCounterStore store(options);
        const auto got = store.charge(one_window());
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\"");
        CHECK(contains(got.error().message, "NOAUTH"));
    }
}

TEST_CASE("a killed Redis fails fast and a restarted one is used again", "[pool][outage]") {
    const bool tcp = GENERATE(false, true);
    RedisServer redis(RedisServer::Config{.tcp = tcp, .password = ""});
    RedisCounterStore store(redis.options());
    INFO("address " << redis.address().to_string());
    REQUIRE(store.charge(one_window()).ok());

    redis.kill();
    const auto first = store.charge(one_window());
    REQUIRE_FALSE(first.ok());
    INFO("first error \"" << first.error().message << "\"");
    CHECK(first.error().message.find("Redis at " + redis.address().to_string() + ": ") == 0);
    CHECK(contains(first.error().message, "connection refused"));

    // The backoff is in force: every further attempt fails at once.
    milliseconds slowest{0};
    for (int i = 0; i < 50; ++i) {
        const auto t0 = Clock::now();
        const auto got = store.charge(one_window());
        slowest = std::max(slowest, since(t0));
        REQUIRE_FALSE(got.ok());
        std::this_thread::sleep_for(milliseconds(5));
    }
    INFO("slowest failing charge " << slowest.count() << "ms");
    CHECK(slowest < milliseconds(100));
    CHECK(store.errors() == 51);

    redis.start();
    const auto restarted = Clock::now();
    bool ok = false;
    while (!ok && since(restarted) < milliseconds(3000)) {
        ok = store.charge(one_window()).ok();
        if (!ok) {
            std::this_thread::sleep_for(milliseconds(10));
        }
    }
    const auto took = since(restarted);
    INFO("charged again " << took.count() << "ms after the restart");
    CHECK(ok);
    CHECK(took < milliseconds(2000));
}

TEST_CASE("an idle connection the server closed is replaced unnoticed", "[pool]") {
    RedisServer redis;
    RedisCounterStore store(redis.options());
    REQUIRE(store.charge(one_window()).ok());
    const auto killed = redis.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
    CHECK(killed.integer == 1);
    const auto got = store.charge(one_window());
    INFO((got ? std::string() : got.error().message));
    CHECK(got.ok());
    CHECK(store.errors() == 0);
}

TEST_CASE("a hung Redis is an error after the command timeout", "[pool][timeout]") {
    RedisServer redis;
    auto options = redis.options();
    options.command_timeout = milliseconds(300);
    RedisCounterStore store(options);
    REQUIRE(store.charge(one_window()).ok());

    redis.signal(SIGSTOP);
    const auto t0 = Clock::now();
    const auto got = store.charge(one_window());
    const auto took = since(t0);
    redis.signal(SIGCONT);
    REQUIRE_FALSE(got.ok());
    INFO("got \"" << got.error().message << "\" after " << took.count() << "ms");
    CHECK(contains(got.error().message, "timed out after 300ms"));
    CHECK(took >= milliseconds(250));
    CHECK(took < milliseconds(1000));

    const auto after = store.charge(one_window());
    INFO((after ? std::string() : after.error().message));
    CHECK(after.ok());
}

TEST_CASE("round trips are counted and timed: commands, a pipelined batch, a timeout",
          "[pool][metrics]") {
    RedisServer redis;
    auto options = redis.options();
    options.command_timeout = milliseconds(300);
    RedisPool pool(options);
    const auto before = adapters::redis_round_trips().snapshot();
    const std::vector<std::string> ping{"PING"};
    REQUIRE(pool.command(ping).ok());
    REQUIRE(pool.command(std::vector<std::string>{"NOSUCHCOMMAND"}).ok());  // an error reply
    {
        auto lease = pool.acquire();
        REQUIRE(lease.ok());
        for (int i = 0; i < 3; ++i) {
            lease.value().append(ping);
        }
        for (int i = 0; i < 3; ++i) {
            REQUIRE(lease.value().reply().ok());
        }
    }
    const auto ok = adapters::redis_round_trips().snapshot();
    CHECK(ok.count - before.count == 3);
    CHECK(ok.errors - before.errors == 0);

    redis.signal(SIGSTOP);
    const auto hung = pool.command(ping);
    redis.signal(SIGCONT);
    REQUIRE_FALSE(hung.ok());
    const auto after = adapters::redis_round_trips().snapshot();
    CHECK(after.count - ok.count == 1);
    CHECK(after.errors - ok.errors == 1);
    CHECK(after.sum_us - ok.sum_us >= 250'000);
    // 300 ms lands in the bucket up to 500 ms.
    const auto& bounds = adapters::RedisRoundTrips::kBoundsUs;
    const auto at =
        static_cast<std::size_t>(std::find(bounds.begin(), bounds.end(), 500'000) - bounds.begin());
    CHECK(after.buckets[at] - ok.buckets[at] == 1);
}

TEST_CASE("a full pool makes callers wait at most the command timeout", "[pool]") {
    RedisServer redis;
    auto options = redis.options();
    options.pool_size = 1;
    options.command_timeout = milliseconds(200);
    RedisPool pool(options);
    auto lease = pool.acquire();
    REQUIRE(lease.ok());

    auto t0 = Clock::now();
    auto blocked = pool.acquire();
    const auto took = since(t0);
    REQUIRE_FALSE(blocked.ok());
    INFO("got \"" << blocked.error().message << "\" after " << took.count() << "ms");
    CHECK(contains(blocked.error().message, "no connection free within 200ms"));
    CHECK(took >= milliseconds(150));
    CHECK(took < milliseconds(1000));

    std::thread releaser([&] {
        std::this_thread::sleep_for(milliseconds(50));
        auto done = std::move(lease).value();  // returned when `done` goes out of scope
    });
    t0 = Clock::now();
    auto waited = pool.acquire();
    releaser.join();
    CHECK(waited.ok());
    CHECK(since(t0) < milliseconds(200));
    CHECK(pool.connections() == 1);
    const std::vector<std::string> ping{"PING"};
    REQUIRE(waited.ok());
    CHECK(waited.value().command(ping).ok());
}

TEST_CASE("concurrent charges never over-admit", "[pool][concurrency]") {
    RedisServer redis;
    auto options = redis.options();
    options.pool_size = 4;  // fewer connections than threads: some wait
    RedisCounterStore store(options);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 100;
    constexpr std::int64_t kLimit = 500;
    std::atomic<int> admitted{0};
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < kPerThread; ++i) {
                const auto got = store.charge(one_window(kLimit));
                if (!got.ok()) {
                    ++failed;
                } else if (got.value().admitted) {
                    ++admitted;
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(failed.load() == 0);
    CHECK(admitted.load() == kLimit);
    const auto used = store.read(one_window(kLimit));
    REQUIRE(used.ok());
    CHECK(used.value()[0].used == kLimit);
    CHECK(store.pool().connections() <= 4);
}

}  // namespace staffel

namespace staffel {
namespace {

// Records what the breaker logs (redis_round_trips().set_log()).
class RecordingLog final : public core::Logger {
  public:
    void log(core::LogLevel level, std::string_view message) override {
        const std::lock_guard lock(mu_);
        lines_.push_back(std::string(core::to_string(level)) + ": " + std::string(message));
    }
    [[nodiscard]] bool enabled(core::LogLevel /*level*/) const override { return true; }
    std::vector<std::string> lines() const {
        const std::lock_guard lock(mu_);
        return lines_;
    }

  private:
    mutable std::mutex mu_;
    std::vector<std::string> lines_;
};

bool any_line(const std::vector<std::string>& lines, const std::string& a, const std::string& b) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return contains(l, a) && contains(l, b); });
}

}  // namespace

TEST_CASE("a hung Redis opens the circuit breaker: fail fast, probe, close within a second",
          "[pool][timeout][breaker]") {
    RedisServer redis;
    auto options = redis.options();
    options.command_timeout = milliseconds(200);
    options.breaker_timeouts = 3;
    options.breaker_probe_interval = milliseconds(100);
    options.name = "test pool";
    RecordingLog log;
    adapters::redis_round_trips().set_log(&log);
    const std::vector<std::string> ping{"PING"};
    {
        RedisPool pool(options);
        REQUIRE(pool.command(ping).ok());
        const auto before = adapters::redis_round_trips().snapshot();

        redis.signal(SIGSTOP);
        for (int i = 0; i < 3; ++i) {
            CHECK_FALSE(pool.breaker_open());
            const auto t0 = Clock::now();
            const auto got = pool.command(ping);
            REQUIRE_FALSE(got.ok());
            CHECK(contains(got.error().message, "timed out after 200ms"));
            CHECK(since(t0) >= milliseconds(150));
        }
        CHECK(pool.breaker_open());
        // Open: every call fails at once, and keeps doing so while probes get
        // no answer.
        for (int i = 0; i < 20; ++i) {
            const auto t0 = Clock::now();
            const auto got = pool.command(ping);
            const auto took = since(t0);
            REQUIRE_FALSE(got.ok());
            INFO("got \"" << got.error().message << "\" after " << took.count() << "ms");
            CHECK(contains(got.error().message, "failing fast"));
            CHECK(took < milliseconds(20));
            std::this_thread::sleep_for(milliseconds(30));
        }
        CHECK(pool.breaker_open());

        redis.signal(SIGCONT);
        const auto resumed = Clock::now();
        while (pool.breaker_open() && since(resumed) < milliseconds(3000)) {
            std::this_thread::sleep_for(milliseconds(5));
        }
        const auto closed_after = since(resumed);
        INFO("closed " << closed_after.count() << "ms after SIGCONT");
        CHECK_FALSE(pool.breaker_open());
        CHECK(closed_after < milliseconds(1000));
        CHECK(pool.command(ping).ok());

        const auto after = adapters::redis_round_trips().snapshot();
        CHECK(after.breaker_opened - before.breaker_opened == 1);
        CHECK(after.breaker_closed - before.breaker_closed == 1);
    }
    adapters::redis_round_trips().set_log(nullptr);
    const auto lines = log.lines();
    CHECK(any_line(lines, "warning: Redis at ", "test pool circuit breaker open"));
    CHECK(any_line(lines, "notice: Redis at ", "test pool circuit breaker closed"));
}

TEST_CASE("breaker_timeouts = 0: a hung Redis costs every call the command timeout",
          "[pool][timeout][breaker]") {
    RedisServer redis;
    auto options = redis.options();
    options.command_timeout = milliseconds(150);
    options.breaker_timeouts = 0;
    RedisPool pool(options);
    const std::vector<std::string> ping{"PING"};
    REQUIRE(pool.command(ping).ok());
    redis.signal(SIGSTOP);
    for (int i = 0; i < 5; ++i) {
        const auto t0 = Clock::now();
        CHECK_FALSE(pool.command(ping).ok());
        CHECK(since(t0) >= milliseconds(100));
    }
    CHECK_FALSE(pool.breaker_open());
    redis.signal(SIGCONT);
    CHECK(pool.command(ping).ok());
}

TEST_CASE("an answer resets the count: timeouts must come in a row", "[pool][timeout][breaker]") {
    RedisServer redis;
    auto options = redis.options();
    options.command_timeout = milliseconds(150);
    options.breaker_timeouts = 2;
    RedisPool pool(options);
    const std::vector<std::string> ping{"PING"};
    for (int i = 0; i < 3; ++i) {
        redis.signal(SIGSTOP);
        CHECK_FALSE(pool.command(ping).ok());
        redis.signal(SIGCONT);
        REQUIRE(pool.command(ping).ok());
        CHECK_FALSE(pool.breaker_open());
    }
    redis.signal(SIGSTOP);
    CHECK_FALSE(pool.command(ping).ok());
    CHECK_FALSE(pool.command(ping).ok());
    CHECK(pool.breaker_open());
    redis.signal(SIGCONT);
}

}  // namespace staffel
