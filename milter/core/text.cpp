// text.cpp - see text.hpp.
#include "core/text.hpp"

#include <algorithm>

namespace staffel::core {
namespace {

template <typename Blank>
std::string_view trim_if(std::string_view s, Blank blank) {
    while (!s.empty() && blank(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && blank(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

}  // namespace

std::string ascii_lower(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = ascii_lower(c);
    }
    return out;
}

std::string ascii_upper(std::string_view text) {
    std::string out(text);
    for (auto& c : out) {
        c = ascii_upper(c);
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return ascii_lower(x) == ascii_lower(y);
           });
}

std::string_view trim_blanks(std::string_view text) {
    return trim_if(text, [](char c) { return c == ' ' || c == '\t'; });
}

std::string_view trim_space(std::string_view text) {
    return trim_if(text, [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

std::string_view domain_of(std::string_view address) {
    const auto at = address.rfind('@');
    return at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
}

std::string since_start(std::uint64_t count, std::string_view noun) {
    if (count == 0) {
        return {};
    }
    return "; " + std::to_string(count) + " such " + std::string(noun) + (count == 1 ? "" : "s") +
           " since start";
}

}  // namespace staffel::core
