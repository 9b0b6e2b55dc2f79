// route_cmd.hpp - `staffelctl route down|up NAME` and `staffelctl route list`.
//
// Purpose: switch a [[route]] off at run time (an outage of the in-house
//   MTA, an ESP incident) and on again. The state is the Redis set
//   PREFIX "routes:down", shared by every staffeld of the site; each one
//   reads it every 250 ms (adapters/redis/route_status), so within a second
//   mail for a route that is down takes the route's fallback (or, without
//   one in service, is tempfailed and retried by the client).
// Output: what changed, or one line per route (name, state, fallback) on
//   stdout; errors on stderr.
// Exit status: 0 done; 1 NAME is not a [[route]] of the policy; 69 Redis
//   cannot be reached; 78 the policy is invalid.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "core/policy.hpp"

namespace staffel::app {

int route_set_down(const core::Policy& policy, const std::string& name, bool down,
                   std::ostream& out, std::ostream& err);
int route_list(const core::Policy& policy, std::ostream& out, std::ostream& err);

// `staffelctl srs encode --route NAME ADDRESS`: the return-path the route
// gives ADDRESS. `staffelctl srs decode ADDRESS`: the original sender of an
// SRS address made by a route of the policy (the route whose bounce domain
// the address is on; else every route with return_path = "srs" is tried).
// Exit status: 0 done; 1 the address is tampered with, expired or not
// SRS (the message says which); 64 no such SRS route; 78 bad policy.
int srs_encode(const core::Policy& policy, const std::string& route, const std::string& address,
               std::int64_t now, std::ostream& out, std::ostream& err);
int srs_decode(const core::Policy& policy, const std::string& address, std::int64_t now,
               std::ostream& out, std::ostream& err);

}  // namespace staffel::app
