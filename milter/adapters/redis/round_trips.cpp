// round_trips.cpp - see round_trips.hpp.
#include "adapters/redis/round_trips.hpp"

#include <algorithm>
#include <string>

namespace staffel::adapters {

void RedisRoundTrips::record(std::chrono::steady_clock::duration elapsed, bool failed) noexcept {
    const auto us = std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count());
    const auto at = std::lower_bound(kBoundsUs.begin(), kBoundsUs.end(), us) - kBoundsUs.begin();
    buckets_[static_cast<std::size_t>(at)].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
    if (failed) {
        errors_.fetch_add(1, std::memory_order_relaxed);
    }
}

RedisRoundTrips::Snapshot RedisRoundTrips::snapshot() const noexcept {
    Snapshot s;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        s.buckets[i] = buckets_[i].load(std::memory_order_relaxed);
        s.count += s.buckets[i];
    }
    s.errors = errors_.load(std::memory_order_relaxed);
    s.sum_us = sum_us_.load(std::memory_order_relaxed);
    s.breaker_opened = breaker_opened_.load(std::memory_order_relaxed);
    s.breaker_closed = breaker_closed_.load(std::memory_order_relaxed);
    return s;
}

void RedisRoundTrips::record_breaker(bool opened, std::string_view what) noexcept {
    auto& counter = opened ? breaker_opened_ : breaker_closed_;
    const auto n = counter.fetch_add(1, std::memory_order_relaxed) + 1;
    if (auto* log = log_.load(std::memory_order_acquire); log != nullptr) {
        try {
            std::string line(what);
            line += opened ? " (opening " : " (closing ";
            line += std::to_string(n) + " since start)";
            log->log(opened ? core::LogLevel::Warning : core::LogLevel::Notice, line);
        } catch (...) {  // NOLINT(bugprone-empty-catch): a lost log line, never a lost message
        }
    }
}

RedisRoundTrips& redis_round_trips() noexcept {
    static RedisRoundTrips trips;
    return trips;
}

}  // namespace staffel::adapters
