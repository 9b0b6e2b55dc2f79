// session_route.cpp - the routing steps of a Session: stream and route,
// SPF pre-flight, bulk-sender gate, return path, DMARC prediction and the
// route's edits (see session.hpp and core/route/).
#include <algorithm>

#include "core/dkim/table.hpp"
#include "core/route/route.hpp"
#include "core/route/srs.hpp"
#include "core/route/streams.hpp"
#include "core/session.hpp"
#include "core/stats/tag.hpp"
#include "core/text.hpp"

namespace staffel::core {

// The answer when the MTA refuses one of the route's edits, or SRS fails.
Verdict Session::cannot_route() {
    return Verdict::tempfail("451", "4.3.0",
                             "Staffel: cannot route the message now, try again later");
}

// The stream from the [[stream]] rules (or the built-in classification),
// then its route (or the default route).
void Session::choose_route(Message& m) {
    const auto& routing = policy_->routing;
    const StreamInput in{sender(m), &m.headers.fields(), m.recipients};
    auto choice = classify(routing.streams, routing.default_stream, in);
    if (trace_ != nullptr) {
        const auto last =
            choice.rule >= 0 ? static_cast<std::size_t>(choice.rule) + 1 : routing.streams.size();
        for (std::size_t i = 0; i < last; ++i) {
            const auto& rule = routing.streams[i];
            const auto check = check_rule(rule, in);
            note("stream", [&] {
                return std::string("rule " + std::to_string(i + 1) + " \"" + rule.name + "\" (" +
                                   rule.where + "): " + (check.matched ? "matches: " : "no: ") +
                                   check.why);
            });
        }
        note("stream", [&] {
            return std::string(choice.stream + (choice.rule >= 0 ? " (the first rule that matches)"
                                                : routing.streams.empty()
                                                    ? " (built-in: List-Unsubscribe, List-Id or "
                                                      "Precedence bulk/list/junk make bulk)"
                                                    : " (no rule matches: default_stream)"));
        });
    }
    m.stream = std::move(choice.stream);
    m.rule = choice.rule >= 0 ? &routing.streams[static_cast<std::size_t>(choice.rule)] : nullptr;
    const std::string& name = choice.route.empty() ? routing.default_route : choice.route;
    m.route = name.empty() ? nullptr : find_route(routing.routes, name);
    note("route", [&] {
        return std::string(
            name.empty()
                ? std::string("none: the envelope and header stay as they are")
                : name + (choice.route.empty() ? " (default_route)" : " (named by the stream)"));
    });
    if (m.route != nullptr && route_status_ != nullptr) {
        std::vector<std::string> passed;
        const Route* in_service =
            route_in_service(routing.routes, *m.route, *route_status_, &passed);
        if (in_service == nullptr) {
            note("route", [&] {
                return std::string(m.route->name +
                                   " is down and no fallback is in service: the message would get "
                                   "451 4.3.2");
            });
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
            m.route_passed = from;
            note("route", [&] {
                return std::string("down: " + from + "; the fallback " + m.route->name +
                                   " carries it");
            });
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
        note("spf", [&] {
            return std::string("not evaluated: " + log_escape(sender) + " is not in spf_domains");
        });
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
        note("spf", [&] {
            return std::string(log_escape(ip, 64) + " would get " + std::string(to_string(result)) +
                               " for " + log_escape(sender) + " on route " + m.route->name);
        });
        switch (m.route->on_spf_fail) {
            case Route::SpfAction::Report:
                note("spf", [&] { return std::string("on_spf_fail = report: only logged"); });
                break;
            case Route::SpfAction::BounceDomain:
                if (!m.route->bounce_domain.empty()) {
                    m.spf_use_bounce_domain = true;
                    m.spf_result += "->bounce_domain";
                    note("spf", [&] {
                        return std::string(
                            "on_spf_fail = bounce_domain: the return path moves to " +
                            m.route->bounce_domain);
                    });
                }
                break;
            case Route::SpfAction::SwitchRoute:
                if (const auto* other = find_route(routing.routes, m.route->spf_switch_route)) {
                    m.route_result = other->name + "(spf:" + m.route->name + ")";
                    m.spf_result += "->route:" + other->name;
                    note("spf", [&] {
                        return std::string("on_spf_fail: route " + other->name +
                                           " carries it instead");
                    });
                    m.route = other;
                }
                break;
        }
        return;
    }
    m.spf_result = "pass";
    note("spf", [&] {
        return std::string("every egress IP of route " + m.route->name + " would pass for " +
                           log_escape(sender));
    });
}

Verdict Session::check_unsubscribe_gate(Message& m) {
    if (m.rule == nullptr || m.rule->unsubscribe == StreamRule::Unsubscribe::Off) {
        return Verdict::proceed();
    }
    const TemplateInput in{
        &m.headers.fields(), m.stream,
        m.route != nullptr ? std::string_view(m.route->name) : std::string_view(), m.sender.address,
        m.tag};
    auto gate = unsubscribe_gate(m.rule, m.headers.fields(),
                                 expand_template(m.rule->unsubscribe_template, in));
    m.gate_result = gate.log;
    m.gate_add = std::move(gate.add);
    note("unsubscribe", [&] {
        std::string added;
        for (const auto& f : m.gate_add) {
            added += (added.empty() ? "" : ", ") + f.name + ":" + f.value;
        }
        return std::string(!gate.missing
                               ? std::string("List-Unsubscribe and List-Unsubscribe-Post present")
                           : gate.refuse    ? std::string("missing: the stream refuses such mail")
                           : !added.empty() ? "missing: adds " + log_escape(added, 512, true)
                                            : std::string("missing: reported only"));
    });
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
    if (m.route == nullptr && m.gate_add.empty() && !strips_tag_headers() &&
        m.feedback_id.empty()) {
        return fields;
    }
    std::vector<HeaderField> out;
    out.reserve(fields.size() + (m.route != nullptr ? m.route->add_headers.size() : 0) + 2);
    for (const auto& f : fields) {
        if (!stripped(m, f.name)) {
            out.push_back(f);
        }
    }
    if (m.route != nullptr) {
        const TemplateInput in{&fields, m.stream, m.route->name, m.sender.address, m.tag};
        for (const auto& t : m.route->add_headers) {
            out.push_back({t.name, " " + expand_template(t.value, in)});
        }
    }
    out.insert(out.end(), m.gate_add.begin(), m.gate_add.end());
    if (!m.feedback_id.empty()) {
        out.push_back({"Feedback-ID", " " + m.feedback_id});
    }
    return out;
}

bool Session::strips_tag_headers() const {
    return policy_->stats.strip_tag_headers && !policy_->stats.tag_headers.empty();
}

bool Session::stripped(const Message& m, std::string_view name) const {
    const auto is = [&](const std::string& n) { return iequals(n, name); };
    if (m.route != nullptr &&
        std::any_of(m.route->strip_headers.begin(), m.route->strip_headers.end(), is)) {
        return true;
    }
    return strips_tag_headers() &&
           std::any_of(policy_->stats.tag_headers.begin(), policy_->stats.tag_headers.end(), is);
}

// The tag (from [stats] tag_headers) and the Feedback-ID of the message,
// once its header, stream and route are known.
void Session::tag_message(Message& m) {
    const auto& stats = policy_->stats;
    if (!stats.tag_headers.empty()) {
        m.tag = message_tag(m.headers.fields(), stats.tag_headers, stats.tag_max_length);
        note("tag", [&] {
            return m.tag.empty() ? std::string("no tag header field present")
                                 : "\"" + m.tag + "\"" +
                                       (stats.strip_tag_headers ? "; its field is removed" : "");
        });
    }
    if (stats.feedback_id.empty()) {
        return;
    }
    for (const auto& f : m.headers.fields()) {
        if (iequals(f.name, "Feedback-ID")) {
            note("tag", [] { return std::string("Feedback-ID present: kept, none added"); });
            return;  // the sender's own stays, and no second one is added
        }
    }
    const TemplateInput in{
        &m.headers.fields(), m.stream,
        m.route != nullptr ? std::string_view(m.route->name) : std::string_view(), m.sender.address,
        m.tag};
    m.feedback_id = expand_template(stats.feedback_id, in);
    note("tag", [&] { return "adds Feedback-ID: " + m.feedback_id + " (signed)"; });
}

// The tag fields to strip and the Feedback-ID to add, after the route's
// own edits (and in the order final_header() has them).
Verdict Session::apply_tag_edits(Message& m, MessageEdits& edits) {
    if (strips_tag_headers()) {
        for (const auto& name : policy_->stats.tag_headers) {
            if (m.route != nullptr &&
                std::any_of(m.route->strip_headers.begin(), m.route->strip_headers.end(),
                            [&](const std::string& n) { return iequals(n, name); })) {
                continue;  // the route removed it already
            }
            int count = 0;
            for (const auto& f : m.headers.fields()) {
                count += iequals(f.name, name) ? 1 : 0;
            }
            for (int i = count; i >= 1; --i) {
                if (!edits.remove_header(name, i)) {
                    log_.error("the MTA refused to remove the " + log_escape(name) +
                               " header field");
                    return cannot_route();
                }
            }
        }
    }
    if (!m.feedback_id.empty() && !edits.append_header("Feedback-ID", " " + m.feedback_id)) {
        log_.error("the MTA refused to add the Feedback-ID header field");
        return cannot_route();
    }
    return Verdict::proceed();
}

// A VERP return path names the recipient of a message that has exactly
// one: without suppression lists (which track every recipient), a policy
// with routes keeps the first two, enough to tell one from several.
void Session::track_for_verp(Message& m, std::string_view recipient) const {
    if (policy_->routing.routes.empty() || m.rcpts.size() >= 2) {
        return;
    }
    Recipient r;
    r.given = std::string(recipient.substr(0, 1024));
    r.checked = true;
    m.rcpts.push_back(std::move(r));
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
            return cannot_route();
        }
        if (*rewritten != m.sender.address) {
            from = std::move(rewritten).value();
        }
    }
    note("envelope", [&] {
        static constexpr const char* kModes[] = {"keep", "plain", "verp", "srs"};
        const std::string mode =
            std::string("return_path = ") + kModes[static_cast<int>(m.route->return_path)];
        return std::string(from ? "MAIL FROM rewritten to <" + log_escape(*from) + "> (" + mode +
                                      (m.spf_use_bounce_domain ? ", SPF pre-flight" : "") + ")"
                                : "MAIL FROM unchanged (" + mode +
                                      (m.sender.address.empty() ? ", null sender" : "") + ")");
    });
    if (from) {
        m.route_result += ",from=" + log_escape(*from, 256);
        m.new_sender = std::move(from);
    }
    return Verdict::proceed();
}

// From:, the d= of the signatures and the return path as the message
// leaves: would a receiver's DMARC check pass?
void Session::predict_alignment(Message& m, std::string_view queue_id) {
    if (policy_->routing.dmarc_alignment == DmarcAlignment::Off || !content_negotiated_) {
        return;
    }
    // The header as it leaves; a copy only when the route or gate edits it.
    std::vector<HeaderField> edited;
    const std::vector<HeaderField>* fields = &m.headers.fields();
    if (m.route != nullptr || !m.gate_add.empty()) {
        edited = final_header(m);
        fields = &edited;
    }
    const auto author = author_domain(*fields);
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
    note("dmarc", [&] {
        return std::string(
            m.dmarc_result + " (" +
            (policy_->routing.dmarc_alignment == DmarcAlignment::Strict ? "strict" : "relaxed") +
            " alignment)");
    });
    std::uint64_t count = 0;
    if (dmarc_stats_ != nullptr) {
        auto& c = p.outcome == DmarcPrediction::Outcome::Pass   ? dmarc_stats_->pass
                  : p.outcome == DmarcPrediction::Outcome::Fail ? dmarc_stats_->fail
                                                                : dmarc_stats_->unknown;
        count = c.fetch_add(1, std::memory_order_relaxed) + 1;
    }
    if (p.outcome == DmarcPrediction::Outcome::Fail && log_.enabled(LogLevel::Warning)) {
        const std::string_view qid = !queue_id.empty() ? queue_id
                                     : !m.sender.queue_id.empty()
                                         ? std::string_view(m.sender.queue_id)
                                         : std::string_view("NOQUEUE");
        log_.warning(
            log_escape(qid, 64) + ": DMARC alignment: mail from <" + log_escape(m.sender.address) +
            "> would fail DMARC at receivers: " + m.dmarc_result + since_start(count, "message"));
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
                return cannot_route();
            }
        }
    }
    const TemplateInput in{&fields, m.stream, m.route->name, m.sender.address, m.tag};
    for (const auto& t : m.route->add_headers) {
        if (!edits.append_header(t.name, " " + expand_template(t.value, in))) {
            log_.error("the MTA refused to add the " + t.name + " header field");
            return cannot_route();
        }
    }
    if (m.new_sender) {
        if (!edits.change_sender(*m.new_sender)) {
            log_.error("the MTA refused to change the envelope sender");
            return cannot_route();
        }
    }
    return Verdict::proceed();
}

}  // namespace staffel::core
