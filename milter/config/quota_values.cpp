// quota_values.cpp - see quota_values.hpp.
#include "config/quota_values.hpp"

#include <chrono>
#include <cstdio>
#include <utility>

namespace staffel::config {

core::Result<std::string> quota_name(std::string_view text) {
    const bool ok =
        !text.empty() && text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || c == '.';
        });
    if (!ok) {
        return core::make_error("bad limit name \"" + std::string(text) +
                                "\" (letters, digits, '-', '_', '.'; at most 64)");
    }
    return std::string(text);
}

core::Result<core::QuotaKey> quota_key(std::string_view text) {
    for (auto k :
         {core::QuotaKey::Sender, core::QuotaKey::SenderDomain, core::QuotaKey::SaslUser,
          core::QuotaKey::ClientIp, core::QuotaKey::Stream, core::QuotaKey::RecipientDomain}) {
        if (core::to_string(k) == text) {
            return k;
        }
    }
    return core::make_error("unknown key \"" + std::string(text) + "\"");
}

core::Result<core::QuotaAction> quota_action(std::string_view text) {
    for (auto a : {core::QuotaAction::Tempfail, core::QuotaAction::Reject, core::QuotaAction::Hold,
                   core::QuotaAction::Log}) {
        if (core::to_string(a) == text) {
            return a;
        }
    }
    return core::make_error("unknown action \"" + std::string(text) + "\"");
}

core::Result<core::QuotaCounts> quota_counts(std::string_view text) {
    if (text == "recipients") {
        return core::QuotaCounts::Recipients;
    }
    if (text == "messages") {
        return core::QuotaCounts::Messages;
    }
    return core::make_error("unknown count \"" + std::string(text) + "\"");
}

core::Result<std::optional<bool>> quota_window(std::string_view text) {
    if (text == "rolling") {
        return std::optional<bool>(true);
    }
    if (text == "calendar") {
        return std::optional<bool>(false);
    }
    return core::make_error("unknown window \"" + std::string(text) + "\"");
}

core::Result<QuotaRate> quota_rate(std::string_view text) {
    using namespace std::chrono_literals;
    const auto slash = text.find('/');
    if (slash != std::string_view::npos) {
        const auto unit = text.substr(slash + 1);
        const auto count = text.substr(0, slash);
        const std::pair<std::string_view, std::string_view> words[] = {
            {"day", "1d"}, {"week", "1w"}, {"month", "30d"}, {"1mo", "30d"}};
        for (const auto& [word, as] : words) {
            if (unit == word) {
                auto r = core::parse_rate(std::string(count) + "/" + std::string(as));
                if (!r) {
                    return r.error();
                }
                QuotaRate q{*r, word == "day"    ? core::QuotaWindow::Day
                                : word == "week" ? core::QuotaWindow::Week
                                                 : core::QuotaWindow::Month};
                return q;
            }
        }
    }
    auto r = core::parse_rate(text);
    if (!r) {
        return r.error();
    }
    if (r->count == 0 || r->count > 1000000000 || r->per.count() <= 0) {
        return core::make_error("rate \"" + std::string(text) + "\" is out of range");
    }
    QuotaRate q{*r, core::QuotaWindow::Rolling};
    if (r->per == std::chrono::milliseconds(24h)) {
        q.window = core::QuotaWindow::Day;
    } else if (r->per == std::chrono::milliseconds(24h * 7)) {
        q.window = core::QuotaWindow::Week;
    }
    return q;
}

core::Result<std::int64_t> local_date(const toml::node& n) {
    if (const auto* d = n.as_date()) {
        const auto& v = d->get();
        return core::days_from_civil(v.year, v.month, v.day);
    }
    if (const auto* s = n.as_string()) {
        int y = 0;
        unsigned m = 0;
        unsigned d = 0;
        char tail = 0;
        if (std::sscanf(s->get().c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) == 3 && m >= 1 &&
            m <= 12 && d >= 1 && d <= 31) {
            const auto days = core::days_from_civil(y, static_cast<int>(m), static_cast<int>(d));
            const auto back = core::civil_from_days(days);
            if (back.month == static_cast<int>(m) && back.day == static_cast<int>(d)) {
                return days;
            }
        }
        return core::make_error("bad date \"" + s->get() + "\"");
    }
    return core::make_error("got a value that is neither a date nor a string");
}

std::optional<std::string> finish_quota(core::Policy& p) {
    using namespace std::chrono_literals;
    auto& q = p.quotas.back();
    for (std::size_t i = 0; i + 1 < p.quotas.size(); ++i) {
        if (p.quotas[i].name == q.name) {
            return "a limit named \"" + q.name + "\" is already declared (at " + p.quotas[i].where +
                   "); names must be unique, they name the counters";
        }
    }
    if (q.key == core::QuotaKey::RecipientDomain) {
        // Charged one recipient at a time at RCPT, before the header is seen.
        if (q.counts == core::QuotaCounts::Messages) {
            return std::string(
                "key = \"recipient_domain\" counts recipients (each is charged at RCPT); "
                "counts = \"messages\" is not possible here");
        }
        if (q.action == core::QuotaAction::Hold) {
            return std::string(
                "key = \"recipient_domain\" refuses single recipients at RCPT; action = "
                "\"hold\" (the whole message) is not possible here: use \"tempfail\", "
                "\"reject\" or \"log\"");
        }
        if (!q.streams.empty()) {
            return std::string(
                "key = \"recipient_domain\" is decided at RCPT, before the stream is known; "
                "streams is not possible here");
        }
    }
    if (q.rolling_requested) {
        if (*q.rolling_requested) {
            q.window = core::QuotaWindow::Rolling;
        } else if (q.window == core::QuotaWindow::Rolling) {
            return std::string("window = \"calendar\" needs a period of 1d, 1w or month");
        }
    }
    if (q.window == core::QuotaWindow::Rolling) {
        const auto per_us = static_cast<std::int64_t>(q.limit.per.count()) * 1000;
        const auto interval_us = per_us / static_cast<std::int64_t>(q.limit.count);
        if (interval_us < 1) {
            return std::string("the rate is finer than one per microsecond");
        }
        // The store keeps times in microseconds as exact doubles (2^52).
        if ((q.capacity() + 1) > (std::int64_t{1} << 52) / interval_us) {
            return std::string(
                "burst times the rate's interval spans more than a century; "
                "use a smaller burst or a calendar quota");
        }
    } else if (q.burst != 0) {
        return std::string(
            "burst applies to rolling rates only (a calendar quota admits its whole limit)");
    }
    if (q.warmup) {
        const auto& w = *q.warmup;
        if (q.window != core::QuotaWindow::Day) {
            return std::string("a warm-up ramp needs a daily quota (limit = \"N/1d\")");
        }
        if (!w.start_day) {
            return std::string("a warm-up ramp needs warmup_start");
        }
        const bool by_factor = w.initial != 0 || w.factor != 1.0;
        if (by_factor == !w.schedule.empty()) {
            return std::string(
                "a warm-up ramp needs either warmup_initial and warmup_factor, or "
                "warmup_schedule");
        }
        if (by_factor && (w.initial == 0 || w.factor == 1.0)) {
            return std::string(
                "a warm-up ramp by factor needs both warmup_initial and "
                "warmup_factor");
        }
    }
    return std::nullopt;
}

}  // namespace staffel::config
