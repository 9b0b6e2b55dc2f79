// quota.hpp - quotas, rates and warm-up ramps: which counters a message
// charges, and what the answer is.
//
// Purpose: the pure half of quota enforcement. plan_charges() turns the
//   policy's [[quota]] limits and one message (who sends it, how many
//   recipients, when) into the counters it must charge in the store;
//   decide() turns the store's answer into the SMTP reply, the log token
//   and whether the message must be held. The store itself is a port
//   (core/quota/store.hpp): Redis in staffeld, a fake in the unit tests.
// Windows: "N/1d", "N/1w" and "N/month" are calendar quotas that reset at
//   local midnight, on Monday and on the first of the month in the policy's
//   time zone; any other period (or window = "rolling") is a rolling rate
//   (GCRA: `burst` units at once, then one every period/N). A warm-up ramp
//   lowers a daily quota's limit on the days after its start date.
// Thread-safety: pure functions over immutable policy data.
// Outside input: sender, SASL user and client address come from the SMTP
//   client; they are bounded and escaped before they become store keys or
//   log text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/identity.hpp"
#include "core/net.hpp"
#include "core/quota/store.hpp"
#include "core/tz.hpp"
#include "core/units.hpp"

namespace staffel::core {

enum class QuotaKey { Sender, SenderDomain, SaslUser, ClientIp, Stream, RecipientDomain };
enum class QuotaCounts { Recipients, Messages };
enum class QuotaAction { Tempfail, Reject, Hold, Log };
enum class QuotaWindow { Day, Week, Month, Rolling };

std::string_view to_string(QuotaKey k);
std::string_view to_string(QuotaAction a);

// A warm-up ramp of a daily quota: on day n after `start_day` (day 0 is
// the start date) the limit is schedule[n] while the schedule lasts, else
// initial * factor^n; never above the quota's own limit.
struct WarmUp {
    std::optional<std::int64_t> start_day;  // local date, days since 1970-01-01
    std::int64_t initial = 0;
    double factor = 1.0;
    std::vector<std::int64_t> schedule;
};

struct QuotaLimit {
    std::string name;
    QuotaKey key = QuotaKey::Sender;
    QuotaCounts counts = QuotaCounts::Recipients;
    Rate limit;                             // count per period (a month is kept as 30 days)
    QuotaWindow window = QuotaWindow::Day;  // from the period and `window`
    std::optional<bool> rolling_requested;  // `window` as written, if it was
    std::int64_t burst = 0;                 // rolling only; 0 = the limit's count
    QuotaAction action = QuotaAction::Tempfail;
    std::optional<WarmUp> warmup;
    // Narrowing: the limit applies only when each non-empty list matches.
    // Key recipient_domain: the recipient domains ("d", "*.d") that share
    // one counter; empty = a counter per recipient domain.
    std::vector<std::string> domains;     // sender domain: "d", "*.d" or "*"
    std::vector<std::string> sasl_users;  // exact or "*@domain"
    std::vector<Network> networks;        // client address
    std::vector<std::string> streams;     // stream names
    // When the store cannot charge; unset: [redis] on_store_error.
    std::optional<StoreErrorMode> on_store_error;
    std::string where;                    // FILE:LINE:COL, for messages

    // Rolling: the burst (default: the limit's count). Calendar: the count.
    [[nodiscard]] std::int64_t capacity() const;
};

// One counter a message charges, with what is needed to explain it.
struct PlannedCharge {
    const QuotaLimit* limit = nullptr;
    std::string identity;              // the keyed value, lower-cased ("alice@example.com")
    std::int64_t effective_limit = 0;  // after warm-up; Gcra: the burst
    std::int64_t resets_at = 0;        // calendar windows: epoch seconds; rolling: 0
    std::int64_t units = 0;            // what the message costs this limit
    CounterCharge charge;  // a rate's amount is capped at burst + 1 (as refused either way)
};

// The counters of every limit that applies to a message of `sender` in
// `stream` ("bulk", "transactional", a [[stream]] name; "" when not
// classified); empty when none does. Each plan points into `limits`, which
// must outlive it. recipient_domain limits are never among them: they are
// charged per recipient (plan_recipient_charges).
std::vector<PlannedCharge> plan_charges(const std::vector<QuotaLimit>& limits,
                                        const ZoneRules& zone, std::string_view prefix,
                                        const Sender& sender, std::string_view stream,
                                        std::int64_t recipients, std::int64_t now);

// The counters one recipient of `sender` charges at RCPT: one unit on every
// recipient_domain limit that applies to its domain, given normalised
// (lower case, IDNs as A-labels). A limit with `domains` charges the one
// counter its domains share; without, the recipient domain's own counter.
// Empty when none applies or `domain` is empty.
std::vector<PlannedCharge> plan_recipient_charges(const std::vector<QuotaLimit>& limits,
                                                  const ZoneRules& zone, std::string_view prefix,
                                                  const Sender& sender, std::string_view domain,
                                                  std::int64_t now);

// Whether any limit is charged per recipient at RCPT (key recipient_domain).
bool quotas_at_rcpt(const std::vector<QuotaLimit>& limits);

// The counters staffelctl shows or resets for one key (an address, a
// domain, a SASL user, a stream or an IP): every limit whose key can be
// that value. A key is taken for
//   - an IP address when it parses as one;
//   - a stream when it is one of `stream_names` (core::stream_names());
//   - a domain when it has a '.' and no '@';
//   - else an address (with '@') or a SASL login.
// sender limits fit addresses, sender_domain limits domains, stream
// limits streams, client_ip limits IPs;
// sasl_user limits fit addresses and logins, and any key their sasl_users
// patterns match (a login may look like a domain).
std::vector<PlannedCharge> counters_for(const std::vector<QuotaLimit>& limits,
                                        const ZoneRules& zone, std::string_view prefix,
                                        std::string_view key, std::int64_t now,
                                        const std::vector<std::string>& stream_names);

struct QuotaDecision {
    enum class Kind { Admit, Tempfail, Reject, Hold };
    Kind kind = Kind::Admit;
    std::string rcode, xcode, text;  // Tempfail, Reject: the SMTP reply
    std::string hold_reason;         // Hold
    std::string log;                 // "ok", "over:NAME", "shadow-over:NAME", ...
};

// What the store's answer means for the message.
QuotaDecision decide(const std::vector<PlannedCharge>& planned, const ChargeOutcome& outcome,
                     const ZoneRules& zone);

// "2026-11-24 00:00 CET", for replies and staffelctl.
std::string format_local(const ZoneRules& zone, std::int64_t t);

// Whether any limit needs the stream (and so the message header).
bool quotas_need_stream(const std::vector<QuotaLimit>& limits);

// The store key's identity part, made safe: lower-cased, bytes outside
// [A-Za-z0-9@._+=-] as %HH, at most 256 bytes of input.
std::string key_escape(std::string_view identity);

}  // namespace staffel::core
