// stats_rows.cpp - see stats_rows.hpp.
#include "app/stats_rows.hpp"

#include <nlohmann/json.hpp>

namespace staffel::app {

std::int64_t sum_prefix(const Counters& c, std::string_view prefix) {
    std::int64_t n = 0;
    for (auto it = c.lower_bound(std::string(prefix)); it != c.end() && it->first.starts_with(prefix);
         ++it) {
        n += it->second;
    }
    return n;
}

std::int64_t counter(const Counters& c, const std::string& name) {
    const auto it = c.find(name);
    return it == c.end() ? 0 : it->second;
}

StatsRow stats_row(const std::string& value, const Counters& c) {
    StatsRow r;
    r.value = value;
    r.counters = c;
    r.messages = counter(c, "messages");
    r.recipients = counter(c, "recipients");
    r.held = counter(c, "held");
    r.refused = sum_prefix(c, "refused:");
    r.deferred = sum_prefix(c, "deferred:");
    r.rcpt_refused = sum_prefix(c, "rcpt_refused:") + sum_prefix(c, "rcpt_removed:");
    r.bounces = counter(c, "bounce_hard") + counter(c, "bounce_soft");
    r.complaints = counter(c, "complaint");
    r.unsubscribes = counter(c, "unsubscribe");
    if (r.recipients > 0) {
        r.bounce_rate = static_cast<double>(r.bounces) / static_cast<double>(r.recipients);
        r.complaint_rate = static_cast<double>(r.complaints) / static_cast<double>(r.recipients);
    }
    return r;
}

nlohmann::json stats_row_json(const StatsRow& r) {
    return nlohmann::json{{"value", r.value},
                          {"counters", r.counters},
                          {"messages", r.messages},
                          {"recipients", r.recipients},
                          {"held", r.held},
                          {"refused", r.refused},
                          {"deferred", r.deferred},
                          {"recipients_refused", r.rcpt_refused},
                          {"bounces", r.bounces},
                          {"complaints", r.complaints},
                          {"unsubscribes", r.unsubscribes},
                          {"bounce_rate", r.bounce_rate},
                          {"complaint_rate", r.complaint_rate},
                          {"complaint_rate_over_limit", r.complaint_rate > kComplaintLimit}};
}

}  // namespace staffel::app
