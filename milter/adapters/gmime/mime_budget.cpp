// mime_budget.cpp - see mime_budget.hpp.
#include "adapters/gmime/mime_budget.hpp"

namespace staffel::adapters {
namespace {

bool is_wsp(char c) {
    return c == ' ' || c == '\t';
}

// "Name:" or "Name :" with a name of printable ASCII other than ":".
bool starts_field(std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && line[i] > ' ' && line[i] < 0x7f && line[i] != ':') {
        ++i;
    }
    if (i == 0) {
        return false;
    }
    while (i < line.size() && is_wsp(line[i])) {
        ++i;
    }
    return i < line.size() && line[i] == ':';
}

std::size_t separators(std::string_view line) {
    std::size_t n = 0;
    for (char c : line) {
        n += static_cast<std::size_t>(c == ',' || c == ';');
    }
    return n;
}

}  // namespace

std::string mime_budget_problem(std::string_view message) {
    std::size_t items = 0;
    std::size_t delimiters = 0;
    bool in_field = false;  // the line before started or continued a field
    while (!message.empty()) {
        const auto eol = message.find('\n');
        const std::string_view line = message.substr(0, eol);
        message = eol == std::string_view::npos ? std::string_view{} : message.substr(eol + 1);
        if (!line.empty() && is_wsp(line.front())) {
            items += in_field ? separators(line) : 0;
        } else if (starts_field(line)) {
            in_field = true;
            items += 1 + separators(line);
        } else {
            in_field = false;
            delimiters += static_cast<std::size_t>(line.starts_with("--"));
        }
        if (items > kMaxMimeFieldItems) {
            return "more than " + std::to_string(kMaxMimeFieldItems) +
                   " header fields, parameters and addresses (refused before MIME parsing)";
        }
        if (delimiters > kMaxMimeDelimiters) {
            return "more than " + std::to_string(kMaxMimeDelimiters) +
                   " lines starting with \"--\" (refused before MIME parsing)";
        }
    }
    return "";
}

}  // namespace staffel::adapters
