// event_json.cpp - see event_json.hpp.
#include "app/event_json.hpp"

#include <ctime>
#include <nlohmann/json.hpp>

namespace staffel::app {

namespace {

using nlohmann::json;

json common(std::string_view type, std::int64_t time, std::string_view node) {
    return json{
        {"v", kEventSchemaVersion}, {"type", type}, {"time", rfc3339_utc(time)}, {"node", node}};
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view message_type(core::MessageOutcome::Action a) {
    switch (a) {
        case core::MessageOutcome::Action::Pass:
            return "message.accepted";
        case core::MessageOutcome::Action::Hold:
            return "message.held";
        case core::MessageOutcome::Action::Reject:
            return "message.refused";
        case core::MessageOutcome::Action::Tempfail:
            return "message.deferred";
        case core::MessageOutcome::Action::Aborted:
            return "";
    }
    return "";
}

}  // namespace

std::string rfc3339_utc(std::int64_t time) {
    const auto t = static_cast<std::time_t>(time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::vector<std::string> message_events(const core::MessageOutcome& o, std::string_view node) {
    std::vector<std::string> out;
    if (const auto type = message_type(o.action); !type.empty()) {
        auto j = common(type, o.time, node);
        j["queue_id"] = o.queue_id;
        j["sender"] = o.sender;
        j["sasl_user"] = o.sasl_user;
        j["client_ip"] = o.client_addr;
        j["recipients"] = o.recipients;
        j["stream"] = o.stream;
        j["route"] = o.route;
        j["tag"] = o.tag;
        j["policy"] = o.policy_digest;
        auto sigs = json::array();
        for (const auto& s : o.signatures) {
            sigs.push_back({{"d", s.domain}, {"s", s.selector}, {"a", s.algorithm}});
        }
        j["signatures"] = std::move(sigs);
        j["dmarc"] = o.dmarc;
        if (!o.reason.empty()) {
            j["reason"] = o.reason;
        }
        if (!o.reply.empty()) {
            j["reply"] = o.reply;
        }
        out.push_back(dump(j));
    }
    const auto per_recipient = [&](std::string_view type,
                                   const std::vector<core::RecipientOutcome>& list) {
        for (const auto& r : list) {
            auto j = common(type, o.time, node);
            j["queue_id"] = o.queue_id;
            j["sender"] = o.sender;
            j["recipient"] = r.address;
            j["reason"] = r.reason;
            out.push_back(dump(j));
        }
    };
    per_recipient("recipient.refused", o.refused);
    per_recipient("recipient.removed", o.removed);
    return out;
}

std::string simple_event(std::string_view type, std::int64_t time, std::string_view node,
                         const std::vector<std::pair<std::string, std::string>>& fields) {
    auto j = common(type, time, node);
    for (const auto& [k, v] : fields) {
        j[k] = v;
    }
    return dump(j);
}

}  // namespace staffel::app
