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

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dkim/sign.hpp"
#include "core/headers.hpp"
#include "core/identity.hpp"
#include "core/log.hpp"
#include "core/outcome.hpp"
#include "core/policy.hpp"
#include "core/quota/quota.hpp"
#include "core/quota/store.hpp"
#include "core/route/dmarc.hpp"
#include "core/route/spf.hpp"
#include "core/route/status.hpp"
#include "core/suppress/store.hpp"

namespace staffel::core {

// What to answer the MTA at one stage, and (end of message only) the
// header fields to insert on top of the message, topmost first.
struct Verdict {
    enum class Action { Continue, Tempfail, Reject };
    Action action = Action::Continue;
    std::string rcode;  // "451"
    std::string xcode;  // "4.7.1"
    std::string text;
    std::vector<HeaderField> prepend;  // values with leading space, CRLF folds
    std::string quarantine;            // non-empty: hold the message, with this reason

    static Verdict proceed() { return {}; }
    static Verdict tempfail(std::string rcode, std::string xcode, std::string text) {
        return {Action::Tempfail, std::move(rcode), std::move(xcode), std::move(text), {}, {}};
    }
    static Verdict reject(std::string rcode, std::string xcode, std::string text) {
        return {Action::Reject, std::move(rcode), std::move(xcode), std::move(text), {}, {}};
    }
    bool operator==(const Verdict&) const = default;
};

// Macros the MTA passed with MAIL FROM ({auth_authen}, {i}).
struct SenderInfo {
    std::string address;    // envelope sender without angle brackets; "" for <>
    std::string sasl_user;  // "" when the client did not authenticate
    std::string queue_id;   // may be empty this early
    // Submitted without SMTP (Postfix non_smtpd_milters, e.g. sendmail(1)):
    // recipients cannot be refused one by one, only removed at the end.
    bool non_smtp = false;
    std::string daemon_name{};  // the MTA's {daemon_name}, for [[stream]] rules
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

// Seconds since the epoch (DKIM t=, calendar quotas); replaceable for tests.
using Clock = std::function<std::int64_t()>;

// The edits of an accepted message, applied by the MTA adapter at end of
// message (smfi_insheader, smfi_quarantine). false: the MTA refused it.
// The milter actions the MTA offered when the connection began. Postfix
// offers every one; a Sendmail built without some (CHGFROM must be
// compiled in) offers fewer.
struct MtaActions {
    bool add_headers = true;     // SMFIF_ADDHDRS: signatures, route and tag fields
    bool change_headers = true;  // SMFIF_CHGHDRS: stripped fields
    bool change_from = true;     // SMFIF_CHGFROM: the route's return path
    bool delete_rcpt = true;     // SMFIF_DELRCPT: suppressed recipients removed at the end
    bool quarantine = true;      // SMFIF_QUARANTINE: quota action "hold"
    bool operator==(const MtaActions&) const = default;
};

class MessageEdits {
  public:
    virtual ~MessageEdits() = default;
    // Inserts a header field above every other one.
    virtual bool insert_header(std::string_view name, std::string_view value) = 0;
    virtual bool quarantine(std::string_view reason) = 0;
    // Removes an envelope recipient, given as the MTA passed it at RCPT.
    virtual bool delete_recipient(std::string_view recipient) = 0;
    // Replaces the envelope sender (MAIL FROM), without angle brackets.
    virtual bool change_sender(std::string_view sender) = 0;
    // Deletes the `index`-th (1-based) header field called `name`.
    virtual bool remove_header(std::string_view name, int index) = 0;
    // Appends a header field below every other one.
    virtual bool append_header(std::string_view name, std::string_view value) = 0;
};

// Receives, step by step, what a session decides and why (staffelctl
// explain). Topics: "identity", "recipient", "stream", "route", "spf",
// "unsubscribe", "suppression", "envelope", "quota", "dkim", "dmarc", "tag".
class Trace {
  public:
    virtual ~Trace() = default;
    virtual void step(std::string_view topic, std::string_view text) = 0;
};

// Decisions taken because the counter store could not answer, per
// on_store_error; shared by every connection (metrics, log lines).
struct QuotaStats {
    std::atomic<std::uint64_t> store_errors_tempfailed{0};
    std::atomic<std::uint64_t> store_errors_accepted{0};
};

struct QuotaServices {
    CounterStore* store = nullptr;  // null: every quota check is a store error
    QuotaStats* stats = nullptr;
};

// Suppression decisions, shared by every connection (metrics, log lines).
struct SuppressStats {
    std::atomic<std::uint64_t> refused{0};  // recipients refused at RCPT
    // Recipients removed at end of message, as logged (removed=...): also
    // those of a message then refused because none was left.
    std::atomic<std::uint64_t> removed{0};
    std::atomic<std::uint64_t> store_errors_tempfailed{0};
    std::atomic<std::uint64_t> store_errors_accepted{0};
};

struct SuppressServices {
    SuppressionStore* store = nullptr;   // null: every lookup is a store error
    const Sha256Factory* sha = nullptr;  // for hashed keys
    DomainToAscii idna;                  // IDN domains; without it they are not looked up
    SuppressStats* stats = nullptr;
};

class Session {
  public:
    // `sha` is needed once a policy declares DKIM keys (staffeld passes the
    // OpenSSL factory); without it such messages are tempfailed.
    Session(PolicySource policies, Logger& log, InFlight* in_flight = nullptr,
            const Sha256Factory* sha = nullptr, Clock clock = {}, QuotaServices quota = {},
            SuppressServices suppress = {});
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    void connect(std::string_view hostname, std::string_view address);
    Verdict mail_from(const SenderInfo& sender);
    // Refuses a recipient on a suppression list for every stream (one
    // store round trip), or over a recipient_domain limit (one more);
    // otherwise counts it.
    Verdict rcpt_to(std::string_view recipient);
    // Header fields, the end of the header and body chunks: only when the
    // MTA was asked for them (wants_content()).
    void header(std::string_view name, std::string_view value);
    void end_of_headers();
    void body(std::string_view chunk);
    // `queue_id` is the MTA's {i} at end of message, if it gave one. With
    // `edits`, an accepted message's header fields and quarantine are
    // applied through it (and a refused edit turns into a tempfail, its
    // quota charge refunded); without, they are only returned.
    Verdict end_of_message(std::string_view queue_id, MessageEdits* edits = nullptr);
    void abort();  // the MTA dropped the message (RSET, QUIT, error); charges refunded
    void close();  // the connection ends

    // Whether the connection's policy needs the header and body (it signs
    // with DKIM, or a quota is keyed on the stream). The adapter negotiates the stages accordingly
    // and says so with content_negotiated().
    [[nodiscard]] bool wants_content() const;
    // Whether RCPT may be refused (the policy checks suppression lists or
    // has recipient_domain limits); if not, the adapter declares the stage
    // no-reply.
    [[nodiscard]] bool wants_rcpt_replies() const;
    // Whether the MTA waits for an answer to RCPT on this connection; if
    // not, recipients are never refused there, only removed at the end.
    void rcpt_replies_negotiated(bool yes) { rcpt_replies_ = yes; }
    void content_negotiated(bool yes) { content_negotiated_ = yes; }
    // What the MTA offered. An edit a message needs that is not among them
    // is not tried: the message is answered with tempfail (as for an edit
    // the MTA refuses), and the log says which action is missing, once per
    // connection and action.
    void actions_offered(MtaActions offered) { offered_ = offered; }
    // Which routes are down (staffelctl route down); null: all are up.
    void route_status(const RouteStatus* status) { route_status_ = status; }
    // The SPF checker of the pre-flight (libspf2 in staffeld); null: off.
    void spf_checker(SpfChecker* checker) { spf_ = checker; }
    // HMAC-SHA1 for SRS return paths (OpenSSL in staffeld); unset: routes
    // with return_path = "srs" tempfail.
    void srs_hmac(std::function<std::string(std::string_view, std::string_view)> f) {
        srs_hmac_ = std::move(f);
    }
    // Organisational domains for the DMARC prediction (libpsl in staffeld;
    // unset: relaxed alignment falls back to strict) and where to count it.
    void dmarc(OrgDomainFn org, DmarcStats* stats) {
        org_domain_ = std::move(org);
        dmarc_stats_ = stats;
    }
    // Where to say each decision (staffelctl explain); null: nowhere.
    void trace(Trace* trace) { trace_ = trace; }
    // Where to report each message's outcome (statistics, events,
    // metrics); null: nowhere.
    void outcomes(OutcomeSink* sink) { outcomes_ = sink; }

    [[nodiscard]] bool in_message() const { return message_.has_value(); }
    [[nodiscard]] std::size_t recipients() const { return message_ ? message_->recipients : 0; }
    [[nodiscard]] const std::shared_ptr<const Policy>& policy() const { return policy_; }

  private:
    struct Recipient {
        std::string given;                      // as the MTA passed it, for smfi_delrcpt
        std::string normalised;                 // "" when it is not an address we can look up
        std::vector<SuppressionEntry> entries;  // entries that may block it, by stream
        bool checked = false;                   // looked up (or checking was waived)
    };
    // The admitted RCPT charges of one recipient (recipient_domain limits).
    struct RcptCharge {
        std::string given;  // the recipient as the MTA passed it
        std::vector<CounterCharge> charges;
    };
    struct Message {
        explicit Message(const Policy& p)
            : headers(p.milter.max_headers, p.milter.max_header_bytes) {}
        SenderInfo sender;
        std::size_t recipients = 0;
        HeaderCollector headers;
        bool headers_done = false;
        std::optional<MessageSigner> signer;
        std::string dkim_result;                      // log token: "d/s,d/s" or "none:REASON"
        std::string stream;                           // the stream's name; "" without headers
        std::string tag;                              // [stats] tag_headers; "" = none
        std::string feedback_id;                      // the Feedback-ID value to add; "" = none
        const Route* route = nullptr;                 // the route that carries it; null: none
        std::string route_result;                     // log token: route name, ",from=...", errors
        std::string route_down;                       // the route wanted, down with no fallback up
        std::string route_passed;                     // routes down before `route`, joined by ","
        const StreamRule* rule = nullptr;             // the [[stream]] rule that matched
        std::vector<HeaderField> gate_add;            // List-Unsubscribe fields the gate adds
        std::string gate_result;                      // log token of the bulk-sender gate
        std::string spf_result;                       // log token of the SPF pre-flight
        bool spf_use_bounce_domain = false;           // the pre-flight moved the return path
        std::optional<std::string> new_sender;        // the route's MAIL FROM, when it changes
        std::string dmarc_result;                     // log token of the DMARC prediction
        std::vector<CounterCharge> charged;           // admitted quota charges, for a refund
        std::string quota_result;                     // log token: "ok", "over:NAME", ...
        std::vector<RcptCharge> rcpt_charged;         // admitted RCPT charges, for a refund
        std::string rcpt_quota_result;                // log tokens of the RCPT charges
        std::vector<std::string> rcpt_shadow_over;    // "log" limits a recipient went over
        // Without SMTP: a recipient was over a recipient_domain limit (or
        // its store failed), so the whole message is deferred at its end.
        std::optional<Verdict> rcpt_deferred;
        std::vector<Recipient> rcpts;                 // accepted recipients (suppression on)
        std::size_t refused = 0;                      // recipients refused at RCPT
        std::vector<RecipientOutcome> refused_rcpts;  // those recipients (bounded)
        std::vector<RecipientOutcome> removed;        // recipients removed at end of message
        std::vector<std::string> rcpt_domains;        // accepted recipients' domains (bounded)
        std::vector<SignatureOutcome> signatures;
        std::string reason;                             // MessageOutcome::reason
        std::string reply;                              // "rcode xcode text" when refused
        std::uint64_t bytes = 0;                        // header and body seen
        std::chrono::steady_clock::time_point started;  // MAIL FROM reached the milter
        std::vector<Recipient> dropped;                 // those recipients, for smfi_delrcpt
        std::string suppress_result;                    // log token: "error:..." when not checked
    };

    // RCPT, one purpose each: the recipient as given and normalised, kept
    // and counted, looked up, refused, explained; and the VERP bookkeeping
    // of routing when there are no suppression lists.
    [[nodiscard]] Recipient normalise_recipient(std::string_view given) const;
    Verdict keep_recipient(Message& m, Recipient r);
    Verdict look_up_recipient(Message& m, Recipient r);
    Verdict refuse_recipient(Message& m, const Recipient& r, const SuppressionEntry& e);
    void note_listed_for_streams(const Recipient& r, const SuppressionEntry& e);
    void track_for_verp(Message& m, std::string_view recipient) const;
    void plan_signing();
    Verdict sign(Message& m);
    Verdict check_quotas(Message& m);
    // One store call charging every planned counter; `charges` is what was
    // charged (kept for a refund if the charge admitted).
    Result<ChargeOutcome> charge_planned(const std::vector<PlannedCharge>& planned,
                                         std::vector<CounterCharge>& charges);
    // recipient_domain limits at RCPT: one charge per recipient; a refusal
    // for that recipient, or (without SMTP) the message marked deferred.
    Verdict charge_recipient(Message& m, std::string_view given);
    Verdict rcpt_over(Message& m, std::string_view given, const QuotaDecision& d);
    void note_rcpt_quota(Message& m, std::string_view token);
    // Gives back the RCPT charges of recipients removed at the end.
    void refund_dropped(Message& m);
    // One refund round trip for `charges`, those of one counter merged.
    Result<bool> refund_charges(std::vector<CounterCharge> charges);
    void choose_route(Message& m);
    // The header as it will leave: stripped and added fields of the route.
    [[nodiscard]] std::vector<HeaderField> final_header(const Message& m) const;
    [[nodiscard]] bool strips_tag_headers() const;
    // Whether the field leaves the message (route strip_headers, tag fields).
    [[nodiscard]] bool stripped(const Message& m, std::string_view name) const;
    void tag_message(Message& m);
    Verdict apply_tag_edits(Message& m, MessageEdits& edits);
    // The route's return path (m.new_sender); a tempfail if SRS fails.
    Verdict plan_envelope(Message& m);
    Verdict apply_route(Message& m, MessageEdits& edits);
    static Verdict cannot_route();
    void predict_alignment(Message& m, std::string_view queue_id);
    Verdict check_unsubscribe_gate(Message& m);
    void spf_preflight(Message& m);
    [[nodiscard]] SuppressionKeys suppression_keys() const;
    Result<std::vector<std::optional<SuppressionEntry>>> lookup(std::span<const std::string> keys);
    std::vector<std::string> lookup_keys(const Message& m, std::string_view normalised,
                                         const SuppressionKeys& keys) const;
    Verdict suppress_store_error(Message& m, const std::string& why);
    struct StoreErrorWords {
        std::string_view store;      // "quota": "quota store error: ..."
        std::string_view unchecked;  // "the message": "ACCEPTING the message unchecked"
        std::string_view checked;    // "sending limits": "... cannot be checked now"
        std::string_view setting;    // "" ([redis]) or e.g. "[suppression] " (with a space)
    };
    Verdict store_error(const StoreErrorWords& words, StoreErrorMode mode,
                        std::atomic<std::uint64_t>* accepted,
                        std::atomic<std::uint64_t>* tempfailed, std::string& result,
                        const std::string& why);
    Verdict check_suppression_at_end(Message& m);
    [[nodiscard]] std::string suppressed_text(std::string_view address,
                                              const SuppressionEntry& e) const;
    void refund(Message& m);
    Verdict apply_edits(Message& m, Verdict v, MessageEdits& edits);
    void finish(std::string_view queue_id, MessageOutcome::Action action);
    void report(std::string_view queue_id, MessageOutcome::Action action);
    [[nodiscard]] std::string log_line(std::string_view queue_id,
                                       MessageOutcome::Action action) const;
    // Why a message was refused at the step that refused it (reason()).
    void note_refusal(Message& m, const Verdict& v, std::string_view reason);
    static void count_recipient(Message& m, std::string_view address);
    // The message's sender as DKIM, quotas and streams see it; views into
    // `m` and this session.
    [[nodiscard]] Sender sender(const Message& m) const;
    [[nodiscard]] std::string identity() const;
    // Says one step to the trace; `text` (a callable giving the words) runs
    // only when there is a trace, so the mail path builds no strings.
    template <typename Text>
    void note(std::string_view topic, Text&& text) {
        if (trace_ != nullptr) {
            trace_->step(topic, text());
        }
    }

    PolicySource policies_;
    Logger& log_;
    InFlight* in_flight_;
    const Sha256Factory* sha_;
    Clock clock_;
    QuotaServices quota_;
    SuppressServices suppress_;
    bool content_negotiated_ = false;
    bool rcpt_replies_ = true;
    MtaActions offered_;
    unsigned missing_logged_ = 0;  // bits of the actions already said missing
    const RouteStatus* route_status_ = nullptr;
    SpfChecker* spf_ = nullptr;
    std::function<std::string(std::string_view, std::string_view)> srs_hmac_;
    OrgDomainFn org_domain_;
    Trace* trace_ = nullptr;
    DmarcStats* dmarc_stats_ = nullptr;
    OutcomeSink* outcomes_ = nullptr;
    std::shared_ptr<const Policy> policy_;
    std::string client_host_;
    std::string client_addr_;      // escaped, for log lines
    std::string client_addr_raw_;  // as given, for network matching
    std::optional<Message> message_;
    bool open_ = true;
};

// Makes outside text safe for one log line: printable ASCII kept, anything
// else as \xHH, cut at `max_bytes` with "..." appended. Spaces are escaped
// too (values of key=value fields), unless `keep_spaces` (free text).
std::string log_escape(std::string_view text, std::size_t max_bytes = 256,
                       bool keep_spaces = false);

}  // namespace staffel::core
