// stats_store.hpp - statistics counts and the event feed in Redis.
//
// Purpose: staffeld's flusher writes the counts of core/stats/counts.hpp
//   (and the events gathered since the last flush) here, at least once a
//   second, in ONE pipelined round trip: EVALSHA of scripts/stats_flush.lua
//   per chunk of counts (one chunk unless thousands of distinct values
//   piled up while Redis was away) and one XADD of the events. staffelctl
//   stats and events read them back.
// Layout (PREFIX is [redis] prefix): hashes PREFIXstats:DIM:h:YYYYMMDDHH
//   and PREFIXstats:DIM:d:YYYYMMDD with fields "VALUE|COUNTER"; sets
//   PREFIXstats:values:DIM:YYYYMMDD bounding the values per day; the stream
//   PREFIXevents, whose every entry is one flush's batch of events: fields
//   "0", "1", ... each holding one event as JSON (see README's event
//   schema). The keys sit in different hash slots: a single Redis node is
//   the target, not Redis Cluster.
// Thread-safety: thread-safe; calls share a RedisPool.
// Errors: an unreachable, slow or refusing Redis is a Result error naming
//   the address; the caller keeps what it could not write and tries again.
//   A flush whose reply was lost may have been applied: counts err towards
//   being counted twice rather than lost (documented).
// Outside input: Redis replies, checked for shape before use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/embedded_script.hpp"
#include "adapters/redis/redis_pool.hpp"
#include "core/stats/counts.hpp"

namespace staffel::adapters {

struct StatsRetention {
    std::chrono::seconds hourly{std::chrono::hours(24 * 35)};
    std::chrono::seconds daily{std::chrono::hours(24 * 400)};
    std::size_t max_values = 1000;  // per dimension and day, then "other"
};

// value -> counter -> sum
using StatsTable = std::map<std::string, std::map<std::string, std::int64_t>>;

class RedisStatsStore {
  public:
    explicit RedisStatsStore(RedisOptions options);
    RedisStatsStore(const RedisStatsStore&) = delete;
    RedisStatsStore& operator=(const RedisStatsStore&) = delete;

    // Adds `counts` and appends `events` (JSON texts, as one stream entry
    // trimmed to about `events_max_length` entries) in one round trip.
    // Returns the increments Redis counted as "other" (max_values).
    core::Result<std::uint64_t> flush(const core::stats::CountMap& counts, std::string_view prefix,
                                      const StatsRetention& retention,
                                      std::span<const std::string> events = {},
                                      std::size_t events_max_length = 100000);

    // The sums of the hashes `keys` (missing ones count as empty), in one
    // pipelined round trip.
    core::Result<StatsTable> sum(std::span<const std::string> keys);
    // Each hash of `keys` on its own (missing ones are empty), in one
    // pipelined round trip.
    core::Result<std::vector<StatsTable>> tables(std::span<const std::string> keys);

    static std::string hourly_key(std::string_view prefix, core::stats::Dimension d,
                                  std::string_view hour);
    static std::string daily_key(std::string_view prefix, core::stats::Dimension d,
                                 std::string_view day);
    static std::string events_key(std::string_view prefix);

    [[nodiscard]] RedisPool& pool() { return pool_; }

  private:
    RedisPool pool_;
    EmbeddedScript script_;
    std::atomic<std::uint64_t> script_loads_{0};
};

}  // namespace staffel::adapters
