// text.hpp - the small ASCII text helpers every part of the core uses.
//
// Purpose: mail protocols compare names case-insensitively in ASCII only
//   (header field names, domains, SMTP keywords) and trim the same kinds
//   of blanks; one definition keeps every caller alike.
// Thread-safety: pure functions.
// Outside input: any bytes; nothing here allocates beyond its result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace staffel::core {

// 'A'..'Z' to 'a'..'z'; every other byte unchanged (no locale).
constexpr char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}
std::string ascii_lower(std::string_view text);
// 'a'..'z' to 'A'..'Z'; every other byte unchanged (no locale).
constexpr char ascii_upper(char c) {
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}
std::string ascii_upper(std::string_view text);
// ASCII letters and digits (no locale).
constexpr bool ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

// Equal ignoring ASCII case.
bool iequals(std::string_view a, std::string_view b);

// Without leading and trailing spaces and tabs.
std::string_view trim_blanks(std::string_view text);
// Without leading and trailing spaces, tabs, CRs and LFs (header values).
std::string_view trim_space(std::string_view text);

// The part after the last '@' ("" without one): "a@b@example.com" -> "example.com".
std::string_view domain_of(std::string_view address);

// A running count for a log line: "; 1 such message since start",
// "; 2 such messages since start" (noun "message"); "" for 0, which means
// nothing keeps the count (staffelctl explain).
std::string since_start(std::uint64_t count, std::string_view noun);

}  // namespace staffel::core
