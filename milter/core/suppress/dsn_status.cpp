// dsn_status.cpp - see dsn_status.hpp.
#include "core/suppress/dsn_status.hpp"

#include <algorithm>
#include <array>

namespace staffel::core {
namespace {

bool digits_1_to_3(std::string_view s) {
    return !s.empty() && s.size() <= 3 &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "a.b.c" -> {a, b, c}; false unless exactly three parts.
bool split3(std::string_view s, std::array<std::string_view, 3>& parts) {
    for (std::size_t i = 0; i < 3; ++i) {
        const auto dot = s.find('.');
        if ((dot == std::string_view::npos) != (i == 2)) {
            return false;
        }
        parts[i] = s.substr(0, dot);
        s = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
    }
    return true;
}

// 3 for "5.1.1", 2 for "5.1.*", 1 for "5.*.*".
int specificity(std::string_view pattern) {
    return 3 - static_cast<int>(std::count(pattern.begin(), pattern.end(), '*'));
}

bool matches(std::string_view pattern, std::string_view status) {
    std::array<std::string_view, 3> p;
    std::array<std::string_view, 3> s;
    if (!split3(pattern, p) || !split3(status, s)) {
        return false;
    }
    for (std::size_t i = 0; i < 3; ++i) {
        if (p[i] != "*" && p[i] != s[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

Result<std::string> parse_dsn_pattern(std::string_view text) {
    std::array<std::string_view, 3> p;
    const bool ok =
        split3(text, p) && (p[0] == "4" || p[0] == "5") &&
        (digits_1_to_3(p[1]) ? (digits_1_to_3(p[2]) || p[2] == "*") : (p[1] == "*" && p[2] == "*"));
    if (!ok) {
        std::string shown;
        for (const char c : text.substr(0, 32)) {
            shown += (c >= 0x20 && c < 0x7f && c != '"') ? c : '?';
        }
        return make_error("\"" + shown +
                          "\" is not a status pattern; expected CLASS.SUBJECT.DETAIL with CLASS "
                          "4 or 5 and 1 to 3 digits each after it, the last part or the last two "
                          "\"*\": \"5.1.1\", \"5.7.*\", \"4.*.*\"");
    }
    return std::string(text);
}

Result<DsnVerdict> parse_dsn_verdict(std::string_view text) {
    if (text == "hard_bounce") {
        return DsnVerdict::HardBounce;
    }
    if (text == "soft_bounce") {
        return DsnVerdict::SoftBounce;
    }
    if (text == "ignore") {
        return DsnVerdict::Ignore;
    }
    return make_error("expected \"hard_bounce\", \"soft_bounce\" or \"ignore\"");
}

std::string_view dsn_verdict_name(DsnVerdict v) {
    switch (v) {
        case DsnVerdict::HardBounce:
            return "hard_bounce";
        case DsnVerdict::SoftBounce:
            return "soft_bounce";
        case DsnVerdict::Ignore:
            break;
    }
    return "ignore";
}

std::vector<DsnStatusRule> default_dsn_status_rules() {
    return {
        {"5.*.*", DsnVerdict::HardBounce}, {"4.*.*", DsnVerdict::SoftBounce},
        {"5.2.2", DsnVerdict::SoftBounce}, {"5.2.3", DsnVerdict::Ignore},
        {"5.3.4", DsnVerdict::Ignore},     {"5.6.*", DsnVerdict::Ignore},
        {"5.7.*", DsnVerdict::Ignore},
    };
}

void set_dsn_status_rule(std::vector<DsnStatusRule>& rules, DsnStatusRule rule) {
    for (auto& r : rules) {
        if (r.pattern == rule.pattern) {
            r.verdict = rule.verdict;
            return;
        }
    }
    rules.push_back(std::move(rule));
}

DsnClassification classify_dsn_status(const std::vector<DsnStatusRule>& rules,
                                      std::string_view status) {
    DsnClassification out;
    int best = 0;
    for (const auto& r : rules) {
        const int s = specificity(r.pattern);
        if (s > best && matches(r.pattern, status)) {
            best = s;
            out.verdict = r.verdict;
            out.pattern = r.pattern;
        }
    }
    return out;
}

}  // namespace staffel::core
