// units.hpp - parsing of values with units, as written in policies.
//
// Purpose: durations ("250ms", "30s", "5m", "1h", "1d", "1w"), sizes
//   ("512B", "64KiB", "10MiB", "1GiB", and decimal "kB", "MB", "GB") and
//   rates ("100/1h", "300/1m", "500/d") are parsed once, at policy load, into
//   exact integer values. Nothing on the mail path parses units.
// Thread-safety: pure functions.
// Errors: Result with a message that says what would be accepted; no
//   exception escapes. Overflow of the 64-bit representation is an error.
// Outside input: policy text only (trusted but typo-prone).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

using Milliseconds = std::chrono::milliseconds;

struct Rate {
    std::uint64_t count = 0;
    Milliseconds per{0};
    bool operator==(const Rate&) const = default;
};

// "250ms", "30s", "5m", "1h", "1d", "1w"; a bare "0" means zero.
Result<Milliseconds> parse_duration(std::string_view text);

// "10MiB" -> 10485760. Binary (KiB, MiB, GiB), decimal (kB, MB, GB) or "B".
Result<std::uint64_t> parse_size(std::string_view text);

// "COUNT/DURATION": "100/1h", "300/1m"; the duration's number may be left
// out ("500/d" is "500/1d").
Result<Rate> parse_rate(std::string_view text);

// Canonical spellings, for messages and `--help`.
std::string format_duration(Milliseconds d);
std::string format_size(std::uint64_t bytes);

// What each parser accepts, worded for error messages.
inline constexpr std::string_view kDurationHint =
    "a number with a unit ms, s, m, h, d or w, e.g. \"250ms\", \"30s\", \"1h\"";
inline constexpr std::string_view kSizeHint =
    "a number with a unit B, KiB, MiB, GiB, kB, MB or GB, e.g. \"10MiB\"";
inline constexpr std::string_view kRateHint =
    "COUNT/DURATION, e.g. \"100/1h\", \"300/1m\" or \"500/1d\"";

}  // namespace staffel::core
