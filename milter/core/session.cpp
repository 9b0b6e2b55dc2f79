// session.cpp - see session.hpp.
#include "core/session.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <utility>

#include "core/dkim/table.hpp"
#include "core/quota/quota.hpp"
#include "core/route/route.hpp"
#include "core/route/srs.hpp"
#include "core/route/streams.hpp"
#include "core/text.hpp"

namespace staffel::core {

namespace {

// Recipients of one message whose domains and refusals are kept for its
// outcome; the count goes on beyond it.
constexpr std::size_t kMaxOutcomeRecipients = 100000;

// "quota:NAME" from the quota step's log token ("over:NAME",
// "too-many:NAME", "store-error:...", "shadow-over:NAME").
std::string quota_reason(std::string_view result) {
    if (result.starts_with("store-error")) {
        return "store-error";
    }
    for (std::string_view prefix : {"over:", "too-many:"}) {
        if (result.starts_with(prefix)) {
            auto name = result.substr(prefix.size());
            return "quota:" + std::string(name.substr(0, name.find(',')));
        }
    }
    return "quota";
}

}  // namespace

std::string log_escape(std::string_view text, std::size_t max_bytes, bool keep_spaces) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 8);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (out.size() >= max_bytes) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if ((c >= 0x21 || (keep_spaces && c == ' ')) && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

Session::Session(PolicySource policies, Logger& log, InFlight* in_flight, const Sha256Factory* sha,
                 Clock clock, QuotaServices quota, SuppressServices suppress)
    : policies_(std::move(policies)),
      log_(log),
      in_flight_(in_flight),
      sha_(sha),
      clock_(std::move(clock)),
      quota_(quota),
      suppress_(std::move(suppress)),
      policy_(policies_()) {
    if (!clock_) {
        clock_ = [] {
            return static_cast<std::int64_t>(
                std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count());
        };
    }
    if (in_flight_ != nullptr) {
        in_flight_->begin();
    }
}

Session::~Session() {
    close();
}

void Session::connect(std::string_view hostname, std::string_view address) {
    client_host_ = log_escape(hostname, 128);
    client_addr_ = log_escape(address, 64);
    client_addr_raw_ = std::string(address.substr(0, 64));
}

Verdict Session::mail_from(const SenderInfo& sender) {
    if (message_) {
        // The MTA started a new message without ending the last one; treat
        // the old one as aborted so nothing it reserved stays consumed.
        abort();
    }
    policy_ = policies_();
    message_.emplace(*policy_);
    message_->started = std::chrono::steady_clock::now();
    message_->sender = sender;
    if (trace_ != nullptr) {
        note("identity", [&] {
            return std::string(identity() + ", client " + client_host_ + "[" + client_addr_ + "]" +
                               (sender.daemon_name.empty()
                                    ? std::string()
                                    : ", daemon_name " + log_escape(sender.daemon_name, 64)) +
                               (sender.non_smtp ? ", submitted without SMTP" : ""));
        });
        note("envelope",
             [&] { return std::string("MAIL FROM:<" + log_escape(sender.address) + ">"); });
    }
    if (log_.enabled(LogLevel::Debug)) {
        log_.debug("MAIL FROM:<" + log_escape(sender.address) + "> client=" + client_host_ + "[" +
                   client_addr_ + "] identity=" + identity());
    }
    return Verdict::proceed();
}

bool Session::wants_content() const {
    return policy_ && (!policy_->dkim.keys.empty() || quotas_need_stream(policy_->quotas) ||
                       policy_->suppression.enabled || !policy_->routing.streams.empty() ||
                       !policy_->routing.routes.empty() || !policy_->stats.tag_headers.empty() ||
                       !policy_->stats.feedback_id.empty());
}

bool Session::wants_rcpt_replies() const {
    return policy_ && (policy_->suppression.enabled || quotas_at_rcpt(policy_->quotas));
}

void Session::header(std::string_view name, std::string_view value) {
    if (message_ && !message_->headers_done) {
        message_->headers.add(name, value);
        message_->bytes += name.size() + value.size() + 3;  // ":" and CRLF
    }
}

void Session::end_of_headers() {
    if (message_ && !message_->headers_done) {
        message_->headers_done = true;
        if (content_negotiated_) {
            choose_route(*message_);
            tag_message(*message_);
        }
        plan_signing();
    }
}

void Session::body(std::string_view chunk) {
    if (!message_) {
        return;
    }
    end_of_headers();  // in case the MTA skipped the end-of-header stage
    message_->bytes += chunk.size();
    if (message_->signer) {
        message_->signer->body(chunk);
    }
}

// Decides at the end of the header which keys sign, so the body is hashed
// only for them (and not at all for mail that is not signed).
void Session::plan_signing() {
    Message& m = *message_;
    if (policy_->dkim.keys.empty() || m.headers.overflowed()) {
        return;
    }
    // The route names the keys that sign on it, if it names any; which of
    // those sign depends on the time (key rotation, core/dkim/table.hpp).
    static const std::vector<std::string> kAnyKey;
    const auto& route_keys = m.route != nullptr ? m.route->dkim_keys : kAnyKey;
    auto decision = decide_signatures(policy_->dkim, sender(m), author_domain(m.headers.fields()),
                                      clock_(), route_keys, trace_ != nullptr);
    if (decision.reason == "not-on-route" && m.route != nullptr) {
        decision.reason = "route:" + m.route->name;
    }
    for (const auto& why : decision.notes) {
        note("dkim", [&] { return "key " + why; });
    }
    if (decision.specs.empty()) {
        m.dkim_result = "none:" + log_escape(decision.reason, 128);
        note("dkim",
             [&] { return std::string("no signature: " + log_escape(decision.reason, 128)); });
        return;
    }
    if (trace_ != nullptr) {
        for (const auto& spec : decision.specs) {
            note("dkim", [&] {
                return std::string("signs as d=" + spec.domain + " s=" + spec.selector + " (" +
                                   std::string(to_string(spec.key->algorithm())) + ")");
            });
        }
    }
    if (sha_ == nullptr) {
        m.dkim_result = "error:no-hash";
        return;
    }
    m.signer.emplace(*sha_, std::move(decision.specs));
}

Verdict Session::sign(Message& m) {
    SignOptions options;
    options.now = clock_();
    options.expire = policy_->dkim.expire;
    options.sign_headers = policy_->dkim.sign_headers;
    options.oversign_headers = policy_->dkim.oversign_headers;
    auto signed_fields = m.signer->sign(final_header(m), options);
    if (!signed_fields) {
        log_.error("DKIM signing failed: " + signed_fields.error().message);
        m.dkim_result = "error";
        return Verdict::tempfail("451", "4.3.0",
                                 "Staffel: cannot sign the message now, try again later");
    }
    Verdict v;
    std::string result;
    for (auto& f : *signed_fields) {
        result += result.empty() ? "" : ",";
        result += f.domain + "/" + f.selector;
        m.signatures.push_back({f.domain, f.selector, std::string(to_string(f.algorithm))});
        v.prepend.push_back({std::move(f.name), std::move(f.value)});
    }
    m.dkim_result = log_escape(result, 512);
    return v;
}

namespace {

// Passes edits on to the MTA when it offered the action; else says which
// one is missing and answers false, as a refused edit does.
class OfferedEdits final : public MessageEdits {
  public:
    using Missing = std::function<void(unsigned bit, std::string_view what)>;
    OfferedEdits(MessageEdits& inner, const MtaActions& offered, Missing missing)
        : inner_(inner), offered_(offered), missing_(std::move(missing)) {}

    bool insert_header(std::string_view name, std::string_view value) override {
        return check(offered_.add_headers, 1, "SMFIF_ADDHDRS (add header fields)") &&
               inner_.insert_header(name, value);
    }
    bool append_header(std::string_view name, std::string_view value) override {
        return check(offered_.add_headers, 1, "SMFIF_ADDHDRS (add header fields)") &&
               inner_.append_header(name, value);
    }
    bool remove_header(std::string_view name, int index) override {
        return check(offered_.change_headers, 2,
                     "SMFIF_CHGHDRS (change or remove header fields)") &&
               inner_.remove_header(name, index);
    }
    bool change_sender(std::string_view sender) override {
        return check(offered_.change_from, 4, "SMFIF_CHGFROM (change the envelope sender)") &&
               inner_.change_sender(sender);
    }
    bool delete_recipient(std::string_view recipient) override {
        return check(offered_.delete_rcpt, 8, "SMFIF_DELRCPT (remove a recipient)") &&
               inner_.delete_recipient(recipient);
    }
    bool quarantine(std::string_view reason) override {
        return check(offered_.quarantine, 16, "SMFIF_QUARANTINE (hold the message)") &&
               inner_.quarantine(reason);
    }

  private:
    bool check(bool offered, unsigned bit, std::string_view what) const {
        if (!offered) {
            missing_(bit, what);
        }
        return offered;
    }

    MessageEdits& inner_;
    const MtaActions& offered_;
    Missing missing_;
};

}  // namespace

Verdict Session::end_of_message(std::string_view queue_id, MessageEdits* edits) {
    if (!message_) {
        return Verdict::proceed();
    }
    Message& m = *message_;
    Verdict v;
    if (wants_content() && !content_negotiated_) {
        // The connection began under a policy that needed no headers and
        // the MTA does not send this connection's: never let mail out
        // unsigned or unchecked that the current policy would sign or count.
        (policy_->dkim.keys.empty() ? m.quota_result : m.dkim_result) = "error:reloaded";
        v = Verdict::tempfail("451", "4.3.0",
                              "Staffel: policy reloaded, try again on a new connection");
        note_refusal(m, v, "policy-reloaded");
    } else if (content_negotiated_ && m.headers.overflowed()) {
        m.dkim_result = "none:header-too-large";
        v = Verdict::reject("552", "5.3.4",
                            "Staffel: message header too large (limit " +
                                std::to_string(policy_->milter.max_headers) + " fields, " +
                                std::to_string(policy_->milter.max_header_bytes) + " bytes)");
        note_refusal(m, v, "header-too-large");
    } else {
        end_of_headers();
        if (m.rcpt_deferred) {
            // Without SMTP a recipient over a recipient_domain limit could
            // not be refused alone: the whole message waits.
            v = *m.rcpt_deferred;
            note_refusal(m, v, quota_reason(m.quota_result));
        } else if (!m.route_down.empty()) {
            v = Verdict::tempfail("451", "4.3.2",
                                  "Staffel: route \"" + m.route_down +
                                      "\" is down and no fallback is in service; try again later");
            note_refusal(m, v, "route-down");
        } else {
            v = check_unsubscribe_gate(m);
            note_refusal(m, v, "gate");
        }
        if (v.action == Verdict::Action::Continue) {
            v = check_suppression_at_end(m);
            note_refusal(m, v,
                         m.suppress_result.starts_with("store-error") ? std::string("store-error")
                         : m.removed.empty()                          ? std::string("suppression")
                                             : "suppression:" + m.removed.front().reason);
        }
        if (v.action == Verdict::Action::Continue) {
            refund_dropped(m);
        }
        if (v.action == Verdict::Action::Continue) {
            v = plan_envelope(m);
            note_refusal(m, v, "envelope");
        }
        if (v.action == Verdict::Action::Continue) {
            v = check_quotas(m);
            note_refusal(m, v, quota_reason(m.quota_result));
        }
        if (v.action == Verdict::Action::Continue && m.signer) {
            auto quarantine = std::move(v.quarantine);
            v = sign(m);
            v.quarantine = std::move(quarantine);
            note_refusal(m, v, "signing");
        }
        if (v.action != Verdict::Action::Continue) {
            refund(m);
        } else {
            predict_alignment(m, queue_id);
        }
        if (v.action == Verdict::Action::Continue && edits != nullptr) {
            OfferedEdits offered(*edits, offered_, [this](unsigned bit, std::string_view what) {
                if ((missing_logged_ & bit) == 0) {
                    missing_logged_ |= bit;
                    log_.error(std::string("the MTA did not offer the milter action ") +
                               std::string(what) +
                               " at negotiation, and the policy needs it for this message: "
                               "answering tempfail (said once per connection; Sendmail must be "
                               "built with it, Postfix offers every action)");
                }
            });
            v = apply_edits(m, std::move(v), offered);
            note_refusal(m, v, "mta-edit");
        }
    }
    using Action = MessageOutcome::Action;
    const Action action = v.action == Verdict::Action::Tempfail ? Action::Tempfail
                          : v.action == Verdict::Action::Reject ? Action::Reject
                          : !v.quarantine.empty()               ? Action::Hold
                                                                : Action::Pass;
    if (action == Action::Pass || action == Action::Hold) {
        m.reply.clear();  // a step's hold carries no reply
    }
    finish(queue_id, action);
    return v;
}

void Session::note_refusal(Message& m, const Verdict& v, std::string_view reason) {
    const bool refused = v.action != Verdict::Action::Continue;
    // The first refusal speaks; a refusal after a hold (a later step
    // failed) replaces the hold's reason.
    if (!refused && (v.quarantine.empty() || !m.reason.empty())) {
        return;
    }
    if (refused && !m.reply.empty()) {
        return;
    }
    m.reason = std::string(reason);
    if (refused) {
        m.reply = v.rcode + " " + v.xcode + " " + v.text;
    }
}

void Session::count_recipient(Message& m, std::string_view address) {
    if (m.rcpt_domains.size() < kMaxOutcomeRecipients) {
        m.rcpt_domains.push_back(address_domain(address));
    }
}

Verdict Session::apply_edits(Message& m, Verdict v, MessageEdits& edits) {
    for (const auto& r : m.dropped) {
        if (!edits.delete_recipient(r.given)) {
            log_.error("the MTA refused to remove the suppressed recipient <" +
                       log_escape(r.given) + ">; answering tempfail");
            refund(m);
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot remove a suppressed recipient now, try "
                                     "again later");
        }
    }
    if (auto routed = apply_route(m, edits); routed.action != Verdict::Action::Continue) {
        refund(m);
        return routed;
    }
    for (const auto& f : m.gate_add) {  // below the route's fields, as final_header() has them
        if (!edits.append_header(f.name, f.value)) {
            log_.error("the MTA refused to add the " + f.name + " header field");
            refund(m);
            return cannot_route();
        }
    }
    if (auto tagged = apply_tag_edits(m, edits); tagged.action != Verdict::Action::Continue) {
        refund(m);
        return tagged;
    }
    // Inserted bottom-up at the top, so the first ends on top.
    for (auto it = v.prepend.rbegin(); it != v.prepend.rend(); ++it) {
        if (!edits.insert_header(it->name, it->value)) {
            log_.error("the MTA refused to add the " + it->name +
                       " header field; answering tempfail");
            refund(m);
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot sign the message now, try again later");
        }
    }
    if (!v.quarantine.empty() && !edits.quarantine(v.quarantine)) {
        log_.error("the MTA refused to hold the message; answering tempfail");
        refund(m);
        return Verdict::tempfail("451", "4.3.0",
                                 "Staffel: cannot hold the message now, try again later");
    }
    return v;
}

// A store that could not answer: on_store_error decides, the decision is
// counted and logged with the running count.
Verdict Session::store_error(const StoreErrorWords& words, StoreErrorMode mode,
                             std::atomic<std::uint64_t>* accepted,
                             std::atomic<std::uint64_t>* tempfailed, std::string& result,
                             const std::string& why) {
    const bool accept = mode == StoreErrorMode::Accept;
    std::uint64_t count = 0;
    if (auto* c = accept ? accepted : tempfailed; c != nullptr) {
        count = c->fetch_add(1, std::memory_order_relaxed) + 1;
    }
    result = accept ? "store-error:accepted" : "store-error:tempfail";
    log_.warning(std::string(words.store) + " store error: " + log_escape(why, 512, true) + "; " +
                 (accept ? "ACCEPTING " + std::string(words.unchecked) + " unchecked (" +
                               std::string(words.setting) + "on_store_error = accept)"
                         : "answering tempfail (" + std::string(words.setting) +
                               "on_store_error = tempfail)") +
                 since_start(count, "decision"));
    if (accept) {
        return Verdict::proceed();
    }
    return Verdict::tempfail(
        "451", "4.3.0",
        "Staffel: " + std::string(words.checked) + " cannot be checked now, try again later");
}

void Session::abort() {
    if (message_) {
        refund(*message_);
        finish({}, MessageOutcome::Action::Aborted);
    }
}

void Session::close() {
    abort();
    if (open_ && in_flight_ != nullptr) {
        in_flight_->end();
    }
    open_ = false;
}

Sender Session::sender(const Message& m) const {
    return {m.sender.sasl_user, client_addr_raw_, m.sender.address, m.sender.daemon_name};
}

std::string Session::identity() const {
    if (message_ && !message_->sender.sasl_user.empty()) {
        return "sasl:" + log_escape(message_->sender.sasl_user, 128);
    }
    return "ip:" + (client_addr_.empty() ? std::string("unknown") : client_addr_);
}

std::string Session::log_line(std::string_view queue_id, MessageOutcome::Action action) const {
    const Message& m = *message_;
    std::string qid(queue_id.empty() ? std::string_view(m.sender.queue_id) : queue_id);
    if (qid.empty()) {
        qid = "NOQUEUE";
    }
    // key, value, whether the value is a number (JSON); values are escaped
    // printable ASCII already.
    struct Field {
        std::string_view key;
        std::string value;
        bool number = false;
    };
    std::vector<Field> fields;
    fields.reserve(16);
    fields.push_back({"client", client_host_ + "[" + client_addr_ + "]"});
    fields.push_back({"identity", identity()});
    fields.push_back({"from", "<" + log_escape(m.sender.address) + ">"});
    fields.push_back({"rcpts", std::to_string(m.recipients), true});
    fields.push_back({"policy", policy_ ? policy_->digest : std::string("none")});
    const auto add = [&](std::string_view key, const std::string& value) {
        if (!value.empty()) {
            fields.push_back({key, value});
        }
    };
    add("stream", m.stream);
    add("tag", m.tag);
    add("route", m.route_result);
    add("spf", m.spf_result);
    add("unsubscribe", m.gate_result);
    if (policy_ && policy_->suppression.enabled) {
        fields.push_back({"suppressed", std::to_string(m.refused + m.removed.size()), true});
        std::string removed;
        for (const auto& r : m.removed) {
            removed += removed.empty() ? "" : ",";
            removed += r.address + ":" + r.reason;
        }
        add("removed", removed.empty() ? removed : log_escape(removed, 1024));
        add("suppress", m.suppress_result);
    }
    add("quota", m.quota_result);
    add("rcpt_quota", m.rcpt_quota_result);
    add("dkim", m.dkim_result);
    add("dmarc", m.dmarc_result);
    fields.push_back({"action", std::string(to_string(action))});

    if (policy_ && policy_->log.format == LogFormat::Json) {
        // Printable ASCII already; only '"' needs escaping ('\\' is \x5c).
        const auto quoted = [](std::string_view v) {
            std::string out = "\"";
            for (const char c : v) {
                if (c == '"') {
                    out += '\\';
                }
                out += c;
            }
            return out + "\"";
        };
        std::string line = "{\"queue_id\":" + quoted(log_escape(qid, 64));
        for (const auto& f : fields) {
            line += ",\"";
            line += f.key;
            line += "\":";
            line += f.number ? f.value : quoted(f.value);
        }
        return line + "}";
    }
    std::string line = log_escape(qid, 64) + ":";
    for (const auto& f : fields) {
        line += ' ';
        line += f.key;
        line += '=';
        line += f.value;
    }
    return line;
}

void Session::finish(std::string_view queue_id, MessageOutcome::Action action) {
    if (!message_) {
        return;
    }
    const LogLevel level =
        action == MessageOutcome::Action::Aborted ? LogLevel::Debug : LogLevel::Info;
    if (log_.enabled(level)) {
        log_.log(level, log_line(queue_id, action));
    }
    if (outcomes_ != nullptr) {
        report(queue_id, action);
    }
    message_.reset();
}

void Session::report(std::string_view queue_id, MessageOutcome::Action action) {
    Message& m = *message_;
    MessageOutcome o;
    o.action = action;
    o.reason = std::move(m.reason);
    o.reply = std::move(m.reply);
    o.queue_id = std::string(queue_id.empty() ? std::string_view(m.sender.queue_id) : queue_id);
    o.client_host = client_host_;
    o.client_addr = client_addr_raw_;
    o.sasl_user = m.sender.sasl_user;
    o.sender = m.sender.address;
    o.sender_domain = address_domain(m.sender.address);
    o.policy_digest = policy_ ? policy_->digest : std::string();
    o.stream = m.stream;
    o.route = m.route != nullptr ? m.route->name : std::string();
    o.fallback_from = m.route != nullptr ? m.route_passed : std::string();
    o.tag = m.tag;
    o.dmarc = m.dmarc_result;
    o.recipients = m.recipients;
    o.recipient_domains = std::move(m.rcpt_domains);
    if (!m.dropped.empty()) {
        // Those removed at the end did not get it: one domain off each.
        std::map<std::string, std::size_t> gone;
        for (const auto& r : m.dropped) {
            ++gone[address_domain(r.given)];
        }
        std::erase_if(o.recipient_domains, [&](const std::string& d) {
            const auto it = gone.find(d);
            if (it == gone.end() || it->second == 0) {
                return false;
            }
            --it->second;
            return true;
        });
    }
    o.refused = std::move(m.refused_rcpts);
    o.removed = std::move(m.removed);
    o.signatures = std::move(m.signatures);
    o.shadow_over = std::move(m.rcpt_shadow_over);
    if (m.quota_result.starts_with("shadow-over:")) {
        auto name = std::string_view(m.quota_result).substr(12);
        o.shadow_over.emplace_back(name.substr(0, name.find(',')));
    }
    o.bytes = m.bytes;
    o.time = clock_();
    o.elapsed_us = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::steady_clock::now() - m.started)
                       .count();
    outcomes_->message(o);
}

}  // namespace staffel::core
