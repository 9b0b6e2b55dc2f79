// identity.hpp - who is sending, and the patterns a policy names senders by.
//
// Purpose: DESIGN's first decision ("who is sending, and which domains it
//   may use") in one place. A Sender is what the MTA told us about the
//   client and the envelope; DKIM authorisation (core/dkim/table.hpp),
//   quotas (core/quota/quota.hpp) and stream rules (core/route/streams.hpp)
//   all take it, and all match it with the patterns below, so "*@x" or
//   "*.example.com" mean the same in [[dkim.senders]], [[quota]] and
//   [[stream]].
// Patterns, case-insensitive (ASCII):
//   login   "user@example.com" exact, "*@example.com" any login of that
//           domain, "*" any non-empty login;
//   domain  "example.com" itself, "*.example.com" its subdomains (not
//           example.com), "*" any domain;
//   address a login pattern when it holds '@', else a domain pattern for
//           the address's domain; never the null sender.
// Thread-safety: pure functions; a Sender only views strings its owner
//   keeps alive (the Session's message) and is passed by const reference.
// Outside input: every field comes from the SMTP client or the MTA; it is
//   compared, never interpreted.
#pragma once

#include <algorithm>
#include <string_view>

#include "core/text.hpp"

namespace staffel::core {

struct Sender {
    std::string_view sasl_user{};    // "" when the client did not authenticate
    std::string_view client_ip{};    // {client_addr} as the MTA gives it
    std::string_view address{};      // envelope sender, without <>; "" for <>
    std::string_view daemon_name{};  // the MTA's {daemon_name}; "" when not given

    // The envelope sender's domain ("" for <> or without '@').
    [[nodiscard]] std::string_view domain() const { return domain_of(address); }
    [[nodiscard]] bool authenticated() const { return !sasl_user.empty(); }
};

bool login_matches(std::string_view pattern, std::string_view user);
bool domain_pattern_matches(std::string_view pattern, std::string_view domain);
bool address_matches(std::string_view pattern, std::string_view address);

// A policy's optional condition list: true when the list is empty (no
// condition) or `pred` holds for one of its items.
template <typename List, typename Pred>
bool any_or_empty(const List& list, Pred pred) {
    return list.empty() || std::any_of(list.begin(), list.end(), pred);
}

}  // namespace staffel::core
