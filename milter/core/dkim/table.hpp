// table.hpp - which signatures a message gets: signing table and
// authorisation.
//
// Purpose: from the policy's [dkim] settings, the sender's identity and the
//   From: domain, decide the keys that sign, or why none does. The key is
//   chosen by the From: domain: keys declared for exactly that domain, or
//   else for the nearest parent domain that declares `subdomains = true`.
//   Every key declared for the chosen domain signs (RSA and Ed25519 side by
//   side, say).
// Authorisation, in order (first that applies decides):
//   1. the first [[dkim.senders]] rule that matches the identity: its
//      `domains` list ("example.com", "*.example.com", "*");
//   2. an authenticated (SASL) client: [dkim] authenticated = "own-domain"
//      (the domain of its login "user@domain" and nothing else), "any", or
//      "none";
//   3. a client in [dkim] trusted_networks: any configured domain;
//   4. anyone else: nothing.
//   So one tenant can never have mail signed as another tenant's domain
//   unless a rule says so.
// Thread-safety: pure functions over immutable policy data.
// Outside input: the SASL login, client address and From: domain come from
//   the client; they are compared, never interpreted.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/settings.hpp"
#include "core/dkim/sign.hpp"
#include "core/identity.hpp"

namespace staffel::core {

struct SigningDecision {
    std::vector<SignatureSpec> specs;  // empty: not signed, see `reason`
    // Why not signed, as a log token: "no-key:DOMAIN", "not-allowed:DOMAIN",
    // "no-from", "several-from", "unparsable-from", "from-several-domains".
    std::string reason;
};

// May this sender (its SASL login and client address) have mail signed
// for From: domain `from_domain`?
bool identity_may_sign(const DkimSettings& dkim, const Sender& who, std::string_view from_domain);

// The keys that sign a message from `who` whose From: is `author`.
SigningDecision decide_signatures(const DkimSettings& dkim, const Sender& who,
                                  const AuthorDomain& author);

}  // namespace staffel::core
