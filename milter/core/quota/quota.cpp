// quota.cpp - see quota.hpp.
#include "core/quota/quota.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/identity.hpp"
#include "core/text.hpp"

namespace staffel::core {
namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kExpirySlack = 3600;  // seconds a finished window's counter lingers

bool applies(const QuotaLimit& l, const Sender& s, std::string_view stream) {
    const auto domain = s.domain();
    return any_or_empty(l.domains,
                        [&](const std::string& p) {
                            return !domain.empty() && domain_pattern_matches(p, domain);
                        }) &&
           any_or_empty(l.sasl_users,
                        [&](const std::string& p) { return login_matches(p, s.sasl_user); }) &&
           any_or_empty(l.networks, [&](const Network& n) { return n.contains(s.client_ip); }) &&
           any_or_empty(l.streams, [&](const std::string& n) { return n == stream; });
}

// The keyed value of `l` for the message; empty when the limit has nothing
// to count (no SASL login, null sender, ...).
std::string identity_of(const QuotaLimit& l, const Sender& s, std::string_view stream) {
    switch (l.key) {
        case QuotaKey::Sender:
            return ascii_lower(s.address);
        case QuotaKey::SenderDomain:
            return ascii_lower(s.domain());
        case QuotaKey::SaslUser:
            return ascii_lower(s.sasl_user);
        case QuotaKey::ClientIp:
            return ascii_lower(s.client_ip);
        case QuotaKey::Stream:
            return std::string(stream);
        case QuotaKey::RecipientDomain:
            return {};  // charged per recipient (plan_recipient_charges)
    }
    return {};
}

// The identity of a recipient_domain counter: the listed domains that
// share it, or the recipient's own domain.
std::string recipient_identity(const QuotaLimit& l, std::string_view domain) {
    if (l.domains.empty()) {
        return ascii_lower(domain);
    }
    std::string out;
    for (const auto& d : l.domains) {
        out += (out.empty() ? "" : ",") + d;
    }
    return out;
}

std::string two(int v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", v);
    return buf;
}

std::string date_text(std::int64_t days) {
    const auto c = civil_from_days(days);
    return std::to_string(c.year) + "-" + two(c.month) + "-" + two(c.day);
}

std::int64_t local_midnight(const ZoneRules& zone, std::int64_t days) {
    const auto c = civil_from_days(days);
    return zone.from_local({c.year, c.month, c.day, 0, 0, 0});
}

std::int64_t warm_limit(const QuotaLimit& l, std::int64_t today) {
    const std::int64_t target = static_cast<std::int64_t>(l.limit.count);
    if (!l.warmup) {
        return target;
    }
    const auto& w = *l.warmup;
    const std::int64_t n = std::max<std::int64_t>(0, today - w.start_day.value_or(today));
    if (!w.schedule.empty()) {
        return n < static_cast<std::int64_t>(w.schedule.size())
                   ? std::min(target, w.schedule[static_cast<std::size_t>(n)])
                   : target;
    }
    const double grown =
        static_cast<double>(w.initial) * std::pow(w.factor, static_cast<double>(n));
    if (!std::isfinite(grown) || grown >= static_cast<double>(target)) {
        return target;
    }
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(grown));
}

std::string_view key_tag(QuotaKey k) {
    switch (k) {
        case QuotaKey::Sender:
            return "s";
        case QuotaKey::SenderDomain:
            return "d";
        case QuotaKey::SaslUser:
            return "u";
        case QuotaKey::ClientIp:
            return "ip";
        case QuotaKey::Stream:
            return "st";
        case QuotaKey::RecipientDomain:
            return "rd";
    }
    return "?";
}

// Fills the counter of `l` for `identity` at `now`, with `units` to charge.
PlannedCharge plan_one(const QuotaLimit& l, const ZoneRules& zone, std::string_view prefix,
                       std::string identity, std::int64_t units, std::int64_t now) {
    PlannedCharge p;
    p.limit = &l;
    p.identity = std::move(identity);
    p.units = units;
    auto& c = p.charge;
    c.amount = units;
    c.enforce = l.action != QuotaAction::Log;
    std::string period;
    if (l.window == QuotaWindow::Rolling) {
        c.kind = CounterCharge::Kind::Gcra;
        const auto per_us = static_cast<std::int64_t>(l.limit.per.count()) * 1000;
        c.interval_us =
            std::max<std::int64_t>(1, per_us / static_cast<std::int64_t>(l.limit.count));
        c.burst = l.capacity();
        c.amount = std::min(units, c.burst + 1);  // keeps amount * interval in the store's range
        p.effective_limit = c.burst;
        period = "r";
    } else {
        c.kind = CounterCharge::Kind::Window;
        const auto local = zone.to_local(now);
        const auto today = days_from_civil(local.year, local.month, local.day);
        std::int64_t first = today;
        std::int64_t next = today + 1;
        if (l.window == QuotaWindow::Week) {
            first = today - weekday_from_days(today);
            next = first + 7;
            period = "w" + date_text(first);
        } else if (l.window == QuotaWindow::Month) {
            first = days_from_civil(local.year, local.month, 1);
            next = local.month == 12 ? days_from_civil(local.year + 1, 1, 1)
                                     : days_from_civil(local.year, local.month + 1, 1);
            period = "m" + date_text(first).substr(0, 7);
        } else {
            period = "d" + date_text(today);
        }
        p.resets_at = local_midnight(zone, next);
        if (p.resets_at <= now) {  // a zone whose midnight is skipped: never in the past
            p.resets_at = now + kDay;
        }
        c.expire_at_ms = (p.resets_at + kExpirySlack) * 1000;
        p.effective_limit = l.window == QuotaWindow::Day ? warm_limit(l, today)
                                                         : static_cast<std::int64_t>(l.limit.count);
        c.limit = p.effective_limit;
    }
    c.key = std::string(prefix) + "q:{" + std::string(key_tag(l.key)) + ":" +
            key_escape(p.identity) + "}:" + l.name + ":" + period;
    return p;
}

std::string unit_word(const QuotaLimit& l, std::int64_t n) {
    if (l.counts == QuotaCounts::Messages) {
        return n == 1 ? "message" : "messages";
    }
    return n == 1 ? "recipient" : "recipients";
}

std::string limit_text(const PlannedCharge& p) {
    const auto& l = *p.limit;
    std::string out = std::to_string(p.effective_limit) + " " + unit_word(l, p.effective_limit);
    switch (l.window) {
        case QuotaWindow::Day:
            out += " per day";
            if (p.effective_limit < static_cast<std::int64_t>(l.limit.count)) {
                out += " (warming up to " + std::to_string(l.limit.count) + ")";
            }
            break;
        case QuotaWindow::Week:
            out += " per week";
            break;
        case QuotaWindow::Month:
            out += " per month";
            break;
        case QuotaWindow::Rolling:
            out = std::to_string(l.limit.count) + " " + unit_word(l, 2) + " per " +
                  format_duration(l.limit.per) + ", burst " + std::to_string(l.capacity());
            break;
    }
    return out;
}

// The identity as a reply may carry it: escaped, and short enough that the
// whole reply stays within one SMTP line.
std::string reply_identity(const PlannedCharge& p) {
    // recipient_domain identities are domains already checked (the
    // policy's, or a recipient's after normalisation), "," between those
    // that share a counter: shown as they are.
    auto text = p.limit->key == QuotaKey::RecipientDomain ? p.identity : key_escape(p.identity);
    if (text.size() > 120) {
        text = text.substr(0, 117) + "...";
    }
    return text;
}

int severity(QuotaAction a) {
    switch (a) {
        case QuotaAction::Reject:
            return 3;
        case QuotaAction::Tempfail:
            return 2;
        case QuotaAction::Hold:
            return 1;
        case QuotaAction::Log:
            return 0;
    }
    return 0;
}

}  // namespace

std::string_view to_string(QuotaKey k) {
    switch (k) {
        case QuotaKey::Sender:
            return "sender";
        case QuotaKey::SenderDomain:
            return "sender_domain";
        case QuotaKey::SaslUser:
            return "sasl_user";
        case QuotaKey::ClientIp:
            return "client_ip";
        case QuotaKey::Stream:
            return "stream";
        case QuotaKey::RecipientDomain:
            return "recipient_domain";
    }
    return "?";
}

std::string_view to_string(QuotaAction a) {
    switch (a) {
        case QuotaAction::Tempfail:
            return "tempfail";
        case QuotaAction::Reject:
            return "reject";
        case QuotaAction::Hold:
            return "hold";
        case QuotaAction::Log:
            return "log";
    }
    return "?";
}

std::int64_t QuotaLimit::capacity() const {
    if (window == QuotaWindow::Rolling && burst > 0) {
        return burst;
    }
    return static_cast<std::int64_t>(limit.count);
}

std::string key_escape(std::string_view identity) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const char ch : identity.substr(0, 256)) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<unsigned char>(c - 'A' + 'a');
        }
        const bool plain = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '@' ||
                           c == '.' || c == '_' || c == '+' || c == '=' || c == '-' || c == ':';
        if (plain) {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

bool quotas_need_stream(const std::vector<QuotaLimit>& limits) {
    return std::any_of(limits.begin(), limits.end(), [](const QuotaLimit& l) {
        return l.key == QuotaKey::Stream || !l.streams.empty();
    });
}

std::string format_local(const ZoneRules& zone, std::int64_t t) {
    const auto c = zone.to_local(t);
    return std::to_string(c.year) + "-" + two(c.month) + "-" + two(c.day) + " " + two(c.hour) +
           ":" + two(c.minute) + " " + zone.abbreviation_at(t);
}

std::vector<PlannedCharge> plan_charges(const std::vector<QuotaLimit>& limits,
                                        const ZoneRules& zone, std::string_view prefix,
                                        const Sender& sender, std::string_view stream,
                                        std::int64_t recipients, std::int64_t now) {
    std::vector<PlannedCharge> out;
    for (const auto& l : limits) {
        if (l.key == QuotaKey::RecipientDomain || !applies(l, sender, stream)) {
            continue;
        }
        auto identity = identity_of(l, sender, stream);
        if (identity.empty()) {
            continue;
        }
        const std::int64_t units = l.counts == QuotaCounts::Messages ? 1 : recipients;
        out.push_back(plan_one(l, zone, prefix, std::move(identity), units, now));
    }
    return out;
}

std::vector<PlannedCharge> plan_recipient_charges(const std::vector<QuotaLimit>& limits,
                                                  const ZoneRules& zone, std::string_view prefix,
                                                  const Sender& sender, std::string_view domain,
                                                  std::int64_t now) {
    std::vector<PlannedCharge> out;
    if (domain.empty()) {
        return out;
    }
    for (const auto& l : limits) {
        if (l.key != QuotaKey::RecipientDomain) {
            continue;
        }
        // `domains` names recipient domains here; the other narrowings are
        // known at RCPT (`streams` is refused for this key at load).
        const bool fits =
            any_or_empty(l.domains,
                         [&](const std::string& p) { return domain_pattern_matches(p, domain); }) &&
            any_or_empty(
                l.sasl_users,
                [&](const std::string& p) { return login_matches(p, sender.sasl_user); }) &&
            any_or_empty(l.networks,
                         [&](const Network& n) { return n.contains(sender.client_ip); });
        if (fits) {
            out.push_back(plan_one(l, zone, prefix, recipient_identity(l, domain), 1, now));
        }
    }
    return out;
}

bool quotas_at_rcpt(const std::vector<QuotaLimit>& limits) {
    return std::any_of(limits.begin(), limits.end(),
                       [](const QuotaLimit& l) { return l.key == QuotaKey::RecipientDomain; });
}

std::vector<PlannedCharge> counters_for(const std::vector<QuotaLimit>& limits,
                                        const ZoneRules& zone, std::string_view prefix,
                                        std::string_view key, std::int64_t now,
                                        const std::vector<std::string>& stream_names) {
    std::vector<PlannedCharge> out;
    const bool is_ip = key.find_first_of(".:") != std::string_view::npos &&
                       key.find('/') == std::string_view::npos && parse_network(key).ok();
    const bool is_address = key.find('@') != std::string_view::npos;
    const bool is_stream =
        !is_ip && !is_address &&
        std::find(stream_names.begin(), stream_names.end(), key) != stream_names.end();
    const bool is_domain =
        !is_ip && !is_address && !is_stream && key.find('.') != std::string_view::npos;
    for (const auto& l : limits) {
        bool fits = false;
        std::string_view domain;
        switch (l.key) {
            case QuotaKey::Sender:
                fits = is_address;
                domain = domain_of(key);
                break;
            case QuotaKey::SenderDomain:
                fits = is_domain;
                domain = key;
                break;
            case QuotaKey::SaslUser:
                // Unnarrowed, a limit keyed on logins does not claim domains
                // and stream names; its sasl_users patterns can.
                fits = !is_ip &&
                       (l.sasl_users.empty() ? !is_domain && !is_stream
                                             : std::any_of(l.sasl_users.begin(), l.sasl_users.end(),
                                                           [&](const std::string& p) {
                                                               return login_matches(p, key);
                                                           }));
                break;
            case QuotaKey::ClientIp:
                fits = is_ip &&
                       any_or_empty(l.networks, [&](const Network& n) { return n.contains(key); });
                break;
            case QuotaKey::Stream:
                fits = !is_address && !is_ip &&
                       (l.streams.empty() ? is_stream
                                          : std::find(l.streams.begin(), l.streams.end(), key) !=
                                                l.streams.end());
                break;
            case QuotaKey::RecipientDomain:
                fits = is_domain && any_or_empty(l.domains, [&](const std::string& p) {
                           return domain_pattern_matches(p, key);
                       });
                break;
        }
        if (fits && !domain.empty()) {
            fits = any_or_empty(
                l.domains, [&](const std::string& p) { return domain_pattern_matches(p, domain); });
        }
        if (fits) {
            const std::string identity = l.key == QuotaKey::Stream ? std::string(key)
                                         : l.key == QuotaKey::RecipientDomain
                                             ? recipient_identity(l, key)
                                             : ascii_lower(key);
            out.push_back(plan_one(l, zone, prefix, identity, 0, now));
        }
    }
    return out;
}

QuotaDecision decide(const std::vector<PlannedCharge>& planned, const ChargeOutcome& outcome,
                     const ZoneRules& zone) {
    QuotaDecision d;
    if (planned.empty()) {
        return d;
    }
    const auto n = std::min(planned.size(), outcome.counters.size());
    if (outcome.admitted) {
        d.log = "ok";
        for (std::size_t i = 0; i < n; ++i) {
            if (!outcome.counters[i].admits) {
                d.log = "shadow-over:" + planned[i].limit->name;
                break;
            }
        }
        return d;
    }
    // The strictest refusing limit speaks: reject, then tempfail, then hold.
    std::size_t worst = n;
    for (std::size_t i = 0; i < n; ++i) {
        if (outcome.counters[i].admits || !planned[i].charge.enforce) {
            continue;
        }
        if (worst == n ||
            severity(planned[i].limit->action) > severity(planned[worst].limit->action)) {
            worst = i;
        }
    }
    if (worst == n) {  // a store that refused without saying which counter
        d.kind = QuotaDecision::Kind::Tempfail;
        d.rcode = "451";
        d.xcode = "4.7.1";
        d.text = "Staffel: quota exceeded, try again later";
        d.log = "over";
        return d;
    }
    const auto& p = planned[worst];
    const auto& state = outcome.counters[worst];
    const auto& l = *p.limit;
    const bool never = p.units > l.capacity() || state.retry_at_us < 0;
    std::string what = std::string(l.window == QuotaWindow::Rolling ? "rate" : "quota") + " \"" +
                       l.name + "\" exceeded for " + std::string(to_string(l.key)) + " " +
                       reply_identity(p) + ": " + limit_text(p);
    if (never) {
        what = "message has " + std::to_string(p.units) + " " + unit_word(l, p.units) +
               ", more than " + std::string(l.window == QuotaWindow::Rolling ? "rate" : "quota") +
               " \"" + l.name + "\" admits at once (" + limit_text(p) + "); split it";
    } else if (l.window == QuotaWindow::Rolling) {
        const auto wait_us = std::max<std::int64_t>(0, state.retry_at_us - state.now_us);
        what += "; retry in " + std::to_string((wait_us + 999999) / 1000000) + "s";
    } else {
        what += "; resets " + format_local(zone, p.resets_at);
    }
    d.log = (never ? "too-many:" : "over:") + l.name;
    if (l.action == QuotaAction::Hold) {
        d.kind = QuotaDecision::Kind::Hold;
        d.hold_reason = "Staffel: " + what;
    } else if (l.action == QuotaAction::Reject || never) {
        d.kind = QuotaDecision::Kind::Reject;
        d.rcode = "550";
        d.xcode = "5.7.1";
        d.text = "Staffel: " + what;
    } else {
        d.kind = QuotaDecision::Kind::Tempfail;
        d.rcode = "451";
        d.xcode = "4.7.1";
        d.text = "Staffel: " + what;
    }
    return d;
}

}  // namespace staffel::core
