// route_status.cpp - see route_status.hpp.
#include "adapters/redis/route_status.hpp"

#include <hiredis/hiredis.h>

#include "adapters/redis/redis_pool.hpp"

namespace staffel::adapters {

struct RedisRouteStatus::Connection {
    core::RedisSettings settings;
    RedisPool pool;
    Connection(const core::RedisSettings& s, RedisOptions o) : settings(s), pool(std::move(o)) {}
};

std::string routes_down_key(const core::Policy& policy) {
    return policy.redis.prefix + "routes:down";
}

RedisRouteStatus::RedisRouteStatus(PolicySource policies, core::Logger& log,
                                   std::chrono::milliseconds interval)
    : policies_(std::move(policies)),
      log_(log),
      interval_(interval),
      down_(std::make_shared<const std::set<std::string, std::less<>>>()) {}

RedisRouteStatus::~RedisRouteStatus() {
    stop();
}

bool RedisRouteStatus::is_down(std::string_view route) const {
    std::shared_ptr<const std::set<std::string, std::less<>>> down;
    {
        std::lock_guard lock(mu_);
        down = down_;
    }
    return down->find(route) != down->end();
}

void RedisRouteStatus::start() {
    refresh();
    thread_ = std::thread([this] { run(); });
}

void RedisRouteStatus::stop() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void RedisRouteStatus::run() {
    std::unique_lock lock(mu_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
        if (stopping_) {
            break;
        }
        lock.unlock();
        refresh();
        lock.lock();
    }
}

void RedisRouteStatus::refresh() {
    auto policy = policies_();
    if (!policy || policy->routing.routes.empty()) {
        return;  // no routes: nothing can be down
    }
    if (!conn_ || !(conn_->settings == policy->redis)) {
        RedisOptions o;
        o.address = policy->redis.address;
        o.connect_timeout = policy->redis.connect_timeout;
        o.command_timeout = policy->redis.command_timeout;
        o.username = policy->redis.username;
        o.password = policy->redis.password;
        o.pool_size = 1;
        conn_ = std::make_unique<Connection>(policy->redis, std::move(o));
    }
    const std::string argv[] = {"SMEMBERS", routes_down_key(*policy)};
    auto reply = conn_->pool.command(argv);
    if (!reply || reply.value()->type != REDIS_REPLY_ARRAY) {
        if (!failing_) {
            log_.warning("cannot read the routes marked down from Redis (" +
                         (reply ? std::string("unexpected reply") : reply.error().message) +
                         "); keeping the last known set");
            failing_ = true;
        }
        return;
    }
    if (failing_) {
        log_.notice("routes marked down are read from Redis again");
        failing_ = false;
    }
    auto next = std::make_shared<std::set<std::string, std::less<>>>();
    const redisReply& r = *reply.value();
    for (std::size_t i = 0; i < r.elements; ++i) {
        const redisReply* e = r.element[i];
        if (e != nullptr && e->type == REDIS_REPLY_STRING) {
            next->emplace(e->str, e->len);
        }
    }
    bool changed = false;
    {
        std::lock_guard lock(mu_);
        changed = *down_ != *next;
        down_ = std::move(next);
    }
    if (changed) {
        std::string names;
        {
            std::lock_guard lock(mu_);
            for (const auto& n : *down_) {
                names += names.empty() ? "" : ", ";
                names += n;
            }
        }
        log_.notice("routes marked down: " + (names.empty() ? std::string("none") : names));
    }
}

}  // namespace staffel::adapters
