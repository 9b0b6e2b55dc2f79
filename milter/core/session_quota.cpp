// session_quota.cpp - the quota steps of a Session: one charge per
// recipient at RCPT for recipient_domain limits, one charge per message at
// its end for the others, and the refund when it is refused after all (see
// session.hpp and core/quota/).
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/quota/quota.hpp"
#include "core/session.hpp"
#include "core/suppress/suppress.hpp"
#include "core/text.hpp"

namespace staffel::core {

namespace {

// Recipients refused at RCPT kept one by one for the message's outcome.
constexpr std::size_t kMaxRefusedKept = 100000;

// "quota:NAME" from a decision's log token ("over:NAME", "too-many:NAME").
std::string rcpt_reason(std::string_view log) {
    const auto colon = log.find(':');
    return colon == std::string_view::npos ? std::string("quota")
                                           : "quota:" + std::string(log.substr(colon + 1));
}

// What a failed charge of `planned` gets: accepted unchecked only when each
// limit that applies says so (a fail-closed limit wins), and where that was
// set ("" for [redis] on_store_error, else "[[quota]] \"NAME\" ").
std::pair<StoreErrorMode, std::string> store_error_mode(const std::vector<PlannedCharge>& planned,
                                                        StoreErrorMode inherited) {
    std::string setting;
    for (const auto& p : planned) {
        const auto& own = p.limit->on_store_error;
        if (own.value_or(inherited) == StoreErrorMode::Tempfail) {
            return {StoreErrorMode::Tempfail,
                    own ? "[[quota]] \"" + p.limit->name + "\" " : std::string()};
        }
        if (own) {
            setting = "[[quota]] \"" + p.limit->name + "\" ";
        }
    }
    return {StoreErrorMode::Accept, setting};
}

}  // namespace

Result<ChargeOutcome> Session::charge_planned(const std::vector<PlannedCharge>& planned,
                                              std::vector<CounterCharge>& charges) {
    charges.clear();
    charges.reserve(planned.size());
    for (const auto& p : planned) {
        charges.push_back(p.charge);
    }
    return quota_.store != nullptr
               ? quota_.store->charge(charges)
               : Result<ChargeOutcome>(make_error("no counter store is configured"));
}

Verdict Session::charge_recipient(Message& m, std::string_view given) {
    if (!quotas_at_rcpt(policy_->quotas)) {
        return Verdict::proceed();
    }
    if (m.rcpt_deferred) {
        note("quota", [&] {
            return std::string("<" + log_escape(given) +
                               ">: not charged, the message is deferred already");
        });
        return Verdict::proceed();
    }
    auto domain = normalise_domain(domain_of(given), suppress_.idna);
    if (!domain) {
        note("quota", [&] {
            return std::string("<" + log_escape(given) + ">: no recipient domain to count (" +
                               log_escape(domain.error().message, 128, true) + ")");
        });
        return Verdict::proceed();
    }
    const auto& zone = *policy_->general.time_zone;
    auto planned = plan_recipient_charges(policy_->quotas, zone, policy_->redis.prefix, sender(m),
                                          *domain, clock_());
    if (planned.empty()) {
        return Verdict::proceed();
    }
    std::vector<CounterCharge> charges;
    auto outcome = charge_planned(planned, charges);
    if (!outcome) {
        std::string token;
        const auto chosen = store_error_mode(planned, policy_->redis.on_store_error);
        const StoreErrorMode mode = chosen.first;
        const std::string& setting = chosen.second;  // not a structured binding: clang 14
                                                     // lambdas cannot capture those
        auto v =
            store_error({"quota", "the recipient", "sending limits", setting}, mode,
                        quota_.stats != nullptr ? &quota_.stats->store_errors_accepted : nullptr,
                        quota_.stats != nullptr ? &quota_.stats->store_errors_tempfailed : nullptr,
                        token, outcome.error().message);
        note_rcpt_quota(m, token);
        note("quota", [&] {
            return std::string("<" + log_escape(given) + ">: the counter store failed (" +
                               log_escape(outcome.error().message, 256, true) + ")");
        });
        if (v.action != Verdict::Action::Continue && (m.sender.non_smtp || !rcpt_replies_)) {
            m.quota_result = token;
            m.rcpt_deferred = std::move(v);
            return Verdict::proceed();
        }
        return v;
    }
    auto decision = decide(planned, *outcome, zone);
    if (trace_ != nullptr) {
        for (std::size_t i = 0; i < planned.size() && i < outcome->counters.size(); ++i) {
            const auto& p = planned[i];
            const auto& c = outcome->counters[i];
            const auto before = outcome->admitted ? c.used - p.units : c.used;
            note("quota", [&] {
                return std::string(
                    "<" + log_escape(given) + ">: \"" + p.limit->name + "\" for recipient domain " +
                    log_escape(p.identity) + ": " + std::to_string(before) + " of " +
                    std::to_string(p.effective_limit) + " used: " + (c.admits ? "fits" : "over") +
                    (p.resets_at > 0 ? "; resets " + format_local(zone, p.resets_at)
                                     : std::string()));
            });
        }
    }
    if (!outcome->admitted) {
        return rcpt_over(m, given, decision);
    }
    if (decision.log.starts_with("shadow-over:")) {
        note_rcpt_quota(m, decision.log);
        auto name = decision.log.substr(12);
        if (std::find(m.rcpt_shadow_over.begin(), m.rcpt_shadow_over.end(), name) ==
            m.rcpt_shadow_over.end()) {
            m.rcpt_shadow_over.push_back(std::move(name));
        }
    }
    m.rcpt_charged.push_back({std::string(given.substr(0, 1024)), std::move(charges)});
    return Verdict::proceed();
}

// A recipient over a limit: refused alone at RCPT, or, where recipients
// cannot be refused one by one, the whole message deferred at its end.
Verdict Session::rcpt_over(Message& m, std::string_view given, const QuotaDecision& d) {
    Verdict v = d.kind == QuotaDecision::Kind::Reject
                    ? Verdict::reject(d.rcode, d.xcode, d.text)
                    : Verdict::tempfail(d.rcode.empty() ? "451" : d.rcode,
                                        d.xcode.empty() ? "4.7.1" : d.xcode,
                                        d.text.empty() ? d.hold_reason : d.text);
    note_rcpt_quota(m, d.log);
    const std::string qid = m.sender.queue_id.empty() ? "NOQUEUE" : m.sender.queue_id;
    if (m.sender.non_smtp || !rcpt_replies_) {
        note("quota", [&] {
            return std::string("<" + log_escape(given) +
                               ">: over, and recipients cannot be refused one by one here: "
                               "the whole message is deferred at its end");
        });
        if (log_.enabled(LogLevel::Info)) {
            log_.info(log_escape(qid, 64) + ": recipient <" + log_escape(given) + "> over " +
                      log_escape(d.log, 128) + " without SMTP: deferring the whole message");
        }
        m.quota_result = log_escape(d.log, 128);
        m.rcpt_deferred = std::move(v);
        return Verdict::proceed();
    }
    if (m.refused_rcpts.size() < kMaxRefusedKept) {
        m.refused_rcpts.push_back({std::string(given.substr(0, 1024)), rcpt_reason(d.log)});
    }
    if (log_.enabled(LogLevel::Info)) {
        log_.info(log_escape(qid, 64) + ": refused RCPT <" + log_escape(given) +
                  ">: " + log_escape(d.log, 128) + " from=<" + log_escape(m.sender.address) + ">");
    }
    note("quota", [&] {
        return std::string("<" + log_escape(given) + ">: refused at RCPT: " + v.rcode + " " +
                           v.xcode + " " + v.text);
    });
    return v;
}

// Keeps each distinct token once: "over:NAME,shadow-over:OTHER".
void Session::note_rcpt_quota(Message& m, std::string_view token) {
    const auto t = log_escape(token, 128);
    std::string_view rest = m.rcpt_quota_result;
    while (!rest.empty()) {
        const auto comma = rest.find(',');
        if (rest.substr(0, comma) == t) {
            return;
        }
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    }
    if (m.rcpt_quota_result.size() < 1024) {
        m.rcpt_quota_result += (m.rcpt_quota_result.empty() ? "" : ",") + t;
    }
}

void Session::refund_dropped(Message& m) {
    if (m.dropped.empty() || m.rcpt_charged.empty()) {
        return;
    }
    std::vector<CounterCharge> back;
    for (const auto& r : m.dropped) {
        const auto it = std::find_if(m.rcpt_charged.begin(), m.rcpt_charged.end(),
                                     [&](const RcptCharge& c) { return c.given == r.given; });
        if (it != m.rcpt_charged.end()) {
            back.insert(back.end(), it->charges.begin(), it->charges.end());
            m.rcpt_charged.erase(it);
        }
    }
    if (back.empty()) {
        return;
    }
    if (auto done = refund_charges(std::move(back)); !done) {
        log_.warning("quota refund of removed recipients failed: " +
                     log_escape(done.error().message, 512, true) + "; they stay counted");
        note_rcpt_quota(m, "refund-failed");
    }
}

Result<bool> Session::refund_charges(std::vector<CounterCharge> charges) {
    // Recipients of one domain charge one counter each: one entry, summed.
    std::vector<CounterCharge> merged;
    std::map<std::string, std::size_t> at;
    for (auto& c : charges) {
        const auto [it, fresh] = at.try_emplace(c.key, merged.size());
        if (fresh) {
            merged.push_back(std::move(c));
        } else {
            merged[it->second].amount += c.amount;
        }
    }
    if (merged.empty()) {
        return true;
    }
    return quota_.store != nullptr ? quota_.store->refund(merged)
                                   : Result<bool>(make_error("no counter store"));
}

Verdict Session::check_quotas(Message& m) {
    if (policy_->quotas.empty() || m.recipients == 0) {
        return Verdict::proceed();
    }
    const auto& zone = *policy_->general.time_zone;
    auto planned = plan_charges(policy_->quotas, zone, policy_->redis.prefix, sender(m), m.stream,
                                static_cast<std::int64_t>(m.recipients), clock_());
    if (planned.empty()) {
        note("quota", [&] { return std::string("no [[quota]] limit applies"); });
        return Verdict::proceed();
    }
    std::vector<CounterCharge> charges;
    auto outcome = charge_planned(planned, charges);
    if (!outcome) {
        const auto chosen = store_error_mode(planned, policy_->redis.on_store_error);
        const StoreErrorMode mode = chosen.first;
        const std::string& setting = chosen.second;  // not a structured binding: clang 14
                                                     // lambdas cannot capture those
        note("quota", [&] {
            return std::string(
                "the counter store failed (" + log_escape(outcome.error().message, 256, true) +
                "): " + setting +
                "on_store_error = " + (mode == StoreErrorMode::Accept ? "accept" : "tempfail"));
        });
        return store_error(
            {"quota", "the message", "sending limits", setting}, mode,
            quota_.stats != nullptr ? &quota_.stats->store_errors_accepted : nullptr,
            quota_.stats != nullptr ? &quota_.stats->store_errors_tempfailed : nullptr,
            m.quota_result, outcome.error().message);
    }
    auto decision = decide(planned, *outcome, zone);
    m.quota_result = log_escape(decision.log, 128);
    if (trace_ != nullptr) {
        for (std::size_t i = 0; i < planned.size() && i < outcome->counters.size(); ++i) {
            const auto& p = planned[i];
            const auto& c = outcome->counters[i];
            const auto before = outcome->admitted ? c.used - p.units : c.used;
            note("quota", [&] {
                return std::string("\"" + p.limit->name + "\" for " + log_escape(p.identity) +
                                   ": " + std::to_string(before) + " of " +
                                   std::to_string(p.effective_limit) +
                                   " used, this message needs " + std::to_string(p.units) + ": " +
                                   (c.admits ? "fits" : "over") +
                                   (p.resets_at > 0 ? "; resets " + format_local(zone, p.resets_at)
                                                    : std::string()));
            });
        }
        note("quota", [&] {
            return std::string(
                decision.kind == QuotaDecision::Kind::Admit
                    ? "admitted (" + decision.log + ")"
                    : decision.log + ": " +
                          (decision.text.empty()
                               ? decision.hold_reason
                               : decision.rcode + " " + decision.xcode + " " + decision.text));
        });
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
    if (m.charged.empty() && m.rcpt_charged.empty()) {
        return;
    }
    auto charged = std::move(m.charged);
    m.charged.clear();
    for (auto& r : m.rcpt_charged) {
        charged.insert(charged.end(), std::make_move_iterator(r.charges.begin()),
                       std::make_move_iterator(r.charges.end()));
    }
    m.rcpt_charged.clear();
    auto done = refund_charges(std::move(charged));
    if (!done) {
        log_.warning("quota refund failed: " + log_escape(done.error().message, 512, true) +
                     "; the message stays counted");
        m.quota_result += m.quota_result.empty() ? "refund-failed" : ",refund-failed";
    } else {
        m.quota_result += m.quota_result.empty() ? "refunded" : ",refunded";
    }
}

}  // namespace staffel::core
