// status.hpp - which routes an admin has switched off, and where their
// mail goes instead.
//
// Purpose: `staffelctl route down NAME` marks a route down in Redis (the
//   set PREFIX "routes:down"); every staffeld sees it within a second and
//   sends that route's mail over its declared fallback. The session asks a
//   RouteStatus; the Redis adapter (adapters/redis/route_status) keeps a
//   copy of the set that a background thread refreshes, so no message ever
//   waits on Redis for it.
// Thread-safety: implementations are read from every milter thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/route/route.hpp"

namespace staffel::core {

class RouteStatus {
  public:
    virtual ~RouteStatus() = default;
    [[nodiscard]] virtual bool is_down(std::string_view route) const = 0;
};

// The route to use for `wanted`: itself if up, else its fallback (and that
// one's, at most 8 hops, never in a circle). `path` gets the routes passed
// over. nullptr: it and every fallback are down, or it has none.
const Route* route_in_service(const std::vector<Route>& routes, const Route& wanted,
                              const RouteStatus& status, std::vector<std::string>* path = nullptr);

}  // namespace staffel::core
