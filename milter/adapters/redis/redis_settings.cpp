// redis_settings.cpp - see redis_settings.hpp.
#include "adapters/redis/redis_settings.hpp"

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
    return o;
}

RedisOptions named(RedisOptions options, std::string name) {
    options.name = std::move(name);
    return options;
}

}  // namespace staffel::adapters
