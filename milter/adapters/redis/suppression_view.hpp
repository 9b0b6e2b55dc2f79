// suppression_view.hpp - the suppression store with a local view: most
// recipients are answered without a round trip to Redis.
//
// Purpose: staffeld looks up every recipient at RCPT; nearly all of them are
//   on no list. ViewedSuppressionStore keeps a Bloom filter
//   (core/suppress/bloom.hpp) of every entry key in Redis and answers a
//   lookup whose keys are all absent from it at once, with no round trip.
//   A key the filter holds (listed, or a false positive, or an entry since
//   removed) is confirmed in Redis by the usual MGET. Every other call goes
//   to the RedisSuppressionStore inside, which announces each entry it
//   writes on the changes stream (suppression_store.hpp).
// Keeping current: a thread of the view's own, started by the first lookup
//   (after staffeld daemonises), every `poll`:
//     - reads the changes stream from the last entry it saw (XRANGE LAST +,
//       inclusive: that the first entry is LAST proves nothing was trimmed
//       in between) and adds each key to the filter;
//     - rebuilds the filter when it has none, when the stream lost entries
//       it had not read (trimmed past it, or deleted: a Redis restart or
//       FLUSHDB), when it holds more keys than it was sized for, and every
//       `rescan` (entries written to Redis around the stream). A rebuild
//       notes where the stream ends (XREVRANGE + - COUNT 1; an empty stream
//       gets a marker entry, k = ""), SCANs every entry key, sizes a new
//       filter at twice their number (at least 100,000), then reads the
//       stream from the noted entry and swaps the new filter in.
// The bound: a lookup is answered from the view only if the view's last
//   complete read of the stream was sent at most `max_lag` ago; else (a
//   dead or slow Redis, a rebuild under way, a view never built) it goes to
//   Redis, as without a view. So an entry written through any node's store
//   is enforced by every node at most `max_lag` after it was written.
// Thread-safety: thread-safe. Lookups take a short lock to copy the filter's
//   pointer and the time of the last read; the view thread adds to the
//   filter with atomic bit operations and publishes under the same lock.
// Errors: those of RedisSuppressionStore; the view's own failures only make
//   it stale (counted, and logged once per change of state).
// Metrics: SuppressionViewStats, process-wide (staffel_suppression_view_*).
// Outside input: Redis replies (stream entries, SCAN pages), checked for
//   shape; a key is only hashed.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "adapters/redis/suppression_store.hpp"
#include "core/log.hpp"
#include "core/suppress/bloom.hpp"

namespace staffel::adapters {

// Counted by every view of the process (a reload replaces the view, the
// counts go on).
class SuppressionViewStats {
  public:
    std::atomic<std::uint64_t> local{0};      // lookups answered with no round trip
    std::atomic<std::uint64_t> confirmed{0};  // lookups the filter sent to Redis (a key in it)
    std::atomic<std::uint64_t> fallback{0};   // lookups sent to Redis: the view was stale
    std::atomic<std::uint64_t> rebuilds{0};   // filters built (first build included)
    std::atomic<std::uint64_t> failures{0};   // reads or rebuilds that failed
    std::atomic<std::uint64_t> keys{0};       // keys in the current filter (a gauge)
    std::atomic<std::uint64_t> bytes{0};      // the current filter's size (a gauge)

    // The logger of the views' state changes; nullptr logs nothing. It must
    // outlive every view that logs.
    void set_log(core::Logger* log) noexcept { log_.store(log, std::memory_order_release); }
    [[nodiscard]] core::Logger* log() const noexcept {
        return log_.load(std::memory_order_acquire);
    }

  private:
    std::atomic<core::Logger*> log_{nullptr};
};

SuppressionViewStats& suppression_view_stats() noexcept;

struct SuppressionViewOptions {
    std::string pattern;  // SCAN pattern of entry keys (core::SuppressionKeys::scan_pattern)
    std::chrono::milliseconds poll{200};  // 0: no thread; sync() by hand (tests)
    std::chrono::milliseconds max_lag{1000};
    std::chrono::seconds rescan{900};  // 0: rebuild only when it must
    SuppressionViewStats* stats = nullptr;  // nullptr: suppression_view_stats()
};

class ViewedSuppressionStore final : public core::SuppressionStore {
  public:
    // Stream entries read per XRANGE, and keys per SCAN page.
    static constexpr std::size_t kReadCount = 10000;
    static constexpr std::size_t kMinCapacity = 100000;

    // `changes.key` must be set: the view reads that stream.
    ViewedSuppressionStore(RedisOptions options, SuppressionChanges changes,
                           SuppressionViewOptions view);
    ~ViewedSuppressionStore() override;
    ViewedSuppressionStore(const ViewedSuppressionStore&) = delete;
    ViewedSuppressionStore& operator=(const ViewedSuppressionStore&) = delete;

    core::Result<std::vector<std::optional<core::SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override;
    core::Result<bool> put(const std::string& key, const core::SuppressionEntry& entry) override;
    core::Result<bool> remove(const std::string& key) override { return store_.remove(key); }
    core::Result<core::SoftBounceOutcome> count_soft_bounce(
        const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
        const std::string& entry_key, const core::SuppressionEntry& entry) override;
    core::Result<std::size_t> put_many(std::span<const core::KeyedEntry> entries) override;
    core::Result<std::size_t> scan(std::string_view pattern, const Visitor& visit) override {
        return store_.scan(pattern, visit);
    }

    // One round of the view thread: a rebuild if one is due, else a read of
    // the stream (and a rebuild if that finds entries lost). Errors make
    // the view stale; the view thread calls it every `poll`.
    core::Result<bool> sync();
    // Answers lookups now (built, and read within max_lag).
    [[nodiscard]] bool fresh() const;
    [[nodiscard]] RedisSuppressionStore& store() { return store_; }

  private:
    using Clock = std::chrono::steady_clock;
    enum class Read { Done, Lost };

    void start_thread();
    void run();
    // Reads the stream after `last_id_` into `filter`; `sent` is when the
    // first read was sent (what the view is then current to).
    core::Result<Read> read_changes(core::BloomFilter& filter, Clock::time_point& sent);
    core::Result<bool> rebuild(const char* why);
    void note_state(bool fresh_now, const std::string& why);
    void log(core::LogLevel level, const std::string& text) const;

    RedisSuppressionStore store_;
    RedisPool sync_pool_;  // the view thread's own connection
    SuppressionViewOptions view_;
    SuppressionViewStats& stats_;

    mutable std::mutex mu_;
    std::shared_ptr<core::BloomFilter> filter_;  // guarded by mu_
    Clock::time_point synced_at_{};              // guarded by mu_

    // The view thread's own state.
    std::string last_id_;
    bool must_rebuild_ = true;
    Clock::time_point built_at_{};
    bool was_fresh_ = false;
    bool ever_built_ = false;

    std::once_flag started_;
    std::mutex stop_mu_;
    std::condition_variable stop_cv_;
    bool stop_ = false;  // guarded by stop_mu_
    std::thread thread_;
};

}  // namespace staffel::adapters
