// counts.cpp - see counts.hpp.
#include "core/stats/counts.hpp"

#include <cstdio>
#include <utility>
#include <vector>

#include "core/text.hpp"

namespace staffel::core::stats {

std::string_view to_string(Dimension d) {
    switch (d) {
        case Dimension::SenderDomain:
            return "sender_domain";
        case Dimension::Sender:
            return "sender";
        case Dimension::Stream:
            return "stream";
        case Dimension::Route:
            return "route";
        case Dimension::Tag:
            return "tag";
        case Dimension::RecipientDomain:
            return "rcpt_domain";
        case Dimension::Outcome:
            return "outcome";
    }
    return "outcome";
}

std::optional<Dimension> parse_dimension(std::string_view name) {
    for (auto d : kDimensions) {
        if (to_string(d) == name) {
            return d;
        }
    }
    return std::nullopt;
}

std::string value_text(std::string_view text, std::string_view empty) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    if (text.empty()) {
        return std::string(empty);
    }
    std::string out;
    out.reserve(std::min(text.size(), kMaxValueBytes));
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        const bool plain = c > 0x20 && c < 0x7f && c != '%' && c != '|';
        if (out.size() + (plain ? 1 : 3) > kMaxValueBytes) {
            break;
        }
        if (plain) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

std::string_view outcome_value(MessageOutcome::Action action) {
    switch (action) {
        case MessageOutcome::Action::Pass:
            return "accepted";
        case MessageOutcome::Action::Hold:
            return "held";
        case MessageOutcome::Action::Reject:
            return "refused";
        case MessageOutcome::Action::Tempfail:
            return "deferred";
        case MessageOutcome::Action::Aborted:
            return "";
    }
    return "";
}

std::string hour_label(int year, int month, int day, int hour) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%04d%02d%02d%02d", year, month, day, hour);
    return buf;
}

std::string local_hour(const ZoneRules& zone, std::int64_t time) {
    const auto local = zone.to_local(time);
    return hour_label(local.year, local.month, local.day, local.hour);
}

namespace {

using Counter = std::pair<std::string, std::int64_t>;

void add_counter(std::vector<Counter>& out, std::string name, std::int64_t n) {
    if (n == 0) {
        return;
    }
    for (auto& c : out) {
        if (c.first == name) {
            c.second += n;
            return;
        }
    }
    out.emplace_back(std::move(name), n);
}

// The counters of the message as a whole (every dimension but the
// recipient domain gets them).
std::vector<Counter> message_counters(const MessageOutcome& o) {
    std::vector<Counter> c;
    switch (o.action) {
        case MessageOutcome::Action::Pass:
            add_counter(c, "messages", 1);
            add_counter(c, "recipients", static_cast<std::int64_t>(o.recipients));
            add_counter(c, "bytes", static_cast<std::int64_t>(o.bytes));
            for (const auto& s : o.signatures) {
                add_counter(c, "signed:" + value_text(s.algorithm), 1);
            }
            if (!o.fallback_from.empty()) {
                add_counter(c, "fallback", 1);
            }
            break;
        case MessageOutcome::Action::Hold:
            add_counter(c, "held", 1);
            break;
        case MessageOutcome::Action::Reject:
            add_counter(c, "refused:" + value_text(o.reason, "unknown"), 1);
            break;
        case MessageOutcome::Action::Tempfail:
            add_counter(c, "deferred:" + value_text(o.reason, "unknown"), 1);
            break;
        case MessageOutcome::Action::Aborted:
            break;
    }
    for (const auto& r : o.refused) {
        add_counter(c, "rcpt_refused:" + value_text(r.reason, "unknown"), 1);
    }
    for (const auto& r : o.removed) {
        add_counter(c, "rcpt_removed:" + value_text(r.reason, "unknown"), 1);
    }
    for (const auto& name : o.shadow_over) {
        add_counter(c, "shadow_over:" + value_text(name), 1);
    }
    return c;
}

std::string sender_value(const MessageOutcome& o) {
    if (!o.sender.empty()) {
        return value_text(ascii_lower(o.sender));
    }
    if (!o.sasl_user.empty()) {
        return value_text("sasl:" + o.sasl_user);
    }
    return "<>";
}

}  // namespace

void Counts::add(const MessageOutcome& o, std::string_view hour) {
    const auto counters = message_counters(o);
    if (counters.empty()) {
        return;
    }
    const auto outcome = outcome_value(o.action);
    const std::array<std::pair<Dimension, std::string>, 6> values{{
        {Dimension::SenderDomain, value_text(o.sender_domain)},
        {Dimension::Sender, sender_value(o)},
        {Dimension::Stream, value_text(o.stream)},
        {Dimension::Route, value_text(o.route)},
        {Dimension::Tag, value_text(o.tag)},
        {Dimension::Outcome, value_text(outcome, "aborted")},
    }};
    // Per recipient domain: what reached it, and what it did not get.
    std::map<std::string, std::vector<Counter>> by_domain;
    if (o.action == MessageOutcome::Action::Pass) {
        for (const auto& d : o.recipient_domains) {
            auto& c = by_domain[value_text(d)];
            if (c.empty()) {
                add_counter(c, "messages", 1);
            }
            add_counter(c, "recipients", 1);
        }
    }
    for (const auto& r : o.refused) {
        add_counter(by_domain[value_text(address_domain(r.address))],
                    "rcpt_refused:" + value_text(r.reason, "unknown"), 1);
    }
    for (const auto& r : o.removed) {
        add_counter(by_domain[value_text(address_domain(r.address))],
                    "rcpt_removed:" + value_text(r.reason, "unknown"), 1);
    }
    std::lock_guard lock(mutex_);
    for (const auto& [dimension, value] : values) {
        for (const auto& [name, n] : counters) {
            bump(hour, dimension, value, name, n);
        }
    }
    for (const auto& [domain, list] : by_domain) {
        for (const auto& [name, n] : list) {
            bump(hour, Dimension::RecipientDomain, domain, name, n);
        }
    }
}

void Counts::add(const Ingested& report, std::string_view hour) {
    const auto counter = value_text(report.kind, "unknown");
    const auto domain = value_text(ascii_lower(report.sender_domain), "unknown");
    const auto tag = value_text(report.tag, "unknown");
    std::lock_guard lock(mutex_);
    bump(hour, Dimension::SenderDomain, domain, counter, 1);
    bump(hour, Dimension::Tag, tag, counter, 1);
    bump(hour, Dimension::Outcome, "ingested", counter, 1);
}

void Counts::bump(std::string_view hour, Dimension d, std::string_view value,
                  std::string_view counter, std::int64_t n) {
    CountKeyView key{hour, d, value, counter};
    auto it = counts_.find(key);
    if (it == counts_.end() && counts_.size() >= max_keys_ && value != kOther) {
        key.value = kOther;
        folded_ += static_cast<std::uint64_t>(n);
        it = counts_.find(key);
    }
    if (it == counts_.end()) {
        counts_.emplace(
            CountKey{std::string(key.hour), d, std::string(key.value), std::string(key.counter)},
            n);
    } else {
        it->second += n;
    }
}

CountMap Counts::take() {
    std::lock_guard lock(mutex_);
    return std::exchange(counts_, {});
}

void Counts::give_back(CountMap counts) {
    std::lock_guard lock(mutex_);
    for (auto& [key, n] : counts) {
        bump(key.hour, key.dimension, key.value, key.counter, n);
    }
}

std::size_t Counts::keys() const {
    std::lock_guard lock(mutex_);
    return counts_.size();
}

std::uint64_t Counts::folded() const {
    std::lock_guard lock(mutex_);
    return folded_;
}

}  // namespace staffel::core::stats
