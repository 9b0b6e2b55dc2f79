// identity.cpp - see identity.hpp.
#include "core/identity.hpp"

namespace staffel::core {

bool login_matches(std::string_view pattern, std::string_view user) {
    if (user.empty()) {
        return false;
    }
    if (pattern == "*") {
        return true;
    }
    if (pattern.starts_with("*@")) {
        const auto at = user.rfind('@');
        return at != std::string_view::npos && iequals(user.substr(at + 1), pattern.substr(2));
    }
    return iequals(pattern, user);
}

bool domain_pattern_matches(std::string_view pattern, std::string_view domain) {
    if (pattern == "*") {
        return true;
    }
    if (pattern.starts_with("*.")) {
        const auto parent = pattern.substr(1);  // ".example.com"
        return domain.size() > parent.size() &&
               iequals(domain.substr(domain.size() - parent.size()), parent);
    }
    return iequals(pattern, domain);
}

bool address_matches(std::string_view pattern, std::string_view address) {
    if (address.empty()) {
        return false;
    }
    if (pattern.find('@') != std::string_view::npos) {
        return login_matches(pattern, address);  // "a@x" or "*@x"
    }
    return domain_pattern_matches(pattern, domain_of(address));
}

}  // namespace staffel::core
