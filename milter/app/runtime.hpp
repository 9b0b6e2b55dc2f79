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

// A store of the current policy's [redis] settings. A reload that changes
// them swaps in a new store (and connection pool); calls already under way
// finish with the old one, which is freed when the last of them ends.
template <typename Port, typename Settings = core::RedisSettings>
class SwitchableSlot {
  public:
    using Make = std::unique_ptr<Port> (*)(const Settings&);
    SwitchableSlot(Make make, const char* what) : make_(make), what_(what) {}

    // Builds a store for `redis` unless the current one already has these
    // settings. Connections are made on first use.
    void configure(const Settings& settings) {
        std::lock_guard lock(mu_);
        if (settings_ && *settings_ == settings) {
            return;
        }
        store_ = make_(settings);
        settings_ = settings;
    }

    // call(store) on the current store; an error before configure().
    template <typename Call>
    auto with(Call call) -> decltype(call(std::declval<Port&>())) {
        std::shared_ptr<Port> store;
        {
            std::lock_guard lock(mu_);
            store = store_;
        }
        if (!store) {
            return core::make_error(std::string("no ") + what_ + " store is configured");
        }
        return call(*store);
    }

  private:
    Make make_;
    const char* what_;
    std::mutex mu_;
    std::optional<Settings> settings_;
    std::shared_ptr<Port> store_;
};

// A Redis suppression store for one policy's [redis] settings (staffelctl):
// every entry it writes is announced on the changes stream.
std::unique_ptr<core::SuppressionStore> make_suppression_store(const core::RedisSettings& redis);

// What staffeld's suppression store is made from.
struct SuppressionStoreSettings {
    core::RedisSettings redis;
    core::SuppressionViewSettings view;
    bool operator==(const SuppressionStoreSettings&) const = default;
};
// staffeld's: with view.enabled, a store with a local view
// (adapters/redis/suppression_view), else make_suppression_store()'s.
std::unique_ptr<core::SuppressionStore> make_viewed_suppression_store(
    const SuppressionStoreSettings& settings);

// A Redis counter store for one policy's [redis] settings (staffelctl).
std::unique_ptr<core::CounterStore> make_counter_store(const core::RedisSettings& redis);

// staffeld's counter store, following reloads.
class SwitchableStore final : public core::CounterStore {
  public:
    void configure(const core::RedisSettings& redis) { slot_.configure(redis); }
    core::Result<core::ChargeOutcome> charge(std::span<const core::CounterCharge> c) override {
        return slot_.with([&](core::CounterStore& s) { return s.charge(c); });
    }
    core::Result<bool> refund(std::span<const core::CounterCharge> c) override {
        return slot_.with([&](core::CounterStore& s) { return s.refund(c); });
    }
    core::Result<std::vector<core::CounterState>> read(
        std::span<const core::CounterCharge> c) override {
        return slot_.with([&](core::CounterStore& s) { return s.read(c); });
    }
    core::Result<std::size_t> reset(std::span<const std::string> keys) override {
        return slot_.with([&](core::CounterStore& s) { return s.reset(keys); });
    }

  private:
    SwitchableSlot<core::CounterStore> slot_{make_counter_store, "counter"};
};

// staffeld's suppression store, following reloads.
class SwitchableSuppressionStore final : public core::SuppressionStore {
  public:
    void configure(const core::RedisSettings& redis, const core::SuppressionViewSettings& view) {
        slot_.configure({redis, view});
    }
    core::Result<std::vector<std::optional<core::SuppressionEntry>>> lookup(
        std::span<const std::string> keys) override {
        return slot_.with([&](core::SuppressionStore& s) { return s.lookup(keys); });
    }
    core::Result<bool> put(const std::string& key, const core::SuppressionEntry& entry) override {
        return slot_.with([&](core::SuppressionStore& s) { return s.put(key, entry); });
    }
    core::Result<bool> remove(const std::string& key) override {
        return slot_.with([&](core::SuppressionStore& s) { return s.remove(key); });
    }
    core::Result<core::SoftBounceOutcome> count_soft_bounce(
        const std::string& counter_key, std::int64_t window_seconds, std::int64_t limit,
        const std::string& entry_key, const core::SuppressionEntry& entry) override {
        return slot_.with([&](core::SuppressionStore& s) {
            return s.count_soft_bounce(counter_key, window_seconds, limit, entry_key, entry);
        });
    }
    core::Result<std::size_t> put_many(std::span<const core::KeyedEntry> entries) override {
        return slot_.with([&](core::SuppressionStore& s) { return s.put_many(entries); });
    }
    core::Result<std::size_t> scan(std::string_view pattern, const Visitor& visit) override {
        return slot_.with([&](core::SuppressionStore& s) { return s.scan(pattern, visit); });
    }

  private:
    SwitchableSlot<core::SuppressionStore, SuppressionStoreSettings> slot_{
        make_viewed_suppression_store, "suppression"};
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

// staffelctl: the whole of FILE ("-": standard input), at most `max_bytes`
// (what sets that bound, e.g. "[suppression] ingest_max_size", is named in
// the error when `limit_name` is given). On failure, prints
// "staffelctl: COMMAND: why" to `err`, sets `exit_code` (66: cannot be read,
// 65: too large) and returns nullopt; reading stops once over the bound.
std::optional<std::string> read_input(const std::string& path, std::size_t max_bytes,
                                      std::string_view command, std::ostream& err, int& exit_code,
                                      std::string_view limit_name = {});

}  // namespace staffel::app
