// test_route_status.cpp - RedisRouteStatus against a real Redis: it sees a
// route marked down within its interval, keeps the last known set while
// Redis is gone (saying so once), and reads again when Redis is back.
#include <catch2/catch.hpp>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/route_status.hpp"
#include "redis_server.hpp"

namespace staffel {
namespace {

using namespace std::chrono_literals;

struct Lines : core::Logger {
    mutable std::mutex mu;
    std::vector<std::string> lines;
    void log(core::LogLevel, std::string_view m) override {
        std::lock_guard lock(mu);
        lines.emplace_back(m);
    }
    [[nodiscard]] bool enabled(core::LogLevel) const override { return true; }
    std::size_t count(std::string_view text) const {
        std::lock_guard lock(mu);
        std::size_t n = 0;
        for (const auto& l : lines) {
            n += l.find(text) != std::string::npos ? 1 : 0;
        }
        return n;
    }
};

template <typename Predicate>
bool within(std::chrono::milliseconds limit, Predicate p) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (p()) {
            return true;
        }
        std::this_thread::sleep_for(5ms);
    }
    return p();
}

}  // namespace

TEST_CASE("the route poller keeps the last known set while Redis is gone", "[route_status]") {
    test::RedisServer redis;
    redis.start();
    auto policy = std::make_shared<core::Policy>();
    policy->redis.address = redis.address();
    policy->redis.connect_timeout = 100ms;
    policy->redis.command_timeout = 100ms;
    policy->routing.routes.push_back({});
    policy->routing.routes.back().name = "esp";
    const std::shared_ptr<const core::Policy> snapshot = policy;
    Lines log;
    adapters::RedisRouteStatus status([&] { return snapshot; }, log, 20ms);
    status.start();
    CHECK_FALSE(status.is_down("esp"));

    redis.command({"SADD", adapters::routes_down_key(*snapshot), "esp"});
    CHECK(within(1s, [&] { return status.is_down("esp"); }));
    CHECK(log.count("routes marked down: esp") == 1);

    redis.kill();
    CHECK(within(2s, [&] { return log.count("cannot read the routes marked down") == 1; }));
    std::this_thread::sleep_for(200ms);  // ten more polls against a dead Redis
    CHECK(status.is_down("esp"));        // the last known set stays
    CHECK(log.count("cannot read the routes marked down") == 1);  // said once

    redis.start();  // without persistence: the set is gone, so esp is up again
    CHECK(within(3s, [&] { return !status.is_down("esp"); }));
    CHECK(log.count("read from Redis again") == 1);
    status.stop();
}

}  // namespace staffel
