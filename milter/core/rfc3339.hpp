// rfc3339.hpp - RFC 3339 date-times, read and written.
//
// Purpose: the time stamps an admin writes (suppression CSV "expires",
//   [[dkim.keys]] not_before / not_after) and the ones staffelctl prints.
// Accepted: YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM), 't' and 'z'
//   in lower case too (RFC 3339 §5.6). A fraction is dropped; a leap second
//   (:60) counts as the next second, as POSIX time has none. A time without
//   an offset is refused: it would mean different instants on different
//   machines.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace staffel::core {

// Seconds since the epoch, or nullopt if `text` is not such a time.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);

// "2027-01-31T00:00:00Z" for epoch seconds (UTC).
std::string format_rfc3339_utc(std::int64_t epoch_seconds);

}  // namespace staffel::core
