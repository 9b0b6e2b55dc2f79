// test_endpoints.cpp - milter socket specs and Redis addresses.
#include <catch2/catch.hpp>

#include "core/endpoints.hpp"

using namespace staffel::core;

TEST_CASE("milter socket specs", "[endpoints]") {
    struct Case {
        const char* text;
        const char* want;  // libmilter spelling, or nullptr for an error
    };
    const Case cases[] = {
        {"unix:/run/staffel/staffeld.sock", "unix:/run/staffel/staffeld.sock"},
        {"local:/tmp/s.sock", "unix:/tmp/s.sock"},
        {"inet:8891@127.0.0.1", "inet:8891@127.0.0.1"},
        {"inet:8891", "inet:8891@127.0.0.1"},
        {"inet6:8891@::1", "inet6:8891@::1"},
        {"unix:relative.sock", nullptr},
        {"inet:0@127.0.0.1", nullptr},
        {"inet:70000@127.0.0.1", nullptr},
        {"inet:port@127.0.0.1", nullptr},
        {"inet:25@bad host", nullptr},
        {"tcp:25@127.0.0.1", nullptr},
        {"/run/s.sock", nullptr},
        {"", nullptr},
    };
    for (const auto& c : cases) {
        INFO("input \"" << c.text << "\"");
        auto got = parse_milter_socket(c.text);
        if (c.want == nullptr) {
            REQUIRE_FALSE(got.ok());
            CHECK(got.error().message.find("expected") != std::string::npos);
        } else {
            REQUIRE(got.ok());
            CHECK(got->to_libmilter() == c.want);
        }
    }
    const std::string long_path = "unix:/" + std::string(120, 'a');
    CHECK_FALSE(parse_milter_socket(long_path).ok());
}

TEST_CASE("redis addresses", "[endpoints]") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"127.0.0.1:6379", "127.0.0.1:6379"},
        {"localhost:6380", "localhost:6380"},
        {"[::1]:6379", "[::1]:6379"},
        {"unix:/run/redis/redis.sock", "unix:/run/redis/redis.sock"},
        {"127.0.0.1", nullptr},
        {"127.0.0.1:", nullptr},
        {"127.0.0.1:99999", nullptr},
        {"::1:6379", nullptr},
        {"unix:redis.sock", nullptr},
        {":6379", nullptr},
    };
    for (const auto& c : cases) {
        INFO("input \"" << c.text << "\"");
        auto got = parse_redis_address(c.text);
        if (c.want == nullptr) {
            CHECK_FALSE(got.ok());
        } else {
            REQUIRE(got.ok());
            CHECK(got->to_string() == c.want);
        }
    }
}
