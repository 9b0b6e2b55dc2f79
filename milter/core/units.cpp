// units.cpp - see units.hpp.
#include "core/units.hpp"

#include <array>
#include <charconv>
#include <limits>
#include <utility>

namespace staffel::core {
namespace {

struct Unit {
    std::string_view name;
    std::uint64_t factor;
};

constexpr std::array<Unit, 6> kDurationUnits{{
    {"ms", 1},
    {"s", 1000},
    {"m", 60'000},
    {"h", 3'600'000},
    {"d", 86'400'000},
    {"w", 604'800'000},
}};

constexpr std::array<Unit, 7> kSizeUnits{{
    {"B", 1},
    {"KiB", 1ULL << 10},
    {"MiB", 1ULL << 20},
    {"GiB", 1ULL << 30},
    {"kB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
}};

// Splits "123abc" into 123 and "abc". Fails on no digits or on overflow.
bool split_number(std::string_view text, std::uint64_t& number, std::string_view& unit) {
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(first, last, number);
    if (ec != std::errc{} || ptr == first) {
        return false;
    }
    unit = std::string_view(ptr, static_cast<std::size_t>(last - ptr));
    return true;
}

template <std::size_t N>
Result<std::uint64_t> scaled(std::string_view text, const std::array<Unit, N>& units,
                             std::string_view what, std::string_view hint) {
    auto bad = [&](std::string_view why) {
        return make_error(std::string(why) + " " + std::string(what) + " \"" + std::string(text) +
                          "\"; expected " + std::string(hint));
    };
    std::uint64_t number = 0;
    std::string_view unit;
    if (!split_number(text, number, unit)) {
        return bad("bad");
    }
    if (unit.empty()) {
        if (number == 0) {
            return std::uint64_t{0};
        }
        return bad("missing unit in");
    }
    for (const auto& u : units) {
        if (u.name == unit) {
            if (number > std::numeric_limits<std::uint64_t>::max() / u.factor) {
                return bad("too large");
            }
            return number * u.factor;
        }
    }
    return bad("unknown unit in");
}

}  // namespace

Result<Milliseconds> parse_duration(std::string_view text) {
    auto ms = scaled(text, kDurationUnits, "duration", kDurationHint);
    if (!ms) {
        return ms.error();
    }
    if (*ms > static_cast<std::uint64_t>(std::numeric_limits<Milliseconds::rep>::max())) {
        return make_error("too large duration \"" + std::string(text) + "\"");
    }
    return Milliseconds(static_cast<Milliseconds::rep>(*ms));
}

Result<std::uint64_t> parse_size(std::string_view text) {
    return scaled(text, kSizeUnits, "size", kSizeHint);
}

Result<Rate> parse_rate(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_error(std::string(why) + " rate \"" + std::string(text) + "\"; expected " +
                          std::string(kRateHint));
    };
    const auto slash = text.find('/');
    if (slash == std::string_view::npos) {
        return bad("bad");
    }
    std::uint64_t count = 0;
    std::string_view rest;
    if (!split_number(text.substr(0, slash), count, rest) || !rest.empty()) {
        return bad("bad count in");
    }
    std::string period(text.substr(slash + 1));
    if (!period.empty() && (period.front() < '0' || period.front() > '9')) {
        period.insert(0, "1");
    }
    auto per = parse_duration(period);
    if (!per) {
        return bad("bad period in");
    }
    if (per->count() <= 0) {
        return bad("zero period in");
    }
    return Rate{count, *per};
}

std::string format_duration(Milliseconds d) {
    const auto ms = static_cast<std::uint64_t>(d.count());
    if (ms == 0) {
        return "0s";
    }
    for (auto it = kDurationUnits.rbegin(); it != kDurationUnits.rend(); ++it) {
        if (ms % it->factor == 0) {
            return std::to_string(ms / it->factor) + std::string(it->name);
        }
    }
    return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
    for (auto unit : {std::pair<std::string_view, std::uint64_t>{"GiB", 1ULL << 30},
                      {"MiB", 1ULL << 20},
                      {"KiB", 1ULL << 10}}) {
        if (bytes != 0 && bytes % unit.second == 0) {
            return std::to_string(bytes / unit.second) + std::string(unit.first);
        }
    }
    return std::to_string(bytes) + "B";
}

}  // namespace staffel::core
