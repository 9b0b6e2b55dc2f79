// route_cmd.cpp - see route_cmd.hpp.
#include "app/route_cmd.hpp"

#include <ctime>
#include <ostream>

#include "adapters/openssl/hmac.hpp"
#include "adapters/redis/route_store.hpp"
#include "app/event_json.hpp"
#include "app/exit_codes.hpp"
#include "app/stats_writer.hpp"
#include "core/route/srs.hpp"

namespace staffel::app {
namespace {

constexpr int kExitNoRoute = 1;

core::SrsConfig srs_config(const core::Route& r) {
    return {r.bounce_domain, r.srs_secrets, r.srs_max_age_days, '='};
}

// Says why Redis gave no answer; the caller exits kExitUnavailable.
template <typename T>
void report_failure(const adapters::RouteStoreReply<T>& reply, std::ostream& err) {
    err << "staffelctl: "
        << (reply.unexpected_reply ? std::string("unexpected reply from Redis") : reply.error)
        << '\n';
}

}  // namespace

int route_set_down(const core::Policy& policy, const std::string& name, bool down,
                   std::ostream& out, std::ostream& err) {
    const auto* route = core::find_route(policy.routing.routes, name);
    if (route == nullptr) {
        err << "staffelctl: " << policy.path << " has no [[route]] named \"" << name << "\"\n";
        return kExitNoRoute;
    }
    adapters::RouteStatusStore store(policy.redis);
    auto marked = store.mark(name, down);
    if (!marked) {
        report_failure(marked, err);
        return kExitUnavailable;
    }
    const bool changed = *marked.value;
    if (changed) {
        OneShotStats events(policy);
        events.event(simple_event(down ? "route.down" : "route.up", std::time(nullptr), node_name(),
                                  {{"route", name}, {"fallback", route->fallback}}));
        events.write(err);
    }
    out << "route " << name << (down ? " is down" : " is up")
        << (changed ? "" : " (it was already)");
    if (down) {
        out << (route->fallback.empty()
                    ? "; it has no fallback: its mail is tempfailed until it is up again"
                    : "; its mail takes route " + route->fallback);
    }
    out << '\n';
    return 0;
}

int route_list(const core::Policy& policy, std::ostream& out, std::ostream& err) {
    adapters::RouteStatusStore store(policy.redis);
    auto listed = store.list_down();
    if (!listed) {
        report_failure(listed, err);
        return kExitUnavailable;
    }
    const auto& down = *listed.value;
    out << "ROUTE\tSTATE\tFALLBACK\tBOUNCE_DOMAIN\n";
    for (const auto& route : policy.routing.routes) {
        out << route.name << '\t' << (down.count(route.name) != 0 ? "down" : "up") << '\t'
            << (route.fallback.empty() ? "-" : route.fallback) << '\t'
            << (route.bounce_domain.empty() ? "-" : route.bounce_domain) << '\n';
    }
    for (const auto& name : down) {
        if (core::find_route(policy.routing.routes, name) == nullptr) {
            err << "staffelctl: note: \"" << name
                << "\" is marked down in Redis but is no [[route]] of this policy\n";
        }
    }
    return 0;
}

int srs_encode(const core::Policy& policy, const std::string& route, const std::string& address,
               std::int64_t now, std::ostream& out, std::ostream& err) {
    const auto* r = core::find_route(policy.routing.routes, route);
    if (r == nullptr || r->return_path != core::ReturnPath::Srs) {
        err << "staffelctl: " << policy.path << " has no [[route]] \"" << route
            << "\" with return_path = \"srs\"\n";
        return kExitUsage;
    }
    auto got = core::srs_forward(srs_config(*r), address, now, adapters::hmac_sha1);
    if (!got) {
        err << "staffelctl: " << got.error().message << '\n';
        return kExitNoRoute;
    }
    out << *got << '\n';
    return 0;
}

int srs_decode(const core::Policy& policy, const std::string& address, std::int64_t now,
               std::ostream& out, std::ostream& err) {
    std::vector<const core::Route*> candidates;
    const auto at = address.rfind('@');
    const std::string domain = at == std::string::npos ? std::string() : address.substr(at + 1);
    for (const auto& r : policy.routing.routes) {
        if (r.return_path == core::ReturnPath::Srs && core::iequals(r.bounce_domain, domain)) {
            candidates.push_back(&r);
        }
    }
    if (candidates.empty()) {
        for (const auto& r : policy.routing.routes) {
            if (r.return_path == core::ReturnPath::Srs) {
                candidates.push_back(&r);
            }
        }
    }
    if (candidates.empty()) {
        err << "staffelctl: " << policy.path << " has no [[route]] with return_path = \"srs\"\n";
        return kExitUsage;
    }
    std::string why;
    for (const auto* r : candidates) {
        auto got = core::srs_reverse(srs_config(*r), address, now, adapters::hmac_sha1);
        if (got) {
            out << *got << '\n';
            return 0;
        }
        why = got.error().message;
    }
    err << "staffelctl: " << address << ": " << why << '\n';
    return kExitNoRoute;
}

}  // namespace staffel::app
