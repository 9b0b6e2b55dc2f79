// test_status.cpp - core/route/status: which route carries mail while
// routes are marked down (fallback chains, circles, the hop limit).
#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "core/route/status.hpp"

using namespace staffel::core;

namespace {

struct DownSet : RouteStatus {
    std::set<std::string, std::less<>> down;
    [[nodiscard]] bool is_down(std::string_view route) const override {
        return down.find(route) != down.end();
    }
};

Route route(std::string name, std::string fallback = {}) {
    Route r;
    r.name = std::move(name);
    r.fallback = std::move(fallback);
    return r;
}

}  // namespace

TEST_CASE("a route in service carries its own mail; a down one passes it to its fallback",
          "[route][status]") {
    const std::vector<Route> routes{route("inhouse", "esp"), route("esp", "backup"),
                                    route("backup")};
    DownSet status;
    std::vector<std::string> path{"stale"};
    CHECK(route_in_service(routes, routes[0], status, &path) == &routes[0]);
    CHECK(path.empty());
    status.down = {"inhouse"};
    CHECK(route_in_service(routes, routes[0], status, &path) == &routes[1]);
    CHECK(path == std::vector<std::string>{"inhouse"});
    status.down = {"inhouse", "esp"};
    CHECK(route_in_service(routes, routes[0], status, &path) == &routes[2]);
    CHECK(path == std::vector<std::string>{"inhouse", "esp"});
    status.down = {"inhouse", "esp", "backup"};
    CHECK(route_in_service(routes, routes[0], status, &path) == nullptr);
    CHECK(path == std::vector<std::string>{"inhouse", "esp", "backup"});
    // Without a path to fill in.
    CHECK(route_in_service(routes, routes[1], status) == nullptr);
}

TEST_CASE("fallbacks in a circle, all down, end without a route", "[route][status]") {
    const std::vector<Route> routes{route("a", "b"), route("b", "a")};
    DownSet status;
    status.down = {"a", "b"};
    std::vector<std::string> path;
    CHECK(route_in_service(routes, routes[0], status, &path) == nullptr);
    CHECK(path == std::vector<std::string>{"a", "b"});
    status.down = {"a"};
    CHECK(route_in_service(routes, routes[0], status, &path) == &routes[1]);
}

TEST_CASE("a fallback chain longer than eight hops is not followed to its end", "[route][status]") {
    std::vector<Route> routes;
    for (int i = 0; i < 12; ++i) {
        routes.push_back(route("r" + std::to_string(i), i < 11 ? "r" + std::to_string(i + 1) : ""));
    }
    DownSet status;
    for (int i = 0; i < 11; ++i) {
        status.down.insert("r" + std::to_string(i));
    }
    std::vector<std::string> path;
    CHECK(route_in_service(routes, routes[0], status, &path) == nullptr);  // r11 is 11 hops away
    CHECK(path.size() == 9);
    // Within reach, the chain is followed.
    CHECK(route_in_service(routes, routes[4], status, &path) == &routes[11]);
}
