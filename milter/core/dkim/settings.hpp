// settings.hpp - the [dkim] part of the policy: keys, who may sign what,
// and how.
//
// Purpose: the typed, validated values of [dkim], [[dkim.keys]] and
//   [[dkim.senders]] (config/schema.cpp builds them; policies/README.md
//   documents them), kept in the DKIM module as QuotaLimit and Route are
//   kept in theirs. core/dkim/table.hpp decides from them which keys sign
//   a message; core/policy.hpp holds one DkimSettings.
// Thread-safety: plain values, immutable once the policy is built.
// Defaults: the member initialisers and the default_*() lists below.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dkim/canon.hpp"
#include "core/dkim/signer.hpp"
#include "core/net.hpp"

namespace staffel::core {

// One [[dkim.keys]] entry. `key` is filled by the key loader the policy
// loader is given (staffeld: OpenSSL); null only when loading without keys.
// A key signs only while it is in force: from not_before (inclusive) until
// not_after (exclusive), either end open when absent. Which of the keys in
// force signs is DkimSettings::overlap's business (core/dkim/table.hpp).
struct DkimKeySpec {
    std::string domain;  // lower-case, no trailing dot
    std::string selector;
    DkimAlgorithm algorithm = DkimAlgorithm::RsaSha256;
    std::string key_path;
    bool subdomains = false;                    // also sign for every subdomain of `domain`
    std::optional<CanonPair> canonicalization;  // default: [dkim] canonicalization
    std::string where;                          // FILE:LINE:COL of the entry, for messages
    std::shared_ptr<const SigningKey> key;
    std::optional<std::int64_t> not_before;  // epoch seconds; absent: since ever
    std::optional<std::int64_t> not_after;   // epoch seconds; absent: for ever

    // Within [not_before, not_after) at `now` (epoch seconds)?
    [[nodiscard]] bool in_force(std::int64_t now) const {
        return (!not_before || now >= *not_before) && (!not_after || now < *not_after);
    }
};

// One [[dkim.senders]] rule: which From: domains an identity may sign.
// First matching rule wins; see DkimSettings.
struct DkimSenderRule {
    std::string sasl_user;             // exact, or "*@domain"; empty: any
    std::vector<Network> networks;     // client address in one of them; empty: any
    std::vector<std::string> domains;  // "example.com", "*.example.com", or "*" (any key)
};

// Which of a domain's keys in force sign ([dkim] overlap): per algorithm
// the one with the latest not_before ("newest"), or every one ("all").
enum class DkimOverlap { Newest, All };

// How an authenticated (SASL) client with no matching rule is treated.
enum class DkimAuthenticated { OwnDomain, Any, None };

struct DkimSettings {
    std::vector<DkimKeySpec> keys;
    std::vector<DkimSenderRule> senders;
    std::vector<Network> trusted_networks = default_trusted_networks();
    DkimAuthenticated authenticated = DkimAuthenticated::OwnDomain;
    DkimOverlap overlap = DkimOverlap::Newest;
    CanonPair canonicalization{Canon::Relaxed, Canon::Relaxed};
    std::optional<std::chrono::seconds> expire;  // x= = t= + expire
    std::vector<std::string> sign_headers = default_sign_headers();
    std::vector<std::string> oversign_headers = default_oversign_headers();

    static std::vector<Network> default_trusted_networks();
    static std::vector<std::string> default_sign_headers();
    static std::vector<std::string> default_oversign_headers();
};

}  // namespace staffel::core
