// fake_counter_store.hpp - an in-memory CounterStore for unit tests.
//
// Purpose: keeps the semantics documented in core/quota/store.hpp (the
//   Redis script is the reference) over a map, with a clock the test sets,
//   and records every call so tests can count round trips.
// Thread-safety: none; one test thread.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "core/quota/store.hpp"

namespace staffel::test {

class FakeCounterStore final : public core::CounterStore {
  public:
    std::int64_t now_us = 0;  // the store's clock
    bool fail = false;        // every call answers an error
    int charges = 0, refunds = 0;
    std::map<std::string, std::int64_t> values;  // Window counts, Gcra TATs
    std::map<std::string, std::int64_t> expiry_ms;

    core::Result<core::ChargeOutcome> charge(std::span<const core::CounterCharge> cs) override {
        ++charges;
        if (fail) {
            return core::make_error("Redis at 127.0.0.1:6379: connection refused");
        }
        core::ChargeOutcome out;
        out.admitted = true;
        for (const auto& c : cs) {
            auto s = state(c, c.amount);
            out.admitted = out.admitted && (s.admits || !c.enforce);
            out.counters.push_back(s);
        }
        if (out.admitted) {
            for (std::size_t i = 0; i < cs.size(); ++i) {
                const auto& c = cs[i];
                if (c.kind == core::CounterCharge::Kind::Window) {
                    values[c.key] += c.amount;
                    expiry_ms[c.key] = c.expire_at_ms;
                    out.counters[i].used = values[c.key];
                } else {
                    values[c.key] = std::max(tat(c), now_us) + c.amount * c.interval_us;
                    out.counters[i].used = in_use(c);
                }
            }
        }
        return out;
    }

    core::Result<bool> refund(std::span<const core::CounterCharge> cs) override {
        ++refunds;
        if (fail) {
            return core::make_error("Redis at 127.0.0.1:6379: connection refused");
        }
        for (const auto& c : cs) {
            if (c.kind == core::CounterCharge::Kind::Window) {
                values[c.key] = std::max<std::int64_t>(0, values[c.key] - c.amount);
            } else {
                values[c.key] = tat(c) - c.amount * c.interval_us;
                if (values[c.key] <= now_us) {
                    values.erase(c.key);
                }
            }
        }
        return true;
    }

    core::Result<std::vector<core::CounterState>> read(
        std::span<const core::CounterCharge> cs) override {
        if (fail) {
            return core::make_error("Redis at 127.0.0.1:6379: connection refused");
        }
        std::vector<core::CounterState> out;
        for (const auto& c : cs) {
            auto s = state(c, 0);
            s.admits = false;
            out.push_back(s);
        }
        return out;
    }

    core::Result<std::size_t> reset(std::span<const std::string> keys) override {
        std::size_t n = 0;
        for (const auto& k : keys) {
            n += values.erase(k);
        }
        return n;
    }

  private:
    std::int64_t tat(const core::CounterCharge& c) const {
        const auto it = values.find(c.key);
        return it == values.end() ? now_us : it->second;
    }
    std::int64_t in_use(const core::CounterCharge& c) const {
        const auto ahead = std::max<std::int64_t>(0, tat(c) - now_us);
        return (ahead + c.interval_us - 1) / c.interval_us;
    }
    core::CounterState state(const core::CounterCharge& c, std::int64_t amount) const {
        core::CounterState s;
        s.now_us = now_us;
        if (c.kind == core::CounterCharge::Kind::Window) {
            const auto it = values.find(c.key);
            s.used = it == values.end() ? 0 : it->second;
            s.admits = s.used + amount <= c.limit;
            return s;
        }
        const auto base = std::max(tat(c), now_us);
        const auto next = base + amount * c.interval_us;
        const auto allowance = c.burst * c.interval_us;
        s.used = in_use(c);
        s.admits = next - now_us <= allowance;
        if (!s.admits) {
            s.retry_at_us = amount > c.burst ? -1 : next - allowance;
        }
        return s;
    }
};

}  // namespace staffel::test
