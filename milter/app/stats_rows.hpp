// stats_rows.hpp - one row of statistics as people and scripts read it.
//
// Purpose: `staffelctl stats` and the dashboard (staffelctl web) show the
//   same numbers from the same counters: messages and recipients accepted,
//   held, refused and deferred messages, refused or removed recipients,
//   ingested bounces, complaints and unsubscribes, and the bounce and
//   complaint rates per accepted recipient. This is the one place that
//   derives them from a value's counters (core/stats/counts.hpp).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

namespace staffel::app {

// Gmail's and Yahoo's limit for bulk senders (2024): complaints per
// message delivered.
inline constexpr double kComplaintLimit = 0.003;

using Counters = std::map<std::string, std::int64_t>;

struct StatsRow {
    std::string value;
    Counters counters;
    std::int64_t messages = 0, recipients = 0, held = 0, refused = 0, deferred = 0;
    std::int64_t rcpt_refused = 0, bounces = 0, complaints = 0, unsubscribes = 0;
    double bounce_rate = 0, complaint_rate = 0;
};

StatsRow stats_row(const std::string& value, const Counters& counters);
// The sum of every counter whose name starts with `prefix`.
std::int64_t sum_prefix(const Counters& c, std::string_view prefix);
std::int64_t counter(const Counters& c, const std::string& name);
// The row as `staffelctl stats --json` prints it.
nlohmann::json stats_row_json(const StatsRow& r);

}  // namespace staffel::app
