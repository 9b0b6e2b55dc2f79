// table.cpp - see table.hpp.
#include "core/dkim/table.hpp"

#include <algorithm>

namespace staffel::core {
namespace {

bool rule_matches(const DkimSenderRule& rule, const Sender& who) {
    if (!rule.sasl_user.empty() && !login_matches(rule.sasl_user, who.sasl_user)) {
        return false;
    }
    return any_or_empty(rule.networks, [&](const Network& n) { return n.contains(who.client_ip); });
}

}  // namespace

bool identity_may_sign(const DkimSettings& dkim, const Sender& who, std::string_view from_domain) {
    for (const auto& rule : dkim.senders) {
        if (rule_matches(rule, who)) {
            return std::any_of(rule.domains.begin(), rule.domains.end(), [&](const std::string& p) {
                return domain_pattern_matches(p, from_domain);
            });
        }
    }
    if (!who.sasl_user.empty()) {
        switch (dkim.authenticated) {
            case DkimAuthenticated::Any:
                return true;
            case DkimAuthenticated::None:
                return false;
            case DkimAuthenticated::OwnDomain: {
                const auto at = who.sasl_user.rfind('@');
                return at != std::string_view::npos &&
                       iequals(who.sasl_user.substr(at + 1), from_domain);
            }
        }
    }
    return std::any_of(dkim.trusted_networks.begin(), dkim.trusted_networks.end(),
                       [&](const Network& n) { return n.contains(who.client_ip); });
}

SigningDecision decide_signatures(const DkimSettings& dkim, const Sender& who,
                                  const AuthorDomain& author) {
    SigningDecision d;
    if (!author.ok) {
        d.reason = std::string(to_string(author.problem));
        return d;
    }
    // Exact domain first, then parents that cover their subdomains.
    std::string_view domain = author.domain;
    bool exact = true;
    std::vector<const DkimKeySpec*> keys;
    while (!domain.empty()) {
        for (const auto& k : dkim.keys) {
            if ((exact || k.subdomains) && iequals(k.domain, domain)) {
                keys.push_back(&k);
            }
        }
        if (!keys.empty()) {
            break;
        }
        const auto dot = domain.find('.');
        if (dot == std::string_view::npos) {
            break;
        }
        domain.remove_prefix(dot + 1);
        exact = false;
    }
    if (keys.empty()) {
        d.reason = "no-key:" + author.domain;
        return d;
    }
    if (!identity_may_sign(dkim, who, author.domain)) {
        d.reason = "not-allowed:" + author.domain;
        return d;
    }
    for (const auto* k : keys) {
        if (k->key) {
            d.specs.push_back({k->domain, k->selector, k->key,
                               k->canonicalization.value_or(dkim.canonicalization)});
        }
    }
    if (d.specs.empty()) {
        d.reason = "no-key:" + author.domain;
    }
    return d;
}

}  // namespace staffel::core
