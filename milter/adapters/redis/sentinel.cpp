// sentinel.cpp - see sentinel.hpp.
#include "adapters/redis/sentinel.hpp"

#include <hiredis/hiredis.h>

#include <charconv>
#include <memory>
#include <utility>

namespace staffel::adapters {
namespace {

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

ReplyPtr send(redisContext* c, const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    return ReplyPtr(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
}

std::string text_of(const redisReply& r) {
    return r.str != nullptr ? std::string(r.str, r.len) : std::string();
}

}  // namespace

SentinelResolver::SentinelResolver(SentinelOptions options) : options_(std::move(options)) {}

core::Result<core::RedisAddress> SentinelResolver::ask(const core::RedisAddress& sentinel) const {
    const std::string where = "sentinel " + sentinel.to_string() + ": ";
    ContextPtr c(sentinel.kind == core::RedisAddress::Kind::Unix
                     ? redisConnectUnixWithTimeout(sentinel.path.c_str(),
                                                   to_timeval(options_.connect_timeout))
                     : redisConnectWithTimeout(sentinel.host.c_str(), sentinel.port,
                                               to_timeval(options_.connect_timeout)));
    if (!c || c->err != 0) {
        return core::make_error(where + (c ? c->errstr : "cannot allocate a connection"));
    }
    if (redisSetTimeout(c.get(), to_timeval(options_.command_timeout)) != REDIS_OK) {
        return core::make_error(where + "cannot set the command timeout");
    }
    if (!options_.password.empty()) {
        std::vector<std::string> argv{"AUTH"};
        if (!options_.username.empty()) {
            argv.push_back(options_.username);
        }
        argv.push_back(options_.password);
        const ReplyPtr r = send(c.get(), argv);
        if (!r) {
            return core::make_error(where + c->errstr);
        }
        if (r->type == REDIS_REPLY_ERROR) {
            return core::make_error(where + "authentication failed");
        }
    }
    const ReplyPtr r = send(c.get(), {"SENTINEL", "get-master-addr-by-name", options_.master_name});
    if (!r) {
        return core::make_error(where + c->errstr);
    }
    if (r->type == REDIS_REPLY_NIL) {
        return core::make_error(where + "does not know master " + options_.master_name);
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return core::make_error(where + text_of(*r));
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_STRING) {
        return core::make_error(where + "unexpected reply to get-master-addr-by-name");
    }
    const std::string host = text_of(*r->element[0]);
    const std::string port_text = text_of(*r->element[1]);
    unsigned port = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
        port > 65535 || host.empty()) {
        return core::make_error(where + "unexpected address \"" + host + ":" + port_text + "\"");
    }
    core::RedisAddress a;
    a.kind = core::RedisAddress::Kind::Tcp;
    a.host = host;
    a.port = static_cast<std::uint16_t>(port);
    return a;
}

core::Result<core::RedisAddress> SentinelResolver::resolve() {
    const std::lock_guard lock(mutex_);
    if (current_ && !stale_) {
        return *current_;
    }
    std::string last_error = "no sentinel configured";
    const std::size_t n = options_.sentinels.size();
    for (std::size_t i = 0; i < n; ++i) {
        const std::size_t at = (first_ + i) % n;
        auto a = ask(options_.sentinels[at]);
        if (a) {
            first_ = at;
            current_ = *a;
            stale_ = false;
            ++resolutions_;
            return a;
        }
        last_error = a.error().message;
    }
    return core::make_error("Redis master " + options_.master_name +
                            ": no sentinel answered (last: " + last_error + ")");
}

void SentinelResolver::mark_stale() noexcept {
    const std::lock_guard lock(mutex_);
    if (!stale_ && !options_.sentinels.empty()) {
        // During a failover the sentinels learn the new primary one after
        // the other: the next question goes to another one.
        first_ = (first_ + 1) % options_.sentinels.size();
    }
    stale_ = true;
}

std::string SentinelResolver::describe() const {
    const std::lock_guard lock(mutex_);
    return (current_ ? current_->to_string() + " " : std::string()) + "(master " +
           options_.master_name + ")";
}

std::uint64_t SentinelResolver::resolutions() const {
    const std::lock_guard lock(mutex_);
    return resolutions_;
}

std::string check_primary(redisContext* c) {
    const ReplyPtr r = send(c, {"ROLE"});
    if (!r) {
        return std::string("ROLE failed: ") + c->errstr;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return "ROLE failed: " + text_of(*r);
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements == 0 ||
        (r->element[0]->type != REDIS_REPLY_STRING && r->element[0]->type != REDIS_REPLY_STATUS)) {
        return "unexpected reply to ROLE";
    }
    const std::string role = text_of(*r->element[0]);
    return role == "master" ? std::string() : "the node is a " + role + ", not the master";
}

bool is_readonly_error(std::string_view text) {
    return text.starts_with("READONLY") || text.find("-READONLY") != std::string_view::npos ||
           text.find("READONLY You can't write") != std::string_view::npos;
}

}  // namespace staffel::adapters
