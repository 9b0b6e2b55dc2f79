// tz.hpp - civil (local calendar) time and the time-zone port, for quotas.
//
// Purpose: calendar quotas reset at local midnight, on Mondays and on the
//   first of the month in the policy's time zone, DST changes included.
//   ZoneRules answers "what is the local time at t" and "when does this
//   local time begin" for one zone. Where the rules come from is a
//   ZoneSource, the port: UTC is built in (ZoneRules::utc()); the IANA
//   zones come from adapters/tz (Howard Hinnant's date/tz library over the
//   system's zoneinfo). Nothing here reads files.
// Thread-safety: ZoneRules is immutable after construction and its source
//   must answer from any thread; share freely.
// Errors: none. Queries never fail: instants beyond about +-2e9 years
//   saturate, and so do civil dates whose year would not fit an int.
// Cost: offset_at and to_local ask the source once; from_local walks the
//   few constant-offset stretches of the two days around the wanted time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace staffel::core {

struct CivilTime {
    int year = 1970;
    int month = 1;  // 1-12
    int day = 1;    // 1-31
    int hour = 0;
    int minute = 0;
    int second = 0;
    bool operator==(const CivilTime&) const = default;
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
// days_from_civil carries a month outside 1-12 into the year (month 13 is
// January of the next year) and a day outside the month linearly (day 0 is
// the last day of the previous month), so "the first of next month" is
// days_from_civil(y, m + 1, 1). civil_from_days saturates beyond about
// +-2e9 years, where the year would no longer fit an int.
std::int64_t days_from_civil(int year, int month, int day);
CivilTime civil_from_days(std::int64_t days);
// 0 = Monday ... 6 = Sunday.
int weekday_from_days(std::int64_t days);

// The local time type in force at an instant, and how long it lasts.
struct ZoneSpan {
    std::int32_t offset = 0;   // seconds east of UTC, within [-89999, 93599] (RFC 8536)
    std::string abbreviation;  // "CET", "CEST", "+1030"
    // The first instant after the one asked about at which the offset or
    // the abbreviation may change; none if they never change again.
    std::optional<std::int64_t> next_change;
};

// The port: the rules of one zone. Implementations are immutable and
// answer from any thread; they are asked only about instants within about
// +-2e9 years (ZoneRules clamps before asking).
class ZoneSource {
  public:
    ZoneSource() = default;
    ZoneSource(const ZoneSource&) = delete;
    ZoneSource& operator=(const ZoneSource&) = delete;
    virtual ~ZoneSource() = default;

    [[nodiscard]] virtual ZoneSpan span_at(std::int64_t t) const = 0;
};

class ZoneRules {
  public:
    // `name` is kept for messages ("Europe/Berlin"); `source` is never null.
    ZoneRules(std::string name, std::shared_ptr<const ZoneSource> source);
    // UTC (offset 0, abbreviation "UTC", no changes).
    static ZoneRules utc();

    [[nodiscard]] const std::string& name() const { return name_; }
    // Offset from UTC in seconds at the UTC instant `t` (epoch seconds).
    [[nodiscard]] std::int32_t offset_at(std::int64_t t) const;
    // Local civil time at the UTC instant `t`.
    [[nodiscard]] CivilTime to_local(std::int64_t t) const;
    // The first UTC instant whose local time is at or after `local`
    // (a local time skipped by a DST gap maps to the end of the gap; one
    // that occurs twice maps to its first occurrence). Fields out of range
    // carry as in days_from_civil (hour 24 is midnight of the next day).
    [[nodiscard]] std::int64_t from_local(const CivilTime& local) const;
    // Abbreviation in force at `t` ("CET", "CEST"), for messages.
    [[nodiscard]] std::string abbreviation_at(std::int64_t t) const;

  private:
    std::string name_;
    std::shared_ptr<const ZoneSource> source_;  // never null; immutable, shared by copies
};

}  // namespace staffel::core
