// outcome.cpp - see outcome.hpp.
#include "core/outcome.hpp"

#include "core/text.hpp"

namespace staffel::core {

std::string_view to_string(MessageOutcome::Action action) {
    switch (action) {
        case MessageOutcome::Action::Pass:
            return "pass";
        case MessageOutcome::Action::Hold:
            return "hold";
        case MessageOutcome::Action::Reject:
            return "reject";
        case MessageOutcome::Action::Tempfail:
            return "tempfail";
        case MessageOutcome::Action::Aborted:
            return "aborted";
    }
    return "aborted";
}

std::string address_domain(std::string_view address) {
    if (address.find('@') == std::string_view::npos) {
        return {};
    }
    auto domain = domain_of(address);
    while (!domain.empty() && domain.back() == '>') {
        domain.remove_suffix(1);
    }
    return ascii_lower(domain);
}

}  // namespace staffel::core
