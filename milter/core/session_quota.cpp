// session_quota.cpp - the quota steps of a Session: one charge per message
// at its end, and the refund when it is refused after all (see session.hpp
// and core/quota/).
#include "core/quota/quota.hpp"
#include "core/session.hpp"

namespace staffel::core {

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
    charges.reserve(planned.size());
    for (const auto& p : planned) {
        charges.push_back(p.charge);
    }
    auto outcome = quota_.store != nullptr
                       ? quota_.store->charge(charges)
                       : Result<ChargeOutcome>(make_error("no counter store is configured"));
    if (!outcome) {
        // One charge covers every limit: it is accepted unchecked only when
        // each limit that applies says so (a fail-closed limit wins).
        std::string setting;  // "": [redis] on_store_error
        auto mode = StoreErrorMode::Accept;
        for (const auto& p : planned) {
            const auto& own = p.limit->on_store_error;
            if (own.value_or(policy_->redis.on_store_error) == StoreErrorMode::Tempfail) {
                mode = StoreErrorMode::Tempfail;
                setting = own ? "[[quota]] \"" + p.limit->name + "\" " : std::string();
                break;
            }
            if (own) {
                setting = "[[quota]] \"" + p.limit->name + "\" ";
            }
        }
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

}  // namespace staffel::core
