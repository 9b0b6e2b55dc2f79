// route_status.hpp - the set of routes marked down, kept fresh from Redis.
//
// Purpose: core::RouteStatus for staffeld. A background thread reads the
//   set PREFIX "routes:down" (RouteStatusStore, adapters/redis/route_store)
//   every `interval` and swaps in a copy; is_down() only reads that copy,
//   so the mail path never waits on Redis. Which Redis and prefix to read
//   follows the current policy (a reload that changes [redis] switches to
//   a new connection).
// Failure: when Redis cannot be read, the last known set stays in force
//   (logged once per outage, and when it is read again).
// Thread-safety: is_down() from any thread; start()/stop() from one.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "adapters/redis/route_store.hpp"
#include "core/log.hpp"
#include "core/policy.hpp"
#include "core/route/status.hpp"

namespace staffel::adapters {

class RedisRouteStatus final : public core::RouteStatus {
  public:
    using PolicySource = std::function<std::shared_ptr<const core::Policy>()>;
    RedisRouteStatus(PolicySource policies, core::Logger& log,
                     std::chrono::milliseconds interval = std::chrono::milliseconds(250));
    ~RedisRouteStatus() override;
    RedisRouteStatus(const RedisRouteStatus&) = delete;
    RedisRouteStatus& operator=(const RedisRouteStatus&) = delete;

    [[nodiscard]] bool is_down(std::string_view route) const override;
    // Reads once now (so a restart starts with the right set), then keeps
    // refreshing in the background.
    void start();
    void stop();

  private:
    void refresh();
    void run();

    PolicySource policies_;
    core::Logger& log_;
    std::chrono::milliseconds interval_;
    mutable std::mutex mu_;
    std::shared_ptr<const RouteNames> down_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
    // The poller thread's store, for the current policy's [redis] settings.
    std::unique_ptr<RouteStatusStore> store_;
    bool failing_ = false;
};

}  // namespace staffel::adapters
