// tz.hpp - time-zone rules and civil (local calendar) time, for quotas.
//
// Purpose: calendar quotas reset at local midnight, on Mondays and on the
//   first of the month in the policy's time zone, DST changes included.
//   ZoneRules is built from the bytes of a TZif file (RFC 8536, versions
//   1-4, as in /usr/share/zoneinfo) including its POSIX TZ footer, which
//   governs instants after the last transition. Nothing here reads files:
//   the config layer reads the zoneinfo file and hands over its bytes.
// Thread-safety: ZoneRules is immutable after construction; share freely.
// Errors: a malformed TZif file is a Result error naming what is wrong;
//   so is one with leap-second records (a "right/" zone: POSIX time here).
//   Queries never fail: instants beyond about +-2e9 years saturate.
// Cost: offset_at is a binary search over the transitions, or a few date
//   computations with the footer's rule; from_local is a few offset_at.
// Outside input: zoneinfo files (trusted system data, still bounds-checked).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

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

namespace detail {
struct ZoneData;  // defined in tz.cpp
}  // namespace detail

class ZoneRules {
  public:
    // UTC (offset 0, no transitions).
    static ZoneRules utc();
    // `name` is kept for messages ("Europe/Berlin").
    static Result<ZoneRules> from_tzif(std::string_view name, std::string_view bytes);

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
    ZoneRules(std::string name, std::shared_ptr<const detail::ZoneData> data);

    std::string name_;
    std::shared_ptr<const detail::ZoneData> data_;  // never null; immutable, shared by copies
};

}  // namespace staffel::core
