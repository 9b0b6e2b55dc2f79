// event_stream.hpp - reading the event feed (the Redis Stream PREFIXevents).
//
// Purpose: staffelctl events tail reads the stream; staffelctl events
//   webhook reads it through a consumer group, so that several dispatchers
//   share the work and each entry is handed out until one of them
//   acknowledges it (at least once). Each stream entry is one flush's batch
//   of events (adapters/redis/stats_store.hpp): fields "0", "1", ... with
//   one JSON event each. Events that a dispatcher gives up on are set aside
//   in the stream PREFIXevents:failed with the error, never dropped.
// Thread-safety: thread-safe; calls share a RedisPool.
// Errors: Result errors naming the address (unreachable, timeout, an error
//   reply such as a missing group); never throws after construction.
// Outside input: Redis replies, checked for shape before use.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/redis_pool.hpp"

namespace staffel::adapters {

struct StreamEntry {
    std::string id;                   // "1733318400000-0"
    std::vector<std::string> events;  // JSON texts, in order
};

class RedisEventStream {
  public:
    // `prefix` is [redis] prefix: the stream is PREFIXevents.
    RedisEventStream(RedisOptions options, std::string_view prefix);

    // The newest `count` entries, oldest first.
    core::Result<std::vector<StreamEntry>> latest(std::size_t count);
    // Entries after `id` ("0-0" = from the start), waiting up to `block`.
    core::Result<std::vector<StreamEntry>> after(std::string_view id, std::size_t count,
                                                 std::chrono::milliseconds block);
    // Entries after `id`, oldest first, without waiting (XRANGE).
    core::Result<std::vector<StreamEntry>> range_after(std::string_view id, std::size_t count);

    // Creates the consumer group at the stream's start if it is missing
    // (and the stream with it).
    core::Result<bool> ensure_group(std::string_view group);
    // New entries for `consumer` of `group`, waiting up to `block`.
    core::Result<std::vector<StreamEntry>> read_group(std::string_view group,
                                                      std::string_view consumer, std::size_t count,
                                                      std::chrono::milliseconds block);
    // Entries handed to some consumer more than `min_idle` ago and never
    // acknowledged (its dispatcher died), now handed to `consumer`.
    core::Result<std::vector<StreamEntry>> claim_stale(std::string_view group,
                                                       std::string_view consumer,
                                                       std::chrono::milliseconds min_idle,
                                                       std::size_t count);
    core::Result<bool> ack(std::string_view group, std::string_view id);
    // Keeps an event that could not be delivered, with why, in
    // PREFIXevents:failed (trimmed to about 100000 entries).
    core::Result<bool> set_aside(std::string_view event, std::string_view error);

    [[nodiscard]] const std::string& key() const { return key_; }

  private:
    core::Result<std::vector<StreamEntry>> entries(std::vector<std::string> argv, bool nested);

    RedisPool pool_;
    std::string key_;
};

}  // namespace staffel::adapters
