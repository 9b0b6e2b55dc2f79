// runtime.hpp - the daemon's shared, swappable state.
//
// Purpose: PolicyStore holds the current policy snapshot and swaps it
//   atomically on reload; InFlightCounter counts messages between MAIL FROM
//   and their end so SIGTERM can let them finish; Overrides are the
//   command-line settings (--socket, --redis) applied over every load.
// Thread-safety: PolicyStore and InFlightCounter may be used from any
//   thread; Overrides are plain values.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "core/policy.hpp"
#include "core/session.hpp"

namespace staffel::app {

class PolicyStore {
public:
    [[nodiscard]] std::shared_ptr<const core::Policy> current() const { return current_.load(); }
    void replace(std::shared_ptr<const core::Policy> next) { current_.store(std::move(next)); }

private:
    std::atomic<std::shared_ptr<const core::Policy>> current_;
};

class InFlightCounter final : public core::InFlight {
public:
    void begin() override;
    void end() override;
    // Waits until no message is in flight or `limit` passes; returns how
    // many are still in flight.
    std::size_t wait_idle(std::chrono::milliseconds limit);

private:
    std::mutex mu_;
    std::condition_variable idle_;
    std::size_t count_ = 0;
};

struct Overrides {
    std::optional<std::string> socket;  // --socket
    std::optional<std::string> redis;   // --redis
};

// Loads the policy file and applies the overrides. Errors from overrides
// name the option instead of a file location.
config::LoadResult load_with_overrides(const std::string& path, const Overrides& overrides);

}  // namespace staffel::app
