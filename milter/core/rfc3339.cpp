// rfc3339.cpp - see rfc3339.hpp.
#include "core/rfc3339.hpp"

#include <array>
#include <cstdio>

#include "core/tz.hpp"

namespace staffel::core {
namespace {

// Fixed-width decimal at s[pos, pos+width); -1 if not digits.
int digits_at(std::string_view s, std::size_t pos, std::size_t width) {
    if (pos + width > s.size()) {
        return -1;
    }
    int v = 0;
    for (std::size_t i = pos; i < pos + width; ++i) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

int days_in_month(int year, int month) {
    static constexpr std::array<int, 12> kDays{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : kDays[static_cast<std::size_t>(month - 1)];
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
    const int year = digits_at(s, 0, 4);
    const int month = digits_at(s, 5, 2);
    const int day = digits_at(s, 8, 2);
    const int hour = digits_at(s, 11, 2);
    const int minute = digits_at(s, 14, 2);
    const int second = digits_at(s, 17, 2);
    if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 ||
        minute > 59 || second < 0 || second > 60 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't') || s[13] != ':' || s[16] != ':' ||
        day > days_in_month(year, month)) {
        return std::nullopt;
    }
    std::size_t pos = 19;
    if (pos < s.size() && s[pos] == '.') {
        const auto start = ++pos;
        while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
            ++pos;
        }
        if (pos == start) {
            return std::nullopt;
        }
    }
    std::int64_t offset = 0;
    const auto zone = s.substr(std::min(pos, s.size()));
    if (zone == "Z" || zone == "z") {
        offset = 0;
    } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
        const int oh = digits_at(zone, 1, 2);
        const int om = digits_at(zone, 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59) {
            return std::nullopt;
        }
        offset = (zone[0] == '+' ? 1 : -1) * (std::int64_t{oh} * 3600 + std::int64_t{om} * 60);
    } else {
        return std::nullopt;
    }
    // A leap second (:60) counts as the next second, as POSIX time has none.
    return days_from_civil(year, month, day) * 86400 + std::int64_t{hour} * 3600 +
           std::int64_t{minute} * 60 + second - offset;
}

std::string format_rfc3339_utc(std::int64_t t) {
    const std::int64_t days = (t >= 0 ? t : t - 86399) / 86400;
    const std::int64_t secs = t - days * 86400;
    const CivilTime c = civil_from_days(days);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02dZ", c.year, c.month, c.day,
                  static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                  static_cast<int>(secs % 60));
    return buf;
}

}  // namespace staffel::core
