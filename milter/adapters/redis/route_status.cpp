// route_status.cpp - see route_status.hpp.
#include "adapters/redis/route_status.hpp"

namespace staffel::adapters {

RedisRouteStatus::RedisRouteStatus(PolicySource policies, core::Logger& log,
                                   std::chrono::milliseconds interval)
    : policies_(std::move(policies)),
      log_(log),
      interval_(interval),
      down_(std::make_shared<const RouteNames>()) {}

RedisRouteStatus::~RedisRouteStatus() {
    stop();
}

bool RedisRouteStatus::is_down(std::string_view route) const {
    std::shared_ptr<const RouteNames> down;
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
    if (!store_ || !(store_->settings() == policy->redis)) {
        store_ = std::make_unique<RouteStatusStore>(policy->redis);
    }
    auto read = store_->list_down();
    if (!read) {
        if (!failing_) {
            log_.warning("cannot read the routes marked down from Redis (" +
                         (read.unexpected_reply ? std::string("unexpected reply") : read.error) +
                         "); keeping the last known set");
            failing_ = true;
        }
        return;
    }
    if (failing_) {
        log_.notice("routes marked down are read from Redis again");
        failing_ = false;
    }
    auto next = std::make_shared<const RouteNames>(std::move(*read.value));
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
