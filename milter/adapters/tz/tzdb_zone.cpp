// tzdb_zone.cpp - see tzdb_zone.hpp.
//
// date/ptz.h defines a non-inline function: this is the only file that may
// include it.
#include "adapters/tz/tzdb_zone.hpp"

#include <date/tz.h>

// ptz.h of date 3.0.1 names hh_mm_ss unqualified after `using namespace
// date; using namespace std::chrono;`, which C++20's std::chrono::hh_mm_ss
// makes ambiguous (reported upstream as HowardHinnant/date pull request
// 741). While ptz.h is read, the name is routed to date's own by an alias.
namespace date {
template <class Duration>
using ptz_hh_mm_ss = hh_mm_ss<Duration>;
}  // namespace date
#define hh_mm_ss ptz_hh_mm_ss
#include <date/ptz.h>
#undef hh_mm_ss

#include <algorithm>
#include <chrono>
#include <exception>
#include <fstream>
#include <memory>
#include <utility>

namespace staffel::adapters::tz {
namespace {

using Seconds = std::chrono::seconds;

// The library's years end at +-32767. Instants are clamped inside that
// before they are handed to it, and a change it reports at or beyond
// kFarFuture (about the year 30000) is its "no further change".
constexpr std::int64_t kFarFuture = 900'000'000'000;
// POSIX TZ rules repeat every 400 years, as the Gregorian calendar does to
// the weekday; they are evaluated in 2000-2399 and shifted back.
constexpr std::int64_t k2000 = 946'684'800;  // 2000-01-01T00:00:00Z
constexpr std::int64_t kSecondsPer400Years = std::int64_t{146097} * 86400;
// A TZ string has a few dozen characters; more than this is no footer.
constexpr std::streamoff kMaxFooterBytes = 256;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
    std::int64_t q = a / b;
    if (a % b != 0 && ((a < 0) != (b < 0))) {
        --q;
    }
    return q;
}

date::sys_seconds sys_at(std::int64_t t) {
    return date::sys_seconds{Seconds{t}};
}

std::int64_t seconds_of(date::sys_seconds t) {
    return t.time_since_epoch().count();
}

// `info` as the core sees it; its end moved by `shift` seconds.
core::ZoneSpan to_span(const date::sys_info& info, std::int64_t shift) {
    core::ZoneSpan span;
    span.offset = static_cast<std::int32_t>(info.offset.count());
    span.abbreviation = info.abbrev;
    if (seconds_of(info.end) < kFarFuture) {
        span.next_change = seconds_of(info.end) + shift;
    }
    return span;
}

// The footer's rule at `t`, evaluated in the 400 years from 2000.
core::ZoneSpan footer_span(const Posix::time_zone& rule, std::int64_t t) {
    const std::int64_t shift = floor_div(t - k2000, kSecondsPer400Years) * kSecondsPer400Years;
    return to_span(rule.get_info(sys_at(t - shift)), shift);
}

// The transitions the library read, then the footer's rule if there is one.
class TzdbZone final : public core::ZoneSource {
  public:
    TzdbZone(const date::time_zone* zone, std::optional<Posix::time_zone> footer)
        : zone_(zone), footer_(std::move(footer)) {}

    [[nodiscard]] core::ZoneSpan span_at(std::int64_t t) const override {
        const date::sys_info info = zone_->get_info(sys_at(std::clamp(t, -kFarFuture, kFarFuture)));
        const bool after_last_transition = seconds_of(info.end) >= kFarFuture;
        if (after_last_transition && footer_) {
            return footer_span(*footer_, t);
        }
        return to_span(info, 0);
    }

  private:
    const date::time_zone* zone_;  // the library's; lives as long as the process
    std::optional<Posix::time_zone> footer_;
};

// The TZ string between the last two newlines of a version 2+ TZif file
// ("\nCET-1CEST,M3.5.0,M10.5.0/3\n"); "" if there is none.
std::string read_footer_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    char head[5] = {};
    if (!in.read(head, sizeof head) || std::string_view(head, 4) != "TZif" || head[4] == '\0') {
        return {};
    }
    in.seekg(0, std::ios::end);
    const std::streamoff size = in.tellg();
    const std::streamoff tail = std::min(size, kMaxFooterBytes);
    std::string bytes(static_cast<std::size_t>(tail), '\0');
    in.seekg(size - tail);
    if (!in.read(bytes.data(), tail) || bytes.size() < 2 || bytes.back() != '\n') {
        return {};
    }
    const std::size_t open = bytes.rfind('\n', bytes.size() - 2);
    if (open == std::string::npos) {
        return {};
    }
    return bytes.substr(open + 1, bytes.size() - open - 2);
}

std::optional<Posix::time_zone> read_footer(const std::string& path) {
    const std::string text = read_footer_text(path);
    if (text.empty()) {
        return std::nullopt;
    }
    try {
        return Posix::time_zone(text);
    } catch (const std::exception&) {
        return std::nullopt;  // a form the library does not know: see the header
    }
}

ZoneLookup failed(std::string why) {
    ZoneLookup out;
    out.outcome = ZoneLookup::Outcome::Failed;
    out.why = std::move(why);
    return out;
}

const date::time_zone* find_zone(const date::tzdb& db, std::string_view name) {
    const auto it = std::find_if(db.zones.begin(), db.zones.end(),
                                 [&](const date::time_zone& z) { return z.name() == name; });
    return it == db.zones.end() ? nullptr : &*it;
}

bool is_directory_of_zones(const date::tzdb& db, std::string_view name) {
    const std::string prefix = std::string(name) + "/";
    return std::any_of(db.zones.begin(), db.zones.end(), [&](const date::time_zone& z) {
        return z.name().compare(0, prefix.size(), prefix) == 0;
    });
}

}  // namespace

ZoneLookup lookup_zone(std::string_view name) {
    const date::tzdb* db = nullptr;
    try {
        db = &date::get_tzdb();
    } catch (const std::exception& e) {
        return failed(std::string("cannot read the time zone database in ") +
                      std::string(kZoneinfoDir) + ": " + e.what());
    }
    const std::string path = std::string(kZoneinfoDir) + "/" + std::string(name);
    const date::time_zone* zone = find_zone(*db, name);
    if (zone == nullptr) {
        if (is_directory_of_zones(*db, name)) {
            return failed(path + " is a directory of zones, not a zone");
        }
        ZoneLookup out;
        out.outcome = ZoneLookup::Outcome::Unknown;
        return out;
    }
    try {
        (void)zone->get_info(sys_at(0));  // loads the transitions now
    } catch (const std::exception& e) {
        return failed("cannot read " + path + ": " + e.what());
    }
    ZoneLookup out;
    out.outcome = ZoneLookup::Outcome::Found;
    out.zone.emplace(std::string(name), std::make_shared<const TzdbZone>(zone, read_footer(path)));
    return out;
}

}  // namespace staffel::adapters::tz
