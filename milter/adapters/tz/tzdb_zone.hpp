// tzdb_zone.hpp - IANA time zones from the system's zoneinfo, via date/tz.
//
// Purpose: the core::ZoneSource behind a policy's [general] time_zone
//   ("Europe/Berlin"). Howard Hinnant's date/tz library, as Debian builds it
//   (libdate-tz, USE_OS_TZDB), lists the zones under /usr/share/zoneinfo
//   and reads their transitions. It does not use the POSIX TZ string that
//   ends a TZif file and governs the instants after its last transition
//   (2037 in Debian's tzdata), so this adapter reads that one line and
//   evaluates it with the library's Posix::time_zone (date/ptz.h).
// Thread-safety: lookup_zone may be called from any thread: the library
//   builds its zone list once (a function-local static) and loads each
//   zone's transitions once (std::call_once). The ZoneRules returned are
//   immutable and answer from any thread.
// Errors: never throws; the outcome says whether the name is unknown, or
//   why the zone could not be read. A TZ string the library cannot parse
//   (such as America/Nuuk's negative rule times) is left out: after 2037
//   that zone then keeps the offset of its last transition.
// Lifetime: the library reads the zone list and a zone's transitions once
//   per process; after a tzdata update, a restart (not a reload) sees them.
// Outside input: the zone name (checked by the caller, and used as a path
//   only once found in the library's list) and the zoneinfo files (trusted
//   system data).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/tz.hpp"

namespace staffel::adapters::tz {

// Where the library finds the zones (it has no setting to choose another).
inline constexpr std::string_view kZoneinfoDir = "/usr/share/zoneinfo";

struct ZoneLookup {
    enum class Outcome : std::uint8_t { Found, Unknown, Failed };
    Outcome outcome = Outcome::Failed;
    std::optional<core::ZoneRules> zone;  // set when Found
    std::string why;                      // when Failed: what went wrong, for messages
};

// The zone called `name` ("Europe/Berlin"); its transitions are loaded now,
// so that a broken zoneinfo file is found at policy load, not on the mail path.
ZoneLookup lookup_zone(std::string_view name);

}  // namespace staffel::adapters::tz
