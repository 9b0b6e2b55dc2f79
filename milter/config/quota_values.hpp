// quota_values.hpp - the values of [[quota]] entries, and the checks of an
// entry as a whole.
//
// Purpose: the schema (config/schema.cpp) declares the [[quota]] keys; the
//   parsers of their values ("500/1d", "sasl_user", a date) and the
//   whole-entry checks (unique names, burst only on rates, warm-up only on
//   daily quotas) live here, next to each other.
// Thread-safety: pure functions.
// Errors: Result errors / messages that say what is wrong; the loader adds
//   file:line:column and the field.
#pragma once

#include <toml++/toml.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/policy.hpp"
#include "core/quota/quota.hpp"
#include "core/result.hpp"
#include "core/units.hpp"

namespace staffel::config {

core::Result<std::string> quota_name(std::string_view text);
core::Result<core::QuotaKey> quota_key(std::string_view text);
core::Result<core::QuotaAction> quota_action(std::string_view text);
core::Result<core::QuotaCounts> quota_counts(std::string_view text);
core::Result<std::optional<bool>> quota_window(std::string_view text);

// "500/1d", "500/day", "2000/1w", "2000/week", "9000/month", "300/1m".
struct QuotaRate {
    core::Rate rate;
    core::QuotaWindow window = core::QuotaWindow::Rolling;
};
core::Result<QuotaRate> quota_rate(std::string_view text);

// A TOML local date or a "YYYY-MM-DD" string, as days since 1970-01-01.
core::Result<std::int64_t> local_date(const toml::node& n);

// Checks the last [[quota]] entry of `p` as a whole (and settles its window).
std::optional<std::string> finish_quota(core::Policy& p);

}  // namespace staffel::config
