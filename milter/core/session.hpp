// session.hpp - the state of one milter connection and its current message.
//
// Purpose: the core side of the milter protocol. The libmilter adapter
//   turns each callback into one call here and the returned Verdict into an
//   smfi reply; nothing here knows libmilter. A connection may carry several
//   messages; each message takes the policy snapshot current when its MAIL
//   FROM arrives and keeps it until it ends, so a reload never changes a
//   message half way.
// Thread-safety: one Session per connection, used by one thread at a time
//   (libmilter serialises callbacks of a connection). The policy source and
//   the logger must be thread-safe.
// Outside input: every string comes from the SMTP client through the MTA;
//   all of it is bounded and escaped before it reaches a log line.
// Errors: nothing throws on the mail path except std::bad_alloc, which the
//   adapter turns into a tempfail.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/log.hpp"
#include "core/policy.hpp"

namespace staffel::core {

// What to answer the MTA at one stage.
struct Verdict {
    enum class Action { Continue, Tempfail, Reject };
    Action action = Action::Continue;
    std::string rcode;  // "451"
    std::string xcode;  // "4.7.1"
    std::string text;

    static Verdict proceed() { return {}; }
    bool operator==(const Verdict&) const = default;
};

// Macros the MTA passed with MAIL FROM ({auth_authen}, {i}).
struct SenderInfo {
    std::string address;    // envelope sender without angle brackets; "" for <>
    std::string sasl_user;  // "" when the client did not authenticate
    std::string queue_id;   // may be empty this early
};

using PolicySource = std::function<std::shared_ptr<const Policy>()>;

// Counts open milter connections, for SIGTERM draining. Connections, not
// messages: with no-reply stages the MTA buffers a message's MAIL and RCPT
// commands and sends them only with its end, so any open connection may
// carry a message in flight that the milter has not seen yet.
class InFlight {
  public:
    virtual ~InFlight() = default;
    virtual void begin() = 0;  // a connection opened
    virtual void end() = 0;    // it closed
};

class Session {
  public:
    Session(PolicySource policies, Logger& log, InFlight* in_flight = nullptr);
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void connect(std::string_view hostname, std::string_view address);
    Verdict mail_from(const SenderInfo& sender);
    Verdict rcpt_to(std::string_view recipient);
    // `queue_id` is the MTA's {i} at end of message, if it gave one.
    Verdict end_of_message(std::string_view queue_id);
    void abort();  // the MTA dropped the message (RSET, QUIT, error)
    void close();  // the connection ends

    [[nodiscard]] bool in_message() const { return message_.has_value(); }
    [[nodiscard]] std::size_t recipients() const { return message_ ? message_->recipients : 0; }
    [[nodiscard]] const std::shared_ptr<const Policy>& policy() const { return policy_; }

  private:
    struct Message {
        SenderInfo sender;
        std::size_t recipients = 0;
    };

    void finish(std::string_view queue_id, std::string_view action);
    [[nodiscard]] std::string identity() const;

    PolicySource policies_;
    Logger& log_;
    InFlight* in_flight_;
    std::shared_ptr<const Policy> policy_;
    std::string client_host_;
    std::string client_addr_;
    std::optional<Message> message_;
    bool open_ = true;
};

// Makes outside text safe for one log line: printable ASCII kept, anything
// else as \xHH, cut at `max_bytes` with "..." appended.
std::string log_escape(std::string_view text, std::size_t max_bytes = 256);

}  // namespace staffel::core
