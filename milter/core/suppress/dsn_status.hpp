// dsn_status.hpp - what the status code of a delivery status notification
// means for the suppression list: hard bounce, soft bounce, or nothing.
//
// Purpose: `staffelctl ingest` (app/ingest_cmd.cpp) asks classify_dsn_status()
//   for every recipient a DSN reports as failed (RFC 3464 Action: failed, or
//   delayed), with the table [suppression] dsn_status builds
//   (config/schema_suppress.cpp): the defaults below plus the policy's
//   entries.
// Patterns: "CLASS.SUBJECT.DETAIL" as RFC 3463 writes status codes, CLASS 4
//   or 5, SUBJECT and DETAIL 1 to 3 digits each; the tail may be "*":
//   "5.1.1", "5.7.*", "4.*.*". "5.*.1" and "*.*.*" are not patterns. The
//   most specific pattern that matches wins (exact, then CLASS.SUBJECT.*,
//   then CLASS.*.*); the policy's entry for a pattern replaces the default
//   one. A status no pattern matches (2.x.x, or a table without "4.*.*" or
//   "5.*.*") is ignored.
// Defaults, as ESPs treat bounces:
//   "5.*.*" hard_bounce  the address is gone (5.1.1 no such user, 5.1.10
//                        null MX, 5.2.1 mailbox disabled, 5.4.4 no route)
//   "4.*.*" soft_bounce  temporary: counted (soft_bounce_limit)
//   "5.2.2" soft_bounce  mailbox full: often emptied again
//   "5.2.3" ignore       message too long for the recipient: the message's
//   "5.3.4" ignore       message too big for the system: the message's
//   "5.6.*" ignore       media and content errors: the message's
//   "5.7.*" ignore       refused by policy (spam, reputation, DMARC,
//                        relaying): mostly the sender's, not the address's
// Thread-safety: pure functions.
// Outside input: the status text comes from remote MTAs (bounce_report.hpp
//   validates its form); patterns come from the policy.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace staffel::core {

enum class DsnVerdict { HardBounce, SoftBounce, Ignore };

struct DsnStatusRule {
    std::string pattern;  // as parse_dsn_pattern() accepted it
    DsnVerdict verdict = DsnVerdict::Ignore;
    bool operator==(const DsnStatusRule&) const = default;
};

// The pattern, checked; an error says what a pattern looks like.
Result<std::string> parse_dsn_pattern(std::string_view text);
// "hard_bounce" | "soft_bounce" | "ignore".
Result<DsnVerdict> parse_dsn_verdict(std::string_view text);
std::string_view dsn_verdict_name(DsnVerdict v);

// The defaults listed above.
std::vector<DsnStatusRule> default_dsn_status_rules();
// `rules` with `rule` added, or replacing the rule of the same pattern.
void set_dsn_status_rule(std::vector<DsnStatusRule>& rules, DsnStatusRule rule);

struct DsnClassification {
    DsnVerdict verdict = DsnVerdict::Ignore;
    std::string pattern;  // the rule that decided; "" when none matched
};
DsnClassification classify_dsn_status(const std::vector<DsnStatusRule>& rules,
                                      std::string_view status);

}  // namespace staffel::core
