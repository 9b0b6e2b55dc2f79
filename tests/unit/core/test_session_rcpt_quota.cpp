// test_session_rcpt_quota.cpp - recipient_domain limits of a Session
// (core/session_quota): the charge per recipient at RCPT, the refusal of
// the recipient over the limit, refunds of a message refused or aborted
// later, and mail without SMTP, over a fake counter store with a fixed
// clock.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/quota/quota.hpp"
#include "core/session.hpp"
#include "fake_counter_store.hpp"
#include "fake_message_edits.hpp"
#include "fake_suppression_store.hpp"
#include "recording_logger.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::load_error;
using test::policy_from;
using test::RecordingLogger;
using test::utc;

// "bücher.example" and its A-label, as libidn2 would convert it.
Result<std::string> fake_idna(std::string_view utf8) {
    if (utf8 ==
        "b\xc3\xbc"
        "cher.example") {
        return std::string("xn--bcher-kva.example");
    }
    return make_error("not in the fake's table");
}

struct Harness {
    RecordingLogger log;
    test::FakeCounterStore store;
    QuotaStats stats;
    std::shared_ptr<const Policy> policy;
    std::int64_t now = utc(2026, 11, 23, 12);
    std::unique_ptr<Session> session;

    Harness() { store.now_us = now * 1'000'000; }

    Session& open(SuppressServices suppress = {nullptr, nullptr, fake_idna, nullptr}) {
        session = std::make_unique<Session>([this] { return policy; }, log, nullptr, nullptr,
                                            [this] { return now; }, QuotaServices{&store, &stats},
                                            suppress);
        session->connect("client.example.net", "192.0.2.7");
        return *session;
    }
    [[nodiscard]] const std::string& last_line() const { return log.lines.back().second; }
};

struct Case {
    std::string rcpt;
    Verdict::Action want;
};

}  // namespace

TEST_CASE("recipient_domain: a counter per domain, the one over is refused alone",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[general]
time_zone = "Europe/Berlin"
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "2/1d"
)");
    auto& s = h.open();
    CHECK(s.wants_rcpt_replies());
    s.mail_from({"app@example.com", "", "QID"});
    const std::vector<Case> cases{
        {"a@gmail.com", Verdict::Action::Continue},
        {"b@GMail.COM", Verdict::Action::Continue},  // case-insensitive: the same counter
        {"c@gmail.com", Verdict::Action::Tempfail},  // third to gmail.com
        {"d@example.org", Verdict::Action::Continue},
    };
    for (const auto& c : cases) {
        auto v = s.rcpt_to(c.rcpt);
        INFO("rcpt " << c.rcpt << ": got " << v.rcode << " " << v.text);
        CHECK(v.action == c.want);
        if (c.want == Verdict::Action::Tempfail) {
            CHECK(v.rcode == "451");
            CHECK(v.xcode == "4.7.1");
            CHECK(v.text ==
                  "Staffel: quota \"per-domain\" exceeded for recipient_domain gmail.com: 2 "
                  "recipients per day; resets 2026-11-24 00:00 CET");
        }
    }
    CHECK(h.store.charges == 4);  // one round trip per recipient
    CHECK(s.recipients() == 3);   // the refused one is not the message's
    CHECK_THAT(h.log.lines.back().second,
               Catch::Contains("QID: refused RCPT <c@gmail.com>: over:per-domain"));
    CHECK(s.end_of_message("QID") == Verdict::proceed());
    CHECK(h.store.values["staffel:q:{rd:gmail.com}:per-domain:d2026-11-23"] == 2);
    CHECK(h.store.values["staffel:q:{rd:example.org}:per-domain:d2026-11-23"] == 1);
    CHECK(h.store.refunds == 0);
    CHECK_THAT(h.last_line(), Catch::Contains("rcpts=3"));
    CHECK_THAT(h.last_line(), Catch::Contains("rcpt_quota=over:per-domain action=pass"));
}

TEST_CASE("recipient_domain with domains: one shared rate, IDNs as A-labels, others free",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "to-google"
key = "recipient_domain"
domains = ["gmail.com", "googlemail.com", "xn--bcher-kva.example"]
limit = "3/1h"
burst = 3
)");
    auto& s = h.open();
    s.mail_from({"app@example.com", "", ""});
    CHECK(s.rcpt_to("x@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("y@GoogleMail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("z@b\xc3\xbc"
                    "cher.example") == Verdict::proceed());
    auto v = s.rcpt_to("w@XN--BCHER-KVA.example");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
    CHECK(v.xcode == "4.7.1");
    CHECK_THAT(v.text,
               Catch::StartsWith("Staffel: rate \"to-google\" exceeded for recipient_domain "
                                 "gmail.com,googlemail.com,xn--bcher-kva.example: 3 recipients "
                                 "per 1h, burst 3; retry in 1200s"));
    // Another domain is not counted by this limit at all.
    CHECK(s.rcpt_to("v@example.org") == Verdict::proceed());
    CHECK(h.store.charges == 4);
    CHECK(s.end_of_message("Q") == Verdict::proceed());
    const std::string key =
        "staffel:q:{rd:gmail.com%2cgooglemail.com%2cxn--bcher-kva.example}:to-google:r";
    REQUIRE(h.store.values.count(key) == 1);
    CHECK(h.store.values[key] == h.store.now_us + 3 * 1200'000'000LL);
}

TEST_CASE("recipient_domain charges are refunded when the message is refused or aborted",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "5/1d"
[[quota]]
name = "per-sender"
key = "sender"
limit = "2/1d"
action = "reject"
)");
    const std::string gmail = "staffel:q:{rd:gmail.com}:per-domain:d2026-11-23";
    const std::string org = "staffel:q:{rd:example.org}:per-domain:d2026-11-23";

    SECTION("refused at end of message by another limit") {
        auto& s = h.open();
        s.mail_from({"app@example.com", "", ""});
        s.rcpt_to("a@gmail.com");
        s.rcpt_to("b@gmail.com");
        s.rcpt_to("c@example.org");
        CHECK(h.store.values[gmail] == 2);
        CHECK(h.store.values[org] == 1);
        auto v = s.end_of_message("Q");  // 3 recipients, more than per-sender's 2
        CHECK(v.action == Verdict::Action::Reject);
        CHECK(h.store.refunds == 1);  // one round trip, the gmail charges merged
        CHECK(h.store.values[gmail] == 0);
        CHECK(h.store.values[org] == 0);
        CHECK_THAT(h.last_line(), Catch::Contains("quota=too-many:per-sender,refunded"));
    }
    SECTION("aborted (RSET, QUIT) or replaced by a new MAIL FROM") {
        auto& s = h.open();
        s.mail_from({"app@example.com", "", ""});
        s.rcpt_to("a@gmail.com");
        CHECK(h.store.values[gmail] == 1);
        s.abort();
        CHECK(h.store.values[gmail] == 0);
        s.mail_from({"app@example.com", "", ""});
        s.rcpt_to("a@gmail.com");
        s.mail_from({"app@example.com", "", ""});  // the MTA started anew
        CHECK(h.store.values[gmail] == 0);
        s.rcpt_to("a@gmail.com");
        s.close();
        CHECK(h.store.values[gmail] == 0);
        CHECK(h.store.refunds == 3);
    }
    SECTION("an accepted message keeps its charges") {
        auto& s = h.open();
        s.mail_from({"app@example.com", "", ""});
        s.rcpt_to("a@gmail.com");
        s.rcpt_to("b@example.org");
        CHECK(s.end_of_message("Q") == Verdict::proceed());
        s.close();
        CHECK(h.store.refunds == 0);
        CHECK(h.store.values[gmail] == 1);
        CHECK(h.store.values[org] == 1);
    }
}

TEST_CASE("recipient_domain without SMTP: the whole message is deferred, charges refunded",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "1/1d"
)");
    const std::string gmail = "staffel:q:{rd:gmail.com}:per-domain:d2026-11-23";
    const std::string org = "staffel:q:{rd:example.org}:per-domain:d2026-11-23";
    auto& s = h.open();
    SenderInfo local{"app@example.com", "", "", true};
    s.mail_from(local);
    // No recipient is refused at RCPT; the over-limit one marks the message.
    CHECK(s.rcpt_to("a@example.org") == Verdict::proceed());
    CHECK(s.rcpt_to("b@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("c@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("d@example.net") == Verdict::proceed());  // not charged: deferred already
    CHECK(h.store.charges == 3);
    auto v = s.end_of_message("Q");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
    CHECK(v.xcode == "4.7.1");
    CHECK_THAT(v.text, Catch::StartsWith("Staffel: quota \"per-domain\" exceeded for "
                                         "recipient_domain gmail.com: 1 recipient per day"));
    CHECK(h.store.values[gmail] == 0);
    CHECK(h.store.values[org] == 0);
    CHECK(h.store.refunds == 1);
    CHECK_THAT(h.last_line(), Catch::Contains("quota=over:per-domain,refunded"));
    CHECK_THAT(h.last_line(), Catch::Contains("action=tempfail"));
    // Within the limit, mail without SMTP passes and stays counted.
    s.mail_from(local);
    CHECK(s.rcpt_to("b@gmail.com") == Verdict::proceed());
    CHECK(s.end_of_message("Q2") == Verdict::proceed());
    CHECK(h.store.values[gmail] == 1);
}

TEST_CASE("recipient_domain on a connection whose RCPT stage gets no reply defers the message",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "1/1d"
)");
    auto& s = h.open();
    s.rcpt_replies_negotiated(false);  // began before a reload added the limit
    s.mail_from({"app@example.com", "", ""});
    CHECK(s.rcpt_to("a@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("b@gmail.com") == Verdict::proceed());
    CHECK(s.end_of_message("Q").action == Verdict::Action::Tempfail);
    CHECK(h.store.values["staffel:q:{rd:gmail.com}:per-domain:d2026-11-23"] == 0);
}

TEST_CASE("recipient_domain: store errors follow on_store_error per recipient",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "5/1d"
)");
    h.store.fail = true;
    auto& s = h.open();
    s.mail_from({"app@example.com", "", ""});
    auto v = s.rcpt_to("a@gmail.com");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.xcode == "4.3.0");
    CHECK(h.stats.store_errors_tempfailed == 1);
    // Without SMTP: the message is deferred at its end.
    s.mail_from({"app@example.com", "", "", true});
    CHECK(s.rcpt_to("a@gmail.com") == Verdict::proceed());
    v = s.end_of_message("Q");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.xcode == "4.3.0");
    // on_store_error = "accept": the recipient passes uncounted.
    h.policy = policy_from(R"(
[redis]
on_store_error = "accept"
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "5/1d"
)");
    s.mail_from({"app@example.com", "", ""});
    CHECK(s.rcpt_to("a@gmail.com") == Verdict::proceed());
    CHECK(s.end_of_message("Q") == Verdict::proceed());
    CHECK(h.stats.store_errors_accepted == 1);
    CHECK_THAT(h.last_line(), Catch::Contains("rcpt_quota=store-error:accepted"));
}

TEST_CASE("recipient_domain: reject and log actions, and the message-level limits",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "hard"
key = "recipient_domain"
domains = ["example.org"]
limit = "1/1d"
action = "reject"
[[quota]]
name = "shadow"
key = "recipient_domain"
limit = "1/1d"
action = "log"
[[quota]]
name = "per-sender"
limit = "10/1d"
)");
    auto& s = h.open();
    s.mail_from({"app@example.com", "", ""});
    CHECK(s.rcpt_to("a@example.org") == Verdict::proceed());
    auto v = s.rcpt_to("b@example.org");
    CHECK(v.action == Verdict::Action::Reject);
    CHECK(v.rcode == "550");
    CHECK(v.xcode == "5.7.1");
    CHECK(s.rcpt_to("c@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("d@gmail.com") == Verdict::proceed());  // shadow: counted, not refused
    CHECK(s.end_of_message("Q") == Verdict::proceed());
    // The sender's limit saw the 3 accepted recipients only.
    CHECK(h.store.values["staffel:q:{s:app@example.com}:per-sender:d2026-11-23"] == 3);
    CHECK(h.store.values["staffel:q:{rd:gmail.com}:shadow:d2026-11-23"] == 2);
    CHECK_THAT(h.last_line(), Catch::Contains("rcpt_quota=over:hard,shadow-over:shadow"));
}

TEST_CASE("recipient_domain: a recipient removed at the end gets its charge back",
          "[quota][session][rcpt]") {
    Harness h;
    h.policy = policy_from(R"(
[suppression]
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "5/1d"
)");
    test::FakeSuppressionStore sup;
    // Listed for transactional mail only: looked at again at the end.
    sup.entries["staffel:s:*:a@gmail.com"] =
        test::entry(SuppressReason::Unsubscribe, {"transactional"});
    auto& s = h.open({&sup, nullptr, fake_idna, nullptr});
    s.content_negotiated(true);
    s.mail_from({"app@example.com", "", ""});
    CHECK(s.rcpt_to("a@gmail.com") == Verdict::proceed());
    CHECK(s.rcpt_to("b@gmail.com") == Verdict::proceed());
    s.header("From", " app@example.com");
    s.end_of_headers();
    test::FakeMessageEdits edits;
    CHECK(s.end_of_message("Q", &edits) == Verdict::proceed());
    REQUIRE(edits.deleted == std::vector<std::string>{"a@gmail.com"});
    CHECK(h.store.values["staffel:q:{rd:gmail.com}:per-domain:d2026-11-23"] == 1);
}

TEST_CASE("recipient_domain: what the policy refuses", "[quota][config][rcpt]") {
    struct Bad {
        std::string extra;
        std::string want;
    };
    const std::vector<Bad> cases{
        {"action = \"hold\"", "action = \"hold\" (the whole message) is not possible here"},
        {"counts = \"messages\"", "counts = \"messages\" is not possible here"},
        {"streams = [\"bulk\"]", "streams is not possible here"},
        {"domains = [\"b\xc3\xbc"
         "cher.example\"]",
         "IDNs in A-label form"},
    };
    for (const auto& c : cases) {
        INFO(c.extra);
        CHECK_THAT(load_error("[[quota]]\nname = \"q\"\nkey = \"recipient_domain\"\nlimit = "
                              "\"5/1d\"\n" +
                              c.extra + "\n"),
                   Catch::Contains(c.want));
    }
}

TEST_CASE("recipient_domain limits are not message limits; staffelctl finds them by domain",
          "[quota][rcpt]") {
    auto p = policy_from(R"(
[[quota]]
name = "to-google"
key = "recipient_domain"
domains = ["gmail.com", "googlemail.com"]
limit = "600/1h"
[[quota]]
name = "per-domain"
key = "recipient_domain"
limit = "100/1d"
[[quota]]
name = "sender-domain"
key = "sender_domain"
limit = "100/1d"
)");
    const auto& zone = *p->general.time_zone;
    const auto now = utc(2026, 11, 23, 12);
    Sender sender{"", "192.0.2.7", "a@gmail.com", ""};
    auto planned = plan_charges(p->quotas, zone, "staffel:", sender, "", 3, now);
    REQUIRE(planned.size() == 1);
    CHECK(planned[0].limit->name == "sender-domain");
    auto shown = counters_for(p->quotas, zone, "staffel:", "googlemail.com", now, {});
    std::vector<std::string> got;
    for (const auto& c : shown) {
        got.push_back(c.charge.key);
    }
    CHECK(got == std::vector<std::string>{
                     "staffel:q:{rd:gmail.com%2cgooglemail.com}:to-google:r",
                     "staffel:q:{rd:googlemail.com}:per-domain:d2026-11-23",
                     "staffel:q:{d:googlemail.com}:sender-domain:d2026-11-23",
                 });
}
