// spf.hpp - the SPF pre-flight port: would this egress IP pass SPF for
// the envelope sender's domain?
//
// Purpose: before a message leaves over a route, the core asks whether the
//   route's egress IP is authorised by the sender domain's SPF record
//   (RFC 7208 check_host() for MAIL FROM), so the policy can act before a
//   receiver refuses the mail. Only domains the policy lists are evaluated
//   (the organisation's own), each check with a timeout. The adapter is
//   adapters/spf2/spf_checker.hpp (libspf2); tests use it on libspf2's
//   in-memory zone, or a fake.
// Semantics of check():
//   - Everything DNS says, including failures, is an SpfAnswer: a DNS
//     timeout, SERVFAIL or a check that ran out of time is TempError; a
//     record that does not parse, too many DNS-querying mechanisms or an
//     include loop is PermError; no record (or no domain) is None.
//   - A Result error means the question itself is unusable (an IP that
//     does not parse, a sender without a domain, NUL bytes) or the library
//     ran out of memory: a caller bug or resource failure, never a DNS
//     outcome. The policy's failure mode decides what either means.
// Thread-safety: implementations must accept concurrent check() calls from
//   any thread; the types here are plain values.
// Errors: Result values, never exceptions on the mail path.
// Outside input: SpfQuery::sender and ::helo come from the SMTP session;
//   SpfAnswer::explanation is built from DNS data published by third
//   parties: printable ASCII only, at most kSpfExplanationMax bytes. Log
//   it; never parse it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

enum class SpfResult { Pass, Fail, SoftFail, Neutral, None, TempError, PermError };

// RFC 7208 §2.6 names: "pass", "fail", "softfail", "neutral", "none",
// "temperror", "permerror".
std::string_view to_string(SpfResult result);

// The bound on SpfAnswer::explanation, in bytes.
inline constexpr std::size_t kSpfExplanationMax = 300;

struct SpfQuery {
    std::string ip;      // the route's egress IP, IPv4 or IPv6 text form
    std::string sender;  // envelope sender address; for <> pass postmaster@helo
    std::string helo;    // the HELO/EHLO name the route's MTA uses (for %{h})
};

struct SpfAnswer {
    SpfResult result = SpfResult::None;
    std::string explanation;  // why, for logs: bounded, printable ASCII
};

class SpfChecker {
  public:
    virtual ~SpfChecker() = default;
    // Evaluates SPF for query.sender's domain and query.ip; see the file
    // comment for what is an answer and what is an error.
    virtual Result<SpfAnswer> check(const SpfQuery& query) = 0;
};

inline std::string_view to_string(SpfResult result) {
    switch (result) {
        case SpfResult::Pass:
            return "pass";
        case SpfResult::Fail:
            return "fail";
        case SpfResult::SoftFail:
            return "softfail";
        case SpfResult::Neutral:
            return "neutral";
        case SpfResult::None:
            return "none";
        case SpfResult::TempError:
            return "temperror";
        case SpfResult::PermError:
            return "permerror";
    }
    return "permerror";
}

}  // namespace staffel::core
