// redis_settings.cpp - see redis_settings.hpp.
#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {

RedisOptions redis_options(const core::RedisSettings& redis) {
    RedisOptions o;
    o.address = redis.address;
    o.connect_timeout = redis.connect_timeout;
    o.command_timeout = redis.command_timeout;
    o.username = redis.username;
    o.password = redis.password;
    o.pool_size = redis.pool_size;
    return o;
}

}  // namespace staffel::adapters
