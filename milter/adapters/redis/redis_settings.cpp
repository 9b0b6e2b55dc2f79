// redis_settings.cpp - see redis_settings.hpp.
#include "adapters/redis/redis_settings.hpp"

#include <memory>
#include <utility>

namespace staffel::adapters {

RedisOptions redis_options(const core::RedisSettings& redis) {
    RedisOptions o;
    o.address = redis.address;
    o.connect_timeout = redis.connect_timeout;
    o.command_timeout = redis.command_timeout;
    o.username = redis.username;
    o.password = redis.password;
    o.pool_size = redis.pool_size;
    o.breaker_timeouts = redis.breaker_timeouts;
    o.breaker_probe_interval = redis.breaker_probe_interval;
    if (!redis.sentinels.empty()) {
        SentinelOptions s;
        s.sentinels = redis.sentinels;
        s.master_name = redis.master_name;
        s.username = redis.sentinel_username;
        s.password = redis.sentinel_password;
        s.connect_timeout = redis.connect_timeout;
        s.command_timeout = redis.command_timeout;
        o.resolver = std::make_shared<SentinelResolver>(std::move(s));
        // A failover promotes a replica within seconds: retry often enough
        // to use it at once. Each retry is one sentinel question and one
        // connect, both cheap.
        o.max_backoff = std::chrono::milliseconds(200);
    }
    return o;
}

RedisOptions named(RedisOptions options, std::string name) {
    options.name = std::move(name);
    return options;
}

}  // namespace staffel::adapters
