// streams.cpp - see streams.hpp.
#include "core/route/streams.hpp"

#include <algorithm>

#include "core/identity.hpp"
#include "core/text.hpp"

namespace staffel::core {
namespace {

bool header_matches(const HeaderCondition& c, const std::vector<HeaderField>& fields) {
    return std::any_of(fields.begin(), fields.end(), [&](const HeaderField& f) {
        return iequals(f.name, c.name) &&
               (!c.value_glob || glob_matches(*c.value_glob, trim_space(f.value)));
    });
}

bool rule_matches(const StreamRule& r, const StreamInput& in) {
    static const std::vector<HeaderField> kNone;
    const auto& fields = in.headers != nullptr ? *in.headers : kNone;
    return any_or_empty(
               r.sasl_users,
               [&](const std::string& p) { return login_matches(p, in.sender.sasl_user); }) &&
           any_or_empty(
               r.senders,
               [&](const std::string& p) { return address_matches(p, in.sender.address); }) &&
           any_or_empty(r.networks,
                        [&](const Network& n) { return n.contains(in.sender.client_ip); }) &&
           any_or_empty(r.daemon_names,
                        [&](const std::string& d) { return d == in.sender.daemon_name; }) &&
           any_or_empty(r.headers,
                        [&](const HeaderCondition& c) { return header_matches(c, fields); }) &&
           in.recipients >= r.min_recipients;
}

// Quoted for explanations: bounded, without control characters.
std::string shown(std::string_view v) {
    std::string out = "\"";
    for (char c : v.substr(0, 200)) {
        out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
    }
    return out + (v.size() > 200 ? "...\"" : "\"");
}

template <typename List, typename Pred, typename Show>
std::optional<std::string> first_match(const List& list, Pred pred, Show show) {
    for (const auto& item : list) {
        if (pred(item)) {
            return show(item);
        }
    }
    return std::nullopt;
}

}  // namespace

RuleCheck check_rule(const StreamRule& r, const StreamInput& in) {
    static const std::vector<HeaderField> kNone;
    const auto& fields = in.headers != nullptr ? *in.headers : kNone;
    RuleCheck out;
    std::vector<std::string> because;
    auto fail = [&](std::string why) {
        out.why = std::move(why);
        return out;
    };
    if (!r.sasl_users.empty()) {
        auto m = first_match(
            r.sasl_users,
            [&](const std::string& p) { return login_matches(p, in.sender.sasl_user); },
            [](const std::string& p) { return p; });
        if (!m) {
            return fail(in.sender.sasl_user.empty()
                            ? "the client did not authenticate (sasl_users)"
                            : "SASL user " + shown(in.sender.sasl_user) + " is not in sasl_users");
        }
        because.push_back("SASL user " + shown(in.sender.sasl_user) + " matches " + shown(*m));
    }
    if (!r.senders.empty()) {
        auto m = first_match(
            r.senders, [&](const std::string& p) { return address_matches(p, in.sender.address); },
            [](const std::string& p) { return p; });
        if (!m) {
            return fail("envelope sender " + shown(in.sender.address) + " is not in senders");
        }
        because.push_back("sender " + shown(in.sender.address) + " matches " + shown(*m));
    }
    if (!r.networks.empty()) {
        auto m = first_match(
            r.networks, [&](const Network& n) { return n.contains(in.sender.client_ip); },
            [](const Network& n) { return n.to_string(); });
        if (!m) {
            return fail("client " + shown(in.sender.client_ip) + " is not in networks");
        }
        because.push_back("client " + shown(in.sender.client_ip) + " is in " + *m);
    }
    if (!r.daemon_names.empty()) {
        if (std::none_of(r.daemon_names.begin(), r.daemon_names.end(),
                         [&](const std::string& d) { return d == in.sender.daemon_name; })) {
            return fail("daemon_name " + shown(in.sender.daemon_name) + " is not in daemon_names");
        }
        because.push_back("daemon_name " + shown(in.sender.daemon_name));
    }
    if (!r.headers.empty()) {
        auto m = first_match(
            r.headers, [&](const HeaderCondition& c) { return header_matches(c, fields); },
            [](const HeaderCondition& c) {
                return "header " + c.name + (c.value_glob ? ": " + *c.value_glob : "");
            });
        if (!m) {
            return fail("no header field matches headers");
        }
        because.push_back(*m);
    }
    if (in.recipients < r.min_recipients) {
        return fail(std::to_string(in.recipients) + " recipients, fewer than min_recipients " +
                    std::to_string(r.min_recipients));
    }
    if (r.min_recipients > 0) {
        because.push_back(std::to_string(in.recipients) + " recipients");
    }
    out.matched = true;
    for (const auto& b : because) {
        out.why += (out.why.empty() ? "" : "; ") + b;
    }
    if (out.why.empty()) {
        out.why = "no conditions";
    }
    return out;
}

bool glob_matches(std::string_view glob, std::string_view text) {
    // Iterative wildcard match with one backtrack point: linear in practice.
    std::size_t g = 0;
    std::size_t t = 0;
    std::size_t star = std::string_view::npos;
    std::size_t mark = 0;
    while (t < text.size()) {
        if (g < glob.size() && (glob[g] == '?' || ascii_lower(glob[g]) == ascii_lower(text[t]))) {
            ++g;
            ++t;
        } else if (g < glob.size() && glob[g] == '*') {
            star = g++;
            mark = t;
        } else if (star != std::string_view::npos) {
            g = star + 1;
            t = ++mark;
        } else {
            return false;
        }
    }
    while (g < glob.size() && glob[g] == '*') {
        ++g;
    }
    return g == glob.size();
}

std::optional<HeaderCondition> parse_header_condition(std::string_view text) {
    HeaderCondition c;
    const auto colon = text.find(':');
    c.name = std::string(trim_space(text.substr(0, colon)));
    if (c.name.empty() || c.name.size() > 128 ||
        std::any_of(c.name.begin(), c.name.end(), [](char ch) {
            const auto u = static_cast<unsigned char>(ch);
            return u <= 0x20 || u >= 0x7f;
        })) {
        return std::nullopt;
    }
    if (colon != std::string_view::npos) {
        c.value_glob = std::string(trim_space(text.substr(colon + 1)));
    }
    return c;
}

std::string_view builtin_stream(const std::vector<HeaderField>& fields) {
    for (const auto& f : fields) {
        if (iequals(f.name, "List-Unsubscribe") || iequals(f.name, "List-Id")) {
            return "bulk";
        }
        if (iequals(f.name, "Precedence")) {
            const auto v = trim_space(f.value);
            if (iequals(v, "bulk") || iequals(v, "list") || iequals(v, "junk")) {
                return "bulk";
            }
        }
    }
    return "transactional";
}

std::vector<std::string> stream_names(const std::vector<StreamRule>& rules,
                                      std::string_view default_stream) {
    if (rules.empty()) {
        return {"bulk", "transactional"};
    }
    std::vector<std::string> names{std::string(default_stream)};
    for (const auto& r : rules) {
        if (std::find(names.begin(), names.end(), r.name) == names.end()) {
            names.push_back(r.name);
        }
    }
    return names;
}

StreamChoice classify(const std::vector<StreamRule>& rules, std::string_view default_stream,
                      const StreamInput& in) {
    for (std::size_t i = 0; i < rules.size(); ++i) {
        if (rule_matches(rules[i], in)) {
            return {rules[i].name, rules[i].route, static_cast<int>(i)};
        }
    }
    if (rules.empty()) {
        static const std::vector<HeaderField> kNone;
        return {std::string(builtin_stream(in.headers != nullptr ? *in.headers : kNone)), {}, -1};
    }
    return {std::string(default_stream), {}, -1};
}

UnsubscribeGate unsubscribe_gate(const StreamRule* rule, const std::vector<HeaderField>& fields,
                                 const std::string& expanded_template) {
    UnsubscribeGate g;
    if (rule == nullptr || rule->unsubscribe == StreamRule::Unsubscribe::Off) {
        return g;
    }
    auto has = [&](std::string_view name) {
        return std::any_of(fields.begin(), fields.end(),
                           [&](const HeaderField& f) { return iequals(f.name, name); });
    };
    const bool has_list = has("List-Unsubscribe");
    const bool has_post = has("List-Unsubscribe-Post");
    if (has_list && has_post) {
        return g;
    }
    g.missing = true;
    switch (rule->unsubscribe) {
        case StreamRule::Unsubscribe::Refuse:
            g.refuse = true;
            g.log = "refused";
            break;
        case StreamRule::Unsubscribe::Report:
            g.log = "missing";
            break;
        case StreamRule::Unsubscribe::Add:
            // A List-Unsubscribe the sender wrote is kept; only the missing
            // fields are added. One-click (RFC 8058) needs an https URI.
            if (!has_list) {
                g.add.push_back({"List-Unsubscribe", " " + expanded_template});
            }
            if (!has_post) {
                g.add.push_back({"List-Unsubscribe-Post", " List-Unsubscribe=One-Click"});
            }
            g.log = "added";
            break;
        case StreamRule::Unsubscribe::Off:
            break;
    }
    return g;
}

}  // namespace staffel::core
