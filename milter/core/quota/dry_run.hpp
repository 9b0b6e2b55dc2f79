// dry_run.hpp - a counter store that answers charge() without charging.
//
// Purpose: `staffelctl explain` shows what the quotas would decide for a
//   message, through the same Session code staffeld runs, without using
//   up anyone's quota. DryRunCounterStore reads the counters of the real
//   store and works out, by the semantics in store.hpp, whether a charge
//   would be admitted; nothing is written.
// Semantics: charge() = read() plus the admission rule of each counter
//   kind (Window: used + amount <= limit; Gcra: units in use + amount <=
//   burst, with the retry time estimated from whole units). `used` is
//   what the counter would hold after an admitted charge, as with the real
//   store. refund() and reset() do nothing and succeed / refuse.
// Thread-safety: as the wrapped store's read().
// Errors: the wrapped store's.
#pragma once

#include "core/quota/store.hpp"

namespace staffel::core {

class DryRunCounterStore final : public CounterStore {
  public:
    explicit DryRunCounterStore(CounterStore& real) : real_(real) {}
    Result<ChargeOutcome> charge(std::span<const CounterCharge> charges) override;
    Result<bool> refund(std::span<const CounterCharge> charges) override;
    Result<std::vector<CounterState>> read(std::span<const CounterCharge> counters) override;
    Result<std::size_t> reset(std::span<const std::string> keys) override;

  private:
    CounterStore& real_;
};

}  // namespace staffel::core
