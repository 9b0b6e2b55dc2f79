// table.hpp - which signatures a message gets: signing table and
// authorisation.
//
// Purpose: from the policy's [dkim] settings, the sender's identity and the
//   From: domain, decide the keys that sign, or why none does. The key is
//   chosen by the From: domain: keys declared for exactly that domain, or
//   else for the nearest parent domain that declares `subdomains = true`.
//   The domain is chosen by the keys declared, whether in force or not.
// Which of the chosen domain's keys sign (key rotation):
//   1. only keys in force at `now`: not_before <= now < not_after;
//   2. only keys the route names, when it names any (route.dkim_keys);
//   3. [dkim] overlap = "newest" (the default): per algorithm, the key with
//      the latest not_before signs (no not_before counts as the earliest);
//      keys that tie all sign. So a new key takes over at its not_before
//      while the old one stays declared (and published) for mail in flight,
//      and an RSA and an Ed25519 key still sign side by side.
//      overlap = "all": every key left signs (old and new during the
//      overlap, until the old key's not_after).
//   The decision is made per message at the session's clock: a switch
//   takes effect at its time, without a reload.
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

#include <cstdint>
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
    // "no-key-in-force:DOMAIN" (keys declared, none in force now),
    // "not-on-route" (none of the keys in force is one the route names),
    // "no-from", "several-from", "unparsable-from", "from-several-domains".
    std::string reason;
    // For staffelctl explain: each key of the chosen domain, whether it
    // signs and why ("s2026 (rsa-sha256): signs, newest in force since
    // 2026-07-01T00:00:00Z"). Filled only when `explain` is asked for.
    std::vector<std::string> notes;
};

// May this sender (its SASL login and client address) have mail signed
// for From: domain `from_domain`?
bool identity_may_sign(const DkimSettings& dkim, const Sender& who, std::string_view from_domain);

// The keys that sign a message from `who` whose From: is `author`, at
// `now` (epoch seconds). `route_keys`: the route's "DOMAIN/SELECTOR" list;
// empty: any key. `explain`: fill SigningDecision::notes.
SigningDecision decide_signatures(const DkimSettings& dkim, const Sender& who,
                                  const AuthorDomain& author, std::int64_t now,
                                  const std::vector<std::string>& route_keys = {},
                                  bool explain = false);

// Whether `key` (an entry of dkim.keys) signs its domain's mail at `now`,
// routes aside, and why, in the words of SigningDecision::notes without
// the key's name ("signs, in force since ...", "does not sign, not yet:
// not_before ..."). For staffelctl dkim check.
struct DkimKeyStatus {
    bool signs = false;
    std::string why;
};
DkimKeyStatus dkim_key_status(const DkimSettings& dkim, const DkimKeySpec& key, std::int64_t now);

}  // namespace staffel::core
