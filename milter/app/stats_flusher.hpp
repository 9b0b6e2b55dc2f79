// stats_flusher.hpp - staffeld's statistics and events, off the mail path.
//
// Purpose: an OutcomeSink that adds each message's outcome to in-memory
//   counts (core/stats/counts.hpp) and, with [events], queues its events;
//   a thread of its own writes both to Redis every [stats] flush_interval
//   in one round trip (adapters/redis/stats_store.hpp). The mail path
//   never waits for Redis here: message() takes a mutex for a few map
//   updates and returns.
// Failure policy: a flush that fails (Redis away or slow) keeps the counts
//   and events in memory, bounded by [stats] max_buffered (beyond it new
//   values count as "other") and [events] max_buffered (beyond it new
//   events are dropped and their number logged), logs once when writing starts to fail
//   and once when it works again, and tries at the next interval. flush()
//   (SIGHUP) and stop() (SIGTERM, after the milter stopped) write what is
//   pending; a SIGKILL loses at most one interval.
// Privacy: with [suppression] hash_secret_file, the envelope sender, the
//   SASL login and recipient addresses are counted and written as their
//   hashed key part ("h:HEX"), as the suppression store keeps them; domains,
//   tags, streams and routes stay in clear.
// Thread-safety: message() and event() from any thread; start(), flush()
//   and stop() from the daemon's main thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "adapters/redis/stats_store.hpp"
#include "core/log.hpp"
#include "core/outcome.hpp"
#include "core/session.hpp"
#include "core/stats/counts.hpp"

namespace staffel::app {

class StatsFlusher final : public core::OutcomeSink {
  public:
    // `node` names this staffeld in events (the host name).
    StatsFlusher(core::PolicySource policies, core::Logger& log, std::string node);
    ~StatsFlusher() override;
    StatsFlusher(const StatsFlusher&) = delete;
    StatsFlusher& operator=(const StatsFlusher&) = delete;

    void message(const core::MessageOutcome& outcome) override;
    // One more event (JSON), e.g. a policy reload; dropped without [events].
    void event(std::string json);

    void start();
    // Writes what is pending now; false if Redis could not take it.
    bool flush();
    // Stops the thread after a last flush.
    void stop();

    // Counted in memory and not yet written (for tests and the stop line).
    [[nodiscard]] std::size_t pending_counts() const { return counts_.keys(); }
    [[nodiscard]] std::uint64_t events_dropped() const;

  private:
    void run();
    bool flush_locked(const core::Policy& policy);
    adapters::RedisStatsStore& store_for(const core::Policy& policy);

    core::PolicySource policies_;
    core::Logger& log_;
    const std::string node_;
    core::stats::Counts counts_;

    mutable std::mutex events_mu_;
    std::deque<std::string> events_;         // guarded by events_mu_
    std::uint64_t events_dropped_ = 0;       // guarded by events_mu_
    std::uint64_t events_dropped_said_ = 0;  // logged so far; guarded by events_mu_

    std::mutex flush_mu_;  // one flush at a time; guards the members below
    std::unique_ptr<adapters::RedisStatsStore> store_;
    std::string store_address_;
    bool failing_ = false;

    std::mutex wake_mu_;
    std::condition_variable wake_;
    bool stopping_ = false;  // guarded by wake_mu_
    std::thread thread_;
};

}  // namespace staffel::app
