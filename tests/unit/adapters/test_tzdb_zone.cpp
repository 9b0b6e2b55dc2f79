// test_tzdb_zone.cpp - quota windows against the date/tz library itself.
//
// For a sample of zones and years, the day, week and month windows that
// core/quota plans through config::load_zone (adapters/tz) are compared
// with boundaries computed directly with date/tz: the local date from
// time_zone::to_local, and the start and end of a window from
// time_zone::to_sys(local midnight, choose::earliest), which maps a
// midnight skipped by a DST gap to the gap's end, as ZoneRules::from_local
// does. Instants sampled: every 5 hours, each change of offset (and the
// seconds around it) and each local midnight (and the second before).
#include <date/tz.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "config/zone.hpp"
#include "core/quota/quota.hpp"
#include "core/tz.hpp"

using namespace staffel;

namespace {

constexpr std::int64_t kDay = 86400;

std::int64_t seconds_of(date::sys_seconds t) {
    return t.time_since_epoch().count();
}

date::sys_seconds sys_at(std::int64_t t) {
    return date::sys_seconds{std::chrono::seconds{t}};
}

std::string date_text(date::local_days day) {
    const date::year_month_day ymd{day};
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
    return buf;
}

// The first instant at or after local midnight of `day`.
std::int64_t library_midnight(const date::time_zone& tz, date::local_days day) {
    return seconds_of(tz.to_sys(date::local_seconds{day}, date::choose::earliest));
}

struct Window {
    std::string period;       // as in the counter key: "d2024-03-31", "w2024-03-25", "m2024-03"
    std::int64_t start = 0;   // first instant of the window
    std::int64_t resets = 0;  // first instant of the next one
};

Window library_window(const date::time_zone& tz, core::QuotaWindow kind, std::int64_t now) {
    const auto today = date::floor<date::days>(tz.to_local(sys_at(now)));
    date::local_days first = today;
    date::local_days next = today + date::days{1};
    std::string period = "d" + date_text(today);
    if (kind == core::QuotaWindow::Week) {
        first = today - (date::weekday{today} - date::Monday);
        next = first + date::days{7};
        period = "w" + date_text(first);
    } else if (kind == core::QuotaWindow::Month) {
        const date::year_month_day ymd{today};
        first = date::local_days{ymd.year() / ymd.month() / 1};
        next = date::local_days{(ymd.year() / ymd.month() + date::months{1}) / 1};
        period = "m" + date_text(first).substr(0, 7);
    }
    Window out{period, library_midnight(tz, first), library_midnight(tz, next)};
    // quota.cpp's rule for a next midnight that lies in the past (a zone
    // whose clocks fall back across midnight): the window ends in a day.
    if (out.resets <= now) {
        out.resets = now + kDay;
    }
    return out;
}

core::QuotaLimit calendar_limit(core::QuotaWindow kind) {
    core::QuotaLimit l;
    l.name = "cal";
    l.limit = {100, std::chrono::hours(24)};
    l.window = kind;
    return l;
}

// The period and reset time core/quota plans at `now`.
Window planned_window(const core::QuotaLimit& limit, const core::ZoneRules& zone,
                      std::int64_t now) {
    const std::vector<core::QuotaLimit> limits{limit};
    const auto plans = core::plan_charges(limits, zone, "", {.address = "a@x.org"}, "", 1, now);
    REQUIRE(plans.size() == 1);
    const std::string& key = plans[0].charge.key;
    return {key.substr(key.rfind(':') + 1), 0, plans[0].resets_at};
}

// Instants of `year` (UTC) worth comparing in `tz`.
std::set<std::int64_t> sample_instants(const date::time_zone& tz, int year) {
    const std::int64_t begin = seconds_of(date::sys_days{date::year{year} / 1 / 1});
    const std::int64_t end = seconds_of(date::sys_days{date::year{year + 1} / 1 / 1});
    std::set<std::int64_t> out;
    for (std::int64_t t = begin; t < end; t += 5 * 3600) {
        out.insert(t);
    }
    for (auto info = tz.get_info(sys_at(begin)); seconds_of(info.end) < end;
         info = tz.get_info(info.end)) {
        for (const std::int64_t d : {-3601, -1, 0, 1, 3599}) {
            out.insert(seconds_of(info.end) + d);
        }
    }
    const auto first_day = date::floor<date::days>(tz.to_local(sys_at(begin)));
    for (auto day = first_day; day < first_day + date::days{367}; day += date::days{1}) {
        const std::int64_t midnight = library_midnight(tz, day);
        out.insert(midnight - 1);
        out.insert(midnight);
    }
    return out;
}

}  // namespace

TEST_CASE("quota day/week/month windows agree with date/tz across zones and years", "[tz]") {
    const char* zones[] = {"Europe/Berlin",
                           "America/New_York",
                           "Australia/Lord_Howe",
                           "Asia/Kathmandu",
                           "America/Santiago",
                           "Pacific/Apia",
                           "UTC"};
    const int years[] = {1995, 2011, 2024, 2037};
    const core::QuotaWindow kinds[] = {core::QuotaWindow::Day, core::QuotaWindow::Week,
                                       core::QuotaWindow::Month};
    for (const char* name : zones) {
        const auto zone = config::load_zone(name);
        REQUIRE(zone.ok());
        const date::time_zone& tz = *date::locate_zone(name);
        for (const int year : years) {
            for (const core::QuotaWindow kind : kinds) {
                const core::QuotaLimit limit = calendar_limit(kind);
                int mismatches = 0;
                for (const std::int64_t now : sample_instants(tz, year)) {
                    const Window want = library_window(tz, kind, now);
                    const Window got = planned_window(limit, *zone, now);
                    const Window at_start = planned_window(limit, *zone, want.start);
                    const Window before = planned_window(limit, *zone, want.start - 1);
                    if (got.period == want.period && got.resets == want.resets &&
                        at_start.period == want.period && before.period != want.period) {
                        continue;
                    }
                    if (++mismatches <= 5) {  // a few are enough to see what is wrong
                        FAIL_CHECK(name << " at " << now << ": got " << got.period
                                        << " resetting at " << got.resets << ", want "
                                        << want.period << " from " << want.start << " resetting at "
                                        << want.resets << " (at the start: " << at_start.period
                                        << ", a second before: " << before.period << ")");
                    }
                }
                INFO(name << " " << year << " window " << static_cast<int>(kind));
                CHECK(mismatches == 0);
            }
        }
    }
}
