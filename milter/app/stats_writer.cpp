// stats_writer.cpp - see stats_writer.hpp.
#include "app/stats_writer.hpp"

#include <ostream>

#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/stats_store.hpp"
#include "app/event_json.hpp"
#include "core/headers.hpp"
#include "core/outcome.hpp"
#include "core/stats/tag.hpp"
#include "core/suppress/suppress.hpp"
#include "core/text.hpp"

namespace staffel::app {

namespace {

std::string_view event_type(std::string_view kind) {
    if (kind == "bounce_hard") {
        return "bounce.hard";
    }
    if (kind == "bounce_soft") {
        return "bounce.soft";
    }
    return kind;  // complaint, unsubscribe
}

std::string first_address_domain(std::string_view value) {
    auto list = core::parse_address_list(value);
    if (!list || list->empty()) {
        return {};
    }
    return core::address_domain(list->front());
}

}  // namespace

OneShotStats::OneShotStats(const core::Policy& policy) : policy_(policy) {}

void OneShotStats::ingested(const core::stats::Ingested& what, std::string_view address,
                            std::int64_t now) {
    if (policy_.stats.enabled) {
        counts_.add(what, core::stats::local_hour(*policy_.general.time_zone, now));
    }
    if (policy_.events.enabled) {
        const core::SuppressionKeys keys(policy_.redis.prefix, policy_.suppression.hash_secret,
                                         &adapters::sha256_factory());
        events_.push_back(simple_event(event_type(what.kind), now, node_name(),
                                       {{"recipient", keys.address_part(address)},
                                        {"sender_domain", what.sender_domain},
                                        {"tag", what.tag}}));
    }
}

void OneShotStats::event(std::string json) {
    if (policy_.events.enabled) {
        events_.push_back(std::move(json));
    }
}

bool OneShotStats::write(std::ostream& err) {
    auto counts = counts_.take();
    if (counts.empty() && events_.empty()) {
        return true;
    }
    adapters::RedisStatsStore store(adapters::redis_options(policy_.redis));
    auto done = store.flush(
        counts, policy_.redis.prefix,
        {policy_.stats.hourly_retention, policy_.stats.daily_retention, policy_.stats.max_values},
        events_, policy_.events.max_length);
    events_.clear();
    if (!done) {
        err << "staffelctl: warning: the statistics of this command are lost: "
            << done.error().message << '\n';
        return false;
    }
    return true;
}

core::stats::Ingested attribute_report(
    const core::Policy& policy, std::string kind, std::string_view original_mail_from,
    const std::vector<std::pair<std::string, std::string>>& original_headers) {
    core::stats::Ingested out;
    out.kind = std::move(kind);
    std::vector<core::HeaderField> fields;
    fields.reserve(original_headers.size());
    for (const auto& [name, value] : original_headers) {
        fields.push_back({name, value});
    }
    // From: first: routes may have rewritten the envelope (VERP, SRS, a
    // bounce domain), the author's domain stays.
    for (const char* name : {"From", "Return-Path"}) {
        for (const auto& f : fields) {
            if (out.sender_domain.empty() && core::iequals(f.name, name)) {
                out.sender_domain = first_address_domain(f.value);
            }
        }
    }
    if (out.sender_domain.empty()) {
        out.sender_domain = core::address_domain(core::trim_space(original_mail_from));
    }
    out.tag = core::message_tag(fields, policy.stats.tag_headers, policy.stats.tag_max_length);
    if (out.tag.empty() && policy.stats.feedback_id.starts_with("{tag}:")) {
        for (const auto& f : fields) {
            if (core::iequals(f.name, "Feedback-ID")) {
                const auto value = core::trim_space(f.value);
                out.tag = core::sanitise_tag(value.substr(0, value.find(':')),
                                             policy.stats.tag_max_length);
                break;
            }
        }
    }
    return out;
}

}  // namespace staffel::app
