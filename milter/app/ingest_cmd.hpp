// ingest_cmd.hpp - `staffelctl ingest`: a bounce or complaint report in,
// suppression entries out.
//
// Purpose: run as a Postfix pipe(8) transport for the bounce address (see
//   contrib/postfix/), it reads one message on standard input and records
//   what it reports:
//     - an RFC 3464 delivery status notification: each recipient with
//       Action: failed or delayed is judged by its Status through
//       [suppression] dsn_status (core/suppress/dsn_status.hpp; by default
//       5.x.x hard, 4.x.x and 5.2.2 soft, 5.7.x and other message or
//       policy refusals ignored): hard_bounce makes a hard_bounce entry
//       (global, every stream); soft_bounce (or a delay, whatever its
//       status says, unless ignore) counts one soft bounce
//       (soft_bounce_limit within soft_bounce_window make a hard_bounce
//       entry that lasts soft_bounce_expires) unless the address already
//       has a global entry blocking every stream;
//       delivered, relayed and expanded are only reported;
//     - an RFC 5965 ARF feedback report (any Feedback-Type but not-spam):
//       each complainant becomes a complaint entry (global, every stream);
//     - a VERP envelope recipient (LOCAL+USER=DOMAIN@BOUNCE-DOMAIN, given
//       with --recipient) names the recipient the bounced mail was sent to:
//       it is the address recorded when the report concerns one recipient,
//       or names none.
//   Anything else is refused with the reason; nothing is guessed.
// Output: one line per recipient on stdout ("suppressed ...", "soft bounce
//   N of LIMIT ...", "... is already suppressed ...", "ignored ..."); errors on stderr.
// Exit status (sysexits, as pipe(8) understands them): 0 done; 65 the
//   message is not a report Staffel can read (pipe(8) returns it to the
//   postmaster); 75 the store cannot be reached (Postfix retries later, so
//   nothing is lost); 78 the policy is invalid. staffelctl's run_ingest()
//   adds the bounds on the process (app/parse_guard.hpp): 65 for a message
//   over [suppression] ingest_max_size, 75 for running out of memory or CPU
//   time, or a crash, while parsing.
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "core/policy.hpp"
#include "core/route/route.hpp"
#include "core/stats/counts.hpp"
#include "core/suppress/store.hpp"
#include "core/suppress/suppress.hpp"

namespace staffel::app {

struct IngestContext {
    const core::Policy* policy = nullptr;
    core::SuppressionStore* store = nullptr;
    const core::Sha256Factory* sha = nullptr;  // for hashed keys
    core::DomainToAscii idna;
    std::int64_t now = 0;  // epoch seconds
    bool dry_run = false;  // decide and print, write nothing
    // Told of each hard bounce, soft bounce and complaint recorded, with the
    // sender domain and tag of the reported message (statistics); unset:
    // nobody.
    std::function<void(const core::stats::Ingested&, std::string_view address)> ingested{};
};

int ingest(const IngestContext& ctx, std::string_view message, std::string_view envelope_recipient,
           std::ostream& out, std::ostream& err);

// The recipient a VERP address encodes (core/route/route.hpp).
using core::verp_decode;

}  // namespace staffel::app
