// test_tag.cpp - the message tag from [stats] tag_headers (core/stats/tag).
#include <catch2/catch.hpp>

#include "core/stats/tag.hpp"

using namespace staffel::core;

TEST_CASE("tags keep letters, digits and -._+=@/; the rest becomes one _", "[stats][tag]") {
    struct Case {
        std::string in;
        std::size_t max;
        std::string want;
    };
    const std::vector<Case> cases{
        {" nov-2026 \r\n", 64, "nov-2026"},
        {"Spring Sale: 50%!", 64, "Spring_Sale_50"},
        {"a\r\n\tb", 64, "a_b"},
        {"c\xc3\xa9", 64, "c"},
        {"id:with:colons", 64, "id_with_colons"},
        {"x_", 64, "x_"},
        {"abcdef", 3, "abc"},
        {"   ", 64, ""},
        {"::", 64, ""},
        {"user@example.com/path+1=2", 64, "user@example.com/path+1=2"},
    };
    for (const auto& c : cases) {
        INFO("in: " << c.in);
        CHECK(sanitise_tag(c.in, c.max) == c.want);
    }
}

TEST_CASE("the first tag header present wins, names case-insensitive", "[stats][tag]") {
    const std::vector<HeaderField> fields{{"x-mailjet-campaign", " mj-7"},
                                          {"X-Campaign-Id", " nov"}};
    const std::vector<std::string> names{"X-Campaign-Id", "X-Mailjet-Campaign"};
    CHECK(message_tag(fields, names, 64) == "nov");
    const std::vector<std::string> other{"X-Missing", "X-MAILJET-CAMPAIGN"};
    CHECK(message_tag(fields, other, 64) == "mj-7");
    CHECK(message_tag(fields, std::vector<std::string>{"X-None"}, 64).empty());
}
