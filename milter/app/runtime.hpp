// runtime.hpp - the daemon's shared, swappable state.
//
// Purpose: PolicyStore holds the current policy snapshot and swaps it
//   atomically on reload; InFlightCounter counts open milter connections so
//   SIGTERM can let the messages on them finish; Overrides are the
//   command-line settings (--socket, --redis) applied over every load.
// Thread-safety: PolicyStore and InFlightCounter may be used from any
//   thread; Overrides are plain values.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iosfwd>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "core/policy.hpp"
#include "core/quota/store.hpp"
#include "core/route/spf.hpp"
#include "core/session.hpp"
#include "core/suppress/store.hpp"

namespace staffel::app {

// A mutex rather than std::atomic<shared_ptr>: libstdc++ 12's atomic
// shared_ptr issues a futex wake on every load, which the mail path pays
// twice per message; an uncontended mutex costs no system call.
class PolicyStore {
  public:
    [[nodiscard]] std::shared_ptr<const core::Policy> current() const {
        std::lock_guard lock(mu_);
        return current_;
    }
    void replace(std::shared_ptr<const core::Policy> next) {
        std::lock_guard lock(mu_);
        current_.swap(next);
    }  // the old snapshot is freed with `next`, after the lock is released

  private:
    mutable std::mutex mu_;
    std::shared_ptr<const core::Policy> current_;
};

class InFlightCounter final : public core::InFlight {
  public:
    void begin() override;
    void end() override;
    // Waits until no connection is open or `limit` passes; returns how
    // many are still open.
    std::size_t wait_idle(std::chrono::milliseconds limit);

  private:
    std::mutex mu_;
    std::condition_variable idle_;
    std::size_t count_ = 0;
};

// The counter store of the current policy's [redis] settings. A reload that
// changes them swaps in a new connection pool; messages already using the
// old one finish with it.
class SwitchableStore final : public core::CounterStore {
  public:
    // Builds a pool for `redis` unless the current one already has these
    // settings. Connections are made on first use.
    void configure(const core::RedisSettings& redis);

    core::Result<core::ChargeOutcome> charge(std::span<const core::CounterCharge> c) override;
    core::Result<bool> refund(std::span<const core::CounterCharge> c) override;
    core::Result<std::vector<core::CounterState>> read(
        std::span<const core::CounterCharge> c) override;
    core::Result<std::size_t> reset(std::span<const std::string> keys) override;

  private:
    std::shared_ptr<core::CounterStore> current() const;

    mutable std::mutex mu_;
    std::optional<core::RedisSettings> settings_;
    std::shared_ptr<core::CounterStore> store_;
};

// The suppression store of the current policy's [redis] settings; swapped
// on reload like SwitchableStore.
class SwitchableSuppressionStore final : public core::SuppressionStore {
  public:
    void configure(const core::RedisSettings& redis);
    core::Result<std::vector<std::optional<core::SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override;
    core::Result<bool> put(const std::string& key, const core::SuppressionEntry& entry) override;
    core::Result<bool> remove(const std::string& key) override;
    core::Result<core::SoftBounceOutcome> count_soft_bounce(
        const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
        const std::string& entry_key, const core::SuppressionEntry& entry) override;
    core::Result<std::size_t> put_many(std::span<const core::KeyedEntry> entries) override;
    core::Result<std::size_t> scan(std::string_view pattern, const Visitor& visit) override;

  private:
    core::Result<std::shared_ptr<core::SuppressionStore>> current() const;

    mutable std::mutex mu_;
    std::optional<core::RedisSettings> settings_;
    std::shared_ptr<core::SuppressionStore> store_;
};

// The SPF checker of staffeld's pre-flight (libspf2, real DNS), made on
// first use: its worker threads must start after staffeld daemonises.
class LazySpfChecker final : public core::SpfChecker {
  public:
    explicit LazySpfChecker(std::chrono::milliseconds timeout) : timeout_(timeout) {}
    ~LazySpfChecker() override;
    core::Result<core::SpfAnswer> check(const core::SpfQuery& query) override;

  private:
    std::chrono::milliseconds timeout_;
    std::once_flag once_;
    std::unique_ptr<core::SpfChecker> checker_;
    std::string failure_;  // why it could not be made
};

// A Redis suppression store for one policy's [redis] settings (staffelctl).
std::unique_ptr<core::SuppressionStore> make_suppression_store(const core::RedisSettings& redis);

// A Redis counter store for one policy's [redis] settings (staffelctl).
std::unique_ptr<core::CounterStore> make_counter_store(const core::RedisSettings& redis);

struct Overrides {
    std::optional<std::string> socket;  // --socket
    std::optional<std::string> redis;   // --redis
};

// Loads the policy file and applies the overrides. Errors from overrides
// name the option instead of a file location.
config::LoadResult load_with_overrides(const std::string& path, const Overrides& overrides);

// staffelctl: the policy at `path`, or null after printing each located
// error to `err` (the caller exits 78).
std::shared_ptr<const core::Policy> load_policy_or_report(const std::string& path,
                                                          const config::KeyLoader& load_key,
                                                          std::ostream& err);

// staffelctl: the whole of FILE ("-": standard input), at most `max_bytes`.
// On failure, prints "staffelctl: COMMAND: why" to `err`, sets `exit_code`
// (66: cannot be read, 65: too large) and returns nullopt.
std::optional<std::string> read_input(const std::string& path, std::size_t max_bytes,
                                      std::string_view command, std::ostream& err, int& exit_code);

}  // namespace staffel::app
