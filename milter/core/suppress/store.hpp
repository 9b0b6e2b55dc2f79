// store.hpp - the suppression store port: where suppression entries live.
//
// Purpose: the session looks recipients up through it (one round trip per
//   recipient at RCPT, or one for all of them at end of message for mail
//   submitted without SMTP); staffelctl manages entries through it. staffeld
//   and staffelctl use the Redis adapter (adapters/redis/suppression_store);
//   unit tests use a fake. Keys and values are those of suppress.hpp.
// Semantics every implementation keeps:
//   - lookup(): for each key, the entry stored under it, or nullopt. An
//     entry whose expires_at has passed counts as absent even if the store
//     still holds it. A stored value that does not decode is an error.
//   - put(): stores (replacing) the entry under the key; with expires_at
//     set, the key expires then.
//   - count_soft_bounce(): adds one to the counter under `counter_key`
//     (created with a TTL of `window_seconds`); when the count reaches
//     `limit`, stores `entry` under `entry_key` and deletes the counter, in
//     one atomic step.
// Thread-safety: implementations are called from every milter worker
//   thread at once and must be thread-safe.
// Errors: an unreachable or slow store is a Result error, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/suppress/suppress.hpp"

namespace staffel::core {

struct SoftBounceOutcome {
    std::int64_t count = 0;   // soft bounces counted in the window, this one included
    bool suppressed = false;  // the limit was reached: the entry was stored
};

// One row of a bulk write: a key and its entry.
struct KeyedEntry {
    std::string key;
    SuppressionEntry entry;
};

class SuppressionStore {
  public:
    virtual ~SuppressionStore() = default;
    // One round trip for all keys; results in the same order.
    virtual Result<std::vector<std::optional<SuppressionEntry>>> lookup(
        std::span<const std::string> keys) = 0;
    // true: it replaced an entry stored under the key.
    virtual Result<bool> put(const std::string& key, const SuppressionEntry& entry) = 0;
    // true: the key existed.
    virtual Result<bool> remove(const std::string& key) = 0;
    virtual Result<SoftBounceOutcome> count_soft_bounce(const std::string& counter_key,
                                                        std::int64_t window_seconds,
                                                        std::int64_t limit,
                                                        const std::string& entry_key,
                                                        const SuppressionEntry& entry) = 0;
    // Writes many entries, pipelined; returns how many were written.
    virtual Result<std::size_t> put_many(std::span<const KeyedEntry> entries) = 0;
    // Calls `visit` for every entry whose key matches `pattern` (a Redis
    // glob). A value that does not decode is passed with decoded = error.
    using Visitor =
        std::function<void(std::string_view key, const Result<SuppressionEntry>& decoded)>;
    virtual Result<std::size_t> scan(std::string_view pattern, const Visitor& visit) = 0;
};

}  // namespace staffel::core
