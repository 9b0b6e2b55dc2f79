// zone.cpp - see zone.hpp.
#include "config/zone.hpp"

#include <string>
#include <utility>

#include "adapters/tz/tzdb_zone.hpp"

namespace staffel::config {
namespace {

// Ends every error, so that the loader adds no second hint of its own.
constexpr std::string_view kZoneHint =
    "expected an IANA time zone name, e.g. \"Europe/Berlin\" or \"UTC\"";

// The name as it may appear in a message: printable ASCII, shortened.
std::string quoted(std::string_view name) {
    std::string out = "\"";
    for (const char c : name.substr(0, kMaxZoneNameLength)) {
        const auto u = static_cast<unsigned char>(c);
        out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    return out + (name.size() > kMaxZoneNameLength ? "...\"" : "\"");
}

bool is_name_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '+';
}

}  // namespace

bool is_valid_zone_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxZoneNameLength) {
        return false;
    }
    std::size_t begin = 0;
    for (;;) {
        const std::size_t slash = name.find('/', begin);
        const std::string_view part = name.substr(
            begin, slash == std::string_view::npos ? std::string_view::npos : slash - begin);
        if (part.empty() || part == "." || part == "..") {
            return false;
        }
        for (const char c : part) {
            if (!is_name_char(c)) {
                return false;
            }
        }
        if (slash == std::string_view::npos) {
            return true;
        }
        begin = slash + 1;
    }
}

core::Result<core::ZoneRules> load_zone(std::string_view name) {
    if (name == "UTC") {
        return core::ZoneRules::utc();
    }
    if (!is_valid_zone_name(name)) {
        return core::make_error("invalid time zone name " + quoted(name) +
                                ": want a relative IANA name of letters, digits, '/', '_', '-' and "
                                "'+' (at most 64 characters, no \"..\"); " +
                                std::string(kZoneHint));
    }
    auto found = adapters::tz::lookup_zone(name);
    switch (found.outcome) {
        case adapters::tz::ZoneLookup::Outcome::Found:
            return std::move(*found.zone);
        case adapters::tz::ZoneLookup::Outcome::Unknown:
            return core::make_error("unknown time zone " + quoted(name) + " (no file in " +
                                    std::string(adapters::tz::kZoneinfoDir) + "); " +
                                    std::string(kZoneHint));
        case adapters::tz::ZoneLookup::Outcome::Failed:
            break;
    }
    return core::make_error("time zone " + quoted(name) + ": " + found.why + "; " +
                            std::string(kZoneHint));
}

}  // namespace staffel::config
