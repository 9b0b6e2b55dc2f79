// civil_time.cpp - the arithmetic of tz.hpp: civil dates, and local time
// over a ZoneSource.
//
// Civil dates use the era / day-of-era method Howard Hinnant describes in
// "chrono-Compatible Low-Level Date Algorithms", here on 64-bit days and
// with months that carry (std::chrono's calendar types stop at year 32767;
// quotas and the CSV importer need neither more nor less than int years).
//
// Time range: instants are clamped to kTimeLimit (about +-2e9 years) before
// any arithmetic, so no input makes an int64 overflow or an int year wrap.
#include <algorithm>
#include <utility>

#include "core/tz.hpp"

namespace staffel::core {
namespace {

constexpr std::int64_t kSecondsPerDay = 86400;
constexpr std::int64_t kDaysPer400Years = 146097;
// 5e6 eras of 400 years: years stay within +-2,000,002,000, inside int.
constexpr std::int64_t kMaxDays = kDaysPer400Years * 5'000'000;
// Instants a few years inside kMaxDays, so neighbouring years stay valid.
constexpr std::int64_t kTimeLimit = (kMaxDays - std::int64_t{4 * 366}) * kSecondsPerDay;
// The widest UTC offsets a zone may have (RFC 8536 section 3.2).
constexpr std::int64_t kMinOffset = -89999;
constexpr std::int64_t kMaxOffset = 93599;
// from_local gives up (returning the latest possible answer) after this
// many constant-offset stretches; real zones have at most a handful.
constexpr int kMaxStretches = 1000;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

std::int64_t floor_mod(std::int64_t a, std::int64_t b) {
    return a - floor_div(a, b) * b;
}

std::int64_t clamp_time(std::int64_t t) {
    return std::clamp(t, -kTimeLimit, kTimeLimit);
}

// days_from_civil on 64-bit fields; month carries into the year, day is linear.
std::int64_t days_from_ymd(std::int64_t year, std::int64_t month, std::int64_t day) {
    std::int64_t y = year + floor_div(month - 1, 12);
    const std::int64_t m = floor_mod(month - 1, 12) + 1;
    if (m <= 2) {
        --y;
    }
    const std::int64_t era = floor_div(y, 400);
    const std::int64_t yoe = y - era * 400;                 // [0, 399]
    const std::int64_t mp = (m + 9) % 12;                   // March = 0
    const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;  // day carries linearly
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * kDaysPer400Years + doe - 719468;  // 719468: 0000-03-01 to 1970-01-01
}

class UtcSource final : public ZoneSource {
  public:
    [[nodiscard]] ZoneSpan span_at(std::int64_t /*t*/) const override {
        return ZoneSpan{0, "UTC", std::nullopt};
    }
};

}  // namespace

std::int64_t days_from_civil(int year, int month, int day) {
    return days_from_ymd(year, month, day);
}

CivilTime civil_from_days(std::int64_t days) {
    const std::int64_t z = std::clamp(days, -kMaxDays, kMaxDays) + 719468;
    const std::int64_t era = floor_div(z, kDaysPer400Years);
    const std::int64_t doe = z - era * kDaysPer400Years;  // [0, 146096]
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);  // [0, 365]
    const std::int64_t mp = (5 * doy + 2) / 153;                       // March = 0
    const std::int64_t day = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t month = mp < 10 ? mp + 3 : mp - 9;
    const std::int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
    CivilTime out;
    out.year = static_cast<int>(year);
    out.month = static_cast<int>(month);
    out.day = static_cast<int>(day);
    return out;
}

int weekday_from_days(std::int64_t days) {
    return static_cast<int>(floor_mod(days + 3, 7));  // 1970-01-01 was a Thursday
}

// ---- ZoneRules ----------------------------------------------------------------

ZoneRules::ZoneRules(std::string name, std::shared_ptr<const ZoneSource> source)
    : name_(std::move(name)), source_(std::move(source)) {}

ZoneRules ZoneRules::utc() {
    static const auto source = std::make_shared<const UtcSource>();
    return ZoneRules("UTC", source);
}

std::int32_t ZoneRules::offset_at(std::int64_t t) const {
    return source_->span_at(clamp_time(t)).offset;
}

CivilTime ZoneRules::to_local(std::int64_t t) const {
    const std::int64_t utc = clamp_time(t);
    const std::int64_t local = utc + source_->span_at(utc).offset;
    const std::int64_t days = floor_div(local, kSecondsPerDay);
    const std::int64_t seconds = local - days * kSecondsPerDay;
    CivilTime out = civil_from_days(days);
    out.hour = static_cast<int>(seconds / 3600);
    out.minute = static_cast<int>(seconds / 60 % 60);
    out.second = static_cast<int>(seconds % 60);
    return out;
}

std::int64_t ZoneRules::from_local(const CivilTime& local) const {
    // Local time f(t) = t + offset(t) is t plus a bounded step function, so
    // the answer lies in [wanted - kMaxOffset, wanted - kMinOffset]. Walk
    // the constant-offset stretches of that window from its start; in each
    // the first t with t + offset >= wanted is max(start, wanted - offset).
    const std::int64_t wanted = clamp_time(
        days_from_ymd(local.year, local.month, local.day) * kSecondsPerDay +
        std::int64_t{local.hour} * 3600 + std::int64_t{local.minute} * 60 + local.second);
    const std::int64_t last = wanted - kMinOffset;
    std::int64_t t = wanted - kMaxOffset;
    for (int stretch = 0; stretch < kMaxStretches && t < last; ++stretch) {
        const ZoneSpan span = source_->span_at(t);
        const std::int64_t candidate = std::max(t, wanted - span.offset);
        if (!span.next_change || candidate < *span.next_change) {
            return candidate;
        }
        t = std::max(*span.next_change, t + 1);  // a source must move on; never loop in place
    }
    return last;
}

std::string ZoneRules::abbreviation_at(std::int64_t t) const {
    return source_->span_at(clamp_time(t)).abbreviation;
}

}  // namespace staffel::core
