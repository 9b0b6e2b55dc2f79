// tag.cpp - see tag.hpp.
#include "core/stats/tag.hpp"

#include "core/text.hpp"

namespace staffel::core {

std::string sanitise_tag(std::string_view value, std::size_t max_bytes) {
    const auto text = trim_space(value);
    std::string out;
    out.reserve(std::min(text.size(), max_bytes));
    for (const char c : text) {
        if (out.size() >= max_bytes) {
            break;
        }
        const bool keep = ascii_alnum(c) || c == '-' || c == '.' || c == '_' || c == '+' ||
                          c == '=' || c == '@' || c == '/';
        if (keep) {
            out += c;
        } else if (out.empty() || out.back() != '_') {
            out += '_';
        }
    }
    while (!out.empty() && out.back() == '_' && text.back() != '_') {
        out.pop_back();
    }
    return out;
}

std::string message_tag(const std::vector<HeaderField>& fields, std::span<const std::string> names,
                        std::size_t max_bytes) {
    for (const auto& name : names) {
        for (const auto& f : fields) {
            if (iequals(f.name, name)) {
                return sanitise_tag(f.value, max_bytes);
            }
        }
    }
    return {};
}

}  // namespace staffel::core
