// round_trips.cpp - see round_trips.hpp.
#include "adapters/redis/round_trips.hpp"

#include <algorithm>

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
    return s;
}

RedisRoundTrips& redis_round_trips() noexcept {
    static RedisRoundTrips trips;
    return trips;
}

}  // namespace staffel::adapters
