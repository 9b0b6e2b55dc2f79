// probe.cpp - see probe.hpp.
#include "adapters/redis/probe.hpp"

#include <hiredis/hiredis.h>

#include <memory>
#include <string_view>

namespace staffel::adapters {
namespace {

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

}  // namespace

core::Result<std::string> redis_ping(const core::RedisAddress& address,
                                     std::chrono::milliseconds timeout) {
    const timeval tv = to_timeval(timeout);
    std::unique_ptr<redisContext, ContextDeleter> c(
        address.kind == core::RedisAddress::Kind::Unix
            ? redisConnectUnixWithTimeout(address.path.c_str(), tv)
            : redisConnectWithTimeout(address.host.c_str(), address.port, tv));
    if (!c) {
        return core::make_error("cannot allocate a Redis context");
    }
    if (c->err != 0) {
        return core::make_error("cannot connect to Redis at " + address.to_string() + ": " +
                                c->errstr);
    }
    redisSetTimeout(c.get(), tv);
    std::unique_ptr<redisReply, ReplyDeleter> reply(
        static_cast<redisReply*>(redisCommand(c.get(), "PING")));
    if (!reply) {
        return core::make_error("Redis at " + address.to_string() +
                                " did not answer PING: " + c->errstr);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        return core::make_error("Redis at " + address.to_string() +
                                " refused PING: " + std::string(reply->str, reply->len));
    }
    if (reply->type != REDIS_REPLY_STATUS || std::string_view(reply->str, reply->len) != "PONG") {
        return core::make_error("Redis at " + address.to_string() + " gave an unexpected reply");
    }
    std::unique_ptr<redisReply, ReplyDeleter> info(
        static_cast<redisReply*>(redisCommand(c.get(), "INFO server")));
    std::string version = "unknown version";
    if (info && info->type == REDIS_REPLY_STRING) {
        const std::string_view text(info->str, info->len);
        const auto at = text.find("redis_version:");
        if (at != std::string_view::npos) {
            const auto end = text.find_first_of("\r\n", at);
            version = std::string(text.substr(at + 14, end - at - 14));
        }
    }
    return version;
}

}  // namespace staffel::adapters
