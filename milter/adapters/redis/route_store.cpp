// route_store.cpp - see route_store.hpp.
#include "adapters/redis/route_store.hpp"

#include <hiredis/hiredis.h>

#include "adapters/redis/redis_pool.hpp"
#include "adapters/redis/redis_settings.hpp"

namespace staffel::adapters {
namespace {

std::string key_of(const core::RedisSettings& redis) {
    return redis.prefix + "routes:down";
}

template <typename T>
RouteStoreReply<T> answered(T value) {
    RouteStoreReply<T> out;
    out.value = std::move(value);
    return out;
}

// Why a command came back without a usable reply: the pool's error, or a
// reply of another type than the command returns.
template <typename T>
RouteStoreReply<T> failed(const core::Result<RedisReplyPtr>& reply) {
    RouteStoreReply<T> out;
    if (reply) {
        out.unexpected_reply = true;
    } else {
        out.error = reply.error().message;
    }
    return out;
}

RedisOptions single_connection(const core::RedisSettings& redis) {
    auto o = named(redis_options(redis), "route status");
    o.pool_size = 1;
    return o;
}

}  // namespace

std::string routes_down_key(const core::Policy& policy) {
    return key_of(policy.redis);
}

RouteStatusStore::RouteStatusStore(const core::RedisSettings& redis)
    : settings_(redis),
      key_(key_of(redis)),
      pool_(std::make_unique<RedisPool>(single_connection(redis))) {}

RouteStatusStore::~RouteStatusStore() = default;

RouteStoreReply<RouteNames> RouteStatusStore::list_down() {
    const std::string argv[] = {"SMEMBERS", key_};
    auto reply = pool_->command(argv);
    if (!reply || reply.value()->type != REDIS_REPLY_ARRAY) {
        return failed<RouteNames>(reply);
    }
    RouteNames names;
    const redisReply& r = *reply.value();
    for (std::size_t i = 0; i < r.elements; ++i) {
        const redisReply* e = r.element[i];
        if (e != nullptr && e->type == REDIS_REPLY_STRING) {
            names.emplace(e->str, e->len);
        }
    }
    return answered(std::move(names));
}

RouteStoreReply<bool> RouteStatusStore::mark(std::string_view route, bool down) {
    const std::string argv[] = {down ? "SADD" : "SREM", key_, std::string(route)};
    auto reply = pool_->command(argv);
    if (!reply || reply.value()->type != REDIS_REPLY_INTEGER) {
        return failed<bool>(reply);
    }
    return answered(reply.value()->integer == 1);
}

}  // namespace staffel::adapters
