// test_dmarc.cpp - DMARC alignment prediction: the pure rules, the
// session's log token and counts, and libpsl's organisational domains.
#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/route/dmarc.hpp"
#include "core/session.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;

// A stand-in for the Public Suffix List: the organisational domains of
// the names these tests use.
std::string org_of(std::string_view d) {
    static const std::map<std::string, std::string, std::less<>> table{
        {"example.com", "example.com"},
        {"mail.example.com", "example.com"},
        {"bounce.example.com", "example.com"},
        {"news.example.com", "example.com"},
        {"esp.test", "esp.test"},
        {"bounce.esp.test", "esp.test"},
        {"example.co.uk", "example.co.uk"},
        {"shop.example.co.uk", "example.co.uk"},
        {"other.co.uk", "other.co.uk"},
        {"co.uk", ""},
    };
    auto it = table.find(d);
    return it == table.end() ? std::string() : it->second;
}

DmarcPrediction predict(std::string_view from, std::vector<std::string> d, std::string_view rp,
                        DmarcAlignment mode = DmarcAlignment::Relaxed, bool spf_fails = false) {
    return predict_dmarc({from, {}, d, rp, spf_fails}, mode, org_of);
}

}  // namespace

TEST_CASE("DMARC alignment: relaxed compares organisational domains, strict the names", "[dmarc]") {
    using O = DmarcPrediction::Outcome;
    struct Case {
        const char* from;
        std::vector<std::string> d;
        const char* rp;
        DmarcAlignment mode;
        O outcome;
        const char* log;
    };
    const auto R = DmarcAlignment::Relaxed;
    const auto S = DmarcAlignment::Strict;
    const Case cases[] = {
        {"example.com",
         {"example.com"},
         "app@example.com",
         R,
         O::Pass,
         "pass(dkim=example.com,spf=example.com)"},
        {"example.com",
         {"example.com"},
         "app@example.com",
         S,
         O::Pass,
         "pass(dkim=example.com,spf=example.com)"},
        // A subdomain aligns relaxed, not strict.
        {"news.example.com",
         {"example.com"},
         "bounces@bounce.example.com",
         R,
         O::Pass,
         "pass(dkim=example.com,spf=bounce.example.com)"},
        {"news.example.com",
         {"example.com"},
         "bounces@bounce.example.com",
         S,
         O::Fail,
         "fail(from=news.example.com,d=example.com,rp=bounce.example.com)"},
        // The ESP's return path and signature: nothing aligns.
        {"example.com",
         {"esp.test"},
         "b+x=y@bounce.esp.test",
         R,
         O::Fail,
         "fail(from=example.com,d=esp.test,rp=bounce.esp.test)"},
        // One aligned signature among several is enough.
        {"example.com",
         {"esp.test", "example.com"},
         "b@bounce.esp.test",
         R,
         O::Pass,
         "pass(dkim=example.com)"},
        // SPF alone.
        {"example.com",
         {},
         "bounces@Bounce.Example.COM",
         R,
         O::Pass,
         "pass(spf=bounce.example.com)"},
        // Null sender: no SPF identity; unsigned as well.
        {"example.com", {}, "", R, O::Fail, "fail(from=example.com,d=none,rp=<>)"},
        // Under a multi-label public suffix, siblings are different organisations.
        {"shop.example.co.uk",
         {"other.co.uk"},
         "x@example.co.uk",
         R,
         O::Pass,
         "pass(spf=example.co.uk)"},
        {"shop.example.co.uk",
         {"other.co.uk"},
         "x@other.co.uk",
         R,
         O::Fail,
         "fail(from=shop.example.co.uk,d=other.co.uk,rp=other.co.uk)"},
        // A public suffix has no organisational domain: only the same name aligns.
        {"co.uk", {"example.co.uk"}, "", R, O::Fail, "fail(from=co.uk,d=example.co.uk,rp=<>)"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.from, c.rp);
        auto p = predict(c.from, c.d, c.rp, c.mode);
        CHECK(p.outcome == c.outcome);
        CHECK(p.log == c.log);
    }
    // SPF that the pre-flight found failing does not count, even aligned.
    auto spf_fails = predict("example.com", {}, "app@example.com", R, true);
    CHECK(spf_fails.outcome == O::Fail);
    CHECK(spf_fails.log == "fail(from=example.com,d=none,rp=example.com:spf-fails)");
    CHECK(predict("example.com", {"example.com"}, "app@example.com", R, true).log ==
          "pass(dkim=example.com)");
    // No From: domain: nothing to predict.
    auto none = predict_dmarc({"", "several-from", {}, "a@example.com", false}, R, org_of);
    CHECK(none.outcome == O::Unknown);
    CHECK(none.log == "unknown(several-from)");
    // Without an organisational-domain function, relaxed acts as strict.
    CHECK_FALSE(domains_align("mail.example.com", "example.com", R, {}));
    CHECK(domains_align("Example.COM.", "example.com", R, {}));
    CHECK_FALSE(domains_align("", "", R, org_of));
}

namespace {

struct Lines : Logger {
    std::vector<std::string> lines;
    void log(LogLevel, std::string_view m) override { lines.emplace_back(m); }
    [[nodiscard]] bool enabled(LogLevel) const override { return true; }
};

// One message through a session with the policy's default route; returns
// the log line of the message.
std::string send(const std::shared_ptr<const Policy>& p, DmarcStats& stats, Lines& log,
                 const char* from_header) {
    Session s([&] { return p; }, log);
    s.dmarc(org_of, &stats);
    s.content_negotiated(true);
    s.mail_from({"app@example.com", "", "QID"});
    s.rcpt_to("<bob@example.net>");
    if (from_header != nullptr) {
        s.header("From", from_header);
    }
    s.end_of_headers();
    auto v = s.end_of_message("QID");
    CHECK(v.action == Verdict::Action::Continue);
    return log.lines.back();
}

}  // namespace

TEST_CASE("the session predicts alignment from the route's return path, logs and counts it",
          "[dmarc][routing]") {
    const std::string routes =
        "[[route]]\nname = \"inhouse\"\nbounce_domain = \"bounce.example.com\"\n"
        "return_path = \"verp\"\n"
        "[[route]]\nname = \"esp\"\nbounce_domain = \"bounce.esp.test\"\nreturn_path = \"verp\"\n";
    DmarcStats stats;
    Lines log;
    auto inhouse = policy_from("[routing]\ndefault_route = \"inhouse\"\n" + routes);
    CHECK_THAT(send(inhouse, stats, log, " App <app@example.com>"),
               Catch::EndsWith("dmarc=pass(spf=bounce.example.com) action=pass"));
    CHECK(stats.pass == 1);

    auto esp = policy_from("[routing]\ndefault_route = \"esp\"\n" + routes);
    CHECK_THAT(send(esp, stats, log, " app@example.com"),
               Catch::Contains("dmarc=fail(from=example.com,d=none,rp=bounce.esp.test)"));
    CHECK(stats.fail == 1);
    // The misaligned message also gets a warning with its queue id and the
    // running count, in words that agree with it.
    CHECK_THAT(log.lines[log.lines.size() - 2],
               Catch::StartsWith("QID: DMARC alignment: ") &&
                   Catch::Contains("would fail DMARC") &&
                   Catch::EndsWith("; 1 such message since start"));
    send(esp, stats, log, " app@example.com");
    CHECK_THAT(log.lines[log.lines.size() - 2], Catch::EndsWith("; 2 such messages since start"));
    stats.fail = 1;

    CHECK_THAT(send(esp, stats, log, nullptr), Catch::Contains("dmarc=unknown(no-from)"));
    CHECK(stats.unknown == 1);

    auto strict = policy_from(
        "[routing]\ndefault_route = \"inhouse\"\n"
        "dmarc_alignment = \"strict\"\n" +
        routes);
    CHECK_THAT(send(strict, stats, log, " app@example.com"),
               Catch::Contains("dmarc=fail(from=example.com,d=none,rp=bounce.example.com)"));

    auto off =
        policy_from("[routing]\ndefault_route = \"inhouse\"\ndmarc_alignment = \"off\"\n" + routes);
    CHECK_THAT(send(off, stats, log, " app@example.com"), !Catch::Contains("dmarc="));
    CHECK(stats.pass + stats.fail + stats.unknown == 4);

    auto bad = config::load_policy_text("[routing]\ndmarc_alignment = \"loose\"\n", "t.toml");
    REQUIRE_FALSE(bad.policy);
    CHECK_THAT(bad.errors.front().to_string(),
               Catch::Contains("t.toml:2") && Catch::Contains("dmarc_alignment") &&
                   Catch::Contains("\"relaxed\", \"strict\", \"off\""));
}
