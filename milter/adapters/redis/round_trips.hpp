// round_trips.hpp - how many Redis round trips this process made, how many
// failed, and how long they took; how often a circuit breaker opened.
//
// Purpose: every RedisPool (adapters/redis/redis_pool) records each round
//   trip here: a command() (and so each EVALSHA/EVAL of eval_script), and
//   each pipelined batch, timed from its first reply() to that reply. The
//   metrics adapter (adapters/metrics) reads it at scrape time. One
//   process-wide instance, so that counts survive the pool a reload
//   replaces. The pools' circuit breakers count their openings and
//   closings here too, and log them to the logger set with set_log().
// Thread-safety: lock-free; record() and snapshot() may run on any thread
//   at once. A snapshot's fields are each exact but not taken at one
//   instant; its count is the sum of its buckets, so a histogram built from
//   it is consistent.
// Errors: a failed round trip is an I/O error, a timeout or a protocol
//   error; error replies from Redis (-ERR, NOSCRIPT) are replies, not
//   failures.
// Outside input: none.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/log.hpp"

namespace staffel::adapters {

class RedisRoundTrips {
  public:
    // Upper bounds of the latency buckets, in microseconds; a last bucket
    // (+Inf) takes the rest.
    static constexpr std::array<std::int64_t, 13> kBoundsUs = {
        100,    250,    500,     1'000,   2'500,   5'000,    10'000,
        25'000, 50'000, 100'000, 250'000, 500'000, 1'000'000};
    static constexpr std::size_t kBuckets = kBoundsUs.size() + 1;

    struct Snapshot {
        std::array<std::uint64_t, kBuckets> buckets{};  // per bucket, not cumulative
        std::uint64_t count = 0;                        // the sum of buckets
        std::uint64_t errors = 0;
        std::uint64_t sum_us = 0;
        std::uint64_t breaker_opened = 0;  // circuit breakers opened (fail fast)
        std::uint64_t breaker_closed = 0;  // ... and closed again (Redis answers)
    };

    void record(std::chrono::steady_clock::duration elapsed, bool failed) noexcept;
    // A pipelined reply after the first of its batch that failed: an error,
    // not another round trip.
    void record_error() noexcept { errors_.fetch_add(1, std::memory_order_relaxed); }
    [[nodiscard]] Snapshot snapshot() const noexcept;

    // A circuit breaker opened or closed: counted, and logged (warning,
    // notice) when a logger is set. `what` names the pool and the cause.
    void record_breaker(bool opened, std::string_view what) noexcept;
    // The logger of breaker events; nullptr (the default) logs nothing. The
    // logger must outlive every later record_breaker().
    void set_log(core::Logger* log) noexcept { log_.store(log, std::memory_order_release); }

  private:
    std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> sum_us_{0};
    std::atomic<std::uint64_t> breaker_opened_{0};
    std::atomic<std::uint64_t> breaker_closed_{0};
    std::atomic<core::Logger*> log_{nullptr};
};

// The process's round trips, recorded by every RedisPool.
RedisRoundTrips& redis_round_trips() noexcept;

}  // namespace staffel::adapters
