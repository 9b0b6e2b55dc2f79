// zone.hpp - policy time-zone names -> core::ZoneRules.
//
// Purpose: calendar quotas name an IANA time zone ("Europe/Berlin"); this
//   checks the name and gets the zone, once, at policy load, from
//   adapters/tz (the date/tz library over /usr/share/zoneinfo). "UTC" is
//   built in and always works, also without a zoneinfo tree.
// Thread-safety: reentrant; no shared state of its own.
// Errors: a Result error for a malformed name, an unknown zone, a directory
//   of zones and an unreadable zone; each says which name was refused and
//   gives an example of what would be accepted.
// Outside input: the zone name (policy text: checked to be IANA-style, so it
//   can never leave the zoneinfo tree).
#pragma once

#include <cstddef>
#include <string_view>

#include "core/result.hpp"
#include "core/tz.hpp"

namespace staffel::config {

inline constexpr std::size_t kMaxZoneNameLength = 64;

// Letters, digits, '/', '_', '-' and '+'; no empty, "." or ".." component;
// no leading '/'; 1 to kMaxZoneNameLength characters.
bool is_valid_zone_name(std::string_view name);

core::Result<core::ZoneRules> load_zone(std::string_view name);

}  // namespace staffel::config
