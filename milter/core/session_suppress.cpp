// session_suppress.cpp - the suppression steps of a Session: the lookup of
// each recipient at RCPT and the removals at the end of the message (see
// session.hpp and core/suppress/).
#include <algorithm>

#include "core/quota/quota.hpp"
#include "core/session.hpp"
#include "core/text.hpp"

namespace staffel::core {

namespace {

// Recipients a message may have before Staffel stops tracking them one by
// one: far above any MTA's own limit (Postfix: smtpd_recipient_limit 1000).
constexpr std::size_t kMaxTrackedRecipients = 100000;

}  // namespace

Verdict Session::rcpt_to(std::string_view recipient) {
    if (!message_) {
        return Verdict::proceed();
    }
    Message& m = *message_;
    if (!policy_->suppression.enabled) {
        if (auto v = charge_recipient(m, recipient); v.action != Verdict::Action::Continue) {
            return v;
        }
        track_for_verp(m, recipient);
        ++m.recipients;
        count_recipient(m, recipient);
        note("recipient", [&] {
            return std::string("<" + log_escape(recipient) + ">: accepted (no [suppression])");
        });
        return Verdict::proceed();
    }
    if (m.rcpts.size() >= kMaxTrackedRecipients) {
        return Verdict::tempfail("452", "4.5.3", "Staffel: too many recipients");
    }
    Recipient r = normalise_recipient(recipient);
    if (m.sender.non_smtp || !rcpt_replies_ || r.normalised.empty()) {
        // Looked up all at once at the end of the message: mail without
        // SMTP, or a connection that began before a reload turned the
        // suppression lists on (its RCPT stage gets no reply).
        note("recipient", [&] {
            return std::string("<" + log_escape(recipient) + ">: " +
                               (r.normalised.empty() ? "not an address a suppression entry can name"
                                                     : "looked up at the end of the message"));
        });
        return keep_recipient(m, std::move(r));
    }
    return look_up_recipient(m, std::move(r));
}

Session::Recipient Session::normalise_recipient(std::string_view given) const {
    Recipient r;
    r.given = std::string(given.substr(0, 1024));
    AddressRules rules{policy_->suppression.fold_local_part};
    if (auto n = normalise_address(given, rules, suppress_.idna)) {
        r.normalised = std::move(n).value();
    } else {
        r.checked = true;  // not an address an entry can name; the MTA judges it
    }
    return r;
}

Verdict Session::keep_recipient(Message& m, Recipient r) {
    if (auto v = charge_recipient(m, r.given); v.action != Verdict::Action::Continue) {
        return v;
    }
    count_recipient(m, r.given);
    m.rcpts.push_back(std::move(r));
    ++m.recipients;
    return Verdict::proceed();
}

// One store round trip for the recipient's keys: refused now when an entry
// blocks every stream, else kept with the entries that block some streams
// (decided at the end of the message, once the stream is known).
Verdict Session::look_up_recipient(Message& m, Recipient r) {
    const auto keys = suppression_keys();
    const auto wanted = lookup_keys(m, r.normalised, keys);
    auto found = lookup(wanted);
    if (!found) {
        auto v = suppress_store_error(m, found.error().message);
        note("recipient", [&] {
            return std::string("<" + log_escape(r.normalised) +
                               ">: the suppression store failed (" +
                               log_escape(found.error().message, 256, true) + ")");
        });
        if (v.action != Verdict::Action::Continue) {
            return v;
        }
        r.checked = true;
        return keep_recipient(m, std::move(r));
    }
    r.checked = true;
    for (std::size_t k = 0; k < found->size() && k < wanted.size(); ++k) {
        auto& e = found.value()[k];
        if (!e) {
            continue;
        }
        if (auto where = keys.parse_key(wanted[k])) {
            e->scope = where->first;
        }
        if (e->blocks_every_stream()) {
            return refuse_recipient(m, r, *e);
        }
        note_listed_for_streams(r, *e);
        r.entries.push_back(std::move(*e));
    }
    if (r.entries.empty()) {
        note("recipient", [&] {
            return std::string("<" + log_escape(r.normalised) + ">: not on a suppression list");
        });
    }
    return keep_recipient(m, std::move(r));
}

Verdict Session::refuse_recipient(Message& m, const Recipient& r, const SuppressionEntry& e) {
    ++m.refused;
    if (m.refused_rcpts.size() < kMaxTrackedRecipients) {
        m.refused_rcpts.push_back({r.normalised, std::string(reason_name(e.reason))});
    }
    if (suppress_.stats != nullptr) {
        suppress_.stats->refused.fetch_add(1, std::memory_order_relaxed);
    }
    auto text = suppressed_text(r.normalised, e);
    if (log_.enabled(LogLevel::Info)) {
        const std::string qid = m.sender.queue_id.empty() ? "NOQUEUE" : m.sender.queue_id;
        log_.info(log_escape(qid, 64) + ": refused RCPT <" + log_escape(r.normalised) +
                  ">: suppressed reason=" + std::string(reason_name(e.reason)) +
                  (e.scope.empty() ? "" : " scope=" + log_escape(e.scope)) + " from=<" +
                  log_escape(m.sender.address) + ">");
    }
    const auto reply = reply_for(e.reason);
    note("recipient", [&] {
        return std::string("<" + log_escape(r.normalised) + ">: listed (" +
                           std::string(reason_name(e.reason)) +
                           (e.scope.empty() ? "" : ", for mail from " + e.scope) +
                           ") for every stream: refused at RCPT");
    });
    return Verdict::reject(reply.rcode, reply.xcode, text);
}

void Session::note_listed_for_streams(const Recipient& r, const SuppressionEntry& e) {
    if (trace_ == nullptr) {
        return;
    }
    std::string streams;
    for (const auto& st : e.streams) {
        streams += (streams.empty() ? "" : ",") + st;
    }
    note("recipient", [&] {
        return std::string(
            "<" + log_escape(r.normalised) + ">: listed (" + std::string(reason_name(e.reason)) +
            (e.scope.empty() ? "" : ", for mail from " + e.scope) + ") for streams " +
            log_escape(streams) + "; decided at the end of the message");
    });
}

Result<std::vector<std::optional<SuppressionEntry>>> Session::lookup(
    std::span<const std::string> keys) {
    if (suppress_.store == nullptr) {
        return make_error("no suppression store is configured");
    }
    if (!policy_->suppression.hash_secret.empty() && suppress_.sha == nullptr) {
        return make_error("addresses are stored hashed but no SHA-256 implementation is set");
    }
    return suppress_.store->lookup(keys);
}

SuppressionKeys Session::suppression_keys() const {
    return SuppressionKeys(policy_->redis.prefix, policy_->suppression.hash_secret, suppress_.sha);
}

// The global entry's key, and the entry scoped to the sender's domain.
std::vector<std::string> Session::lookup_keys(const Message& m, std::string_view normalised,
                                              const SuppressionKeys& keys) const {
    std::vector<std::string> out{keys.entry_key({}, normalised)};
    if (auto d = normalise_domain(domain_of(m.sender.address), suppress_.idna)) {
        out.push_back(keys.entry_key(*d, normalised));
    }
    return out;
}

Verdict Session::suppress_store_error(Message& m, const std::string& why) {
    const auto& own = policy_->suppression.on_store_error;
    return store_error(
        {"suppression", "the recipient", "the suppression list", own ? "[suppression] " : ""},
        own.value_or(policy_->redis.on_store_error),
        suppress_.stats != nullptr ? &suppress_.stats->store_errors_accepted : nullptr,
        suppress_.stats != nullptr ? &suppress_.stats->store_errors_tempfailed : nullptr,
        m.suppress_result, why);
}

std::string Session::suppressed_text(std::string_view address, const SuppressionEntry& e) const {
    std::string why(reason_name(e.reason));
    std::replace(why.begin(), why.end(), '_', ' ');
    std::string text = "Staffel: <" + log_escape(address, 256) + "> is on the suppression list";
    if (!e.scope.empty()) {
        text += " for mail from " + log_escape(e.scope, 128);
    }
    text += " (" + why;
    if (e.added_at > 0) {
        text += " since " + format_local(*policy_->general.time_zone, e.added_at);
    }
    text += ")";
    return text;
}

// At the end of the message the stream is known: recipients whose entries
// block it are removed (mail without SMTP is looked up here, all at once).
Verdict Session::check_suppression_at_end(Message& m) {
    if (!policy_->suppression.enabled || m.rcpts.empty()) {
        return Verdict::proceed();
    }
    std::vector<std::string> keys_flat;
    std::vector<std::size_t> key_owner;
    const auto keys = suppression_keys();
    for (std::size_t i = 0; i < m.rcpts.size(); ++i) {
        auto& r = m.rcpts[i];
        if (r.checked) {
            continue;
        }
        for (auto& k : lookup_keys(m, r.normalised, keys)) {
            keys_flat.push_back(std::move(k));
            key_owner.push_back(i);
        }
        r.checked = true;
    }
    if (!keys_flat.empty()) {
        auto found = lookup(keys_flat);
        if (!found) {
            auto v = suppress_store_error(m, found.error().message);
            if (v.action != Verdict::Action::Continue) {
                return v;
            }
        } else {
            for (std::size_t k = 0; k < found->size() && k < key_owner.size(); ++k) {
                auto& e = found.value()[k];
                if (e) {
                    if (auto where = keys.parse_key(keys_flat[k])) {
                        e->scope = where->first;
                    }
                    m.rcpts[key_owner[k]].entries.push_back(std::move(*e));
                }
            }
        }
    }
    // Without the header the stream is unknown: a stream-specific entry
    // then blocks, rather than let mail out unchecked.
    const bool stream_known = !m.stream.empty();
    std::vector<Recipient> kept;
    std::vector<Recipient> dropped;
    for (auto& r : m.rcpts) {
        const SuppressionEntry* blocking = nullptr;
        for (const auto& e : r.entries) {
            if (!stream_known || e.blocks(m.stream)) {
                blocking = &e;
                break;
            }
        }
        if (blocking != nullptr) {
            note("suppression", [&] {
                return std::string("<" + log_escape(r.normalised) + "> removed: listed (" +
                                   std::string(reason_name(blocking->reason)) + ") for stream " +
                                   (stream_known ? m.stream : "(unknown)"));
            });
            m.removed.push_back({r.normalised, std::string(reason_name(blocking->reason))});
            dropped.push_back(std::move(r));
        } else {
            kept.push_back(std::move(r));
        }
    }
    m.rcpts = std::move(kept);  // every element of m.rcpts was moved from
    if (dropped.empty()) {
        return Verdict::proceed();
    }
    // Counted where the log line says "removed", whether the message then
    // goes on or is refused for having no recipient left.
    if (suppress_.stats != nullptr) {
        suppress_.stats->removed.fetch_add(dropped.size(), std::memory_order_relaxed);
    }
    m.recipients = m.recipients >= dropped.size() ? m.recipients - dropped.size() : 0;
    m.dropped = std::move(dropped);
    if (m.recipients == 0) {
        return Verdict::reject("550", "5.7.1",
                               "Staffel: every recipient of this message is on the suppression "
                               "list" +
                                   (stream_known ? " for stream " + m.stream : std::string()));
    }
    return Verdict::proceed();
}

}  // namespace staffel::core
