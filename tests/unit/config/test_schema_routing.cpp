// test_schema_routing.cpp - config/schema_routing: [routing], [[stream]]
// and [[route]] references checked at load, with locations.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "../policy_text.hpp"
#include "config/loader.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::load_error;
using test::policy_from;

}  // namespace

TEST_CASE("routing references are checked at load, with locations", "[routing][config]") {
    CHECK(load_error("[routing]\ndefault_route = \"nowhere\"\n") ==
          "t.toml: error: routing.default_route: no [[route]] is named \"nowhere\"");
    CHECK(load_error("[[stream]]\nname = \"b\"\nheaders = [\"List-Id\"]\nroute = \"esp\"\n") ==
          "t.toml:1:1: error: stream.route: no [[route]] is named \"esp\"");
    CHECK_THAT(load_error("[[stream]]\nname = \"b\"\n"),
               Catch::Contains("a rule needs at least one condition"));
    CHECK_THAT(load_error("[[route]]\nname = \"r\"\n"),
               Catch::Contains("bounce_domain is required"));
    CHECK_THAT(load_error("[[route]]\nname = \"r\"\nreturn_path = \"keep\"\n[[route]]\n"
                          "name = \"r\"\nreturn_path = \"keep\"\n"),
               Catch::Contains("declared twice"));
    CHECK_THAT(load_error("[[route]]\nname = \"r\"\nreturn_path = \"keep\"\nfallback = \"r\"\n"),
               Catch::Contains("is not another [[route]]"));
    CHECK_THAT(load_error("[[route]]\nname = \"r\"\nreturn_path = \"keep\"\n"
                          "dkim_keys = [\"example.com/s1\"]\n"),
               Catch::Contains("is not a [[dkim.keys]] entry"));
    CHECK_THAT(load_error("[[route]]\nname = \"r\"\nbounce_domain = \"b.example\"\n"
                          "add_headers = [\"X-A: {bogus}\"]\n"),
               Catch::Contains("unknown placeholder {bogus}"));
    // With rules, quotas and suppression must name streams that exist.
    CHECK_THAT(load_error("[[stream]]\nname = \"news\"\nheaders = [\"List-Id\"]\n"
                          "[[quota]]\nname = \"q\"\nlimit = \"5/1d\"\nstreams = [\"bulk\"]\n"),
               Catch::Contains("quota.streams: no [[stream]] rule names \"bulk\""));
    CHECK_THAT(load_error("[[stream]]\nname = \"news\"\nheaders = [\"List-Id\"]\n[suppression]\n"),
               Catch::Contains("suppression.unsubscribe_streams"));
    CHECK(
        policy_from("[[stream]]\nname = \"news\"\nheaders = [\"List-Id\"]\n[suppression]\n"
                    "unsubscribe_streams = [\"news\"]\n"));
}
