// outcome.hpp - what a Session decided about one message, as data.
//
// Purpose: the one record of a message's fate that statistics
//   (core/stats/), the event feed, Prometheus metrics and the log line are
//   made from, so each of them counts the same thing. A Session fills it
//   when the message ends (accepted, held, refused, deferred or aborted)
//   and hands it to an OutcomeSink.
// Thread-safety: a MessageOutcome is plain data. OutcomeSink
//   implementations are called from every milter thread at once and must
//   be thread-safe; they must not block on I/O (the mail path waits).
// Outside input: addresses, the tag and the queue id come from the SMTP
//   client through the MTA. They are bounded by the Session, not escaped:
//   each consumer escapes for its own output (log_escape, JSON).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace staffel::core {

// One recipient that did not get the message, and why ("hard-bounce",
// "complaint", "unsubscribe", "manual", ...: suppress.hpp's reason_name).
struct RecipientOutcome {
    std::string address;
    std::string reason;
};

struct SignatureOutcome {
    std::string domain;     // d=
    std::string selector;   // s=
    std::string algorithm;  // "rsa-sha256", "ed25519-sha256"
};

struct MessageOutcome {
    // What happened to the message as a whole.
    enum class Action { Pass, Hold, Reject, Tempfail, Aborted };
    Action action = Action::Aborted;
    // Why it was refused, deferred or held; "" when it passed. One of
    // "quota:NAME", "suppression:REASON", "gate", "route-down",
    // "store-error", "header-too-large", "policy-reloaded", "signing",
    // "envelope", "mta-edit", "too-many-recipients".
    std::string reason;
    std::string reply;  // "550 5.7.1 Staffel: ..." for Reject and Tempfail

    std::string queue_id;  // "" when the MTA gave none
    std::string client_host;
    std::string client_addr;
    std::string sasl_user;      // "" without SMTP AUTH
    std::string sender;         // envelope sender, "" for <>
    std::string sender_domain;  // lower case; "" for <> or no domain
    std::string policy_digest;  // the policy the message was judged by
    std::string stream;         // "" when the header was never seen
    std::string route;          // the route that carries it; "" for none
    std::string fallback_from;  // routes down before `route` (a fallback carries it); "" = none
    std::string tag;            // [stats] tag_headers; "" for none
    std::string dmarc;          // the DMARC prediction's log token

    std::size_t recipients = 0;  // accepted (after removals)
    // Accepted recipients' domains, lower case, one per recipient.
    std::vector<std::string> recipient_domains;
    std::vector<RecipientOutcome> refused;  // refused at RCPT
    std::vector<RecipientOutcome> removed;  // removed at the end of the message
    std::vector<SignatureOutcome> signatures;
    // [[quota]] limits with action "log" that the message went over.
    std::vector<std::string> shadow_over;
    std::uint64_t bytes = 0;      // header and body as the milter saw them
    std::int64_t time = 0;        // seconds since the epoch, at the end
    std::int64_t elapsed_us = 0;  // from MAIL FROM reaching the milter to the end
};

std::string_view to_string(MessageOutcome::Action action);

// Where a Session reports each message's outcome (staffeld: statistics,
// events, metrics). Must be thread-safe and must not block on I/O.
class OutcomeSink {
  public:
    virtual ~OutcomeSink() = default;
    virtual void message(const MessageOutcome& outcome) = 0;
};

// Hands each outcome to every sink added, in order. Sinks are added before
// the first message and then only read.
class OutcomeFanOut final : public OutcomeSink {
  public:
    void add(OutcomeSink* sink) {
        if (sink != nullptr) {
            sinks_.push_back(sink);
        }
    }
    [[nodiscard]] bool empty() const { return sinks_.empty(); }
    void message(const MessageOutcome& outcome) override {
        for (auto* s : sinks_) {
            s->message(outcome);
        }
    }

  private:
    std::vector<OutcomeSink*> sinks_;
};

// The domain part of an address, lower-cased ASCII; "" when there is none.
std::string address_domain(std::string_view address);

}  // namespace staffel::core
