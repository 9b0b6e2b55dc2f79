// test_session_quota.cpp - the quota steps of a Session (core/session_quota):
// its answers, holds, refunds and log lines over a fake counter store with
// a fixed clock.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/quota/quota.hpp"
#include "core/route/streams.hpp"
#include "core/session.hpp"
#include "fake_counter_store.hpp"
#include "fake_message_edits.hpp"
#include "recording_logger.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::policy_from;
using test::RecordingLogger;
using test::utc;

// Sends one message through a Session; returns the verdict.
struct Harness {
    RecordingLogger log;
    test::FakeCounterStore store;
    QuotaStats stats;
    std::shared_ptr<const Policy> policy;
    std::int64_t now = utc(2026, 11, 23, 12);

    Verdict send(const std::string& from, int rcpts, const std::string& sasl = "") {
        Session s([&] { return policy; }, log, nullptr, nullptr, [&] { return now; },
                  {&store, &stats});
        s.connect("client.example.net", "192.0.2.7");
        s.mail_from({from, sasl, ""});
        for (int i = 0; i < rcpts; ++i) {
            s.rcpt_to("r" + std::to_string(i) + "@example.net");
        }
        return s.end_of_message("QID");
    }
    [[nodiscard]] const std::string& last_line() const { return log.lines.back().second; }
};

}  // namespace

TEST_CASE("the sixth recipient of a 5/1d quota is tempfailed, naming the limit",
          "[quota][session]") {
    Harness h;
    h.policy = policy_from(R"(
[general]
time_zone = "Europe/Berlin"
[[quota]]
name = "per-sender-daily"
key = "sender"
limit = "5/1d"
action = "tempfail"
)");
    for (int i = 0; i < 5; ++i) {
        CHECK(h.send("app@example.com", 1) == Verdict::proceed());
    }
    CHECK_THAT(h.last_line(), Catch::Contains("quota=ok action=pass"));
    auto v = h.send("app@example.com", 1);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
    CHECK(v.xcode == "4.7.1");
    CHECK(v.text ==
          "Staffel: quota \"per-sender-daily\" exceeded for sender app@example.com: 5 recipients "
          "per day; resets 2026-11-24 00:00 CET");
    CHECK_THAT(h.last_line(), Catch::Contains("quota=over:per-sender-daily action=tempfail"));
    CHECK(h.store.charges == 6);  // one round trip per message
    // Another sender has its own counter.
    CHECK(h.send("other@example.com", 1) == Verdict::proceed());
    // A long sender is cut short in the reply (an SMTP line has room for ~500).
    const std::string lengthy(300, 'x');
    for (int i = 0; i < 5; ++i) {
        h.send(lengthy + "@example.com", 1);
    }
    v = h.send(lengthy + "@example.com", 1);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.text.size() < 300);
    CHECK_THAT(v.text, Catch::Contains("xxx...: 5 recipients per day"));
    // A new day in Berlin (23:00 UTC) starts afresh.
    h.now = utc(2026, 11, 23, 23);
    CHECK(h.send("app@example.com", 1) == Verdict::proceed());
}

TEST_CASE("several limits on one message: admitted whole or not at all", "[quota][session]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "sender"
limit = "10/1d"
[[quota]]
name = "domain"
key = "sender_domain"
limit = "12/1d"
action = "reject"
)");
    CHECK(h.send("a@example.com", 8) == Verdict::proceed());
    // 3 more fit the sender's 10? No (11): nothing is charged anywhere.
    auto v = h.send("a@example.com", 3);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK_THAT(v.text, Catch::Contains("quota \"sender\""));
    // Another sender of the domain: its 5 would pass the sender limit but
    // not the domain's 12: reject, and the domain counter is still 8.
    v = h.send("b@example.com", 5);
    CHECK(v.action == Verdict::Action::Reject);
    CHECK(v.rcode == "550");
    CHECK(v.xcode == "5.7.1");
    CHECK_THAT(v.text, Catch::Contains("quota \"domain\" exceeded for sender_domain example.com"));
    CHECK(h.send("b@example.com", 4) == Verdict::proceed());
    CHECK(h.send("c@example.com", 1).action == Verdict::Action::Reject);
}

TEST_CASE("hold quarantines, log only counts and logs", "[quota][session]") {
    Harness h;
    h.policy = policy_from(R"(
[[quota]]
name = "held"
limit = "1/1d"
action = "hold"
[[quota]]
name = "shadow"
key = "client_ip"
limit = "2/1d"
action = "log"
)");
    CHECK(h.send("a@example.com", 1) == Verdict::proceed());
    auto v = h.send("a@example.com", 1);
    CHECK(v.action == Verdict::Action::Continue);
    CHECK_THAT(v.quarantine, Catch::StartsWith("Staffel: quota \"held\" exceeded"));
    CHECK_THAT(h.last_line(), Catch::Contains("quota=over:held action=hold"));
    // The shadow limit of the client is past its 2 but lets mail through.
    CHECK(h.send("b@example.com", 1) == Verdict::proceed());
    CHECK(h.send("c@example.com", 1) == Verdict::proceed());
    CHECK_THAT(h.last_line(), Catch::Contains("quota=shadow-over:shadow action=pass"));
    CHECK(h.store.values["staffel:q:{ip:192.0.2.7}:shadow:d2026-11-23"] == 3);
}

TEST_CASE("a store error tempfails by default, or accepts and says so", "[quota][session]") {
    Harness h;
    h.policy = policy_from("[[quota]]\nname = \"q\"\nlimit = \"5/1d\"\n");
    h.store.fail = true;
    auto v = h.send("a@example.com", 1);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
    CHECK(v.xcode == "4.3.0");
    CHECK(h.stats.store_errors_tempfailed == 1);
    CHECK_THAT(h.log.lines[h.log.lines.size() - 2].second,
               Catch::StartsWith("quota store error: Redis at 127.0.0.1:6379: connection refused; "
                                 "answering tempfail"));
    CHECK_THAT(h.last_line(), Catch::Contains("quota=store-error:tempfail action=tempfail"));
    h.policy = policy_from(
        "[redis]\non_store_error = \"accept\"\n[[quota]]\nname = \"q\"\nlimit = \"5/1d\"\n");
    CHECK(h.send("a@example.com", 1) == Verdict::proceed());
    CHECK(h.stats.store_errors_accepted == 1);
    CHECK_THAT(h.log.lines[h.log.lines.size() - 2].second,
               Catch::Contains("ACCEPTING the message unchecked"));
    // With no store at all, the same policy applies.
    RecordingLogger log;
    Session s([&] { return h.policy; }, log, nullptr, nullptr, {}, {});
    s.mail_from({"a@example.com", "", ""});
    s.rcpt_to("b@example.net");
    CHECK(s.end_of_message("Q") == Verdict::proceed());
}

TEST_CASE("[[quota]] on_store_error: a message passes unchecked only if every limit says accept",
          "[quota][session]") {
    Harness h;
    h.store.fail = true;
    const std::string open_q =
        "[[quota]]\nname = \"open\"\nlimit = \"5/1d\"\non_store_error = \"accept\"\n";
    // Overrides a tempfail [redis].
    h.policy = policy_from("[redis]\non_store_error = \"tempfail\"\n" + open_q);
    CHECK(h.send("a@example.com", 1) == Verdict::proceed());
    CHECK(h.stats.store_errors_accepted == 1);
    CHECK_THAT(h.log.lines[h.log.lines.size() - 2].second,
               Catch::Contains("ACCEPTING the message unchecked ([[quota]] \"open\" "
                               "on_store_error = accept)"));
    // A second limit inheriting [redis] tempfail closes it again.
    h.policy = policy_from("[redis]\non_store_error = \"tempfail\"\n" + open_q +
                           "[[quota]]\nname = \"inherits\"\nlimit = \"9/1d\"\n");
    auto v = h.send("a@example.com", 1);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.xcode == "4.3.0");
    CHECK(h.stats.store_errors_tempfailed == 1);
    CHECK_THAT(h.log.lines[h.log.lines.size() - 2].second,
               Catch::Contains("answering tempfail (on_store_error = tempfail)"));
    // A fail-closed limit under a fail-open [redis].
    h.policy = policy_from(
        "[redis]\non_store_error = \"accept\"\n"
        "[[quota]]\nname = \"closed\"\nlimit = \"5/1d\"\n"
        "on_store_error = \"tempfail\"\n");
    v = h.send("a@example.com", 1);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(h.stats.store_errors_tempfailed == 2);
    CHECK_THAT(h.log.lines[h.log.lines.size() - 2].second,
               Catch::Contains("answering tempfail ([[quota]] \"closed\" on_store_error = "
                               "tempfail)"));
    // A limit that does not apply to the message has no say.
    h.policy = policy_from(
        "[redis]\non_store_error = \"accept\"\n"
        "[[quota]]\nname = \"other\"\nlimit = \"5/1d\"\n"
        "domains = [\"elsewhere.example\"]\non_store_error = \"tempfail\"\n"
        "[[quota]]\nname = \"mine\"\nlimit = \"5/1d\"\n");
    CHECK(h.send("a@example.com", 1) == Verdict::proceed());
    CHECK(h.stats.store_errors_accepted == 2);
}

namespace {

struct Key : SigningKey {
    bool broken = false;
    [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::Ed25519Sha256; }
    [[nodiscard]] Result<std::string> sign(std::string_view) const override {
        if (broken) {
            return make_error("provider failure");
        }
        return std::string(64, '\x01');
    }
};
struct NullSha : Sha256 {
    void update(std::string_view) override {}
    Result<Sha256Digest> finish() override { return Sha256Digest{}; }
};
struct NullShaFactory : Sha256Factory {
    [[nodiscard]] std::unique_ptr<Sha256> make() const override {
        return std::make_unique<NullSha>();
    }
};
using Edits = test::FakeMessageEdits;

}  // namespace

TEST_CASE("a message refused after charging is refunded", "[quota][session]") {
    Harness h;
    auto base = policy_from(R"(
[[quota]]
name = "daily"
limit = "10/1d"
[[quota]]
name = "rate"
limit = "100/1h"
burst = 5
)");
    auto key = std::make_shared<Key>();
    auto p = std::make_shared<Policy>(*base);
    DkimKeySpec spec;
    spec.domain = "example.com";
    spec.selector = "s1";
    spec.key = key;
    p->dkim.keys.push_back(spec);
    h.policy = p;
    NullShaFactory sha;
    h.store.now_us = h.now * 1'000'000;
    const std::string daily = "staffel:q:{s:a@example.com}:daily:d2026-11-23";
    const std::string rate = "staffel:q:{s:a@example.com}:rate:r";
    auto send = [&](Edits& edits) {
        Session s([&] { return h.policy; }, h.log, nullptr, &sha, [&] { return h.now; },
                  {&h.store, &h.stats});
        s.content_negotiated(true);
        s.connect("h", "127.0.0.1");
        s.mail_from({"a@example.com", "", ""});
        s.rcpt_to("x@example.net");
        s.rcpt_to("y@example.net");
        s.header("From", " a@example.com");
        s.end_of_headers();
        return s.end_of_message("Q", &edits);
    };
    Edits ok;
    CHECK(send(ok).action == Verdict::Action::Continue);
    CHECK(ok.inserted == 1);
    CHECK(h.store.values[daily] == 2);
    const auto tat = h.store.values[rate];
    // The key fails to sign after the charge: tempfail, and both counters
    // are back where they were.
    key->broken = true;
    auto v = send(ok);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(h.store.refunds == 1);
    CHECK(h.store.values[daily] == 2);
    CHECK(h.store.values[rate] == tat);
    CHECK_THAT(h.last_line(), Catch::Contains("quota=ok,refunded"));
    // The MTA refuses the DKIM-Signature header: the same.
    key->broken = false;
    Edits refusing;
    refusing.accept_headers = false;
    v = send(refusing);
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.xcode == "4.3.0");
    CHECK(h.store.refunds == 2);
    CHECK(h.store.values[daily] == 2);
    CHECK(h.store.values[rate] == tat);
}

TEST_CASE("a stream quota added by a reload tempfails connections that send no headers",
          "[quota][session]") {
    Harness h;
    h.policy = policy_from("[[quota]]\nname = \"q\"\nlimit = \"5/1d\"\n");
    Session s([&] { return h.policy; }, h.log, nullptr, nullptr, [&] { return h.now; },
              {&h.store, &h.stats});
    CHECK_FALSE(s.wants_content());  // a sender quota needs no header
    s.content_negotiated(false);
    h.policy =
        policy_from("[[quota]]\nname = \"q\"\nkey = \"stream\"\nlimit = \"5/1d\"\n");  // reloaded
    s.mail_from({"a@example.com", "", ""});
    s.rcpt_to("b@example.net");
    auto v = s.end_of_message("Q");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.xcode == "4.3.0");
    CHECK(h.store.charges == 0);
    CHECK_THAT(h.last_line(), Catch::Contains("quota=error:reloaded action=tempfail"));
    CHECK(h.last_line().find("dkim=") == std::string::npos);
}
