// test_net.cpp - core/net: networks in CIDR form and which client
// addresses they contain.
#include <catch2/catch.hpp>
#include <string>

#include "core/net.hpp"

using namespace staffel::core;

TEST_CASE("networks", "[net]") {
    CHECK(parse_network("127.0.0.0/8")->contains("127.1.2.3"));
    CHECK_FALSE(parse_network("127.0.0.0/8")->contains("128.0.0.1"));
    CHECK(parse_network("192.0.2.0/24")->contains("::ffff:192.0.2.7"));
    CHECK(parse_network("2001:db8::/32")->contains("2001:db8:1::1"));
    CHECK_FALSE(parse_network("2001:db8::/32")->contains("192.0.2.1"));
    CHECK_FALSE(parse_network("0.0.0.0/0")->contains("not an address"));
    CHECK(parse_network("0.0.0.0/0")->contains("8.8.8.8"));
    CHECK(parse_network("10.1.2.3")->prefix == 32);
    CHECK_FALSE(parse_network("10.1.2.3/33").ok());
    CHECK_FALSE(parse_network("10.1.2.3/").ok());
    CHECK_FALSE(parse_network("example.com").ok());
}

TEST_CASE("networks refuse host bits and print in canonical form", "[net]") {
    const auto bad = parse_network("10.0.0.1/8");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("10.0.0.0/8"));
    CHECK(parse_network("2001:DB8::/32")->to_string() == "2001:db8::/32");
    CHECK(parse_network("192.0.2.7")->to_string() == "192.0.2.7/32");
    CHECK(parse_network("10.0.0.0/8")->to_string() == "10.0.0.0/8");
    CHECK_FALSE(parse_network("10.0.0.0/8")->contains("11.0.0.1"));
}
