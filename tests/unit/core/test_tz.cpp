// test_tz.cpp - civil dates and real time zones, as quotas use them.
//
// Real zones come from the system's /usr/share/zoneinfo (Debian's tzdata)
// through config::load_zone, that is through adapters/tz (date/tz).
// Expected instants were computed independently (Python's zoneinfo and
// glibc's localtime) and are written out as epoch seconds.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>

#include "config/zone.hpp"
#include "core/tz.hpp"

using namespace staffel;
using core::CivilTime;
using core::ZoneRules;

namespace {

constexpr std::int64_t kHour = 3600;

ZoneRules zone(const char* name) {
    auto got = config::load_zone(name);
    INFO("load_zone(" << name << ")");
    REQUIRE(got.ok());
    return got.value();
}

std::string civil_text(const CivilTime& c) {
    return std::to_string(c.year) + "-" + std::to_string(c.month) + "-" + std::to_string(c.day) +
           " " + std::to_string(c.hour) + ":" + std::to_string(c.minute) + ":" +
           std::to_string(c.second);
}

}  // namespace

// ---- civil calendar ---------------------------------------------------------------

TEST_CASE("civil dates map to days since 1970-01-01 and back", "[tz]") {
    struct Case {
        int year, month, day;
        std::int64_t want_days;
    };
    const Case cases[] = {
        {1970, 1, 1, 0},     {1969, 12, 31, -1},   {2000, 2, 29, 11016},  // leap (400)
        {2000, 3, 1, 11017}, {2024, 2, 29, 19782}, {2100, 2, 28, 47540},  // 2100: no leap
        {2100, 3, 1, 47541}, {1900, 3, 1, -25508}, {1600, 2, 29, -135081},
        {1, 1, 1, -719162},  {2026, 3, 29, 20541},
    };
    for (const auto& c : cases) {
        INFO(c.year << "-" << c.month << "-" << c.day);
        const auto got = core::days_from_civil(c.year, c.month, c.day);
        CHECK(got == c.want_days);
        const CivilTime want{c.year, c.month, c.day, 0, 0, 0};
        CHECK(core::civil_from_days(c.want_days) == want);
    }
}

TEST_CASE("every day from 1583 to 2417 round-trips and follows the previous", "[tz]") {
    const std::int64_t first = core::days_from_civil(1583, 1, 1);
    const std::int64_t last = core::days_from_civil(2417, 12, 31);
    CivilTime previous = core::civil_from_days(first - 1);
    for (std::int64_t d = first; d <= last; ++d) {
        const CivilTime got = core::civil_from_days(d);
        const bool next_day = got.day == previous.day + 1 && got.month == previous.month;
        const bool next_month = got.day == 1 && (got.month == previous.month + 1 ||
                                                 (got.month == 1 && got.year == previous.year + 1));
        if (core::days_from_civil(got.year, got.month, got.day) != d || !(next_day || next_month)) {
            FAIL("day " << d << ": got " << civil_text(got) << " after " << civil_text(previous));
        }
        previous = got;
    }
    CHECK(previous == CivilTime{2417, 12, 31, 0, 0, 0});
}

TEST_CASE("days_from_civil carries months and days out of range", "[tz]") {
    struct Case {
        int year, month, day;
        int want_year, want_month, want_day;
    };
    const Case cases[] = {
        {2026, 13, 1, 2027, 1, 1},   {2026, 0, 1, 2025, 12, 1},  {2026, 3, 0, 2026, 2, 28},
        {2024, 3, 0, 2024, 2, 29},   {2026, 12, 32, 2027, 1, 1}, {2026, -11, 1, 2025, 1, 1},
        {2026, -12, 1, 2024, 12, 1}, {2026, 25, 1, 2028, 1, 1},  {2026, 1, 366, 2027, 1, 1},
    };
    for (const auto& c : cases) {
        INFO(c.year << "-" << c.month << "-" << c.day);
        CHECK(core::days_from_civil(c.year, c.month, c.day) ==
              core::days_from_civil(c.want_year, c.want_month, c.want_day));
    }
}

TEST_CASE("weekdays count from Monday = 0", "[tz]") {
    struct Case {
        int year, month, day;
        int want;
    };
    const Case cases[] = {
        {1970, 1, 1, 3},  {1969, 12, 29, 0}, {1969, 12, 28, 6}, {2000, 1, 1, 5}, {2026, 3, 29, 6},
        {2026, 3, 30, 0}, {2024, 2, 29, 3},  {1, 1, 1, 0},      {1900, 3, 1, 3},
    };
    for (const auto& c : cases) {
        INFO(c.year << "-" << c.month << "-" << c.day);
        CHECK(core::weekday_from_days(core::days_from_civil(c.year, c.month, c.day)) == c.want);
    }
}

// ---- real zones ---------------------------------------------------------------------

TEST_CASE("offsets and abbreviations around DST changes, within and beyond the table", "[tz]") {
    struct Case {
        const char* zone;
        std::int64_t t;
        std::int32_t want_offset;
        const char* want_abbreviation;
    };
    const Case cases[] = {
        // Berlin 2026: 02:00 CET -> 03:00 CEST at 01:00 UTC, back at 01:00 UTC.
        {"Europe/Berlin", 1774746000 - 1, 3600, "CET"},
        {"Europe/Berlin", 1774746000, 7200, "CEST"},
        {"Europe/Berlin", 1792890000 - 1, 7200, "CEST"},
        {"Europe/Berlin", 1792890000, 3600, "CET"},
        // Beyond the transitions in the file: the footer's rule.
        {"Europe/Berlin", 2216250000 - 1, 3600, "CET"},  // 2040-03-25
        {"Europe/Berlin", 2216250000, 7200, "CEST"},
        {"Europe/Berlin", 2234998800 - 1, 7200, "CEST"},  // 2040-10-28
        {"Europe/Berlin", 2234998800, 3600, "CET"},
        {"Europe/Berlin", 4109878800 - 1, 3600, "CET"},  // 2100-03-28
        {"Europe/Berlin", 4109878800, 7200, "CEST"},
        {"Europe/Berlin", 4128627600 - 1, 7200, "CEST"},  // 2100-10-31
        {"Europe/Berlin", 4128627600, 3600, "CET"},
        // New York 2026: 2026-03-08 07:00 UTC and 2026-11-01 06:00 UTC.
        {"America/New_York", 1772953200 - 1, -18000, "EST"},
        {"America/New_York", 1772953200, -14400, "EDT"},
        {"America/New_York", 1793512800 - 1, -14400, "EDT"},
        {"America/New_York", 1793512800, -18000, "EST"},
        {"America/New_York", 4108690800, -14400, "EDT"},  // 2100-03-14
        // Sydney: DST over the new year; ends 2026-04-05, starts 2026-10-04.
        {"Australia/Sydney", 1767225600, 39600, "AEDT"},  // 2026-01-01
        {"Australia/Sydney", 1775318400 - 1, 39600, "AEDT"},
        {"Australia/Sydney", 1775318400, 36000, "AEST"},
        {"Australia/Sydney", 1791043200 - 1, 36000, "AEST"},
        {"Australia/Sydney", 1791043200, 39600, "AEDT"},
        {"Australia/Sydney", 4110451200, 36000, "AEST"},  // 2100-04-03
        // Lord Howe: +10:30 standard, +11 in summer (a 30-minute shift).
        {"Australia/Lord_Howe", 1775314800 - 1, 39600, "+11"},
        {"Australia/Lord_Howe", 1775314800, 37800, "+1030"},
        {"Australia/Lord_Howe", 1791041400 - 1, 37800, "+1030"},
        {"Australia/Lord_Howe", 1791041400, 39600, "+11"},
        {"Australia/Lord_Howe", 4126174200, 39600, "+11"},  // 2100-10-02
        {"UTC", 1774746000, 0, "UTC"},
        {"UTC", 4128627600, 0, "UTC"},
    };
    for (const auto& c : cases) {
        const ZoneRules z = zone(c.zone);
        INFO(c.zone << " at " << c.t);
        CHECK(z.offset_at(c.t) == c.want_offset);
        CHECK(z.abbreviation_at(c.t) == c.want_abbreviation);
    }
}

TEST_CASE("UTC instants become local civil times", "[tz]") {
    struct Case {
        const char* zone;
        std::int64_t t;
        CivilTime want;
    };
    const Case cases[] = {
        {"Europe/Berlin", 1774746000 - 1, {2026, 3, 29, 1, 59, 59}},
        {"Europe/Berlin", 1774746000, {2026, 3, 29, 3, 0, 0}},
        {"Europe/Berlin", 1792890000 - 1, {2026, 10, 25, 2, 59, 59}},
        {"Europe/Berlin", 1792890000, {2026, 10, 25, 2, 0, 0}},
        {"Europe/Berlin", -1, {1970, 1, 1, 0, 59, 59}},
        {"America/New_York", 1767225600, {2025, 12, 31, 19, 0, 0}},
        {"Australia/Lord_Howe", 1791041400, {2026, 10, 4, 2, 30, 0}},
        {"UTC", -2208988800, {1900, 1, 1, 0, 0, 0}},
    };
    for (const auto& c : cases) {
        const auto got = zone(c.zone).to_local(c.t);
        INFO(c.zone << " at " << c.t << ": got " << civil_text(got) << ", want "
                    << civil_text(c.want));
        CHECK(got == c.want);
    }
}

TEST_CASE("local times map to their first UTC instant, gaps to the gap's end", "[tz]") {
    struct Case {
        const char* zone;
        CivilTime local;
        std::int64_t want;
    };
    const Case cases[] = {
        // Midnights around Berlin's changes.
        {"Europe/Berlin", {2026, 3, 29, 0, 0, 0}, 1774738800},
        {"Europe/Berlin", {2026, 3, 30, 0, 0, 0}, 1774821600},
        {"Europe/Berlin", {2026, 10, 25, 0, 0, 0}, 1792879200},
        {"Europe/Berlin", {2026, 10, 26, 0, 0, 0}, 1792969200},
        {"Europe/Berlin", {2026, 1, 1, 0, 0, 0}, 1767222000},
        {"Europe/Berlin", {2040, 3, 25, 0, 0, 0}, 2216242800},   // footer
        {"Europe/Berlin", {2100, 10, 31, 0, 0, 0}, 4128616800},  // footer
        // In the spring gap (02:00-03:00 does not exist): the gap's end.
        {"Europe/Berlin", {2026, 3, 29, 2, 30, 0}, 1774746000},
        {"Europe/Berlin", {2026, 3, 29, 2, 0, 0}, 1774746000},
        {"Europe/Berlin", {2026, 3, 29, 1, 59, 59}, 1774746000 - 1},
        {"Europe/Berlin", {2026, 3, 29, 3, 0, 0}, 1774746000},
        {"Europe/Berlin", {2040, 3, 25, 2, 30, 0}, 2216250000},  // footer
        // Twice in autumn (02:00-03:00 occurs twice): the first, in CEST.
        {"Europe/Berlin", {2026, 10, 25, 2, 30, 0}, 1792890000 - 1800},
        {"Europe/Berlin", {2026, 10, 25, 3, 0, 0}, 1792890000 + 3600},
        {"Europe/Berlin", {2040, 10, 28, 2, 30, 0}, 2234998800 - 1800},  // footer
        // Fields out of range carry: 24:00 is the next midnight.
        {"Europe/Berlin", {2026, 3, 29, 24, 0, 0}, 1774821600},
        {"Europe/Berlin", {2026, 3, 30, 0, 0, 0}, 1774821600},
        {"America/New_York", {2026, 3, 8, 0, 0, 0}, 1772946000},
        {"America/New_York", {2026, 3, 8, 2, 30, 0}, 1772953200},
        {"America/New_York", {2026, 11, 1, 1, 30, 0}, 1793512800 - 1800},
        {"America/New_York", {2026, 11, 2, 0, 0, 0}, 1793595600},
        {"Australia/Sydney", {2026, 4, 5, 0, 0, 0}, 1775307600},
        {"Australia/Sydney", {2026, 4, 5, 2, 30, 0}, 1775318400 - 1800},
        {"Australia/Sydney", {2026, 10, 4, 0, 0, 0}, 1791036000},
        {"Australia/Sydney", {2026, 10, 4, 2, 30, 0}, 1791043200},
        {"Australia/Lord_Howe", {2026, 4, 5, 0, 0, 0}, 1775307600},
        {"Australia/Lord_Howe", {2026, 4, 5, 1, 45, 0}, 1775314800 - 900},
        {"Australia/Lord_Howe", {2026, 10, 4, 0, 0, 0}, 1791034200},
        {"Australia/Lord_Howe", {2026, 10, 4, 2, 15, 0}, 1791041400},
        {"UTC", {2026, 3, 29, 0, 0, 0}, 1774742400},
        {"UTC", {1900, 1, 1, 0, 0, 0}, -2208988800},
    };
    for (const auto& c : cases) {
        const auto got = zone(c.zone).from_local(c.local);
        INFO(c.zone << " " << civil_text(c.local) << ": got " << got << ", want " << c.want);
        CHECK(got == c.want);
    }
}

TEST_CASE("calendar days last 23, 24 or 25 hours", "[tz]") {
    struct Case {
        const char* zone;
        int year, month, day;
        std::int64_t want_hours;
    };
    const Case cases[] = {
        {"Europe/Berlin", 2026, 3, 29, 23},
        {"Europe/Berlin", 2026, 10, 25, 25},
        {"Europe/Berlin", 2026, 3, 28, 24},
        {"Europe/Berlin", 2100, 3, 28, 23},
        {"America/New_York", 2026, 3, 8, 23},
        {"America/New_York", 2026, 11, 1, 25},
        {"Australia/Sydney", 2026, 4, 5, 25},
        {"Australia/Sydney", 2026, 10, 4, 23},
        {"UTC", 2026, 3, 29, 24},
    };
    for (const auto& c : cases) {
        const ZoneRules z = zone(c.zone);
        const auto start = z.from_local({c.year, c.month, c.day, 0, 0, 0});
        const auto end = z.from_local({c.year, c.month, c.day + 1, 0, 0, 0});
        INFO(c.zone << " " << c.year << "-" << c.month << "-" << c.day);
        CHECK((end - start) == c.want_hours * kHour);
    }
    // Lord Howe's changes make 23.5- and 24.5-hour days.
    const ZoneRules lord_howe = zone("Australia/Lord_Howe");
    CHECK(lord_howe.from_local({2026, 4, 6, 0, 0, 0}) -
              lord_howe.from_local({2026, 4, 5, 0, 0, 0}) ==
          24 * kHour + 1800);
    CHECK(lord_howe.from_local({2026, 10, 5, 0, 0, 0}) -
              lord_howe.from_local({2026, 10, 4, 0, 0, 0}) ==
          23 * kHour + 1800);
}

TEST_CASE("every local midnight of 2026 and 2040 in Berlin is 00:00 local", "[tz]") {
    const ZoneRules berlin = zone("Europe/Berlin");
    for (const int year : {2026, 2040}) {
        for (std::int64_t d = core::days_from_civil(year, 1, 1);
             d < core::days_from_civil(year + 1, 1, 1); ++d) {
            const CivilTime midnight = core::civil_from_days(d);
            const auto got = berlin.to_local(berlin.from_local(midnight));
            if (got != midnight) {
                FAIL("got " << civil_text(got) << ", want " << civil_text(midnight));
            }
        }
    }
}

TEST_CASE("UTC is built in and needs no zoneinfo file", "[tz]") {
    const auto got = config::load_zone("UTC");
    REQUIRE(got.ok());
    CHECK(got->name() == "UTC");
    const ZoneRules built_in = ZoneRules::utc();
    for (const std::int64_t t :
         {std::int64_t{-2208988800}, std::int64_t{0}, std::int64_t{4128627600}}) {
        CHECK(got->offset_at(t) == 0);
        CHECK(built_in.offset_at(t) == 0);
        CHECK(built_in.abbreviation_at(t) == "UTC");
        CHECK(built_in.from_local(built_in.to_local(t)) == t);
    }
}

TEST_CASE("extreme instants and fields neither overflow nor wrap", "[tz]") {
    const ZoneRules berlin = zone("Europe/Berlin");
    // Before the first transition: type 0, Berlin's local mean time (+0:53:28).
    CHECK(berlin.offset_at(INT64_MIN) == 3208);
    CHECK(berlin.abbreviation_at(INT64_MIN) == "LMT");
    CHECK(berlin.to_local(INT64_MIN).year < -1'999'000'000);
    // Far beyond the table: the footer, in a year that still fits an int.
    const auto far = berlin.offset_at(INT64_MAX);
    CHECK((far == 3600 || far == 7200));
    CHECK(berlin.to_local(INT64_MAX).year > 1'999'000'000);
    CHECK(berlin.from_local({INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX}) >
          0);
    CHECK(berlin.from_local({INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN}) <
          0);
}

// ---- config::load_zone ------------------------------------------------------------------

TEST_CASE("zone names are checked before any file is opened", "[tz]") {
    struct Case {
        std::string name;
        const char* want;
    };
    const Case cases[] = {
        {"../etc/passwd", "invalid time zone name \"../etc/passwd\""},
        {"/etc/passwd", "invalid time zone name \"/etc/passwd\""},
        {"", "invalid time zone name \"\""},
        {"Europe//Berlin", "invalid time zone name"},
        {"Europe/Berlin/", "invalid time zone name"},
        {"Europe/./Berlin", "invalid time zone name"},
        {"Europe/Berlin ", "invalid time zone name"},
        {"Europe\\Berlin", "invalid time zone name"},
        {std::string(65, 'A'), "invalid time zone name"},
        {"No/Such_Zone", "unknown time zone \"No/Such_Zone\" (no file in /usr/share/zoneinfo)"},
        {"Europe", "is a directory"},
    };
    for (const auto& c : cases) {
        const auto got = config::load_zone(c.name);
        INFO("name \"" << c.name << "\"");
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\", want it to contain \"" << c.want << "\"");
        CHECK(got.error().message.find(c.want) != std::string::npos);
        CHECK(got.error().message.find("e.g. \"Europe/Berlin\" or \"UTC\"") != std::string::npos);
    }
    for (const char* name : {"Europe/Berlin", "America/Port-au-Prince", "Etc/GMT+5", "UTC"}) {
        INFO("name " << name);
        CHECK(config::is_valid_zone_name(name));
    }
}
