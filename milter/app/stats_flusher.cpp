// stats_flusher.cpp - see stats_flusher.hpp.
#include "app/stats_flusher.hpp"

#include <optional>
#include <vector>

#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "app/event_json.hpp"
#include "core/suppress/suppress.hpp"
#include "core/text.hpp"

namespace staffel::app {

namespace {

// The local hour of `time`; the last answer is kept per thread, since the
// messages of one second (and zone) share it.
std::string hour_of(const core::Policy& p, std::int64_t time) {
    thread_local std::string zone;
    thread_local std::int64_t second = -1;
    thread_local std::string label;
    if (second != time || zone != p.general.time_zone->name()) {
        label = core::stats::local_hour(*p.general.time_zone, time);
        zone = p.general.time_zone->name();
        second = time;
    }
    return label;
}

adapters::StatsRetention retention_of(const core::Policy& p) {
    return {p.stats.hourly_retention, p.stats.daily_retention, p.stats.max_values};
}

}  // namespace

StatsFlusher::StatsFlusher(core::PolicySource policies, core::Logger& log, std::string node)
    : policies_(std::move(policies)),
      log_(log),
      node_(std::move(node)),
      counts_(policies_()->stats.max_buffered) {}

StatsFlusher::~StatsFlusher() {
    stop();
}

void StatsFlusher::message(const core::MessageOutcome& given) {
    const auto policy = policies_();
    if (!policy->stats.enabled && !policy->events.enabled) {
        return;
    }
    // With hashing at rest, addresses (and the login) leave staffeld only
    // hashed, as the suppression store keeps them.
    std::optional<core::MessageOutcome> hashed;
    if (!policy->suppression.hash_secret.empty()) {
        const core::SuppressionKeys keys(policy->redis.prefix, policy->suppression.hash_secret,
                                         &adapters::sha256_factory());
        hashed = given;
        const auto hash = [&](std::string& address) {
            if (!address.empty()) {
                address = keys.address_part(core::ascii_lower(address));
            }
        };
        hash(hashed->sender);
        hash(hashed->sasl_user);
        for (auto& r : hashed->refused) {
            hash(r.address);
        }
        for (auto& r : hashed->removed) {
            hash(r.address);
        }
    }
    const core::MessageOutcome& outcome = hashed ? *hashed : given;
    if (policy->stats.enabled) {
        counts_.add(outcome, hour_of(*policy, outcome.time));
    }
    if (policy->events.enabled) {
        auto events = message_events(outcome, node_);
        std::lock_guard lock(events_mu_);
        for (auto& e : events) {
            if (events_.size() >= policy->events.max_buffered) {
                ++events_dropped_;
                continue;
            }
            events_.push_back(std::move(e));
        }
    }
}

void StatsFlusher::event(std::string json) {
    const auto policy = policies_();
    if (!policy->events.enabled) {
        return;
    }
    std::lock_guard lock(events_mu_);
    if (events_.size() >= policy->events.max_buffered) {
        ++events_dropped_;
        return;
    }
    events_.push_back(std::move(json));
}

std::uint64_t StatsFlusher::events_dropped() const {
    std::lock_guard lock(events_mu_);
    return events_dropped_;
}

void StatsFlusher::start() {
    thread_ = std::thread([this] { run(); });
}

void StatsFlusher::run() {
    std::unique_lock lock(wake_mu_);
    while (!stopping_) {
        const auto interval = policies_()->stats.flush_interval;
        wake_.wait_for(lock, interval, [this] { return stopping_; });
        if (stopping_) {
            break;
        }
        lock.unlock();
        flush();
        lock.lock();
    }
}

void StatsFlusher::stop() {
    {
        std::lock_guard lock(wake_mu_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    flush();
}

bool StatsFlusher::flush() {
    const auto policy = policies_();
    std::lock_guard lock(flush_mu_);
    return flush_locked(*policy);
}

adapters::RedisStatsStore& StatsFlusher::store_for(const core::Policy& policy) {
    auto address = policy.redis.address.to_string();
    for (const auto& s : policy.redis.sentinels) {
        address += " " + s.to_string();  // a new sentinel list: a new store
    }
    if (!policy.redis.sentinels.empty()) {
        address += " " + policy.redis.master_name;
    }
    if (!store_ || address != store_address_) {
        store_ = std::make_unique<adapters::RedisStatsStore>(adapters::redis_options(policy.redis));
        store_address_ = address;
    }
    return *store_;
}

bool StatsFlusher::flush_locked(const core::Policy& policy) {
    auto counts = counts_.take();
    std::vector<std::string> events;
    std::uint64_t dropped = 0;
    {
        std::lock_guard lock(events_mu_);
        events.assign(std::make_move_iterator(events_.begin()),
                      std::make_move_iterator(events_.end()));
        events_.clear();
        dropped = events_dropped_ - events_dropped_said_;
        events_dropped_said_ = events_dropped_;
    }
    if (dropped > 0) {
        log_.warning("events: " + std::to_string(dropped) +
                     " event(s) dropped: more than [events] max_buffered = " +
                     std::to_string(policy.events.max_buffered) +
                     " waited for Redis; their statistics are kept");
    }
    if (counts.empty() && events.empty()) {
        return true;
    }
    auto done = store_for(policy).flush(counts, policy.redis.prefix, retention_of(policy), events,
                                        policy.events.max_length);
    if (done) {
        if (failing_) {
            log_.notice("statistics: writing to Redis works again");
            failing_ = false;
        }
        return true;
    }
    counts_.give_back(std::move(counts));
    {
        std::lock_guard lock(events_mu_);
        // Back in front, in order; past the bound the rest are dropped.
        for (auto it = events.rbegin(); it != events.rend(); ++it) {
            if (events_.size() >= policy.events.max_buffered) {
                ++events_dropped_;
                continue;
            }
            events_.push_front(std::move(*it));
        }
    }
    if (!failing_) {
        log_.warning("statistics: cannot write to Redis (" + done.error().message +
                     "); counting in memory and trying again every " +
                     std::to_string(policy.stats.flush_interval.count()) + "ms");
        failing_ = true;
    }
    return false;
}

}  // namespace staffel::app
