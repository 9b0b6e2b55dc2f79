// route_store.hpp - the Redis set of routes marked down: read, mark, list.
//
// Purpose: the one client of the set PREFIX "routes:down". staffeld's
//   route poller (adapters/redis/route_status) reads it; `staffelctl route
//   down|up|list` (app/route_cmd) changes and lists it. One connection
//   (pool of one), opened on first use.
// Failure policy: each call answers a value or says why there is none:
//   Redis could not be asked (the pool's error text, naming the address),
//   or it answered with a reply of the wrong type. Callers decide what
//   that means (the poller keeps its last set; staffelctl exits 69).
// Thread-safety: one store may be used from any number of threads (its
//   pool is thread-safe); staffeld's poller and staffelctl use it from one.
// Secrets: the password goes to AUTH only (adapters/redis/redis_pool).
// Outside input: the set's members, any bytes; they are only compared
//   with route names and printed.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/policy.hpp"

namespace staffel::adapters {

class RedisPool;

// The Redis key of the set.
std::string routes_down_key(const core::Policy& policy);

// The outcome of one call: `value`, or why there is none.
template <typename T>
struct RouteStoreReply {
    std::optional<T> value;         // set when the call succeeded
    bool unexpected_reply = false;  // Redis answered, but not as the command does
    std::string error;              // otherwise: why Redis could not be asked
    explicit operator bool() const { return value.has_value(); }
};

using RouteNames = std::set<std::string, std::less<>>;

class RouteStatusStore {
  public:
    // A store of the set under redis.prefix, reached with these settings.
    explicit RouteStatusStore(const core::RedisSettings& redis);
    ~RouteStatusStore();
    RouteStatusStore(const RouteStatusStore&) = delete;
    RouteStatusStore& operator=(const RouteStatusStore&) = delete;

    // The settings this store was made for.
    [[nodiscard]] const core::RedisSettings& settings() const { return settings_; }

    // The routes marked down (SMEMBERS).
    RouteStoreReply<RouteNames> list_down();
    // Marks `route` down (SADD) or up (SREM); the value is true when this
    // changed the set, false when the route already was in that state.
    RouteStoreReply<bool> mark(std::string_view route, bool down);

  private:
    core::RedisSettings settings_;
    std::string key_;
    std::unique_ptr<RedisPool> pool_;
};

}  // namespace staffel::adapters
