// status.cpp - see status.hpp.
#include "core/route/status.hpp"

#include <algorithm>

namespace staffel::core {

const Route* route_in_service(const std::vector<Route>& routes, const Route& wanted,
                              const RouteStatus& status, std::vector<std::string>* path) {
    constexpr int kMaxHops = 8;
    const Route* r = &wanted;
    std::vector<std::string> seen;
    for (int hop = 0; hop <= kMaxHops && r != nullptr; ++hop) {
        if (!status.is_down(r->name)) {
            if (path != nullptr) {
                *path = std::move(seen);
            }
            return r;
        }
        if (std::find(seen.begin(), seen.end(), r->name) != seen.end()) {
            break;  // a circle of fallbacks, all down
        }
        seen.push_back(r->name);
        r = r->fallback.empty() ? nullptr : find_route(routes, r->fallback);
    }
    if (path != nullptr) {
        *path = std::move(seen);
    }
    return nullptr;
}

}  // namespace staffel::core
