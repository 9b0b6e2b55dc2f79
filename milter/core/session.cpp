// session.cpp - see session.hpp.
#include "core/session.hpp"

#include <chrono>
#include <utility>

#include "core/dkim/table.hpp"
#include "core/quota/quota.hpp"
#include "core/route/route.hpp"
#include "core/route/srs.hpp"
#include "core/route/streams.hpp"

namespace staffel::core {

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
    message_->sender = sender;
    if (trace_ != nullptr) {
        note("identity", identity() + ", client " + client_host_ + "[" + client_addr_ + "]" +
                             (sender.daemon_name.empty()
                                  ? std::string()
                                  : ", daemon_name " + log_escape(sender.daemon_name, 64)) +
                             (sender.non_smtp ? ", submitted without SMTP" : ""));
        note("envelope", "MAIL FROM:<" + log_escape(sender.address) + ">");
    }
    if (log_.enabled(LogLevel::Debug)) {
        log_.debug("MAIL FROM:<" + log_escape(sender.address) + "> client=" + client_host_ + "[" +
                   client_addr_ + "] identity=" + identity());
    }
    return Verdict::proceed();
}

namespace {

// Recipients a message may have before Staffel stops tracking them one by
// one: far above any MTA's own limit (Postfix: smtpd_recipient_limit 1000).
constexpr std::size_t kMaxTrackedRecipients = 100000;

std::string_view domain_of(std::string_view normalised) {
    const auto at = normalised.rfind('@');
    return at == std::string_view::npos ? std::string_view() : normalised.substr(at + 1);
}

}  // namespace

Verdict Session::rcpt_to(std::string_view recipient) {
    if (!message_) {
        return Verdict::proceed();
    }
    Message& m = *message_;
    if (!policy_->suppression.enabled) {
        if (!policy_->routing.routes.empty() && m.rcpts.size() < kMaxTrackedRecipients) {
            Recipient r;  // for VERP return-paths
            r.given = std::string(recipient.substr(0, 1024));
            r.checked = true;
            m.rcpts.push_back(std::move(r));
        }
        ++m.recipients;
        note("recipient", "<" + log_escape(recipient) + ">: accepted (no [suppression])");
        return Verdict::proceed();
    }
    if (m.rcpts.size() >= kMaxTrackedRecipients) {
        return Verdict::tempfail("452", "4.5.3", "Staffel: too many recipients");
    }
    Recipient r;
    r.given = std::string(recipient.substr(0, 1024));
    AddressRules rules{policy_->suppression.fold_local_part};
    if (auto n = normalise_address(recipient, rules, suppress_.idna)) {
        r.normalised = std::move(n).value();
    } else {
        r.checked = true;  // not an address an entry can name; the MTA judges it
    }
    if (m.sender.non_smtp || !rcpt_replies_ || r.normalised.empty()) {
        // Looked up all at once at the end of the message: mail without
        // SMTP, or a connection that began before a reload turned the
        // suppression lists on (its RCPT stage gets no reply).
        note("recipient", "<" + log_escape(recipient) + ">: " +
                              (r.normalised.empty() ? "not an address a suppression entry can name"
                                                    : "looked up at the end of the message"));
        m.rcpts.push_back(std::move(r));
        ++m.recipients;
        return Verdict::proceed();
    }
    const auto keys = suppression_keys();
    const auto wanted = lookup_keys(m, r.normalised, keys);
    auto found = lookup(wanted);
    if (!found) {
        auto v = suppress_store_error(m, found.error().message);
        note("recipient", "<" + log_escape(r.normalised) + ">: the suppression store failed (" +
                              log_escape(found.error().message, 256, true) + ")");
        if (v.action != Verdict::Action::Continue) {
            return v;
        }
        r.checked = true;
        m.rcpts.push_back(std::move(r));
        ++m.recipients;
        return Verdict::proceed();
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
            ++m.refused;
            if (suppress_.stats != nullptr) {
                suppress_.stats->refused.fetch_add(1, std::memory_order_relaxed);
            }
            auto text = suppressed_text(r.normalised, *e);
            if (log_.enabled(LogLevel::Info)) {
                const std::string qid = m.sender.queue_id.empty() ? "NOQUEUE" : m.sender.queue_id;
                log_.info(log_escape(qid, 64) + ": refused RCPT <" + log_escape(r.normalised) +
                          ">: suppressed reason=" + std::string(reason_name(e->reason)) +
                          (e->scope.empty() ? "" : " scope=" + log_escape(e->scope)) + " from=<" +
                          log_escape(m.sender.address) + ">");
            }
            const auto reply = reply_for(e->reason);
            note("recipient", "<" + log_escape(r.normalised) + ">: listed (" +
                                  std::string(reason_name(e->reason)) +
                                  (e->scope.empty() ? "" : ", for mail from " + e->scope) +
                                  ") for every stream: refused at RCPT");
            return Verdict::reject(reply.rcode, reply.xcode, text);
        }
        if (trace_ != nullptr) {
            std::string streams;
            for (const auto& st : e->streams) {
                streams += (streams.empty() ? "" : ",") + st;
            }
            note("recipient", "<" + log_escape(r.normalised) + ">: listed (" +
                                  std::string(reason_name(e->reason)) +
                                  (e->scope.empty() ? "" : ", for mail from " + e->scope) +
                                  ") for streams " + log_escape(streams) +
                                  "; decided at the end of the message");
        }
        r.entries.push_back(std::move(*e));
    }
    if (r.entries.empty()) {
        note("recipient", "<" + log_escape(r.normalised) + ">: not on a suppression list");
    }
    m.rcpts.push_back(std::move(r));
    ++m.recipients;
    return Verdict::proceed();
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
    const bool accept = policy_->redis.on_store_error == StoreErrorMode::Accept;
    std::uint64_t count = 0;
    if (suppress_.stats != nullptr) {
        auto& c = accept ? suppress_.stats->store_errors_accepted
                         : suppress_.stats->store_errors_tempfailed;
        count = c.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    m.suppress_result = accept ? "store-error:accepted" : "store-error:tempfail";
    log_.warning("suppression store error: " + log_escape(why, 512, true) + "; " +
                 (accept ? "ACCEPTING the recipient unchecked (on_store_error = accept)"
                         : "answering tempfail (on_store_error = tempfail)") +
                 "; " + std::to_string(count) + " such decisions since start");
    if (accept) {
        return Verdict::proceed();
    }
    return Verdict::tempfail("451", "4.3.0",
                             "Staffel: the suppression list cannot be checked now, try again "
                             "later");
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
            note("suppression", "<" + log_escape(r.normalised) + "> removed: listed (" +
                                    std::string(reason_name(blocking->reason)) + ") for stream " +
                                    (stream_known ? m.stream : "(unknown)"));
            m.removed.push_back(r.normalised + ":" + std::string(reason_name(blocking->reason)));
            dropped.push_back(std::move(r));
        } else {
            kept.push_back(std::move(r));
        }
    }
    m.rcpts = std::move(kept);  // every element of m.rcpts was moved from
    if (dropped.empty()) {
        return Verdict::proceed();
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

bool Session::wants_content() const {
    return policy_ && (!policy_->dkim.keys.empty() || quotas_need_stream(policy_->quotas) ||
                       policy_->suppression.enabled || !policy_->routing.streams.empty() ||
                       !policy_->routing.routes.empty());
}

// The stream from the [[stream]] rules (or the built-in classification),
// then its route (or the default route).
void Session::choose_route(Message& m) {
    const auto& routing = policy_->routing;
    const StreamInput in{m.sender.sasl_user,   m.sender.address,    client_addr_raw_,
                         m.sender.daemon_name, &m.headers.fields(), m.recipients};
    auto choice = classify(routing.streams, routing.default_stream, in);
    if (trace_ != nullptr) {
        const auto last =
            choice.rule >= 0 ? static_cast<std::size_t>(choice.rule) + 1 : routing.streams.size();
        for (std::size_t i = 0; i < last; ++i) {
            const auto& rule = routing.streams[i];
            const auto check = check_rule(rule, in);
            note("stream", "rule " + std::to_string(i + 1) + " \"" + rule.name + "\" (" +
                               rule.where + "): " + (check.matched ? "matches: " : "no: ") +
                               check.why);
        }
        note("stream", choice.stream + (choice.rule >= 0 ? " (the first rule that matches)"
                                        : routing.streams.empty()
                                            ? " (built-in: List-Unsubscribe, List-Id or "
                                              "Precedence bulk/list/junk make bulk)"
                                            : " (no rule matches: default_stream)"));
    }
    m.stream = std::move(choice.stream);
    m.rule = choice.rule >= 0 ? &routing.streams[static_cast<std::size_t>(choice.rule)] : nullptr;
    const std::string& name = choice.route.empty() ? routing.default_route : choice.route;
    m.route = name.empty() ? nullptr : find_route(routing.routes, name);
    if (trace_ != nullptr) {
        note("route", name.empty() ? std::string("none: the envelope and header stay as they are")
                                   : name + (choice.route.empty() ? " (default_route)"
                                                                  : " (named by the stream)"));
    }
    if (m.route != nullptr && route_status_ != nullptr) {
        std::vector<std::string> passed;
        const Route* in_service =
            route_in_service(routing.routes, *m.route, *route_status_, &passed);
        if (in_service == nullptr) {
            note("route", m.route->name +
                              " is down and no fallback is in service: the message would get "
                              "451 4.3.2");
            m.route_down = m.route->name;
            m.route_result = m.route->name + ":down";
            m.route = nullptr;
            return;
        }
        m.route = in_service;
        if (!passed.empty()) {
            std::string from;
            for (const auto& n : passed) {
                from += from.empty() ? "" : ",";
                from += n;
            }
            m.route_result = m.route->name + "(down:" + from + ")";
            note("route", "down: " + from + "; the fallback " + m.route->name + " carries it");
        }
    }
    if (m.route != nullptr && m.route_result.empty()) {
        m.route_result = m.route->name;
    }
    spf_preflight(m);
}

// Would the route's egress IPs pass SPF for the envelope sender's domain as
// the message will leave? Only for the policy's spf_domains.
void Session::spf_preflight(Message& m) {
    const auto& routing = policy_->routing;
    if (m.route == nullptr || spf_ == nullptr || routing.spf_domains.empty() ||
        m.route->egress_ips.empty() || m.sender.address.empty()) {
        return;
    }
    std::string sender = m.sender.address;
    if (m.route->return_path == ReturnPath::Srs) {
        sender = "postmaster@" + m.route->bounce_domain;
    } else if (auto from = route_sender(*m.route, {m.sender.address, nullptr})) {
        sender = *from;
    }
    const auto at = sender.rfind('@');
    const std::string_view domain =
        at == std::string::npos ? std::string_view() : std::string_view(sender).substr(at + 1);
    if (domain.empty() ||
        std::none_of(routing.spf_domains.begin(), routing.spf_domains.end(),
                     [&](const std::string& p) { return domain_pattern_matches(p, domain); })) {
        note("spf", "not evaluated: " + log_escape(sender) + " is not in spf_domains");
        return;
    }
    for (const auto& ip : m.route->egress_ips) {
        auto answer = spf_->check({ip, sender, m.route->helo});
        const SpfResult result = answer ? answer->result : SpfResult::TempError;
        if (result == SpfResult::Pass) {
            continue;
        }
        m.spf_result = std::string(to_string(result)) + ":" + log_escape(ip, 64);
        if (log_.enabled(LogLevel::Info)) {
            log_.info("SPF pre-flight: " + log_escape(ip, 64) + " would get " +
                      std::string(to_string(result)) + " for " + log_escape(sender) + " on route " +
                      m.route->name + " (" +
                      log_escape(answer ? answer->explanation : answer.error().message, 300, true) +
                      ")");
        }
        note("spf", log_escape(ip, 64) + " would get " + std::string(to_string(result)) + " for " +
                        log_escape(sender) + " on route " + m.route->name);
        switch (m.route->on_spf_fail) {
            case Route::SpfAction::Report:
                note("spf", "on_spf_fail = report: only logged");
                break;
            case Route::SpfAction::BounceDomain:
                if (!m.route->bounce_domain.empty()) {
                    m.spf_use_bounce_domain = true;
                    m.spf_result += "->bounce_domain";
                    note("spf", "on_spf_fail = bounce_domain: the return path moves to " +
                                    m.route->bounce_domain);
                }
                break;
            case Route::SpfAction::SwitchRoute:
                if (const auto* other = find_route(routing.routes, m.route->spf_switch_route)) {
                    m.route_result = other->name + "(spf:" + m.route->name + ")";
                    m.spf_result += "->route:" + other->name;
                    note("spf", "on_spf_fail: route " + other->name + " carries it instead");
                    m.route = other;
                }
                break;
        }
        return;
    }
    m.spf_result = "pass";
    note("spf",
         "every egress IP of route " + m.route->name + " would pass for " + log_escape(sender));
}

Verdict Session::check_unsubscribe_gate(Message& m) {
    if (m.rule == nullptr || m.rule->unsubscribe == StreamRule::Unsubscribe::Off) {
        return Verdict::proceed();
    }
    const TemplateInput in{
        &m.headers.fields(), m.stream,
        m.route != nullptr ? std::string_view(m.route->name) : std::string_view(),
        m.sender.address};
    auto gate = unsubscribe_gate(m.rule, m.headers.fields(),
                                 expand_template(m.rule->unsubscribe_template, in));
    m.gate_result = gate.log;
    m.gate_add = std::move(gate.add);
    if (trace_ != nullptr) {
        std::string added;
        for (const auto& f : m.gate_add) {
            added += (added.empty() ? "" : ", ") + f.name + ":" + f.value;
        }
        note("unsubscribe", !gate.missing
                                ? std::string("List-Unsubscribe and List-Unsubscribe-Post present")
                            : gate.refuse    ? std::string("missing: the stream refuses such mail")
                            : !added.empty() ? "missing: adds " + log_escape(added, 512, true)
                                             : std::string("missing: reported only"));
    }
    if (gate.refuse) {
        return Verdict::reject("550", "5.7.1",
                               "Staffel: " + m.stream +
                                   " mail must carry List-Unsubscribe and List-Unsubscribe-Post "
                                   "(RFC 8058); this message lacks them");
    }
    return Verdict::proceed();
}

std::vector<HeaderField> Session::final_header(const Message& m) const {
    const auto& fields = m.headers.fields();
    if (m.route == nullptr && m.gate_add.empty()) {
        return fields;
    }
    if (m.route == nullptr) {
        auto out = fields;
        out.insert(out.end(), m.gate_add.begin(), m.gate_add.end());
        return out;
    }
    std::vector<HeaderField> out;
    out.reserve(fields.size() + m.route->add_headers.size());
    for (const auto& f : fields) {
        const bool strip = std::any_of(m.route->strip_headers.begin(), m.route->strip_headers.end(),
                                       [&](const std::string& n) { return iequals(n, f.name); });
        if (!strip) {
            out.push_back(f);
        }
    }
    const TemplateInput in{&fields, m.stream, m.route->name, m.sender.address};
    for (const auto& t : m.route->add_headers) {
        out.push_back({t.name, " " + expand_template(t.value, in)});
    }
    out.insert(out.end(), m.gate_add.begin(), m.gate_add.end());
    return out;
}

// The return path the route gives the message, computed before anything
// is charged or signed (SRS may fail, and DMARC alignment depends on it).
Verdict Session::plan_envelope(Message& m) {
    if (m.route == nullptr) {
        return Verdict::proceed();
    }
    std::vector<std::string> rcpts;
    for (const auto& r : m.rcpts) {
        std::string_view a = r.normalised.empty() ? std::string_view(r.given) : r.normalised;
        if (a.size() >= 2 && a.front() == '<' && a.back() == '>') {
            a = a.substr(1, a.size() - 2);
        }
        rcpts.emplace_back(a);
    }
    const EnvelopeInput envelope{m.sender.address, &rcpts};
    std::optional<std::string> from = route_sender(*m.route, envelope);
    if (!from && m.spf_use_bounce_domain && !m.sender.address.empty()) {
        // The pre-flight found the sender's domain would fail SPF from this
        // route: the return path moves to the route's own bounce domain.
        from = m.route->return_local + "@" + m.route->bounce_domain;
    }
    if (m.route->return_path == ReturnPath::Srs && !m.sender.address.empty()) {
        SrsConfig srs{m.route->bounce_domain, m.route->srs_secrets, m.route->srs_max_age_days, '='};
        auto rewritten = srs_hmac_ ? srs_forward(srs, m.sender.address, clock_(), srs_hmac_)
                                   : Result<std::string>(make_error("no HMAC-SHA1 is set"));
        if (!rewritten) {
            log_.error("SRS rewriting of <" + log_escape(m.sender.address) +
                       "> failed: " + log_escape(rewritten.error().message, 256, true));
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot route the message now, try again later");
        }
        if (*rewritten != m.sender.address) {
            from = std::move(rewritten).value();
        }
    }
    if (trace_ != nullptr) {
        static constexpr const char* kModes[] = {"keep", "plain", "verp", "srs"};
        const std::string mode =
            std::string("return_path = ") + kModes[static_cast<int>(m.route->return_path)];
        note("envelope", from ? "MAIL FROM rewritten to <" + log_escape(*from) + "> (" + mode +
                                    (m.spf_use_bounce_domain ? ", SPF pre-flight" : "") + ")"
                              : "MAIL FROM unchanged (" + mode +
                                    (m.sender.address.empty() ? ", null sender" : "") + ")");
    }
    if (from) {
        m.route_result += ",from=" + log_escape(*from, 256);
        m.new_sender = std::move(from);
    }
    return Verdict::proceed();
}

// From:, the d= of the signatures and the return path as the message
// leaves: would a receiver's DMARC check pass?
void Session::predict_alignment(Message& m) {
    if (policy_->routing.dmarc_alignment == DmarcAlignment::Off || !content_negotiated_) {
        return;
    }
    const auto final_fields = final_header(m);
    const auto author = author_domain(final_fields);
    std::vector<std::string> dkim;
    if (m.signer) {
        for (const auto& spec : m.signer->specs()) {
            dkim.push_back(spec.domain);
        }
    }
    const std::string_view problem = author.ok ? std::string_view() : to_string(author.problem);
    const DmarcInput in{
        author.ok ? std::string_view(author.domain) : std::string_view(), problem, dkim,
        m.new_sender ? std::string_view(*m.new_sender) : std::string_view(m.sender.address),
        !m.spf_result.empty() && m.spf_result != "pass"};
    auto p = predict_dmarc(in, policy_->routing.dmarc_alignment, org_domain_);
    m.dmarc_result = log_escape(p.log, 512);
    note("dmarc",
         m.dmarc_result + " (" +
             (policy_->routing.dmarc_alignment == DmarcAlignment::Strict ? "strict" : "relaxed") +
             " alignment)");
    std::uint64_t count = 0;
    if (dmarc_stats_ != nullptr) {
        auto& c = p.outcome == DmarcPrediction::Outcome::Pass   ? dmarc_stats_->pass
                  : p.outcome == DmarcPrediction::Outcome::Fail ? dmarc_stats_->fail
                                                                : dmarc_stats_->unknown;
        count = c.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    if (p.outcome == DmarcPrediction::Outcome::Fail && log_.enabled(LogLevel::Warning)) {
        log_.warning("DMARC alignment: mail from <" + log_escape(m.sender.address) +
                     "> would fail DMARC at receivers: " + m.dmarc_result + "; " +
                     std::to_string(count) + " such messages since start");
    }
}

// The route's envelope and header edits, before the signatures go on top.
Verdict Session::apply_route(Message& m, MessageEdits& edits) {
    if (m.route == nullptr) {
        return Verdict::proceed();
    }
    const auto& fields = m.headers.fields();
    for (const auto& name : m.route->strip_headers) {
        // Deleted from the last occurrence up, so the indexes stay valid.
        int count = 0;
        for (const auto& f : fields) {
            count += iequals(f.name, name) ? 1 : 0;
        }
        for (int i = count; i >= 1; --i) {
            if (!edits.remove_header(name, i)) {
                log_.error("the MTA refused to remove the " + log_escape(name) + " header field");
                return Verdict::tempfail("451", "4.3.0",
                                         "Staffel: cannot route the message now, try again later");
            }
        }
    }
    const TemplateInput in{&fields, m.stream, m.route->name, m.sender.address};
    for (const auto& t : m.route->add_headers) {
        if (!edits.append_header(t.name, " " + expand_template(t.value, in))) {
            log_.error("the MTA refused to add the " + t.name + " header field");
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot route the message now, try again later");
        }
    }
    if (m.new_sender) {
        if (!edits.change_sender(*m.new_sender)) {
            log_.error("the MTA refused to change the envelope sender");
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot route the message now, try again later");
        }
    }
    return Verdict::proceed();
}

bool Session::wants_rcpt_replies() const {
    return policy_ && policy_->suppression.enabled;
}

void Session::header(std::string_view name, std::string_view value) {
    if (message_ && !message_->headers_done) {
        message_->headers.add(name, value);
    }
}

void Session::end_of_headers() {
    if (message_ && !message_->headers_done) {
        message_->headers_done = true;
        if (content_negotiated_) {
            choose_route(*message_);
        }
        plan_signing();
    }
}

void Session::body(std::string_view chunk) {
    if (!message_) {
        return;
    }
    end_of_headers();  // in case the MTA skipped the end-of-header stage
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
    SignerIdentity who{m.sender.sasl_user, client_addr_raw_};
    auto decision = decide_signatures(policy_->dkim, who, author_domain(m.headers.fields()));
    if (m.route != nullptr && !m.route->dkim_keys.empty()) {
        // The route names the keys that sign on it.
        const auto& allowed = m.route->dkim_keys;
        std::erase_if(decision.specs, [&](const SignatureSpec& spec) {
            return std::find(allowed.begin(), allowed.end(), spec.domain + "/" + spec.selector) ==
                   allowed.end();
        });
        if (decision.specs.empty() && decision.reason.empty()) {
            decision.reason = "route:" + m.route->name;
        }
    }
    if (decision.specs.empty()) {
        m.dkim_result = "none:" + log_escape(decision.reason, 128);
        note("dkim", "no signature: " + log_escape(decision.reason, 128));
        return;
    }
    if (trace_ != nullptr) {
        for (const auto& spec : decision.specs) {
            note("dkim", "signs as d=" + spec.domain + " s=" + spec.selector + " (" +
                             std::string(to_string(spec.key->algorithm())) + ")");
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
        v.prepend.push_back({std::move(f.name), std::move(f.value)});
    }
    m.dkim_result = log_escape(result, 512);
    return v;
}

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
    } else if (content_negotiated_ && m.headers.overflowed()) {
        m.dkim_result = "none:header-too-large";
        v = Verdict::reject("552", "5.3.4",
                            "Staffel: message header too large (limit " +
                                std::to_string(policy_->milter.max_headers) + " fields, " +
                                std::to_string(policy_->milter.max_header_bytes) + " bytes)");
    } else {
        end_of_headers();
        if (!m.route_down.empty()) {
            v = Verdict::tempfail("451", "4.3.2",
                                  "Staffel: route \"" + m.route_down +
                                      "\" is down and no fallback is in service; try again later");
        } else {
            v = check_unsubscribe_gate(m);
        }
        if (v.action == Verdict::Action::Continue) {
            v = check_suppression_at_end(m);
        }
        if (v.action == Verdict::Action::Continue) {
            v = plan_envelope(m);
        }
        if (v.action == Verdict::Action::Continue) {
            v = check_quotas(m);
        }
        if (v.action == Verdict::Action::Continue && m.signer) {
            auto quarantine = std::move(v.quarantine);
            v = sign(m);
            v.quarantine = std::move(quarantine);
        }
        if (v.action != Verdict::Action::Continue) {
            refund(m);
        } else {
            predict_alignment(m);
        }
        if (v.action == Verdict::Action::Continue && edits != nullptr) {
            v = apply_edits(m, std::move(v), *edits);
        }
    }
    const char* action = v.action == Verdict::Action::Tempfail ? "tempfail"
                         : v.action == Verdict::Action::Reject ? "reject"
                         : !v.quarantine.empty()               ? "hold"
                                                               : "pass";
    finish(queue_id, action);
    return v;
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
    if (!m.dropped.empty() && suppress_.stats != nullptr) {
        suppress_.stats->removed.fetch_add(m.dropped.size(), std::memory_order_relaxed);
    }
    if (auto routed = apply_route(m, edits); routed.action != Verdict::Action::Continue) {
        refund(m);
        return routed;
    }
    for (const auto& f : m.gate_add) {  // below the route's fields, as final_header() has them
        if (!edits.append_header(f.name, f.value)) {
            log_.error("the MTA refused to add the " + f.name + " header field");
            refund(m);
            return Verdict::tempfail("451", "4.3.0",
                                     "Staffel: cannot route the message now, try again later");
        }
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

Verdict Session::check_quotas(Message& m) {
    if (policy_->quotas.empty() || m.recipients == 0) {
        return Verdict::proceed();
    }
    const QuotaSubject subject{m.sender.address, m.sender.sasl_user, client_addr_raw_, m.stream};
    const auto& zone = *policy_->general.time_zone;
    auto planned = plan_charges(policy_->quotas, zone, policy_->redis.prefix, subject,
                                static_cast<std::int64_t>(m.recipients), clock_());
    if (planned.empty()) {
        note("quota", "no [[quota]] limit applies");
        return Verdict::proceed();
    }
    std::vector<CounterCharge> charges;
    charges.reserve(planned.size());
    for (const auto& p : planned) {
        charges.push_back(p.charge);
    }
    auto outcome = quota_.store != nullptr
                       ? quota_.store->charge(charges)
                       : Result<ChargeOutcome>(make_error("no counter store is configured"));
    if (!outcome) {
        const bool accept = policy_->redis.on_store_error == StoreErrorMode::Accept;
        std::uint64_t count = 0;
        if (quota_.stats != nullptr) {
            auto& counter = accept ? quota_.stats->store_errors_accepted
                                   : quota_.stats->store_errors_tempfailed;
            count = counter.fetch_add(1, std::memory_order_relaxed) + 1;
        }
        m.quota_result = accept ? "store-error:accepted" : "store-error:tempfail";
        note("quota", "the counter store failed (" +
                          log_escape(outcome.error().message, 256, true) +
                          "): on_store_error = " + (accept ? "accept" : "tempfail"));
        log_.warning("quota store error: " + log_escape(outcome.error().message, 512, true) + "; " +
                     (accept ? "ACCEPTING the message unchecked (on_store_error = accept)"
                             : "answering tempfail (on_store_error = tempfail)") +
                     "; " + std::to_string(count) + " such decisions since start");
        if (accept) {
            return Verdict::proceed();
        }
        return Verdict::tempfail("451", "4.3.0",
                                 "Staffel: sending limits cannot be checked now, try again later");
    }
    auto decision = decide(planned, *outcome, zone);
    m.quota_result = log_escape(decision.log, 128);
    if (trace_ != nullptr) {
        for (std::size_t i = 0; i < planned.size() && i < outcome->counters.size(); ++i) {
            const auto& p = planned[i];
            const auto& c = outcome->counters[i];
            const auto before = outcome->admitted ? c.used - p.units : c.used;
            note("quota", "\"" + p.limit->name + "\" for " + log_escape(p.identity) + ": " +
                              std::to_string(before) + " of " + std::to_string(p.effective_limit) +
                              " used, this message needs " + std::to_string(p.units) + ": " +
                              (c.admits ? "fits" : "over") +
                              (p.resets_at > 0 ? "; resets " + format_local(zone, p.resets_at)
                                               : std::string()));
        }
        note("quota", decision.kind == QuotaDecision::Kind::Admit
                          ? "admitted (" + decision.log + ")"
                          : decision.log + ": " +
                                (decision.text.empty() ? decision.hold_reason
                                                       : decision.rcode + " " + decision.xcode +
                                                             " " + decision.text));
    }
    if (outcome->admitted) {
        m.charged = std::move(charges);
    }
    switch (decision.kind) {
        case QuotaDecision::Kind::Admit:
            return Verdict::proceed();
        case QuotaDecision::Kind::Tempfail:
            return Verdict::tempfail(decision.rcode, decision.xcode, decision.text);
        case QuotaDecision::Kind::Reject:
            return Verdict::reject(decision.rcode, decision.xcode, decision.text);
        case QuotaDecision::Kind::Hold: {
            Verdict v;
            v.quarantine = decision.hold_reason;
            return v;
        }
    }
    return Verdict::proceed();
}

void Session::refund(Message& m) {
    if (m.charged.empty()) {
        return;
    }
    auto charged = std::move(m.charged);
    m.charged.clear();
    auto done = quota_.store != nullptr ? quota_.store->refund(charged)
                                        : Result<bool>(make_error("no counter store"));
    if (!done) {
        log_.warning("quota refund failed: " + log_escape(done.error().message, 512, true) +
                     "; the message stays counted");
        m.quota_result += ",refund-failed";
    } else {
        m.quota_result += ",refunded";
    }
}

void Session::abort() {
    if (message_) {
        finish({}, "aborted");
    }
}

void Session::close() {
    abort();
    if (open_ && in_flight_ != nullptr) {
        in_flight_->end();
    }
    open_ = false;
}

std::string Session::identity() const {
    if (message_ && !message_->sender.sasl_user.empty()) {
        return "sasl:" + log_escape(message_->sender.sasl_user, 128);
    }
    return "ip:" + (client_addr_.empty() ? std::string("unknown") : client_addr_);
}

void Session::finish(std::string_view queue_id, std::string_view action) {
    if (!message_) {
        return;
    }
    std::string qid(queue_id.empty() ? std::string_view(message_->sender.queue_id) : queue_id);
    if (qid.empty()) {
        qid = "NOQUEUE";
    }
    const LogLevel level = action == "aborted" ? LogLevel::Debug : LogLevel::Info;
    if (log_.enabled(level)) {
        std::string line = log_escape(qid, 64);
        line += ": client=" + client_host_ + "[" + client_addr_ + "]";
        line += " identity=" + identity();
        line += " from=<" + log_escape(message_->sender.address) + ">";
        line += " rcpts=" + std::to_string(message_->recipients);
        line += " policy=" + (policy_ ? policy_->digest : std::string("none"));
        if (!message_->stream.empty()) {
            line += " stream=" + message_->stream;
        }
        if (!message_->route_result.empty()) {
            line += " route=" + message_->route_result;
        }
        if (!message_->spf_result.empty()) {
            line += " spf=" + message_->spf_result;
        }
        if (!message_->gate_result.empty()) {
            line += " unsubscribe=" + message_->gate_result;
        }
        if (policy_ && policy_->suppression.enabled) {
            line += " suppressed=" + std::to_string(message_->refused + message_->removed.size());
            if (!message_->removed.empty()) {
                std::string removed;
                for (const auto& r : message_->removed) {
                    removed += removed.empty() ? "" : ",";
                    removed += r;
                }
                line += " removed=" + log_escape(removed, 1024);
            }
            if (!message_->suppress_result.empty()) {
                line += " suppress=" + message_->suppress_result;
            }
        }
        if (!message_->quota_result.empty()) {
            line += " quota=" + message_->quota_result;
        }
        if (!message_->dkim_result.empty()) {
            line += " dkim=" + message_->dkim_result;
        }
        if (!message_->dmarc_result.empty()) {
            line += " dmarc=" + message_->dmarc_result;
        }
        line += " action=";
        line += action;
        log_.log(level, line);
    }
    message_.reset();
}

}  // namespace staffel::core
