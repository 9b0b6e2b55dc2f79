// route_cmd.cpp - see route_cmd.hpp.
#include "app/route_cmd.hpp"

#include <hiredis/hiredis.h>

#include <ostream>
#include <set>

#include "adapters/openssl/hmac.hpp"
#include "adapters/redis/redis_pool.hpp"
#include "adapters/redis/route_status.hpp"
#include "app/exit_codes.hpp"
#include "core/route/srs.hpp"

namespace staffel::app {
namespace {

constexpr int kExitNoRoute = 1;

core::SrsConfig srs_config(const core::Route& r) {
    return {r.bounce_domain, r.srs_secrets, r.srs_max_age_days, '='};
}

adapters::RedisPool pool_for(const core::Policy& p) {
    adapters::RedisOptions o;
    o.address = p.redis.address;
    o.connect_timeout = p.redis.connect_timeout;
    o.command_timeout = p.redis.command_timeout;
    o.username = p.redis.username;
    o.password = p.redis.password;
    o.pool_size = 1;
    return adapters::RedisPool(std::move(o));
}

}  // namespace

int route_set_down(const core::Policy& policy, const std::string& name, bool down,
                   std::ostream& out, std::ostream& err) {
    const auto* route = core::find_route(policy.routing.routes, name);
    if (route == nullptr) {
        err << "staffelctl: " << policy.path << " has no [[route]] named \"" << name << "\"\n";
        return kExitNoRoute;
    }
    auto pool = pool_for(policy);
    const std::string argv[] = {down ? "SADD" : "SREM", adapters::routes_down_key(policy), name};
    auto reply = pool.command(argv);
    if (!reply || reply.value()->type != REDIS_REPLY_INTEGER) {
        err << "staffelctl: "
            << (reply ? std::string("unexpected reply from Redis") : reply.error().message) << '\n';
        return kExitUnavailable;
    }
    const bool changed = reply.value()->integer == 1;
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
    auto pool = pool_for(policy);
    const std::string argv[] = {"SMEMBERS", adapters::routes_down_key(policy)};
    auto reply = pool.command(argv);
    if (!reply || reply.value()->type != REDIS_REPLY_ARRAY) {
        err << "staffelctl: "
            << (reply ? std::string("unexpected reply from Redis") : reply.error().message) << '\n';
        return kExitUnavailable;
    }
    std::set<std::string> down;
    const redisReply& r = *reply.value();
    for (std::size_t i = 0; i < r.elements; ++i) {
        if (r.element[i] != nullptr && r.element[i]->type == REDIS_REPLY_STRING) {
            down.emplace(r.element[i]->str, r.element[i]->len);
        }
    }
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
