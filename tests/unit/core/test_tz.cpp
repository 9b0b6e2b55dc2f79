// test_tz.cpp - civil dates, TZif zones and POSIX TZ rules, as quotas use them.
//
// Real zones come from the system's /usr/share/zoneinfo (Debian's tzdata)
// through config::load_zone; synthetic TZif files are built in memory.
// Expected instants were computed independently (Python's zoneinfo and
// glibc's localtime) and are written out as epoch seconds.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

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

// ---- a TZif writer, for synthetic and malformed zones ---------------------------

struct TzType {
    std::int32_t utoff;
    std::uint8_t is_dst;
    std::uint8_t abbreviation_index;
};

struct Tzif {
    char version = '2';
    std::vector<std::int64_t> times;
    std::vector<std::uint8_t> type_of;
    std::vector<TzType> types;
    std::string chars;   // NUL-terminated abbreviations, back to back
    std::string footer;  // TZ string, without the enclosing newlines
};

void put_big_endian(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
        out += static_cast<char>((v >> (8 * i)) & 0xff);
    }
}

std::string tzif_block(const Tzif& z, int time_bytes) {
    std::string out = "TZif";
    out += z.version;
    out += std::string(15, '\0');
    for (const std::size_t count : {std::size_t{0}, std::size_t{0}, std::size_t{0}, z.times.size(),
                                    z.types.size(), z.chars.size()}) {
        put_big_endian(out, count, 4);
    }
    for (const std::int64_t t : z.times) {
        put_big_endian(out, static_cast<std::uint64_t>(t), time_bytes);
    }
    for (const std::uint8_t i : z.type_of) {
        out += static_cast<char>(i);
    }
    for (const TzType& t : z.types) {
        put_big_endian(out, static_cast<std::uint32_t>(t.utoff), 4);
        out += static_cast<char>(t.is_dst);
        out += static_cast<char>(t.abbreviation_index);
    }
    return out + z.chars;
}

// Version 1: one 32-bit block. Version 2+: both blocks and the footer.
std::string tzif_bytes(const Tzif& z) {
    if (z.version == '\0') {
        return tzif_block(z, 4);
    }
    return tzif_block(z, 4) + tzif_block(z, 8) + "\n" + z.footer + "\n";
}

// Europe/Berlin in miniature: one transition (2026-03-29 01:00 UTC) and its footer.
Tzif berlin_like() {
    Tzif z;
    z.times = {1774746000};
    z.type_of = {1};
    z.types = {{3600, 0, 0}, {7200, 1, 4}};
    z.chars = std::string("CET\0CEST\0", 9);
    z.footer = "CET-1CEST,M3.5.0,M10.5.0/3";
    return z;
}

// A version 2 file with no transitions: the footer governs everything.
Tzif footer_only(const std::string& footer) {
    Tzif z;
    z.types = {{0, 0, 0}};
    z.chars = std::string("LMT\0", 4);
    z.footer = footer;
    return z;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/staffel-tz-XXXXXX";
        path = ::mkdtemp(tmpl);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() { std::filesystem::remove_all(path); }
};

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
    const auto got = config::load_zone("UTC", "/nonexistent/zoneinfo");
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

// ---- synthetic TZif: footer rules, version 1, malformed input --------------------

TEST_CASE("the POSIX TZ footer alone governs a zone without transitions", "[tz]") {
    struct Case {
        const char* footer;
        std::int64_t t;
        std::int32_t want_offset;
        const char* want_abbreviation;
    };
    const Case cases[] = {
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1774746000 - 1, 3600, "CET"},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1774746000, 7200, "CEST"},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1792890000 - 1, 7200, "CEST"},
        {"CET-1CEST,M3.5.0,M10.5.0/3", 1792890000, 3600, "CET"},
        {"EST5EDT,M3.2.0,M11.1.0", 1772953200 - 1, -18000, "EST"},
        {"EST5EDT,M3.2.0,M11.1.0", 1772953200, -14400, "EDT"},
        {"EST5EDT,M3.2.0,M11.1.0", 1793512800, -18000, "EST"},
        // Quoted names, minutes in offsets, southern hemisphere.
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1775314800 - 1, 39600, "+11"},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1775314800, 37800, "+1030"},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1791041400, 39600, "+11"},
        {"<+1030>-10:30<+11>-11,M10.1.0,M4.1.0", 1767225600, 39600, "+11"},
        // Hours beyond 24: the 4th Thursday of March at 26:00, i.e. Friday 02:00.
        {"IST-2IDT,M3.4.4/26,M10.5.0", 1774569600 - 1, 7200, "IST"},
        {"IST-2IDT,M3.4.4/26,M10.5.0", 1774569600, 10800, "IDT"},
        // Negative rule times: 22:00 and 23:00 of the day before.
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 1774746000 - 1, -10800, "-03"},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 1774746000, -7200, "-02"},
        {"<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", 1792890000, -10800, "-03"},
        // Jn never counts February 29; n counts it (zero-based).
        {"XXX3YYY,J60/2,300", 1772341200 - 1, -10800, "XXX"},  // 2026-03-01 05:00 UTC
        {"XXX3YYY,J60/2,300", 1772341200, -7200, "YYY"},
        {"XXX3YYY,J60/2,300", 1709208000, -10800, "XXX"},     // 2024-02-29 12:00 UTC
        {"XXX3YYY,J60/2,300", 1709269200, -7200, "YYY"},      // 2024-03-01 05:00 UTC
        {"XXX3YYY,J60/2,300", 1793160000 - 1, -7200, "YYY"},  // 2026-10-28 04:00 UTC
        {"XXX3YYY,J60/2,300", 1793160000, -10800, "XXX"},
        {"XXX3YYY,J60/2,300", 1730001600, -10800, "XXX"},  // 2024-10-27 04:00 UTC
        {"ZZZ0YYY,59/0,J61/0", 1709208000, 3600, "YYY"},   // 2024-02-29: day 59
        {"ZZZ0YYY,59/0,J61/0", 1740744000, 0, "ZZZ"},      // 2025-02-28
        {"ZZZ0YYY,59/0,J61/0", 1740830400, 3600, "YYY"},   // 2025-03-01
        {"ZZZ0YYY,59/0,J61/0", 1740870000, 0, "ZZZ"},      // 2025-03-01 23:00 UTC
        // RFC 8536's permanent daylight time.
        {"EST5EDT4,0/0,J365/25", 1767243600 - 1, -14400, "EDT"},
        {"EST5EDT4,0/0,J365/25", 1782864000, -14400, "EDT"},
        {"EST5EDT4,0/0,J365/25", 1798758000, -14400, "EDT"},
        // No DST at all.
        {"<+03>-3", 1782864000, 10800, "+03"},
        {"UTC0", 1782864000, 0, "UTC"},
        {"AAA+5:30:15", 0, -19815, "AAA"},
    };
    for (const auto& c : cases) {
        INFO("footer " << c.footer << " at " << c.t);
        const auto z = ZoneRules::from_tzif("Test/Zone", tzif_bytes(footer_only(c.footer)));
        REQUIRE(z.ok());
        CHECK(z->name() == "Test/Zone");
        CHECK(z->offset_at(c.t) == c.want_offset);
        CHECK(z->abbreviation_at(c.t) == c.want_abbreviation);
    }
    // from_local on a footer-only zone: the same gap and overlap rules.
    const auto z =
        ZoneRules::from_tzif("Test/Zone", tzif_bytes(footer_only("CET-1CEST,M3.5.0,M10.5.0/3")));
    REQUIRE(z.ok());
    CHECK(z->from_local({2026, 3, 29, 2, 30, 0}) == 1774746000);
    CHECK(z->from_local({2026, 10, 25, 2, 30, 0}) == 1792890000 - 1800);
    CHECK(z->from_local({2026, 10, 26, 0, 0, 0}) - z->from_local({2026, 10, 25, 0, 0, 0}) ==
          25 * kHour);
}

TEST_CASE("a table with a footer: type 0 before, table within, footer after", "[tz]") {
    const auto z = ZoneRules::from_tzif("Test/Zone", tzif_bytes(berlin_like()));
    REQUIRE(z.ok());
    struct Case {
        std::int64_t t;
        std::int32_t want;
    };
    const Case cases[] = {
        {1774746000 - 1, 3600}, {1774746000, 7200}, {1792890000 - 1, 7200},
        {1792890000, 3600},     {2216250000, 7200}, {-4000000000, 3600},
    };
    for (const auto& c : cases) {
        INFO("t " << c.t);
        CHECK(z->offset_at(c.t) == c.want);
    }
}

TEST_CASE("version 1 files use 32-bit times and the last type after the table", "[tz]") {
    Tzif v1;
    v1.version = '\0';
    v1.times = {-1000000000, 1000000000};  // 1938-04-24 and 2001-09-09
    v1.type_of = {1, 0};
    v1.types = {{3600, 0, 0}, {7200, 1, 4}};
    v1.chars = std::string("AAA\0BBB\0", 8);
    const auto z = ZoneRules::from_tzif("Old/Zone", tzif_bytes(v1));
    REQUIRE(z.ok());
    struct Case {
        std::int64_t t;
        std::int32_t want;
        const char* want_abbreviation;
    };
    const Case cases[] = {
        {-1000000001, 3600, "AAA"}, {-1000000000, 7200, "BBB"}, {999999999, 7200, "BBB"},
        {1000000000, 3600, "AAA"},  {4000000000, 3600, "AAA"},
    };
    for (const auto& c : cases) {
        INFO("t " << c.t);
        CHECK(z->offset_at(c.t) == c.want);
        CHECK(z->abbreviation_at(c.t) == c.want_abbreviation);
    }
}

TEST_CASE("malformed TZif data is an error naming the problem", "[tz]") {
    const std::string good = tzif_bytes(berlin_like());
    const std::size_t second_header = tzif_block(berlin_like(), 4).size();
    const auto patched = [&](std::size_t at, std::string_view bytes) {
        std::string out = good;
        out.replace(at, bytes.size(), bytes);
        return out;
    };
    const auto with = [](auto edit) {
        Tzif z = berlin_like();
        edit(z);
        return tzif_bytes(z);
    };
    struct Case {
        const char* what;
        std::string bytes;
        const char* want;
    };
    const std::vector<Case> cases = {
        {"empty", "", "truncated first header"},
        {"magic only", "TZif2", "truncated first header"},
        {"bad magic", patched(0, "TZiF"), "bad magic"},
        {"version 5", patched(4, "5"), "unsupported TZif version"},
        {"second header's magic", patched(second_header, "XXXX"), "bad magic in second"},
        {"huge time count", patched(second_header + 32, "\xff\xff\xff\xff"), "truncated"},
        {"leap seconds", patched(second_header + 28, std::string("\0\0\0\1", 4)), "leap-second"},
        {"indicator count", patched(second_header + 20, std::string("\0\0\0\1", 4)),
         "indicator count"},
        {"no types", with([](Tzif& z) {
             z.types.clear();
             z.times.clear();
             z.type_of.clear();
         }),
         "no local time types"},
        {"no abbreviations", with([](Tzif& z) { z.chars.clear(); }), "no local time types"},
        {"type index", with([](Tzif& z) { z.type_of = {2}; }), "names a missing type"},
        {"times out of order", with([](Tzif& z) {
             z.times = {20, 10};
             z.type_of = {1, 0};
         }),
         "ascending"},
        {"utoff", with([](Tzif& z) { z.types[1].utoff = 100000; }), "out of range"},
        {"isdst", with([](Tzif& z) { z.types[1].is_dst = 2; }), "out of range"},
        {"abbreviation index", with([](Tzif& z) { z.types[1].abbreviation_index = 9; }),
         "out of range"},
        {"unterminated abbreviation", with([](Tzif& z) { z.chars = "CETCEST"; }),
         "not NUL-terminated"},
        {"no footer", good.substr(0, good.size() - berlin_like().footer.size() - 2),
         "missing footer"},
        {"footer not closed", good.substr(0, good.size() - 1), "not terminated"},
    };
    for (const auto& c : cases) {
        const auto got = ZoneRules::from_tzif("Test/Zone", c.bytes);
        INFO(c.what);
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\", want it to contain \"" << c.want << "\"");
        CHECK(got.error().message.find(c.want) != std::string::npos);
        CHECK(got.error().message.find("Test/Zone") != std::string::npos);
    }
}

TEST_CASE("every truncation of a valid TZif file is an error", "[tz]") {
    for (const Tzif& spec : {berlin_like(), footer_only("<+1030>-10:30<+11>-11,M10.1.0,M4.1.0")}) {
        const std::string good = tzif_bytes(spec);
        REQUIRE(ZoneRules::from_tzif("Test/Zone", good).ok());
        for (std::size_t length = 0; length < good.size(); ++length) {
            if (ZoneRules::from_tzif("Test/Zone", good.substr(0, length)).ok()) {
                FAIL("a file cut to " << length << " of " << good.size() << " bytes was accepted");
            }
        }
    }
}

TEST_CASE("bad POSIX TZ footers are refused", "[tz]") {
    const char* footers[] = {
        "CET",                           // no offset
        "CE-1",                          // name too short
        "CET-25",                        // offset beyond 24 hours
        "CET-1:60",                      // minutes beyond 59
        "CET-1CEST",                     // DST without rules
        "CET-1CEST,M3.5.0",              // one rule
        "CET-1CEST,M13.1.0,M10.5.0",     // month 13
        "CET-1CEST,M3.6.0,M10.5.0",      // week 6
        "CET-1CEST,M3.5.7,M10.5.0",      // weekday 7
        "CET-1CEST,J0,J365",             // J counts from 1
        "CET-1CEST,366,J365",            // n is at most 365
        "CET-1CEST,M3.5.0/168,M10.5.0",  // rule time beyond 167 hours
        "CET-1CEST,M3.5.0,M10.5.0/3x",   // trailing text
        "<+1030-10:30",                  // unclosed <
        "<+10 30>-10:30",                // space in a quoted name
        "-1CEST",                        // no name
    };
    for (const char* footer : footers) {
        const auto got = ZoneRules::from_tzif("Test/Zone", tzif_bytes(footer_only(footer)));
        INFO("footer \"" << footer << "\"");
        REQUIRE_FALSE(got.ok());
        INFO("got " << got.error().message);
        CHECK(got.error().message.find("bad TZ string") != std::string::npos);
    }
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

TEST_CASE("zone files are read bounded, from the given directory", "[tz]") {
    TempDir dir;
    std::filesystem::create_directories(dir.path / "Test");
    std::ofstream(dir.path / "Test" / "Zone", std::ios::binary)
        << tzif_bytes(footer_only("CET-1CEST,M3.5.0,M10.5.0/3"));
    std::ofstream(dir.path / "Test" / "Big", std::ios::binary)
        << std::string(config::kMaxZoneFileBytes + 1, 'x');
    std::ofstream(dir.path / "Test" / "Junk", std::ios::binary) << std::string(64, 'x');
    REQUIRE(::mkfifo((dir.path / "Test" / "Fifo").c_str(), 0600) == 0);

    const auto good = config::load_zone("Test/Zone", dir.path.string());
    REQUIRE(good.ok());
    CHECK(good->offset_at(1774746000) == 7200);

    struct Case {
        const char* name;
        const char* want;
    };
    const Case cases[] = {
        {"Test/Big", "larger than 1 MiB"},
        {"Test/Junk", "bad magic"},
        {"Test/Fifo", "not a regular file"},
        {"Test/None", "unknown time zone"},
    };
    for (const auto& c : cases) {
        const auto got = config::load_zone(c.name, dir.path.string());
        INFO("name " << c.name);
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\", want it to contain \"" << c.want << "\"");
        CHECK(got.error().message.find(c.want) != std::string::npos);
    }
}
