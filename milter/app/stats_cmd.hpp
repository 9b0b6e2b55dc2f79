// stats_cmd.hpp - `staffelctl stats`: what every node counted, read from Redis.
//
// Purpose: sums the hourly or daily statistics hashes that each staffeld
//   writes (adapters/redis/stats_store.hpp) over a period, for one
//   dimension, and prints a table a person reads (largest senders first,
//   bounce and complaint rates, complaint rates over the 0.3% bulk-sender
//   limit flagged with "!") or JSON for scripts.
// Periods: --since Nh (the last N local hours, hourly counts, N <= 840),
//   Nd (the last N local days, daily counts, N <= 3650) or YYYY-MM-DD
//   (daily counts from that local date to today); [general] time_zone.
// Output: stdout; errors on stderr. Exit status: 0 done; 64 bad --since or
//   --by; 69 Redis cannot be reached; 78 the policy is invalid.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "adapters/redis/stats_store.hpp"
#include "core/policy.hpp"
#include "core/stats/counts.hpp"

namespace CLI {
class App;
}

namespace staffel::app {

struct StatsArgs {
    std::string since = "24h";
    std::string by = "sender_domain";
    std::size_t top = 20;
    bool json = false;
};

// The hash keys --since names: hourly or daily labels, newest first.
struct StatsPeriod {
    bool hourly = true;
    std::vector<std::string> labels;  // "YYYYMMDDHH" or "YYYYMMDD"
};
std::optional<StatsPeriod> parse_since(const std::string& since, const core::ZoneRules& zone,
                                       std::int64_t now);

// Prints `table` (value -> counter -> sum) as `args` asks.
void print_stats(const adapters::StatsTable& table, const StatsArgs& args,
                 const StatsPeriod& period, std::ostream& out);

int stats_command(const core::Policy& policy, const StatsArgs& args, std::int64_t now,
                  std::ostream& out, std::ostream& err);

class StatsCli {
  public:
    using ManPage = void (*)(CLI::App*, std::string, std::string, std::string);
    void add(CLI::App& app, ManPage man_page);
    [[nodiscard]] bool parsed() const;
    int run(const std::string& policy_path);

  private:
    StatsArgs args_;
    CLI::App* app_ = nullptr;
};

}  // namespace staffel::app
