// dry_run.cpp - see dry_run.hpp.
#include "core/quota/dry_run.hpp"

namespace staffel::core {

Result<ChargeOutcome> DryRunCounterStore::charge(std::span<const CounterCharge> charges) {
    auto states = real_.read(charges);
    if (!states) {
        return states.error();
    }
    ChargeOutcome out;
    out.admitted = true;
    out.counters = std::move(states).value();
    for (std::size_t i = 0; i < charges.size() && i < out.counters.size(); ++i) {
        const auto& c = charges[i];
        auto& s = out.counters[i];
        if (c.kind == CounterCharge::Kind::Window) {
            s.admits = s.used + c.amount <= c.limit;
            s.retry_at_us = 0;
        } else {
            s.admits = s.used + c.amount <= c.burst;
            s.retry_at_us =
                c.amount > c.burst
                    ? -1
                    : (s.admits ? 0 : s.now_us + (s.used + c.amount - c.burst) * c.interval_us);
        }
        if (c.enforce && !s.admits) {
            out.admitted = false;
        }
    }
    if (out.admitted) {
        for (std::size_t i = 0; i < charges.size() && i < out.counters.size(); ++i) {
            out.counters[i].used += charges[i].amount;
        }
    }
    return out;
}

Result<bool> DryRunCounterStore::refund(std::span<const CounterCharge>) {
    return true;  // nothing was charged
}

Result<std::vector<CounterState>> DryRunCounterStore::read(
    std::span<const CounterCharge> counters) {
    return real_.read(counters);
}

Result<std::size_t> DryRunCounterStore::reset(std::span<const std::string>) {
    return make_error("a dry run changes no counters");
}

}  // namespace staffel::core
