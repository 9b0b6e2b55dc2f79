// test_units.cpp - durations, sizes and rates as policies write them.
#include <catch2/catch.hpp>

#include "core/units.hpp"

using namespace staffel::core;
using namespace std::chrono_literals;

TEST_CASE("durations parse to exact milliseconds", "[units]") {
    struct Case {
        const char* text;
        long long want_ms;
    };
    const Case cases[] = {
        {"250ms", 250},    {"0", 0},           {"30s", 30'000},       {"5m", 300'000},
        {"1h", 3'600'000}, {"1d", 86'400'000}, {"2w", 1'209'600'000}, {"0s", 0},
    };
    for (const auto& c : cases) {
        auto got = parse_duration(c.text);
        INFO("input " << c.text);
        REQUIRE(got.ok());
        CHECK(got->count() == c.want_ms);
    }
}

TEST_CASE("bad durations are refused with a hint", "[units]") {
    for (const char* text :
         {"", "5x", "5", "ms", "-1s", "1.5h", "10 s", "1H", "99999999999999999999s"}) {
        auto got = parse_duration(text);
        INFO("input \"" << text << "\"");
        REQUIRE_FALSE(got.ok());
        CHECK(got.error().message.find(text) != std::string::npos);
    }
    CHECK(parse_duration("5x").error().message.find("expected") != std::string::npos);
}

TEST_CASE("sizes parse in binary and decimal units", "[units]") {
    struct Case {
        const char* text;
        std::uint64_t want;
    };
    const Case cases[] = {
        {"512B", 512}, {"64KiB", 65536},   {"10MiB", 10485760},    {"1GiB", 1073741824},
        {"2kB", 2000}, {"3MB", 3'000'000}, {"1GB", 1'000'000'000}, {"0", 0},
    };
    for (const auto& c : cases) {
        auto got = parse_size(c.text);
        INFO("input " << c.text);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
    }
    for (const char* text : {"10", "10mb", "10 MiB", "MiB", "99999999999GiB", "1.5MiB"}) {
        INFO("input \"" << text << "\"");
        CHECK_FALSE(parse_size(text).ok());
    }
}

TEST_CASE("rates are COUNT/DURATION", "[units]") {
    CHECK(*parse_rate("100/1h") == Rate{100, 1h});
    CHECK(*parse_rate("300/1m") == Rate{300, 1min});
    CHECK(*parse_rate("500/d") == Rate{500, 24h});
    CHECK(*parse_rate("0/1d") == Rate{0, 24h});
    for (const char* text : {"100", "/1h", "100/", "100/0s", "x/1h", "100/1x", "100/-1h"}) {
        INFO("input \"" << text << "\"");
        CHECK_FALSE(parse_rate(text).ok());
    }
}

TEST_CASE("durations and sizes print canonically", "[units]") {
    CHECK(format_duration(250ms) == "250ms");
    CHECK(format_duration(90s) == "90s");
    CHECK(format_duration(2h) == "2h");
    CHECK(format_duration(0ms) == "0s");
    CHECK(format_size(10485760) == "10MiB");
    CHECK(format_size(1000) == "1000B");
}
