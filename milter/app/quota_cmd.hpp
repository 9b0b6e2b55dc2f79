// quota_cmd.hpp - `staffelctl quota show KEY` and `staffelctl quota reset KEY`.
//
// Purpose: print or clear the counters of one key (a sender address, a
//   domain, a SASL user, an IP or a stream name) for every [[quota]] limit
//   of the policy whose key can be that value, in the current window.
//   Which counters those are is the core's (core::counters_for); the
//   store is the same Redis counter store staffeld charges.
// Output: one line per limit on stdout: name, what it is keyed on, used,
//   limit, when it resets; errors on stderr.
// Exit status: 0 done; 1 no limit of the policy applies to KEY; 69 the
//   store cannot be reached.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/policy.hpp"
#include "core/quota/store.hpp"

namespace staffel::app {

int quota_show(const core::Policy& policy, core::CounterStore& store, const std::string& key,
               std::int64_t now, std::ostream& out, std::ostream& err);
int quota_reset(const core::Policy& policy, core::CounterStore& store, const std::string& key,
                std::int64_t now, std::ostream& out, std::ostream& err);

}  // namespace staffel::app
