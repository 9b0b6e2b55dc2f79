// test_session_route.cpp - the routing steps of a Session (core/session_route):
// routes marked down and their fallbacks, the SPF pre-flight's actions and
// the VERP bookkeeping, over a fake route status and a fake SPF checker.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/route/spf.hpp"
#include "core/route/status.hpp"
#include "core/session.hpp"
#include "fake_message_edits.hpp"
#include "recording_logger.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;

// Every line, debug ones included.
struct RecordingLogger : test::RecordingLogger {
    RecordingLogger() { threshold = LogLevel::Debug; }
};

struct DownSet : RouteStatus {
    std::set<std::string, std::less<>> down;
    [[nodiscard]] bool is_down(std::string_view route) const override {
        return down.find(route) != down.end();
    }
};

// Answers by the sender's domain; counts the checks.
struct FakeSpf : SpfChecker {
    std::map<std::string, SpfResult> by_domain;
    std::vector<SpfQuery> asked;
    Result<SpfAnswer> check(const SpfQuery& query) override {
        asked.push_back(query);
        const auto at = query.sender.rfind('@');
        const auto it = by_domain.find(query.sender.substr(at + 1));
        if (it == by_domain.end()) {
            return make_error("no answer for " + query.sender);
        }
        return SpfAnswer{it->second, "fake"};
    }
};

constexpr const char* kRoutes =
    "[routing]\ndefault_route = \"inhouse\"\n"
    "[[route]]\nname = \"inhouse\"\nbounce_domain = \"bounce.org.test\"\n"
    "egress_ips = [\"192.0.2.10\"]\nfallback = \"esp\"\n"
    "[[route]]\nname = \"esp\"\nbounce_domain = \"bounce.esp.test\"\n";

struct Sent {
    Verdict verdict;
    test::FakeMessageEdits edits;
    std::string line;  // the message's log line
    MessageOutcome outcome;
};

struct LastOutcome : OutcomeSink {
    void message(const MessageOutcome& o) override { last = o; }
    MessageOutcome last;
};

Sent send(const std::shared_ptr<const Policy>& p, const RouteStatus* status, SpfChecker* spf,
          const std::vector<std::string>& rcpts) {
    RecordingLogger log;
    LastOutcome outcomes;
    Session s([&] { return p; }, log);
    s.outcomes(&outcomes);
    s.route_status(status);
    s.spf_checker(spf);
    s.content_negotiated(true);
    s.connect("client.example.net", "192.0.2.7");
    s.mail_from({"app@shop.example", "", "QID"});
    for (const auto& r : rcpts) {
        s.rcpt_to("<" + r + ">");
    }
    s.header("From", " app@shop.example");
    s.end_of_headers();
    Sent out;
    out.verdict = s.end_of_message("QID", &out.edits);
    REQUIRE_FALSE(log.lines.empty());
    out.line = log.last();
    out.outcome = outcomes.last;
    return out;
}

}  // namespace

TEST_CASE("a route marked down sends its mail over the fallback, with that route's return path",
          "[session][routing]") {
    const auto p = policy_from(kRoutes);
    DownSet status;
    auto up = send(p, &status, nullptr, {"bob@example.net"});
    CHECK(up.verdict.action == Verdict::Action::Continue);
    CHECK(up.edits.sender == "bounces@bounce.org.test");
    CHECK_THAT(up.line, Catch::Contains("route=inhouse,"));
    CHECK(up.outcome.route == "inhouse");
    CHECK(up.outcome.fallback_from.empty());

    status.down = {"inhouse"};
    auto over = send(p, &status, nullptr, {"bob@example.net"});
    CHECK(over.verdict.action == Verdict::Action::Continue);
    CHECK(over.edits.sender == "bounces@bounce.esp.test");
    CHECK_THAT(over.line, Catch::Contains("route=esp(down:inhouse)"));
    CHECK(over.outcome.route == "esp");
    CHECK(over.outcome.fallback_from == "inhouse");
}

TEST_CASE("a route down with no fallback in service defers the message: 451 4.3.2",
          "[session][routing]") {
    const auto p = policy_from(kRoutes);
    DownSet status;
    status.down = {"inhouse", "esp"};
    auto s = send(p, &status, nullptr, {"bob@example.net"});
    CHECK(s.verdict.action == Verdict::Action::Tempfail);
    CHECK(s.verdict.rcode == "451");
    CHECK(s.verdict.xcode == "4.3.2");
    CHECK_THAT(s.verdict.text, Catch::Contains("route \"inhouse\" is down"));
    CHECK(s.edits.sender.empty());
    CHECK_THAT(s.line, Catch::Contains("inhouse:down"));
}

TEST_CASE("SPF pre-flight over a fake checker: only spf_domains are asked, a fail switches route",
          "[session][routing][spf]") {
    const auto p = policy_from(
        "[routing]\ndefault_route = \"inhouse\"\nspf_domains = [\"*.example\"]\n"
        "[[route]]\nname = \"inhouse\"\nreturn_path = \"keep\"\nhelo = \"mx.org.test\"\n"
        "bounce_domain = \"bounce.org.test\"\negress_ips = [\"192.0.2.10\"]\n"
        "on_spf_fail = \"route:esp\"\n"
        "[[route]]\nname = \"esp\"\nbounce_domain = \"bounce.esp.test\"\n");
    FakeSpf spf;
    spf.by_domain = {{"shop.example", SpfResult::Fail}};
    auto s = send(p, nullptr, &spf, {"bob@example.net"});
    REQUIRE(spf.asked.size() == 1);
    CHECK(spf.asked[0].ip == "192.0.2.10");
    CHECK(spf.asked[0].sender == "app@shop.example");
    CHECK(spf.asked[0].helo == "mx.org.test");
    CHECK(s.edits.sender == "bounces@bounce.esp.test");
    CHECK_THAT(s.line, Catch::Contains("spf=fail:192.0.2.10->route:esp"));

    spf.by_domain = {{"shop.example", SpfResult::Pass}};
    spf.asked.clear();
    auto pass = send(p, nullptr, &spf, {"bob@example.net"});
    CHECK(spf.asked.size() == 1);
    CHECK(pass.edits.sender.empty());  // return_path = "keep"
    CHECK_THAT(pass.line, Catch::Contains("spf=pass"));
}

TEST_CASE("without suppression lists, VERP still tells one recipient from several",
          "[session][routing]") {
    const auto p = policy_from(
        "[routing]\ndefault_route = \"verp\"\n"
        "[[route]]\nname = \"verp\"\nbounce_domain = \"bounce.org.test\"\n"
        "return_path = \"verp\"\n");
    auto one = send(p, nullptr, nullptr, {"bob@example.net"});
    CHECK_THAT(one.edits.sender, Catch::StartsWith("bounces+"));
    CHECK_THAT(one.edits.sender, Catch::Contains("example.net"));
    auto three = send(p, nullptr, nullptr, {"a@example.net", "b@example.net", "c@example.net"});
    CHECK(three.edits.sender == "bounces@bounce.org.test");
}

TEST_CASE("an MTA that did not offer CHGFROM: tempfail, said once per connection",
          "[session][routing]") {
    const auto p = policy_from(kRoutes);
    RecordingLogger log;
    Session s([&] { return p; }, log);
    MtaActions offered;
    offered.change_from = false;
    s.actions_offered(offered);
    s.content_negotiated(true);
    s.connect("client.example.net", "192.0.2.7");
    std::vector<Verdict> verdicts;
    std::vector<test::FakeMessageEdits> edits(2);
    for (auto& e : edits) {
        s.mail_from({"app@shop.example", "", "QID"});
        s.rcpt_to("<bob@example.net>");
        s.header("From", " app@shop.example");
        s.end_of_headers();
        verdicts.push_back(s.end_of_message("QID", &e));
    }
    for (std::size_t i = 0; i < 2; ++i) {
        CHECK(verdicts[i].action == Verdict::Action::Tempfail);
        CHECK(verdicts[i].rcode == "451");
        CHECK(edits[i].sender.empty());  // never tried
    }
    CHECK(log.count("did not offer the milter action SMFIF_CHGFROM") == 1);

    // Every action offered: the same message leaves with its return path.
    RecordingLogger log2;
    Session full([&] { return p; }, log2);
    full.actions_offered(MtaActions{});
    full.content_negotiated(true);
    full.connect("client.example.net", "192.0.2.7");
    full.mail_from({"app@shop.example", "", "QID"});
    full.rcpt_to("<bob@example.net>");
    full.header("From", " app@shop.example");
    full.end_of_headers();
    test::FakeMessageEdits e;
    CHECK(full.end_of_message("QID", &e).action == Verdict::Action::Continue);
    CHECK(e.sender == "bounces@bounce.org.test");
}
