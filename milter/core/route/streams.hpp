// streams.hpp - which stream a message belongs to, and which route carries it.
//
// Purpose: a newsletter and a password reset must not share a quota, a
//   suppression rule or an exit. The policy's [[stream]] rules name the
//   stream of each message from envelope and header signals, first match
//   wins; each stream may name the [[route]] that carries it (routes:
//   core/route/route.hpp). Without rules, the built-in classification
//   applies: List-Unsubscribe, List-Id or Precedence bulk|list|junk make a
//   message "bulk", anything else is "transactional".
// Thread-safety: plain values and pure functions.
// Outside input: header values and addresses come from the SMTP client;
//   matching only compares them, bounded by the header collector.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/headers.hpp"
#include "core/identity.hpp"
#include "core/net.hpp"

namespace staffel::core {

// "Name" (the field is present) or "Name: glob" (some field of that name
// has a value matching the glob, case-insensitive; '*' any run, '?' one).
struct HeaderCondition {
    std::string name;
    std::optional<std::string> value_glob;
};

// One [[stream]] rule. Every condition given must hold; an empty list
// does not constrain.
struct StreamRule {
    std::string name;                     // the stream it names
    std::vector<std::string> sasl_users;  // logins, "*@domain" or "*"
    std::vector<std::string>
        senders;  // "a@example.com", "*@example.com", "example.com", "*.example.com"
    std::vector<Network> networks;          // client address
    std::vector<std::string> daemon_names;  // the MTA's {daemon_name} (e.g. a submission service)
    std::vector<HeaderCondition> headers;   // any one of them
    std::size_t min_recipients = 0;         // 0: any count
    std::string route;                      // "" = the default route
    // The bulk-sender gate (Gmail's and Yahoo's 2024 rules, RFC 8058): what
    // to do with this stream's mail that lacks List-Unsubscribe or
    // List-Unsubscribe-Post.
    enum class Unsubscribe { Off, Add, Refuse, Report };
    Unsubscribe unsubscribe = Unsubscribe::Off;
    std::string unsubscribe_template;  // Add: the List-Unsubscribe value (route.hpp templates)
    std::string where;                 // FILE:LINE:COL, for messages
};

struct StreamInput {
    Sender sender;  // login, client, envelope sender and daemon name
    const std::vector<HeaderField>* headers = nullptr;
    std::size_t recipients = 0;
};

struct StreamChoice {
    std::string stream;
    std::string route;  // "" = none named (the default route, if any)
    int rule = -1;      // index of the matching rule; -1 = default / built-in
};

// What the bulk-sender gate decides for one message.
struct UnsubscribeGate {
    bool missing = false;          // a field the rules require is absent
    bool refuse = false;           // the rule says refuse
    std::vector<HeaderField> add;  // fields to append (values with a leading space)
    std::string log;               // "" | "added" | "missing" | "refused"
};

// `rule` is the stream's rule (null: no gate). `expand` expands the
// template (route.hpp's expand_template with the message's context).
UnsubscribeGate unsubscribe_gate(const StreamRule* rule, const std::vector<HeaderField>& fields,
                                 const std::string& expanded_template);

// Parses "Name" or "Name: glob".
std::optional<HeaderCondition> parse_header_condition(std::string_view text);
bool glob_matches(std::string_view glob, std::string_view text);  // case-insensitive

// The first rule that matches, else `default_stream` (with rules) or the
// built-in classification (without).
StreamChoice classify(const std::vector<StreamRule>& rules, std::string_view default_stream,
                      const StreamInput& in);

// One rule checked against one message, said in words (staffelctl
// explain): whether it matches and why, or the first condition that fails.
struct RuleCheck {
    bool matched = false;
    std::string why;  // "sender app@example.com matches *@example.com; header Precedence: bulk"
};
RuleCheck check_rule(const StreamRule& rule, const StreamInput& in);

// The built-in classification ("bulk" or "transactional").
std::string_view builtin_stream(const std::vector<HeaderField>& fields);

// Every stream name classify() can answer: the rules' names and
// `default_stream`, or without rules the built-in "bulk" and
// "transactional".
std::vector<std::string> stream_names(const std::vector<StreamRule>& rules,
                                      std::string_view default_stream);

}  // namespace staffel::core
