// table.cpp - see table.hpp.
#include "core/dkim/table.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/rfc3339.hpp"

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

namespace {

std::int64_t start_of(const DkimKeySpec& k) {
    return k.not_before.value_or(std::numeric_limits<std::int64_t>::min());
}

std::string key_label(const DkimKeySpec& k) {
    return "d=" + k.domain + " s=" + k.selector + " (" + std::string(to_string(k.algorithm)) + ")";
}

// Why key `k` is not in force at `now`; empty if it is.
std::string out_of_force(const DkimKeySpec& k, std::int64_t now) {
    if (k.not_before && now < *k.not_before) {
        return "not yet: not_before " + format_rfc3339_utc(*k.not_before);
    }
    if (k.not_after && now >= *k.not_after) {
        return "retired: not_after " + format_rfc3339_utc(*k.not_after);
    }
    return {};
}

// The keys of one domain that sign at `now`, by the rules of table.hpp.
std::vector<const DkimKeySpec*> choose_keys(const DkimSettings& dkim,
                                            const std::vector<const DkimKeySpec*>& keys,
                                            std::int64_t now,
                                            const std::vector<std::string>& route_keys,
                                            std::vector<std::string>* notes, bool& any_in_force) {
    // One note per key, in the order the keys are declared.
    std::vector<std::string> said(keys.size());
    const auto say = [&](const DkimKeySpec* k, std::string text) {
        if (notes != nullptr) {
            const auto at = std::find(keys.begin(), keys.end(), k) - keys.begin();
            said[static_cast<std::size_t>(at)] = key_label(*k) + ": " + std::move(text);
        }
    };
    std::vector<const DkimKeySpec*> left;
    for (const auto* k : keys) {
        if (auto why = out_of_force(*k, now); !why.empty()) {
            say(k, "does not sign, " + why);
            continue;
        }
        any_in_force = true;
        if (!route_keys.empty() && std::find(route_keys.begin(), route_keys.end(),
                                             k->domain + "/" + k->selector) == route_keys.end()) {
            say(k, "does not sign, not a key of the route");
            continue;
        }
        left.push_back(k);
    }
    std::vector<const DkimKeySpec*> chosen;
    for (const auto* k : left) {
        const DkimKeySpec* newer = nullptr;
        if (dkim.overlap == DkimOverlap::Newest) {
            for (const auto* other : left) {
                if (other->algorithm == k->algorithm && start_of(*other) > start_of(*k) &&
                    (newer == nullptr || start_of(*other) > start_of(*newer))) {
                    newer = other;
                }
            }
        }
        if (newer != nullptr) {
            say(k, "does not sign, the newer key " + newer->selector + " does since " +
                       format_rfc3339_utc(*newer->not_before) + " ([dkim] overlap = \"newest\")");
            continue;
        }
        if (notes != nullptr) {
            std::string why = k->not_before ? "in force since " + format_rfc3339_utc(*k->not_before)
                                            : std::string("in force");
            if (k->not_after) {
                why += ", until " + format_rfc3339_utc(*k->not_after);
            }
            if (dkim.overlap == DkimOverlap::All && left.size() > 1) {
                why += " ([dkim] overlap = \"all\")";
            }
            say(k, "signs, " + why);
        }
        chosen.push_back(k);
    }
    if (notes != nullptr) {
        notes->insert(notes->end(), said.begin(), said.end());
    }
    return chosen;
}

}  // namespace

SigningDecision decide_signatures(const DkimSettings& dkim, const Sender& who,
                                  const AuthorDomain& author, std::int64_t now,
                                  const std::vector<std::string>& route_keys, bool explain) {
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
    bool any_in_force = false;
    const auto chosen =
        choose_keys(dkim, keys, now, route_keys, explain ? &d.notes : nullptr, any_in_force);
    for (const auto* k : chosen) {
        if (k->key) {
            d.specs.push_back({k->domain, k->selector, k->key,
                               k->canonicalization.value_or(dkim.canonicalization)});
        }
    }
    if (!any_in_force) {
        d.reason = "no-key-in-force:" + author.domain;
    } else if (chosen.empty()) {
        d.reason = "not-on-route";
    } else if (d.specs.empty()) {
        d.reason = "no-key:" + author.domain;
    }
    return d;
}

DkimKeyStatus dkim_key_status(const DkimSettings& dkim, const DkimKeySpec& key, std::int64_t now) {
    std::vector<const DkimKeySpec*> keys;
    for (const auto& k : dkim.keys) {
        if (iequals(k.domain, key.domain)) {
            keys.push_back(&k);
        }
    }
    std::vector<std::string> notes;
    bool any_in_force = false;
    const auto chosen = choose_keys(dkim, keys, now, {}, &notes, any_in_force);
    DkimKeyStatus status;
    status.signs = std::find(chosen.begin(), chosen.end(), &key) != chosen.end();
    const auto label = key_label(key) + ": ";
    for (const auto& n : notes) {
        if (n.starts_with(label)) {
            status.why = n.substr(label.size());
        }
    }
    return status;
}

}  // namespace staffel::core
