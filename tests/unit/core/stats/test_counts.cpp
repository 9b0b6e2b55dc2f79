// test_counts.cpp - statistics counts (core/stats/counts): what each outcome
// adds to each dimension, the escaping of values and the bound on keys.
#include <catch2/catch.hpp>

#include "core/stats/counts.hpp"

using namespace staffel::core;
using namespace staffel::core::stats;

namespace {

MessageOutcome accepted() {
    MessageOutcome o;
    o.action = MessageOutcome::Action::Pass;
    o.sender = "App@Shop.Example";
    o.sender_domain = "shop.example";
    o.stream = "bulk";
    o.tag = "nov-1";
    o.recipients = 2;
    o.recipient_domains = {"x.example", "x.example"};
    o.refused = {{"gone@y.example", "hard_bounce"}};
    o.signatures = {{"shop.example", "s1", "rsa-sha256"}, {"shop.example", "e1", "ed25519-sha256"}};
    o.bytes = 1000;
    return o;
}

std::int64_t at(const CountMap& m, Dimension d, const std::string& value,
                const std::string& counter) {
    const auto it = m.find({"2026120413", d, value, counter});
    return it == m.end() ? 0 : it->second;
}

}  // namespace

TEST_CASE("stored values are printable ASCII without '|' or '%', cut, never empty", "[stats]") {
    struct Case {
        std::string in, want;
    };
    const std::vector<Case> cases{
        {"example.com", "example.com"},
        {"a|b", "a%7Cb"},
        {"50%", "50%25"},
        {"two words", "two%20words"},
        {"caf\xc3\xa9", "caf%C3%A9"},
        {"", "none"},
        {std::string(300, 'x'), std::string(kMaxValueBytes, 'x')},
    };
    for (const auto& c : cases) {
        INFO("in: " << c.in);
        CHECK(value_text(c.in) == c.want);
    }
    CHECK(value_text(std::string(255, 'x') + "|").size() == 255);  // no half escape
}

TEST_CASE("an accepted message counts in every dimension, recipients by their domain", "[stats]") {
    Counts counts;
    counts.add(accepted(), "2026120413");
    const auto m = counts.take();
    for (auto [d, v] :
         std::vector<std::pair<Dimension, std::string>>{{Dimension::SenderDomain, "shop.example"},
                                                        {Dimension::Sender, "app@shop.example"},
                                                        {Dimension::Stream, "bulk"},
                                                        {Dimension::Route, "none"},
                                                        {Dimension::Tag, "nov-1"},
                                                        {Dimension::Outcome, "accepted"}}) {
        INFO(to_string(d) << "=" << v);
        CHECK(at(m, d, v, "messages") == 1);
        CHECK(at(m, d, v, "recipients") == 2);
        CHECK(at(m, d, v, "bytes") == 1000);
        CHECK(at(m, d, v, "signed:rsa-sha256") == 1);
        CHECK(at(m, d, v, "signed:ed25519-sha256") == 1);
        CHECK(at(m, d, v, "rcpt_refused:hard_bounce") == 1);
    }
    CHECK(at(m, Dimension::RecipientDomain, "x.example", "messages") == 1);
    CHECK(at(m, Dimension::RecipientDomain, "x.example", "recipients") == 2);
    CHECK(at(m, Dimension::RecipientDomain, "y.example", "rcpt_refused:hard_bounce") == 1);
    CHECK(at(m, Dimension::RecipientDomain, "y.example", "messages") == 0);
    CHECK(counts.take().empty());
}

TEST_CASE("refused, deferred, held and aborted messages count by reason", "[stats]") {
    struct Case {
        MessageOutcome::Action action;
        std::string reason;
        std::string counter;  // "" = nothing counted
        std::string outcome;
    };
    const std::vector<Case> cases{
        {MessageOutcome::Action::Reject, "suppression:hard_bounce",
         "refused:suppression:hard_bounce", "refused"},
        {MessageOutcome::Action::Tempfail, "quota:daily", "deferred:quota:daily", "deferred"},
        {MessageOutcome::Action::Tempfail, "", "deferred:unknown", "deferred"},
        {MessageOutcome::Action::Hold, "quota:hold-c", "held", "held"},
        {MessageOutcome::Action::Aborted, "", "", ""},
    };
    for (const auto& c : cases) {
        INFO("reason " << c.reason);
        MessageOutcome o;
        o.action = c.action;
        o.reason = c.reason;
        o.sender_domain = "shop.example";
        o.recipients = 3;
        Counts counts;
        counts.add(o, "2026120413");
        const auto m = counts.take();
        if (c.counter.empty()) {
            CHECK(m.empty());
            continue;
        }
        CHECK(at(m, Dimension::SenderDomain, "shop.example", c.counter) == 1);
        CHECK(at(m, Dimension::SenderDomain, "shop.example", "messages") == 0);
        CHECK(at(m, Dimension::SenderDomain, "shop.example", "recipients") == 0);
        CHECK(at(m, Dimension::Outcome, c.outcome, c.counter) == 1);
    }
}

TEST_CASE("an aborted message still counts the recipients refused at RCPT", "[stats]") {
    MessageOutcome o;
    o.refused = {{"a@x.example", "complaint"}};
    Counts counts;
    counts.add(o, "2026120413");
    const auto m = counts.take();
    CHECK(at(m, Dimension::Outcome, "aborted", "rcpt_refused:complaint") == 1);
    CHECK(at(m, Dimension::RecipientDomain, "x.example", "rcpt_refused:complaint") == 1);
}

TEST_CASE("past max_keys new values are counted as other, known ones still count", "[stats]") {
    Counts counts(10);
    MessageOutcome o = accepted();
    o.signatures.clear();
    o.refused.clear();
    o.recipient_domains.clear();
    counts.add(o, "2026120413");  // 6 dimensions x 3 counters = 18 keys: over the bound already
    CHECK(counts.folded() > 0);
    Counts big(1000);
    for (int i = 0; i < 500; ++i) {
        o.sender = "u" + std::to_string(i) + "@random.example";
        big.add(o, "2026120413");
    }
    CHECK(big.keys() <= 1000 + 20);
    const auto m = big.take();
    CHECK(at(m, Dimension::Sender, "other", "messages") > 0);
    std::int64_t messages = 0;
    for (const auto& [k, n] : m) {
        if (k.dimension == Dimension::Sender && k.counter == "messages") {
            messages += n;
        }
    }
    CHECK(messages == 500);  // nothing lost, only folded
}

TEST_CASE("counts given back after a failed flush are merged with new ones", "[stats]") {
    Counts counts;
    counts.add(accepted(), "2026120413");
    auto first = counts.take();
    counts.add(accepted(), "2026120413");
    counts.give_back(std::move(first));
    const auto m = counts.take();
    CHECK(at(m, Dimension::Tag, "nov-1", "messages") == 2);
}

TEST_CASE("ingested reports count by sender domain and tag, else unknown", "[stats]") {
    Counts counts;
    counts.add(Ingested{"complaint", "Shop.Example", "nov-1"}, "2026120413");
    counts.add(Ingested{"bounce_hard", "", ""}, "2026120413");
    const auto m = counts.take();
    CHECK(at(m, Dimension::SenderDomain, "shop.example", "complaint") == 1);
    CHECK(at(m, Dimension::Tag, "nov-1", "complaint") == 1);
    CHECK(at(m, Dimension::SenderDomain, "unknown", "bounce_hard") == 1);
    CHECK(at(m, Dimension::Tag, "unknown", "bounce_hard") == 1);
    CHECK(at(m, Dimension::Outcome, "ingested", "bounce_hard") == 1);
}

TEST_CASE("dimension names round-trip", "[stats]") {
    for (auto d : kDimensions) {
        CHECK(parse_dimension(to_string(d)) == d);
    }
    CHECK_FALSE(parse_dimension("recipient"));
    CHECK(hour_label(2026, 12, 4, 9) == "2026120409");
}

TEST_CASE("a message a fallback route carries counts as fallback, in its route too", "[stats]") {
    Counts counts;
    auto o = accepted();
    o.route = "inhouse";
    o.fallback_from = "esp";
    counts.add(o, "2026120413");
    o.fallback_from.clear();
    counts.add(o, "2026120413");
    auto held = accepted();
    held.action = MessageOutcome::Action::Hold;
    held.route = "inhouse";
    held.fallback_from = "esp";
    counts.add(held, "2026120413");
    const auto m = counts.take();
    CHECK(at(m, Dimension::Route, "inhouse", "messages") == 2);
    CHECK(at(m, Dimension::Route, "inhouse", "fallback") == 1);
    CHECK(at(m, Dimension::SenderDomain, "shop.example", "fallback") == 1);
    CHECK(at(m, Dimension::RecipientDomain, "x.example", "fallback") == 0);
}
