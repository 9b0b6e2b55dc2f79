// test_spf_preflight.cpp - the SPF pre-flight of a Session over the real
// libspf2 checker (a private DNS zone) and staffeld's lazily started one:
// each SPF result leads to the route's on_spf_fail action.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../core/fake_message_edits.hpp"
#include "../policy_text.hpp"
#include "adapters/spf2/spf_checker.hpp"
#include "app/runtime.hpp"
#include "config/loader.hpp"
#include "core/session.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;

struct NullLogger : Logger {
    std::vector<std::string> lines;
    void log(LogLevel, std::string_view m) override { lines.emplace_back(m); }
    [[nodiscard]] bool enabled(LogLevel) const override { return true; }
};

using Edits = test::FakeMessageEdits;

}  // namespace

TEST_CASE("SPF pre-flight: each result from the zone leads to the route's action",
          "[routing][spf]") {
    using Z = adapters::Spf2Checker;
    auto zone = Z::with_zone({
        {"pass.example", "TXT", "v=spf1 ip4:192.0.2.10 -all"},
        {"fail.example", "TXT", "v=spf1 ip4:198.51.100.1 -all"},
        {"soft.example", "TXT", "v=spf1 ~all"},
        {"none.example", "A", "198.51.100.7"},
        {"temp.example", "TXT", "", Z::DnsStatus::TryAgain},
    });
    auto policy = [](const std::string& action) {
        return policy_from(
            "[routing]\ndefault_route = \"inhouse\"\n"
            "spf_domains = [\"*.example\", \"pass.example\"]\n"
            "[[route]]\nname = \"inhouse\"\nreturn_path = \"keep\"\n"
            "bounce_domain = \"bounce.org.test\"\negress_ips = [\"192.0.2.10\"]\n"
            "on_spf_fail = \"" +
            action +
            "\"\n"
            "[[route]]\nname = \"esp\"\nbounce_domain = \"bounce.esp.test\"\n");
    };
    struct Case {
        const char* domain;
        const char* action;
        const char* want_sender;  // "" = unchanged
        const char* want_log;
    };
    const Case cases[] = {
        {"pass.example", "bounce_domain", "", "spf=pass"},
        {"fail.example", "bounce_domain", "bounces@bounce.org.test",
         "spf=fail:192.0.2.10->bounce_domain"},
        {"soft.example", "bounce_domain", "bounces@bounce.org.test",
         "spf=softfail:192.0.2.10->bounce_domain"},
        {"none.example", "bounce_domain", "bounces@bounce.org.test",
         "spf=none:192.0.2.10->bounce_domain"},
        {"temp.example", "bounce_domain", "bounces@bounce.org.test",
         "spf=temperror:192.0.2.10->bounce_domain"},
        {"fail.example", "report", "", "spf=fail:192.0.2.10 "},
        {"fail.example", "route:esp", "bounces@bounce.esp.test",
         "route=esp(spf:inhouse),from=bounces@bounce.esp.test spf=fail:192.0.2.10->route:esp"},
        {"other.test", "bounce_domain", "", "route=inhouse "},  // not in spf_domains
    };
    for (const auto& c : cases) {
        CAPTURE(c.domain, c.action);
        auto p = policy(c.action);
        NullLogger log;
        Session s([&] { return p; }, log);
        s.spf_checker(zone.get());
        s.content_negotiated(true);
        s.mail_from({std::string("app@") + c.domain, "", "QID"});
        s.rcpt_to("<bob@example.net>");
        s.header("From", std::string(" app@") + c.domain);
        s.end_of_headers();
        Edits edits;
        auto v = s.end_of_message("QID", &edits);
        CHECK(v.action == Verdict::Action::Continue);
        CHECK(edits.sender == c.want_sender);
        CHECK_THAT(log.lines.back(), Catch::Contains(c.want_log));
        if (std::string(c.domain) == "other.test") {
            CHECK_THAT(log.lines.back(), !Catch::Contains(" spf="));
        }
    }
}

TEST_CASE("an SPF checker that cannot start counts as temperror: the route's action applies",
          "[routing][spf]") {
    // A timeout libspf2's adapter refuses makes the checker fail on first use.
    app::LazySpfChecker broken(std::chrono::milliseconds(0));
    auto answer = broken.check({"192.0.2.10", "app@fail.example", "mx.example"});
    REQUIRE_FALSE(answer);
    CHECK_THAT(answer.error().message, Catch::StartsWith("cannot start the SPF checker: "));
    // ... every time, without trying again per message.
    CHECK_FALSE(broken.check({"192.0.2.10", "app@fail.example", "mx.example"}));

    auto p = policy_from(
        "[routing]\ndefault_route = \"inhouse\"\nspf_domains = [\"fail.example\"]\n"
        "[[route]]\nname = \"inhouse\"\nreturn_path = \"keep\"\n"
        "bounce_domain = \"bounce.org.test\"\negress_ips = [\"192.0.2.10\"]\n"
        "on_spf_fail = \"bounce_domain\"\n");
    NullLogger log;
    Session s([&] { return p; }, log);
    s.spf_checker(&broken);
    s.content_negotiated(true);
    s.mail_from({"app@fail.example", "", "QID"});
    s.rcpt_to("<bob@example.net>");
    s.header("From", " app@fail.example");
    s.end_of_headers();
    Edits edits;
    auto v = s.end_of_message("QID", &edits);
    CHECK(v.action == Verdict::Action::Continue);
    CHECK(edits.sender == "bounces@bounce.org.test");
    CHECK_THAT(log.lines.back(), Catch::Contains("spf=temperror:192.0.2.10->bounce_domain"));
    bool explained = false;
    for (const auto& l : log.lines) {
        explained = explained || l.find("cannot start the SPF checker") != std::string::npos;
    }
    CHECK(explained);
}
