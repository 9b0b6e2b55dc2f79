// suppression_store.hpp - the suppression store (core/suppress/store.hpp)
// in Redis.
//
// Purpose: every staffeld node and staffelctl read and write the same
//   suppression entries in one Redis. Keys and values are those of
//   core/suppress/suppress.hpp (built by the caller; this store does not
//   know the prefix). Round trips:
//     lookup()            one MGET for all keys
//     put()               one SET key value [EXAT expires_at] GET; with a
//                         changes stream, in MULTI/EXEC with its XADD (one
//                         pipelined round trip)
//     remove()            one UNLINK
//     count_soft_bounce() one EVALSHA of scripts/suppress_soft_bounce.lua
//                         (NOSCRIPT: EVAL with the source, as
//                         RedisCounterStore does; script_loads() counts it)
//     put_many()          SETs pipelined in batches of kBatch on one
//                         connection: one round trip per batch (with a
//                         changes stream, each batch is one MULTI/EXEC of
//                         its SETs and their XADDs)
//     scan()              SCAN cursor MATCH pattern COUNT kBatch, then one
//                         MGET per batch of keys, on one connection
// Changes stream: every entry this store writes (put, put_many, and a
//   soft-bounce count that reaches its limit) is announced, in the same
//   transaction, by XADD CHANGES MAXLEN ~ max_length * k KEY, so that each
//   node's local view (adapters/redis/suppression_view) learns of it within
//   its poll interval. Removals are not announced: a view that still holds
//   a removed key only asks Redis about it. A write whose entry was stored
//   but whose XADD failed is an error ("stored but not announced").
// Semantics: those of core/suppress/store.hpp, and:
//   - An entry whose expires_at is at or before the clock's now is absent
//     for lookup() and skipped by scan(), even while Redis still holds it.
//   - put() answers true when it replaced an entry (the key held a value).
//     put() and count_soft_bounce() refuse an entry that has already
//     expired (an error; nothing is written): Redis would drop it at once.
//   - put_many() skips (does not write, does not count) expired entries
//     and rows Redis refuses with an error reply; the other rows are still
//     written, each whole or not at all (one SET per key). It answers how
//     many were written; an I/O error or timeout ends it with an error
//     (rows of earlier batches stay written).
//   - scan() may visit a key twice if Redis resizes its table meanwhile
//     (SCAN's guarantee); a key deleted between SCAN and MGET is skipped.
//     It answers how many entries it visited.
//   - Entries handed to the visitor or returned by lookup() carry the
//     value's fields only; address and scope are the caller's, from the key.
// Thread-safety: thread-safe; calls share a RedisPool. The visitor of
//   scan() runs on the calling thread while a connection is leased.
// Errors: an unreachable, slow or refusing Redis, or a stored value that
//   does not decode, is a Result error naming the address (and the key);
//   never an exception after construction. errors() counts them. The
//   constructor throws std::runtime_error if the script cannot be hashed.
// Outside input: Redis replies, checked for shape before use; values are
//   decoded by core::decode_entry_value.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/embedded_script.hpp"
#include "adapters/redis/redis_pool.hpp"
#include "core/suppress/store.hpp"

namespace staffel::adapters {

// Where written entries are announced (see "Changes stream" above).
struct SuppressionChanges {
    std::string key;                  // "" = writes are not announced
    std::size_t max_length = 100000;  // XADD MAXLEN ~ (approximate trim)
};

class RedisSuppressionStore final : public core::SuppressionStore {
  public:
    // Epoch seconds; the default reads the system clock.
    using Clock = std::function<std::int64_t()>;
    // Commands per pipelined batch (put_many) and keys per SCAN step.
    static constexpr std::size_t kBatch = 1000;

    explicit RedisSuppressionStore(RedisOptions options, SuppressionChanges changes = {},
                                   Clock clock = {});
    ~RedisSuppressionStore() override;
    RedisSuppressionStore(const RedisSuppressionStore&) = delete;
    RedisSuppressionStore& operator=(const RedisSuppressionStore&) = delete;

    core::Result<std::vector<std::optional<core::SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override;
    core::Result<bool> put(const std::string& key, const core::SuppressionEntry& entry) override;
    core::Result<bool> remove(const std::string& key) override;
    core::Result<core::SoftBounceOutcome> count_soft_bounce(
        const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
        const std::string& entry_key, const core::SuppressionEntry& entry) override;
    core::Result<std::size_t> put_many(std::span<const core::KeyedEntry> entries) override;
    core::Result<std::size_t> scan(std::string_view pattern, const Visitor& visit) override;

    // Store errors returned so far (unreachable, timeouts, error replies,
    // undecodable values).
    [[nodiscard]] std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
    // Scripts sent in full after a NOSCRIPT reply.
    [[nodiscard]] std::uint64_t script_loads() const {
        return script_loads_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] RedisPool& pool() { return pool_; }
    [[nodiscard]] const SuppressionChanges& changes() const { return changes_; }

  private:
    core::Error fail(core::Error error);
    [[nodiscard]] std::int64_t now() const;
    // The SET command for one entry: SET key value [EXAT expires_at].
    static void set_argv(std::vector<std::string>& argv, const std::string& key,
                         const core::SuppressionEntry& entry);
    // XADD CHANGES MAXLEN ~ N * k KEY
    void xadd_argv(std::vector<std::string>& argv, const std::string& key) const;
    // Sends MULTI, the queued commands and EXEC in one round trip and reads
    // every reply; the EXEC reply, checked to be an array of one reply per
    // command (an aborted transaction is an error).
    core::Result<std::size_t> put_many_announced(RedisPool::Lease& lease,
                                                 std::span<const core::KeyedEntry> entries,
                                                 std::int64_t now);
    core::Result<RedisReplyPtr> transaction(RedisPool::Lease& lease,
                                            const std::vector<std::vector<std::string>>& commands);

    RedisPool pool_;
    SuppressionChanges changes_;
    Clock clock_;
    EmbeddedScript script_;
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> script_loads_{0};
};

}  // namespace staffel::adapters
