// test_dsn_status.cpp - what a DSN's status code means for the suppression
// list (core/suppress/dsn_status.hpp): the pattern grammar, the defaults
// (an ESP's: 4.x.x and a full mailbox soft, policy refusals ignored) and
// the most specific pattern winning over the policy's additions.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "core/suppress/dsn_status.hpp"

using namespace staffel;
using namespace staffel::core;

TEST_CASE("dsn_status: patterns are CLASS.SUBJECT.DETAIL with * for the tail", "[suppress][dsn]") {
    struct Case {
        const char* text;
        bool ok;
    };
    const Case cases[] = {
        {"5.1.1", true},  {"5.2.*", true},  {"4.*.*", true},    {"5.7.26", true},
        {"4.4.7", true},  {"5.*.1", false}, {"*.*.*", false},   {"2.0.0", false},
        {"6.1.1", false}, {"5.1", false},   {"5.1.1.1", false}, {"5.1.1000", false},
        {"5..1", false},  {"5.x.1", false}, {"", false},        {" 5.1.1", false},
    };
    for (const auto& c : cases) {
        INFO("pattern \"" << c.text << "\"");
        CHECK(parse_dsn_pattern(c.text).ok() == c.ok);
    }
}

TEST_CASE("dsn_status: the defaults are an ESP's", "[suppress][dsn]") {
    const auto rules = default_dsn_status_rules();
    struct Case {
        const char* status;
        DsnVerdict want;
        const char* pattern;
    };
    const Case cases[] = {
        {"5.1.1", DsnVerdict::HardBounce, "5.*.*"},   // no such user
        {"5.1.10", DsnVerdict::HardBounce, "5.*.*"},  // null MX
        {"5.2.1", DsnVerdict::HardBounce, "5.*.*"},   // mailbox disabled
        {"5.2.2", DsnVerdict::SoftBounce, "5.2.2"},   // mailbox full
        {"5.3.4", DsnVerdict::Ignore, "5.3.4"},       // message too big for the system
        {"5.7.1", DsnVerdict::Ignore, "5.7.*"},       // refused by policy: the sender's fault
        {"5.7.26", DsnVerdict::Ignore, "5.7.*"},      // DMARC
        {"4.2.2", DsnVerdict::SoftBounce, "4.*.*"},
        {"4.7.1", DsnVerdict::SoftBounce, "4.*.*"},
        {"2.0.0", DsnVerdict::Ignore, ""},  // not a failure
        {"", DsnVerdict::Ignore, ""},
    };
    for (const auto& c : cases) {
        INFO("status " << c.status);
        const auto got = classify_dsn_status(rules, c.status);
        CHECK(got.verdict == c.want);
        CHECK(got.pattern == c.pattern);
    }
}

TEST_CASE("dsn_status: the policy's entries add to the defaults, the most specific wins",
          "[suppress][dsn]") {
    auto r = config::load_policy_text(
        "[suppression]\n"
        "dsn_status = { \"5.7.1\" = \"hard_bounce\", \"5.2.*\" = \"ignore\", "
        "\"4.4.7\" = \"hard_bounce\" }\n",
        "p.toml");
    for (const auto& e : r.errors) {
        FAIL(e.to_string());
    }
    const auto& rules = r.policy->suppression.dsn_status;
    struct Case {
        const char* status;
        DsnVerdict want;
    };
    const Case cases[] = {
        {"5.7.1", DsnVerdict::HardBounce},  // listed
        {"5.7.2", DsnVerdict::Ignore},      // the default 5.7.*
        {"5.2.1", DsnVerdict::Ignore},      // 5.2.* beats 5.*.*
        {"5.2.2", DsnVerdict::SoftBounce},  // the default 5.2.2 beats 5.2.*
        {"4.4.7", DsnVerdict::HardBounce}, {"4.4.1", DsnVerdict::SoftBounce},
        {"5.1.1", DsnVerdict::HardBounce},
    };
    for (const auto& c : cases) {
        INFO("status " << c.status);
        CHECK(classify_dsn_status(rules, c.status).verdict == c.want);
    }
    // Written as a table of its own, a default can be overridden.
    auto t = config::load_policy_text("[suppression.dsn_status]\n\"5.2.2\" = \"hard_bounce\"\n",
                                      "p.toml");
    INFO((t.errors.empty() ? std::string() : t.errors.front().to_string()));
    REQUIRE(t.policy);
    CHECK(classify_dsn_status(t.policy->suppression.dsn_status, "5.2.2").verdict ==
          DsnVerdict::HardBounce);
}

TEST_CASE("dsn_status: a bad entry is an error at its own line:column", "[suppress][dsn]") {
    struct Case {
        const char* text;
        const char* want;
    };
    const Case cases[] = {
        {"[suppression]\ndsn_status = { \"5.1.1\" = \"hard_bounce\", \"5.x.1\" = \"ignore\" }\n",
         "p.toml:2:41: error: suppression.dsn_status: \"5.x.1\" is not a status pattern"},
        {"[suppression.dsn_status]\n\"5.1.1\" = \"hard_bounce\"\n\"5.2.2\" = \"soft\"\n",
         "p.toml:3:11: error: suppression.dsn_status: \"5.2.2\" = \"soft\": expected "
         "\"hard_bounce\", \"soft_bounce\" or \"ignore\""},
        {"[suppression.dsn_status]\n\"5.2.2\" = 1\n",
         "p.toml:2:11: error: suppression.dsn_status: \"5.2.2\" = an integer: expected"},
        {"[suppression]\ndsn_status = \"5.1.1\"\n",
         "p.toml:2:14: error: suppression.dsn_status: expected a table"},
    };
    for (const auto& c : cases) {
        auto r = config::load_policy_text(c.text, "p.toml");
        REQUIRE(r.errors.size() == 1);
        INFO(r.errors[0].to_string());
        CHECK_THAT(r.errors[0].to_string(), Catch::StartsWith(c.want));
    }
}
