// quota_cmd.cpp - see quota_cmd.hpp.
#include "app/quota_cmd.hpp"

#include <algorithm>
#include <ostream>
#include <vector>

#include "app/exit_codes.hpp"
#include "core/quota/quota.hpp"
#include "core/route/streams.hpp"

namespace staffel::app {
namespace {

constexpr int kExitNoLimit = 1;

std::string pad(std::string s, std::size_t width) {
    if (s.size() < width) {
        s.append(width - s.size(), ' ');
    }
    return s;
}

std::vector<core::PlannedCharge> counters(const core::Policy& p, const std::string& key,
                                          std::int64_t now, std::ostream& err) {
    auto planned =
        core::counters_for(p.quotas, *p.general.time_zone, p.redis.prefix, key, now,
                           core::stream_names(p.routing.streams, p.routing.default_stream));
    if (planned.empty()) {
        err << "staffelctl: no [[quota]] limit of " << p.path << " applies to \"" << key << "\" ("
            << p.quotas.size() << " limits declared)\n";
    }
    return planned;
}

}  // namespace

int quota_show(const core::Policy& policy, core::CounterStore& store, const std::string& key,
               std::int64_t now, std::ostream& out, std::ostream& err) {
    const auto planned = counters(policy, key, now, err);
    if (planned.empty()) {
        return kExitNoLimit;
    }
    std::vector<core::CounterCharge> charges;
    for (const auto& p : planned) {
        charges.push_back(p.charge);
    }
    auto states = store.read(charges);
    if (!states) {
        err << "staffelctl: " << states.error().message << '\n';
        return kExitUnavailable;
    }
    const auto& zone = *policy.general.time_zone;
    std::size_t width = 5;
    for (const auto& p : planned) {
        width = std::max(width, p.limit->name.size() + 2);
    }
    out << pad("LIMIT", width) << pad("KEY", 15) << pad("USED", 12) << pad("LIMIT", 12)
        << "RESETS\n";
    for (std::size_t i = 0; i < planned.size() && i < states->size(); ++i) {
        const auto& p = planned[i];
        const auto& s = (*states)[i];
        std::string resets;
        if (p.limit->window == core::QuotaWindow::Rolling) {
            const auto drained_us =
                s.now_us + s.used * p.charge.interval_us;  // when every unit has drained
            resets = s.used == 0
                         ? "now (empty)"
                         : core::format_local(zone, (drained_us + 999999) / 1000000) +
                               " (rolling, " + core::format_duration(p.limit->limit.per) + ")";
        } else {
            resets = core::format_local(zone, p.resets_at);
        }
        std::string limit = std::to_string(p.effective_limit);
        if (p.limit->action == core::QuotaAction::Log) {
            limit += " (log)";
        }
        out << pad(p.limit->name, width) << pad(std::string(core::to_string(p.limit->key)), 15)
            << pad(std::to_string(s.used), 12) << pad(limit, 12) << resets << '\n';
    }
    return 0;
}

int quota_reset(const core::Policy& policy, core::CounterStore& store, const std::string& key,
                std::int64_t now, std::ostream& out, std::ostream& err) {
    const auto planned = counters(policy, key, now, err);
    if (planned.empty()) {
        return kExitNoLimit;
    }
    std::vector<std::string> keys;
    for (const auto& p : planned) {
        keys.push_back(p.charge.key);
    }
    auto removed = store.reset(keys);
    if (!removed) {
        err << "staffelctl: " << removed.error().message << '\n';
        return kExitUnavailable;
    }
    for (const auto& p : planned) {
        out << "reset " << p.limit->name << " (" << core::to_string(p.limit->key) << " "
            << core::key_escape(p.identity) << ")\n";
    }
    out << *removed << " of " << keys.size() << " counters existed and were cleared\n";
    return 0;
}

}  // namespace staffel::app
