// stats_cmd.cpp - see stats_cmd.hpp.
#include "app/stats_cmd.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>

#include "adapters/redis/redis_settings.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "app/stats_rows.hpp"

namespace staffel::app {

namespace {

using adapters::StatsTable;
using Row = StatsRow;

std::optional<long> number_before(const std::string& text, char unit) {
    if (text.size() < 2 || text.back() != unit) {
        return std::nullopt;
    }
    long n = 0;
    const auto* end = text.data() + text.size() - 1;
    const auto [ptr, ec] = std::from_chars(text.data(), end, n);
    if (ec != std::errc{} || ptr != end || n < 1) {
        return std::nullopt;
    }
    return n;
}

std::string day_label(const core::CivilTime& t) {
    return core::stats::hour_label(t.year, t.month, t.day, 0).substr(0, 8);
}

std::string percent(std::int64_t part, std::int64_t whole, double rate) {
    if (whole <= 0) {
        return part > 0 ? "n/a" : "-";
    }
    std::ostringstream s;
    s << std::fixed << std::setprecision(2) << rate * 100 << '%';
    return s.str();
}

}  // namespace

std::optional<StatsPeriod> parse_since(const std::string& since, const core::ZoneRules& zone,
                                       std::int64_t now) {
    StatsPeriod p;
    std::set<std::string> seen;
    const auto add = [&](std::string label) {
        if (seen.insert(label).second) {
            p.labels.push_back(std::move(label));
        }
    };
    if (auto hours = number_before(since, 'h')) {
        if (*hours > 840) {
            return std::nullopt;
        }
        for (long k = 0; k < *hours; ++k) {
            add(core::stats::local_hour(zone, now - k * 3600));
        }
        return p;
    }
    p.hourly = false;
    if (auto days = number_before(since, 'd')) {
        if (*days > 3650) {
            return std::nullopt;
        }
        const auto today = zone.to_local(now);
        const auto d0 = core::days_from_civil(today.year, today.month, today.day);
        for (long k = 0; k < *days; ++k) {
            add(day_label(core::civil_from_days(d0 - k)));
        }
        return p;
    }
    int y = 0, m = 0, d = 0;
    if (since.size() != 10 || std::sscanf(since.c_str(), "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 ||
        m > 12 || d < 1 || d > 31) {
        return std::nullopt;
    }
    const auto today = zone.to_local(now);
    const auto first = core::days_from_civil(y, m, d);
    const auto last = core::days_from_civil(today.year, today.month, today.day);
    if (first > last || last - first > 3650) {
        return std::nullopt;
    }
    for (auto k = last; k >= first; --k) {
        add(day_label(core::civil_from_days(k)));
    }
    return p;
}

void print_stats(const StatsTable& table, const StatsArgs& args, const StatsPeriod& period,
                 std::ostream& out) {
    std::vector<Row> rows;
    Counters totals;
    for (const auto& [value, counters] : table) {
        rows.push_back(stats_row(value, counters));
        for (const auto& [name, n] : counters) {
            totals[name] += n;
        }
    }
    std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) {
        return a.messages != b.messages ? a.messages > b.messages : a.value < b.value;
    });
    const std::size_t shown = std::min(rows.size(), args.top);
    const Row total = stats_row("(total)", totals);
    if (args.json) {
        using nlohmann::json;
        const auto row_json = stats_row_json;
        json j{{"since", args.since},
               {"by", args.by},
               {"granularity", period.hourly ? "hour" : "day"},
               {"periods", period.labels},
               {"rows", json::array()},
               {"total", row_json(total)}};
        for (std::size_t i = 0; i < shown; ++i) {
            j["rows"].push_back(row_json(rows[i]));
        }
        out << j.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
        return;
    }
    out << "by " << args.by << ", since " << args.since << " (" << period.labels.size()
        << (period.hourly ? " hours" : " days") << ")\n";
    std::size_t width = 8;
    for (std::size_t i = 0; i < shown; ++i) {
        width = std::max(width, std::min<std::size_t>(rows[i].value.size(), 48));
    }
    const auto line = [&](const Row& r) {
        out << std::left << std::setw(static_cast<int>(width)) << r.value.substr(0, 48)
            << std::right << std::setw(10) << r.messages << std::setw(11) << r.recipients
            << std::setw(6) << r.held << std::setw(8) << r.refused << std::setw(9) << r.deferred
            << std::setw(9) << r.rcpt_refused << std::setw(8) << r.bounces << std::setw(8)
            << r.complaints << std::setw(7) << r.unsubscribes << std::setw(9)
            << percent(r.bounces, r.recipients, r.bounce_rate) << std::setw(10)
            << percent(r.complaints, r.recipients, r.complaint_rate)
            << (r.complaint_rate > kComplaintLimit ? " !" : "") << '\n';
    };
    out << std::left << std::setw(static_cast<int>(width)) << "VALUE" << std::right << std::setw(10)
        << "MESSAGES" << std::setw(11) << "RECIPIENTS" << std::setw(6) << "HELD" << std::setw(8)
        << "REFUSED" << std::setw(9) << "DEFERRED" << std::setw(9) << "RCPT-REF" << std::setw(8)
        << "BOUNCES" << std::setw(8) << "COMPL" << std::setw(7) << "UNSUB" << std::setw(9)
        << "BOUNCE%" << std::setw(10) << "COMPL%" << '\n';
    for (std::size_t i = 0; i < shown; ++i) {
        line(rows[i]);
    }
    if (rows.size() > shown) {
        out << "(" << rows.size() - shown << " more; --top N shows more)\n";
    }
    line(total);
    if (total.complaint_rate > kComplaintLimit ||
        std::any_of(rows.begin(), rows.begin() + static_cast<std::ptrdiff_t>(shown),
                    [](const Row& r) { return r.complaint_rate > kComplaintLimit; })) {
        out << "! complaint rate over 0.3%, the Gmail/Yahoo bulk-sender limit\n";
    }
}

int stats_command(const core::Policy& policy, const StatsArgs& args, std::int64_t now,
                  std::ostream& out, std::ostream& err) {
    const auto dimension = core::stats::parse_dimension(args.by);
    if (!dimension) {
        err << "staffelctl: --by: unknown dimension \"" << args.by
            << "\"; known: sender_domain, sender, stream, route, tag, rcpt_domain, outcome\n";
        return kExitUsage;
    }
    const auto period = parse_since(args.since, *policy.general.time_zone, now);
    if (!period) {
        err << "staffelctl: --since: expected Nh (N <= 840), Nd (N <= 3650) or YYYY-MM-DD (not "
               "in the future), got \""
            << args.since << "\"\n";
        return kExitUsage;
    }
    std::vector<std::string> keys;
    for (const auto& label : period->labels) {
        keys.push_back(
            period->hourly
                ? adapters::RedisStatsStore::hourly_key(policy.redis.prefix, *dimension, label)
                : adapters::RedisStatsStore::daily_key(policy.redis.prefix, *dimension, label));
    }
    adapters::RedisStatsStore store(adapters::redis_options(policy.redis));
    auto table = store.sum(keys);
    if (!table) {
        err << "staffelctl: " << table.error().message << '\n';
        return kExitUnavailable;
    }
    print_stats(*table, args, *period, out);
    return 0;
}

void StatsCli::add(CLI::App& app, ManPage man_page) {
    app_ = app.add_subcommand("stats", "what every node counted: volume, refusals, bounces");
    man_page(app_,
             "staffelctl [-c POLICY] stats [--since 24h|7d|YYYY-MM-DD]\n"
             "                 [--by DIMENSION] [--top N] [--json]",
             "Sums the statistics every staffeld writes to Redis ([stats] enabled)\n"
             "over a period, for one dimension, and prints a table: messages and\n"
             "recipients accepted, held, refused and deferred messages, refused or\n"
             "removed recipients, ingested bounces, complaints and unsubscribes, and\n"
             "bounce and complaint rates per accepted recipient. A complaint rate over\n"
             "0.3% (the Gmail/Yahoo bulk-sender limit) is flagged with \"!\".\n"
             "Hours and days are those of [general] time_zone.",
             "EXIT STATUS\n"
             "  0   done\n"
             "  64  bad --since or --by\n"
             "  69  Redis cannot be reached\n"
             "  78  the policy is invalid\n\n"
             "EXAMPLES\n"
             "  staffelctl stats --since 7d --by tag\n"
             "  staffelctl stats --since 2026-11-01 --by sender --top 50 --json\n");
    app_->add_option("--since", args_.since,
                     "Nh: the last N hours; Nd: the last N days;\n"
                     "YYYY-MM-DD: from that day on (default 24h)")
        ->type_name("PERIOD");
    app_->add_option("--by", args_.by,
                     "sender_domain (default), sender, stream, route, tag,\n"
                     "rcpt_domain or outcome")
        ->type_name("DIMENSION");
    app_->add_option("--top", args_.top, "Rows shown, largest first (default 20)")
        ->check(CLI::Range(1, 1000000).description(""))
        ->type_name("N");
    app_->add_flag("--json", args_.json, "JSON for scripts instead of a table");
}

bool StatsCli::parsed() const {
    return app_ != nullptr && app_->parsed();
}

int StatsCli::run(const std::string& policy_path) {
    const auto policy = load_policy_or_report(policy_path, {}, std::cerr);
    if (!policy) {
        return kExitConfig;
    }
    return stats_command(*policy, args_, static_cast<std::int64_t>(std::time(nullptr)), std::cout,
                         std::cerr);
}

}  // namespace staffel::app
