// test_session_suppress.cpp - the suppression steps of a Session
// (core/session_suppress): refusals at RCPT, removals at the end of the
// message, store errors and hashed keys, over a fake store.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "config/loader.hpp"
#include "core/session.hpp"
#include "core/suppress/store.hpp"
#include "core/suppress/suppress.hpp"
#include "fake_message_edits.hpp"
#include "fake_suppression_store.hpp"
#include "recording_logger.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;

// IDNA for ASCII domains only: these tests use no IDN domain (the real
// conversion, adapters/idn, is tested in test_suppress.cpp).
Result<std::string> ascii_domain(std::string_view domain) {
    for (char c : domain) {
        if (static_cast<unsigned char>(c) >= 0x80) {
            return make_error("not an ASCII domain");
        }
    }
    return std::string(domain);
}

using test::RecordingLogger;

using Edits = test::FakeMessageEdits;

using test::entry;

struct Harness {
    RecordingLogger log;
    test::FakeSuppressionStore store;
    SuppressStats stats;
    std::shared_ptr<const Policy> policy = policy_from("[suppression]\n");
    Edits edits;
    std::vector<Verdict> rcpt_verdicts;

    std::string key(const std::string& address, const std::string& scope = {}) {
        return SuppressionKeys(policy->redis.prefix).entry_key(scope, address);
    }
    bool rcpt_replies = true;         // as negotiated with the MTA
    OutcomeSink* outcomes = nullptr;  // where the session reports each message

    Verdict send(const std::vector<std::string>& rcpts, bool bulk, bool non_smtp = false) {
        Session s([&] { return policy; }, log, nullptr, nullptr, [] { return 1764000000; }, {},
                  {&store, nullptr, ascii_domain, &stats});
        s.content_negotiated(true);
        s.rcpt_replies_negotiated(rcpt_replies);
        s.outcomes(outcomes);
        SenderInfo sender{"app@shop.example", "", "QID"};
        sender.non_smtp = non_smtp;
        s.mail_from(sender);
        rcpt_verdicts.clear();
        for (const auto& r : rcpts) {
            rcpt_verdicts.push_back(s.rcpt_to("<" + r + ">"));
        }
        s.header("From", " app@shop.example");
        if (bulk) {
            s.header("List-Unsubscribe", " <mailto:u@shop.example>");
        }
        s.end_of_headers();
        return s.end_of_message("QID", &edits);
    }
};

}  // namespace

TEST_CASE("a hard-bounced recipient is refused at RCPT; the others go on", "[suppress][session]") {
    Harness h;
    h.store.entries[h.key("gone@example.net")] = entry(SuppressReason::HardBounce);
    auto v = h.send({"a@example.net", "Gone@Example.NET", "c@example.net"}, false);
    CHECK(v.action == Verdict::Action::Continue);
    REQUIRE(h.rcpt_verdicts.size() == 3);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Continue);
    CHECK(h.rcpt_verdicts[2].action == Verdict::Action::Continue);
    const auto& refused = h.rcpt_verdicts[1];
    CHECK(refused.action == Verdict::Action::Reject);
    CHECK(refused.rcode == "550");
    CHECK(refused.xcode == "5.1.1");
    CHECK(refused.text ==
          "Staffel: <gone@example.net> is on the suppression list (hard bounce since "
          "2025-11-20 12:00 UTC)");
    CHECK(h.store.lookups == 3);  // one round trip per recipient
    CHECK(h.edits.deleted.empty());
    CHECK(h.stats.refused == 1);
    CHECK_THAT(h.log.last(), Catch::Contains("rcpts=2 ") && Catch::Contains("suppressed=1"));
    CHECK_THAT(h.log.lines.front().second,
               Catch::Contains("refused RCPT <gone@example.net>: suppressed reason=hard_bounce"));
}

TEST_CASE("an entry scoped to another sender domain does not apply", "[suppress][session]") {
    Harness h;
    h.store.entries[h.key("x@example.net", "other.example")] = entry(SuppressReason::Complaint);
    h.send({"x@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Continue);
    h.store.entries[h.key("x@example.net", "shop.example")] = entry(SuppressReason::Complaint);
    h.send({"x@example.net", "y@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Reject);
    CHECK(h.rcpt_verdicts[0].xcode == "5.7.1");
    CHECK_THAT(h.rcpt_verdicts[0].text, Catch::Contains("for mail from shop.example (complaint"));
}

TEST_CASE("an unsubscribe removes the recipient from bulk mail only", "[suppress][session]") {
    Harness h;
    h.store.entries[h.key("u@example.net")] = entry(SuppressReason::Unsubscribe, {"bulk"});
    auto bulk = h.send({"a@example.net", "u@example.net"}, true);
    CHECK(bulk.action == Verdict::Action::Continue);
    CHECK(h.rcpt_verdicts[1].action == Verdict::Action::Continue);  // not refused at RCPT
    CHECK(h.edits.deleted == std::vector<std::string>{"<u@example.net>"});
    CHECK_THAT(h.log.last(), Catch::Contains("stream=bulk") &&
                                 Catch::Contains("removed=u@example.net:unsubscribe") &&
                                 Catch::Contains("rcpts=1 "));

    h.edits.deleted.clear();
    auto transactional = h.send({"a@example.net", "u@example.net"}, false);
    CHECK(transactional.action == Verdict::Action::Continue);
    CHECK(h.edits.deleted.empty());

    // Only suppressed recipients: the message is refused.
    auto none_left = h.send({"u@example.net"}, true);
    CHECK(none_left.action == Verdict::Action::Reject);
    CHECK(none_left.xcode == "5.7.1");
    CHECK_THAT(none_left.text, Catch::Contains("every recipient"));
}

TEST_CASE("the removed total counts every removal the log shows, on refused messages too",
          "[suppress][session]") {
    Harness h;
    h.store.entries[h.key("u@example.net")] = entry(SuppressReason::Unsubscribe, {"bulk"});
    h.send({"a@example.net", "u@example.net"}, true);
    CHECK(h.stats.removed == 1);
    // Its only recipient removed, the message is refused: still a removal.
    const auto v = h.send({"u@example.net"}, true);
    CHECK(v.action == Verdict::Action::Reject);
    const auto logged = h.log.count("removed=u@example.net:unsubscribe");
    CHECK(logged == 2);
    CHECK(h.stats.removed == logged);
}

TEST_CASE("VERP return paths name the recipient that remains after suppression",
          "[suppress][session][routing]") {
    Harness h;
    h.policy = policy_from(
        "[suppression]\n[routing]\ndefault_route = \"esp\"\n"
        "[[route]]\nname = \"esp\"\nbounce_domain = \"bounce.esp.test\"\nreturn_path = \"verp\"\n");
    h.send({"bob@example.net"}, true);
    CHECK(h.edits.sender == "bounces+bob=example.net@bounce.esp.test");
    // Two recipients, one unsubscribed from bulk: the one left gets VERP.
    h.store.entries[h.key("u@example.net")] = entry(SuppressReason::Unsubscribe, {"bulk"});
    h.send({"u@example.net", "a@example.net"}, true);
    CHECK(h.edits.deleted == std::vector<std::string>{"<u@example.net>"});
    CHECK(h.edits.sender == "bounces+a=example.net@bounce.esp.test");
}

TEST_CASE("mail without SMTP is never refused per recipient: one lookup, then removal",
          "[suppress][session]") {
    Harness h;
    h.store.entries[h.key("gone@example.net")] = entry(SuppressReason::HardBounce);
    h.store.entries[h.key("u@example.net")] = entry(SuppressReason::Unsubscribe, {"bulk"});
    auto v = h.send({"a@example.net", "gone@example.net", "u@example.net"}, true, true);
    CHECK(v.action == Verdict::Action::Continue);
    for (const auto& r : h.rcpt_verdicts) {
        CHECK(r.action == Verdict::Action::Continue);
    }
    CHECK(h.store.lookups == 1);
    CHECK(h.edits.deleted == std::vector<std::string>{"<gone@example.net>", "<u@example.net>"});
    CHECK(h.stats.removed == 2);
}

TEST_CASE("a connection whose RCPT gets no reply removes instead of refusing",
          "[suppress][session]") {
    // It began before a reload turned [suppression] on: the MTA does not wait
    // for an answer at RCPT, so a refusal there would go nowhere.
    Harness h;
    h.rcpt_replies = false;
    h.store.entries[h.key("gone@example.net")] = entry(SuppressReason::HardBounce);
    auto v = h.send({"a@example.net", "gone@example.net"}, false);
    CHECK(v.action == Verdict::Action::Continue);
    CHECK(h.rcpt_verdicts[1].action == Verdict::Action::Continue);
    CHECK(h.edits.deleted == std::vector<std::string>{"<gone@example.net>"});
    CHECK(h.store.lookups == 1);
}

TEST_CASE("a dead suppression store follows on_store_error", "[suppress][session]") {
    Harness h;
    h.store.down = true;
    h.send({"a@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Tempfail);
    CHECK(h.rcpt_verdicts[0].rcode == "451");
    CHECK(h.rcpt_verdicts[0].xcode == "4.3.0");
    CHECK(h.stats.store_errors_tempfailed == 1);

    auto v = h.send({"a@example.net"}, false, true);  // without SMTP: the message waits
    CHECK(v.action == Verdict::Action::Tempfail);

    h.policy = policy_from("[redis]\non_store_error = \"accept\"\n[suppression]\n");
    auto accepted = h.send({"a@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Continue);
    CHECK(accepted.action == Verdict::Action::Continue);
    CHECK(h.stats.store_errors_accepted == 1);
    CHECK_THAT(h.log.last(), Catch::Contains("suppress=store-error:accepted"));
}

TEST_CASE("[suppression] on_store_error overrides [redis] on_store_error", "[suppress][session]") {
    Harness h;
    h.store.down = true;
    h.policy = policy_from(
        "[redis]\non_store_error = \"tempfail\"\n"
        "[suppression]\non_store_error = \"accept\"\n");
    auto v = h.send({"a@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Continue);
    CHECK(v.action == Verdict::Action::Continue);
    CHECK(h.stats.store_errors_accepted == 1);
    CHECK(h.stats.store_errors_tempfailed == 0);
    CHECK(h.log.count("ACCEPTING the recipient unchecked ([suppression] on_store_error = "
                      "accept)") > 0);

    h.policy = policy_from(
        "[redis]\non_store_error = \"accept\"\n"
        "[suppression]\non_store_error = \"tempfail\"\n");
    h.send({"a@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Tempfail);
    CHECK(h.rcpt_verdicts[0].xcode == "4.3.0");
    CHECK(h.stats.store_errors_tempfailed == 1);
    CHECK(h.log.count("answering tempfail ([suppression] on_store_error = tempfail)") > 0);
}

TEST_CASE("without [suppression] no lookup happens and RCPT needs no reply",
          "[suppress][session]") {
    Harness h;
    h.policy = policy_from("[milter]\n");
    h.store.entries[h.key("gone@example.net")] = entry(SuppressReason::HardBounce);
    h.send({"gone@example.net"}, false);
    CHECK(h.rcpt_verdicts[0].action == Verdict::Action::Continue);
    CHECK(h.store.lookups == 0);
    RecordingLogger log;
    Session s([&] { return h.policy; }, log);
    CHECK_FALSE(s.wants_rcpt_replies());
    Session on([] { return policy_from("[suppression]\n"); }, log);
    CHECK(on.wants_rcpt_replies());
    Session off([] { return policy_from("[suppression]\nenabled = false\n"); }, log);
    CHECK_FALSE(off.wants_rcpt_replies());
}

TEST_CASE("hashed keys: lookups still find the entry", "[suppress][session]") {
    Harness h;
    auto p = std::make_shared<Policy>(*policy_from("[suppression]\n"));
    p->suppression.hash_secret = "s3cret";
    h.policy = p;
    const auto& sha = adapters::sha256_factory();
    SuppressionKeys keys(p->redis.prefix, "s3cret", &sha);
    h.store.entries[keys.entry_key({}, "gone@example.net")] = entry(SuppressReason::HardBounce);
    Session s([&] { return h.policy; }, h.log, nullptr, nullptr, {}, {},
              {&h.store, &sha, ascii_domain, &h.stats});
    s.mail_from({"app@shop.example", "", ""});
    CHECK(s.rcpt_to("<gone@example.net>").action == Verdict::Action::Reject);
    CHECK(s.rcpt_to("<other@example.net>").action == Verdict::Action::Continue);
}

TEST_CASE("recipients removed at the end leave the outcome's recipient domains",
          "[suppress][session][stats]") {
    struct Recorder : OutcomeSink {
        std::vector<MessageOutcome> got;
        void message(const MessageOutcome& o) override { got.push_back(o); }
    } recorder;
    Harness h;
    h.outcomes = &recorder;
    h.store.entries[h.key("u@y.example")] = entry(SuppressReason::Unsubscribe, {"bulk"});
    h.store.entries[h.key("gone@z.example")] = entry(SuppressReason::HardBounce);
    h.send({"a@x.example", "U@Y.example", "b@y.example", "gone@z.example"}, true);
    REQUIRE(recorder.got.size() == 1);
    const auto& o = recorder.got[0];
    CHECK(o.action == MessageOutcome::Action::Pass);
    CHECK(o.recipients == 2);
    CHECK(o.recipient_domains == std::vector<std::string>{"x.example", "y.example"});
    REQUIRE(o.removed.size() == 1);
    CHECK(o.removed[0].address == "u@y.example");
    CHECK(o.removed[0].reason == "unsubscribe");
    REQUIRE(o.refused.size() == 1);
    CHECK(o.refused[0].address == "gone@z.example");
    CHECK(o.refused[0].reason == "hard_bounce");
}
