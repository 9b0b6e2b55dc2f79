// test_session.cpp - the per-connection state machine with a recording logger.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/session.hpp"
#include "recording_logger.hpp"

using namespace staffel::core;

namespace {

using staffel::test::RecordingLogger;

struct CountingInFlight : InFlight {
    int now = 0;
    int max = 0;
    void begin() override { max = std::max(max, ++now); }
    void end() override { --now; }
};

std::shared_ptr<const Policy> policy_with_digest(const char* digest) {
    auto p = std::make_shared<Policy>();
    p->digest = digest;
    return p;
}

}  // namespace

TEST_CASE("one log line per message with its envelope", "[session]") {
    RecordingLogger log;
    CountingInFlight flight;
    auto policy = policy_with_digest("aaaa1111");
    Session s([&] { return policy; }, log, &flight);
    s.connect("mail.example.net", "192.0.2.7");
    CHECK(flight.now == 1);  // the connection is open
    CHECK(s.mail_from({"app@example.com", "", "4Xyz"}) == Verdict::proceed());
    s.rcpt_to("a@example.net");
    s.rcpt_to("b@example.net");
    CHECK(s.end_of_message("4QID") == Verdict::proceed());
    CHECK(flight.now == 1);  // until it closes
    s.close();
    CHECK(flight.now == 0);
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].first == LogLevel::Info);
    CHECK(log.lines[0].second ==
          "4QID: client=mail.example.net[192.0.2.7] identity=ip:192.0.2.7 "
          "from=<app@example.com> rcpts=2 policy=aaaa1111 action=pass");
}

TEST_CASE("a message keeps the policy it started with; the next takes the new one", "[session]") {
    RecordingLogger log;
    auto current = policy_with_digest("00000001");
    Session s([&] { return current; }, log);
    s.connect("h", "127.0.0.1");
    s.mail_from({"a@example.com", "", ""});
    current = policy_with_digest("00000002");  // a reload mid-message
    s.rcpt_to("x@example.net");
    s.end_of_message("Q1");
    s.mail_from({"a@example.com", "", ""});
    s.rcpt_to("x@example.net");
    s.end_of_message("Q2");
    REQUIRE(log.lines.size() == 2);
    CHECK(log.lines[0].second.find("policy=00000001") != std::string::npos);
    CHECK(log.lines[1].second.find("policy=00000002") != std::string::npos);
}

TEST_CASE("SASL identity, null sender and missing queue id", "[session]") {
    RecordingLogger log;
    auto policy = policy_with_digest("p");
    Session s([&] { return policy; }, log);
    s.connect("localhost", "127.0.0.1");
    s.mail_from({"", "alice", "EARLYQID"});
    s.end_of_message("");
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].second.starts_with("EARLYQID: "));
    CHECK(log.lines[0].second.find("identity=sasl:alice from=<> rcpts=0") != std::string::npos);
}

TEST_CASE("abort, a second MAIL FROM and close end the message once", "[session]") {
    RecordingLogger log;
    log.threshold = LogLevel::Debug;
    CountingInFlight flight;
    auto policy = policy_with_digest("p");
    {
        Session s([&] { return policy; }, log, &flight);
        s.connect("h", "127.0.0.1");
        s.mail_from({"a@example.com", "", ""});
        s.abort();
        CHECK_FALSE(s.in_message());
        s.abort();  // nothing under way: no effect
        s.mail_from({"a@example.com", "", ""});
        s.mail_from({"b@example.com", "", ""});  // without an end in between
        CHECK(s.in_message());
        s.close();
        s.close();  // twice: counted once
        CHECK(flight.now == 0);
    }  // the destructor closes again: still counted once
    CHECK(flight.now == 0);
    CHECK(flight.max == 1);
    std::vector<std::string> ends;
    for (const auto& [level, line] : log.lines) {
        CHECK(level == LogLevel::Debug);  // aborted messages are not "done": debug only
        if (line.find("action=") != std::string::npos) {
            ends.push_back(line);
        }
    }
    REQUIRE(ends.size() == 3);
    for (const auto& line : ends) {
        CHECK(line.find("action=aborted") != std::string::npos);
    }
}

TEST_CASE("outside text is escaped and bounded in log lines", "[session]") {
    CHECK(log_escape("a b") == "a\\x20b");
    CHECK(log_escape("x\r\ny") == "x\\x0d\\x0ay");
    CHECK(log_escape("\xff") == "\\xff");
    CHECK(log_escape("back\\slash") == "back\\x5cslash");
    const auto long_text = std::string(1000, 'a');
    const auto got = log_escape(long_text, 16);
    CHECK(got == std::string(16, 'a') + "...");

    RecordingLogger log;
    auto policy = policy_with_digest("p");
    Session s([&] { return policy; }, log);
    s.connect("evil\nhost", "127.0.0.1");
    s.mail_from({"a\nINJECT@example.com", "", ""});
    s.end_of_message("Q");
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].second.find('\n') == std::string::npos);
}

namespace {

struct FixedKey : SigningKey {
    [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::Ed25519Sha256; }
    [[nodiscard]] Result<std::string> sign(std::string_view) const override {
        return std::string(64, '\x01');
    }
};

// A SHA-256 stand-in: the digest is the input length, enough to see that
// body bytes arrived.
struct LengthSha : Sha256 {
    std::size_t n = 0;
    void update(std::string_view d) override { n += d.size(); }
    Result<Sha256Digest> finish() override {
        Sha256Digest out{};
        out[0] = static_cast<std::uint8_t>(n);
        n = 0;
        return out;
    }
};
struct LengthShaFactory : Sha256Factory {
    [[nodiscard]] std::unique_ptr<Sha256> make() const override {
        return std::make_unique<LengthSha>();
    }
};

std::shared_ptr<const Policy> signing_policy() {
    auto p = std::make_shared<Policy>();
    p->digest = "d1";
    auto& k = p->dkim.keys.emplace_back();
    k.domain = "example.com";
    k.selector = "s1";
    k.key = std::make_shared<FixedKey>();
    p->milter.max_headers = 10;
    return p;
}

}  // namespace

TEST_CASE("a signing policy signs at end of message and logs d/s", "[session][dkim]") {
    RecordingLogger log;
    LengthShaFactory sha;
    auto policy = signing_policy();
    Session s([&] { return policy; }, log, nullptr, &sha, [] { return std::int64_t{1000}; });
    CHECK(s.wants_content());
    s.content_negotiated(true);
    s.connect("h", "127.0.0.1");
    s.mail_from({"a@example.com", "", ""});
    s.rcpt_to("b@example.net");
    s.header("From", " a@example.com");
    s.header("Subject", " hi");
    s.end_of_headers();
    s.body("hello\r\n");
    auto v = s.end_of_message("Q1");
    CHECK(v.action == Verdict::Action::Continue);
    REQUIRE(v.prepend.size() == 1);
    CHECK(v.prepend[0].name == "DKIM-Signature");
    CHECK(v.prepend[0].value.find("t=1000;") != std::string::npos);
    CHECK(v.prepend[0].value.find("d=example.com; s=s1;") != std::string::npos);
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].second.find(
              " dkim=example.com/s1 dmarc=pass(dkim=example.com,spf=example.com) action=pass") !=
          std::string::npos);
}

TEST_CASE("too many header fields: 552 5.3.4 at end of message, nothing signed",
          "[session][dkim]") {
    RecordingLogger log;
    LengthShaFactory sha;
    auto policy = signing_policy();
    Session s([&] { return policy; }, log, nullptr, &sha);
    s.content_negotiated(true);
    s.connect("h", "127.0.0.1");
    s.mail_from({"a@example.com", "", ""});
    s.header("From", " a@example.com");
    for (int i = 0; i < 20; ++i) {
        s.header("X-Filler", " x");
    }
    s.end_of_headers();
    s.body("hello\r\n");
    auto v = s.end_of_message("Q2");
    CHECK(v.action == Verdict::Action::Reject);
    CHECK(v.rcode == "552");
    CHECK(v.xcode == "5.3.4");
    CHECK(v.prepend.empty());
    REQUIRE(log.lines.size() == 1);
    CHECK(log.lines[0].second.find("dkim=none:header-too-large action=reject") !=
          std::string::npos);
    // The next message on the connection starts afresh.
    s.mail_from({"a@example.com", "", ""});
    s.header("From", " a@example.com");
    s.end_of_headers();
    CHECK(s.end_of_message("Q3").prepend.size() == 1);
}

TEST_CASE("a connection negotiated without content is tempfailed once keys appear",
          "[session][dkim]") {
    RecordingLogger log;
    LengthShaFactory sha;
    auto policy = policy_with_digest("p0");  // no keys when the connection opened
    Session s([&] { return policy; }, log, nullptr, &sha);
    CHECK_FALSE(s.wants_content());
    s.content_negotiated(false);
    s.mail_from({"a@example.com", "", ""});
    CHECK(s.end_of_message("Q1").action == Verdict::Action::Continue);
    policy = signing_policy();  // reload adds keys
    s.mail_from({"a@example.com", "", ""});
    auto v = s.end_of_message("Q2");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
}

TEST_CASE("a key that fails to sign tempfails the message, never passes it unsigned",
          "[session][dkim]") {
    struct BrokenKey : SigningKey {
        [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::RsaSha256; }
        [[nodiscard]] Result<std::string> sign(std::string_view) const override {
            return make_error("provider failure");
        }
    };
    RecordingLogger log;
    LengthShaFactory sha;
    auto p = std::make_shared<Policy>(*signing_policy());
    p->dkim.keys[0].key = std::make_shared<BrokenKey>();
    std::shared_ptr<const Policy> policy = p;
    Session s([&] { return policy; }, log, nullptr, &sha);
    s.content_negotiated(true);
    s.connect("h", "127.0.0.1");
    s.mail_from({"a@example.com", "", ""});
    s.header("From", " a@example.com");
    s.end_of_headers();
    auto v = s.end_of_message("Q1");
    CHECK(v.action == Verdict::Action::Tempfail);
    CHECK(v.rcode == "451");
    CHECK(v.xcode == "4.3.0");
    CHECK(v.prepend.empty());
    REQUIRE(log.lines.size() == 2);
    CHECK(log.lines[0].second.find("provider failure") != std::string::npos);
    CHECK(log.lines[1].second.find("dkim=error action=tempfail") != std::string::npos);
}

TEST_CASE("a key rotation takes effect at its time, without a reload", "[session][dkim]") {
    // s1 signs until 2000, s2 from then on: the session's clock decides,
    // message by message, within one connection and one policy.
    auto p = std::make_shared<Policy>(*signing_policy());
    p->dkim.keys[0].not_after = 2000;
    auto next = p->dkim.keys[0];
    next.selector = "s2";
    next.not_before = 2000;
    next.not_after.reset();
    p->dkim.keys.push_back(next);
    std::shared_ptr<const Policy> policy = p;
    RecordingLogger log;
    LengthShaFactory sha;
    std::int64_t now = 1999;
    Session s([&] { return policy; }, log, nullptr, &sha, [&] { return now; });
    s.content_negotiated(true);
    s.connect("h", "127.0.0.1");
    const auto selector_at = [&](std::int64_t t, const char* queue_id) {
        now = t;
        s.mail_from({"a@example.com", "", ""});
        s.rcpt_to("b@example.net");
        s.header("From", " a@example.com");
        s.end_of_headers();
        s.body("hello\r\n");
        auto v = s.end_of_message(queue_id);
        REQUIRE(v.prepend.size() == 1);
        const auto& value = v.prepend[0].value;
        const auto at = value.find(" s=");
        return value.substr(at + 3, value.find(';', at) - at - 3);
    };
    CHECK(selector_at(1999, "Q1") == "s1");
    CHECK(selector_at(2000, "Q2") == "s2");
    CHECK(selector_at(999999, "Q3") == "s2");
    REQUIRE(log.lines.size() == 3);
    CHECK(log.lines[1].second.find(" dkim=example.com/s2 ") != std::string::npos);
}
