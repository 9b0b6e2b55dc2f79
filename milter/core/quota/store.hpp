// store.hpp - the counter store port: where quota and rate counters live.
//
// Purpose: the core decides which counters a message charges and by how
//   much (core/quota/quota.hpp); a CounterStore checks and charges them all
//   at once. staffeld uses the Redis adapter (adapters/redis/counter_store),
//   shared by every MTA node; the unit tests use a fake with a fixed clock.
// Semantics every implementation keeps (the Redis script is the reference):
//   - Window counter: an integer. It admits `amount` when
//     used + amount <= limit. Charging adds `amount` and makes the counter
//     expire at `expire_at_ms` (epoch milliseconds).
//   - Gcra counter: a theoretical arrival time TAT in epoch microseconds
//     (absent = now). With tat = max(TAT, now) and
//     new_tat = tat + amount * interval_us, it admits when
//     new_tat - now <= burst * interval_us. Charging stores new_tat, which
//     expires once it is in the past. "Units in use" is
//     ceil((tat - now) / interval_us). `now` is the store's clock (Redis
//     TIME), so nodes with skewed clocks agree.
//   - charge() is all or nothing: if every counter with `enforce` admits,
//     every counter (enforcing or not) is charged; otherwise none is.
//     Non-enforcing (shadow) counters never prevent admission.
//   - refund() undoes an admitted charge: a Window counter drops by
//     `amount` (never below zero), a Gcra TAT moves back by
//     amount * interval_us (a TAT in the past is deleted).
// Thread-safety: implementations are called from every milter worker
//   thread at once and must be thread-safe.
// Errors: an unreachable or slow store is a Result error, never an
//   exception; the caller applies the policy's on_store_error.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace staffel::core {

// What a message gets when a store (counters, suppression lists) cannot
// answer in time: [redis] on_store_error, overridden per feature by
// [suppression] on_store_error and [[quota]] on_store_error.
enum class StoreErrorMode { Tempfail, Accept };

struct CounterCharge {
    enum class Kind { Window, Gcra };
    Kind kind = Kind::Window;
    std::string key;          // full store key: prefix, hash tag, limit, period
    std::int64_t amount = 0;  // recipients, or 1 for a message
    bool enforce = true;      // false: shadow mode, counted but never denies
    // Window
    std::int64_t limit = 0;         // the most the window admits
    std::int64_t expire_at_ms = 0;  // when the counter may vanish
    // Gcra
    std::int64_t interval_us = 0;  // time one unit takes to drain
    std::int64_t burst = 0;        // units that may be in use at once
};

// One counter after a charge() or read().
struct CounterState {
    bool admits = false;    // charge(): this counter had room for the amount
    std::int64_t used = 0;  // Window: the count; Gcra: units in use (after charging, if admitted)
    // Gcra: when (epoch microseconds) `amount` would fit, if it did not;
    // -1 if it never can (amount > burst). Window: 0.
    std::int64_t retry_at_us = 0;
    std::int64_t now_us = 0;  // the store's clock at the decision
};

struct ChargeOutcome {
    bool admitted = false;               // every enforcing counter admitted; all were charged
    std::vector<CounterState> counters;  // same order as the charges
};

class CounterStore {
  public:
    virtual ~CounterStore() = default;
    // Checks every counter and charges them all if every enforcing one
    // admits, atomically. One round trip.
    virtual Result<ChargeOutcome> charge(std::span<const CounterCharge> charges) = 0;
    // Undoes an admitted charge() of the same counters. One round trip.
    virtual Result<bool> refund(std::span<const CounterCharge> charges) = 0;
    // Reads counters without changing them (`amount` is ignored; `admits`
    // is false). For staffelctl.
    virtual Result<std::vector<CounterState>> read(std::span<const CounterCharge> counters) = 0;
    // Deletes counters; returns how many existed. For staffelctl.
    virtual Result<std::size_t> reset(std::span<const std::string> keys) = 0;
};

}  // namespace staffel::core
