// zone.hpp - policy time-zone names -> core::ZoneRules, from the zoneinfo tree.
//
// Purpose: calendar quotas name an IANA time zone ("Europe/Berlin"); this
//   reads its TZif file (default /usr/share/zoneinfo) once, at policy load,
//   and hands the bytes to core::ZoneRules::from_tzif. "UTC" always works,
//   also without a zoneinfo tree.
// Thread-safety: reentrant; no shared state.
// Errors: a Result error for a malformed name, a missing or unreadable file
//   and malformed TZif data; each says which name was refused and gives an
//   example of what would be accepted.
// Outside input: the zone name (policy text: checked to be IANA-style, so it
//   can never leave zoneinfo_dir) and the file (system data: only regular
//   files of at most 1 MiB are read; symbolic links inside the tree, such as
//   UTC -> Etc/UTC, are followed).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"
#include "core/tz.hpp"

namespace staffel::config {

inline constexpr std::size_t kMaxZoneNameLength = 64;
inline constexpr std::size_t kMaxZoneFileBytes = 1u << 20;

// Letters, digits, '/', '_', '-' and '+'; no empty, "." or ".." component;
// no leading '/'; 1 to kMaxZoneNameLength characters.
bool is_valid_zone_name(std::string_view name);

core::Result<core::ZoneRules> load_zone(std::string_view name,
                                        const std::string& zoneinfo_dir = "/usr/share/zoneinfo");

}  // namespace staffel::config
