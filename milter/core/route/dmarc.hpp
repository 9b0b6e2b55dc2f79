// dmarc.hpp - DMARC alignment, predicted before the message leaves.
//
// Purpose: a receiver applies DMARC (RFC 7489) to the From: domain. A
//   message passes when an SPF-authenticated return-path domain or a DKIM
//   d= domain is aligned with it. Staffel knows all three as the message
//   leaves (the route may rewrite the return path, the signatures are its
//   own), so it predicts each alignment, logs it per message and counts
//   the messages that would fail.
// Semantics of predict_dmarc():
//   - Relaxed alignment (the DMARC default, adkim/aspf=r): the two domains
//     have the same organisational domain (RFC 7489 §3.2; the registrable
//     domain under the Public Suffix List). Strict: the same domain.
//   - The organisational domain comes from OrgDomainFn (libpsl in staffeld,
//     a table in tests). Without one, relaxed falls back to strict.
//   - SPF counts only as aligned when the pre-flight did not find that the
//     route's egress would fail SPF (spf_fails); DKIM counts the signatures
//     Staffel adds. Neither looks at DNS: the prediction assumes the
//     published records match the policy.
//   - A null return path (bounces) has no SPF identity to align.
// Thread-safety: pure functions; OrgDomainFn must be thread-safe.
// Outside input: the From: domain comes from the message; it arrives here
//   lower-cased and parsed (core/headers.hpp). The log token is ASCII.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace staffel::core {

// The organisational domain of a lower-case domain; "" when the domain is
// itself a public suffix (or not a domain).
using OrgDomainFn = std::function<std::string(std::string_view domain)>;

enum class DmarcAlignment { Off, Relaxed, Strict };

struct DmarcInput {
    std::string_view from_domain;               // "" when the message has no single author domain
    std::string_view from_problem;              // why there is none ("no-from", ...), for the log
    std::span<const std::string> dkim_domains;  // d= of the signatures added
    std::string_view return_path;               // the envelope sender as it leaves; "" for <>
    bool spf_fails = false;  // the SPF pre-flight found the egress would not pass
};

struct DmarcPrediction {
    enum class Outcome { Pass, Fail, Unknown };
    Outcome outcome = Outcome::Unknown;
    bool dkim_aligned = false;
    bool spf_aligned = false;
    // Log token: "pass(dkim=example.com,spf=bounce.example.com)",
    // "fail(from=example.com,d=esp.test,rp=bounce.esp.test)", "unknown(no-from)".
    std::string log;
};

// Whether `a` and `b` align in `mode` (case-insensitive).
bool domains_align(std::string_view a, std::string_view b, DmarcAlignment mode,
                   const OrgDomainFn& org);

DmarcPrediction predict_dmarc(const DmarcInput& in, DmarcAlignment mode, const OrgDomainFn& org);

// Messages counted by prediction, shared by every connection.
struct DmarcStats {
    std::atomic<std::uint64_t> pass{0};
    std::atomic<std::uint64_t> fail{0};  // misaligned: a receiver's DMARC check would fail
    std::atomic<std::uint64_t> unknown{0};
};

}  // namespace staffel::core
