// test_session_outcome.cpp - what a Session reports when a message ends
// (core/outcome.hpp): the action, the reason of a refusal, recipients by
// domain, the tag; and the tag's edits (Feedback-ID added, tag fields
// stripped) in the header that is signed and in the MTA's edits.
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/session.hpp"
#include "fake_counter_store.hpp"
#include "fake_message_edits.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;

struct QuietLogger : Logger {
    void log(LogLevel, std::string_view) override {}
    [[nodiscard]] bool enabled(LogLevel) const override { return false; }
};

struct Recorder : OutcomeSink {
    std::vector<MessageOutcome> got;
    void message(const MessageOutcome& o) override { got.push_back(o); }
};

struct Harness {
    QuietLogger log;
    test::FakeCounterStore store;
    QuotaStats stats;
    Recorder outcomes;
    test::FakeMessageEdits edits;
    std::shared_ptr<const Policy> policy;

    Verdict send(const std::string& from, const std::vector<std::string>& rcpts,
                 const std::vector<HeaderField>& headers) {
        Session s([&] { return policy; }, log, nullptr, nullptr, [] { return 1764763200; },
                  {&store, &stats});
        s.outcomes(&outcomes);
        s.content_negotiated(true);
        s.connect("client.example.net", "192.0.2.7");
        s.mail_from({from, "", ""});
        for (const auto& r : rcpts) {
            s.rcpt_to("<" + r + ">");
        }
        for (const auto& h : headers) {
            s.header(h.name, h.value);
        }
        s.end_of_headers();
        s.body("Hello\r\n");
        return s.end_of_message("QID", &edits);
    }
};

constexpr const char* kTagged = R"(
[stats]
enabled = true
tag_headers = ["X-Campaign-Id", "X-Mailjet-Campaign"]
strip_tag_headers = true
feedback_id = "{tag}:{stream}:{sender_domain}:staffel"
[[quota]]
name = "cap"
key = "sender"
limit = "2/1d"
)";

}  // namespace

TEST_CASE("an accepted message reports its tag, recipients by domain and size",
          "[session][stats]") {
    Harness h;
    h.policy = policy_from(kTagged);
    const auto v = h.send("app@Shop.Example", {"a@x.example", "b@X.Example"},
                          {{"From", " app@shop.example"}, {"X-Campaign-Id", " nov 26"}});
    CHECK(v.action == Verdict::Action::Continue);
    REQUIRE(h.outcomes.got.size() == 1);
    const auto& o = h.outcomes.got[0];
    CHECK(o.action == MessageOutcome::Action::Pass);
    CHECK(o.reason.empty());
    CHECK(o.reply.empty());
    CHECK(o.queue_id == "QID");
    CHECK(o.sender_domain == "shop.example");
    CHECK(o.tag == "nov_26");
    CHECK(o.stream == "transactional");
    CHECK(o.recipients == 2);
    CHECK(o.recipient_domains == std::vector<std::string>{"x.example", "x.example"});
    CHECK(o.bytes > 7);
    CHECK(o.elapsed_us >= 0);
    CHECK(o.time == 1764763200);
    // The tag field leaves the message and Feedback-ID comes in its place
    // ({sender_domain} is the envelope's, as in route templates).
    CHECK(h.edits.removed_headers == std::vector<std::string>{"X-Campaign-Id#1"});
    CHECK(h.edits.appended_headers ==
          std::vector<std::string>{"Feedback-ID: nov_26:transactional:Shop.Example:staffel"});
}

TEST_CASE("a message over quota reports quota:NAME and the reply", "[session][stats]") {
    Harness h;
    h.policy = policy_from(kTagged);
    CHECK(h.send("app@shop.example", {"a@x.example", "b@x.example"}, {}).action ==
          Verdict::Action::Continue);
    const auto v = h.send("app@shop.example", {"c@x.example"}, {});
    CHECK(v.action == Verdict::Action::Tempfail);
    REQUIRE(h.outcomes.got.size() == 2);
    const auto& o = h.outcomes.got[1];
    CHECK(o.action == MessageOutcome::Action::Tempfail);
    CHECK(o.reason == "quota:cap");
    CHECK(o.reply == v.rcode + " " + v.xcode + " " + v.text);
    CHECK(o.tag.empty());
}

TEST_CASE("a Feedback-ID of the sender's own stays and no second one is added",
          "[session][stats]") {
    Harness h;
    h.policy = policy_from(kTagged);
    h.send("app@shop.example", {"a@x.example"},
           {{"Feedback-ID", " mine:1"}, {"X-Mailjet-Campaign", " mj7"}});
    CHECK(h.edits.appended_headers.empty());
    CHECK(h.edits.removed_headers == std::vector<std::string>{"X-Mailjet-Campaign#1"});
    CHECK(h.outcomes.got.at(0).tag == "mj7");
}

TEST_CASE("without tag settings nothing is stripped or added", "[session][stats]") {
    Harness h;
    h.policy = policy_from("[stats]\nenabled = true\n");
    h.send("app@shop.example", {"a@x.example"}, {{"X-Campaign-Id", " nov"}});
    CHECK(h.edits.removed_headers.empty());
    CHECK(h.edits.appended_headers.empty());
    CHECK(h.outcomes.got.at(0).tag.empty());
}

TEST_CASE("[log] format = json writes the message line as one JSON object, same fields",
          "[session][log]") {
    struct Lines : Logger {
        std::vector<std::string> got;
        void log(LogLevel, std::string_view m) override { got.emplace_back(m); }
        [[nodiscard]] bool enabled(LogLevel) const override { return true; }
    };
    for (const char* format : {"text", "json"}) {
        Lines log;
        auto p = policy_from(std::string("[log]\nformat = \"") + format +
                             "\"\n[stats]\ntag_headers = [\"X-Campaign-Id\"]\n");
        Session s([&] { return p; }, log);
        s.content_negotiated(true);
        s.connect("client\"x.example", "192.0.2.7");
        s.mail_from({"a\"b@shop.example", "", ""});
        s.rcpt_to("<r@x.example>");
        s.header("X-Campaign-Id", " nov");
        s.end_of_headers();
        s.end_of_message("QID");
        REQUIRE(!log.got.empty());
        const auto& line = log.got.back();
        INFO(line);
        if (std::string(format) == "text") {
            CHECK_THAT(line, Catch::StartsWith("QID: client=client\"x.example[192.0.2.7] "
                                               "identity=ip:192.0.2.7 from=<a\"b@shop.example> "
                                               "rcpts=1 policy="));
            CHECK_THAT(line, Catch::EndsWith(" stream=transactional tag=nov "
                                             "dmarc=unknown(no-from) action=pass"));
            continue;
        }
        const auto j = nlohmann::json::parse(line);
        CHECK(j["queue_id"] == "QID");
        CHECK(j["client"] == "client\"x.example[192.0.2.7]");
        CHECK(j["from"] == "<a\"b@shop.example>");
        CHECK(j["rcpts"] == 1);
        CHECK(j["stream"] == "transactional");
        CHECK(j["tag"] == "nov");
        CHECK(j["dmarc"] == "unknown(no-from)");
        CHECK(j["action"] == "pass");
        CHECK(j.size() == 10);
    }
}

TEST_CASE("a policy that tags mail or adds Feedback-ID asks for the header", "[session][stats]") {
    struct Case {
        std::string policy;
        bool wants;
    };
    const std::vector<Case> cases{
        {"[stats]\nenabled = true\n", false},
        {"[stats]\ntag_headers = [\"X-Campaign-Id\"]\n", true},
        {"[stats]\nfeedback_id = \"{stream}:staffel\"\n", true},
    };
    for (const auto& c : cases) {
        INFO(c.policy);
        QuietLogger log;
        auto p = policy_from(c.policy);
        Session s([&] { return p; }, log);
        CHECK(s.wants_content() == c.wants);
    }
}
