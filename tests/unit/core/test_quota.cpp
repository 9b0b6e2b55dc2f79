// test_quota.cpp - quotas, rates and warm-up ramps over a fake store with a
// fixed clock; the session's answers and log lines; the [[quota]] schema.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.hpp"
#include "config/zone.hpp"
#include "core/quota/quota.hpp"
#include "core/route/streams.hpp"
#include "core/session.hpp"
#include "fake_counter_store.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

struct RecordingLogger : Logger {
    std::vector<std::pair<LogLevel, std::string>> lines;
    void log(LogLevel level, std::string_view m) override {
        lines.emplace_back(level, std::string(m));
    }
    [[nodiscard]] bool enabled(LogLevel level) const override { return level >= LogLevel::Info; }
};

// Epoch seconds of a UTC civil time.
std::int64_t utc(int y, int mo, int d, int h = 0, int mi = 0) {
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60;
}

std::shared_ptr<const Policy> policy_from(const std::string& toml) {
    auto r = config::load_policy_text(toml, "test.toml");
    if (!r.policy) {
        for (const auto& e : r.errors) {
            FAIL(e.to_string());
        }
    }
    return r.policy;
}

std::string load_error(const std::string& toml) {
    auto r = config::load_policy_text(toml, "test.toml");
    REQUIRE_FALSE(r.policy);
    return r.errors.front().to_string();
}

const ZoneRules& berlin() {
    static const ZoneRules z = [] {
        auto r = config::load_zone("Europe/Berlin");
        REQUIRE(r);
        return r.value();
    }();
    return z;
}

QuotaLimit daily(const char* name, std::uint64_t count) {
    QuotaLimit l;
    l.name = name;
    l.limit = {count, std::chrono::hours(24)};
    l.window = QuotaWindow::Day;
    return l;
}

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

TEST_CASE("calendar day windows follow Europe/Berlin across both DST changes", "[quota]") {
    auto l = daily("d", 100);
    struct Case {
        std::int64_t now;
        const char* period;
        std::int64_t resets_at;
    };
    const Case cases[] = {
        // 23:30 CET on the eve of the spring change: the day ends at 23:00 UTC.
        {utc(2026, 3, 28, 22, 30), ":d2026-03-28", utc(2026, 3, 28, 23)},
        // Just after local midnight: a 23-hour day, ending 22:00 UTC (CEST).
        {utc(2026, 3, 28, 23, 0), ":d2026-03-29", utc(2026, 3, 29, 22)},
        {utc(2026, 3, 29, 21, 59), ":d2026-03-29", utc(2026, 3, 29, 22)},
        // The autumn change: a 25-hour day from 22:00 UTC to 23:00 UTC.
        {utc(2026, 10, 24, 22, 0), ":d2026-10-25", utc(2026, 10, 25, 23)},
        {utc(2026, 10, 25, 22, 59), ":d2026-10-25", utc(2026, 10, 25, 23)},
        {utc(2026, 10, 25, 23, 0), ":d2026-10-26", utc(2026, 10, 26, 23)},
    };
    for (const auto& c : cases) {
        auto planned =
            plan_charges({l}, berlin(), "p:", {.address = "a@example.com"}, "", 1, c.now);
        REQUIRE(planned.size() == 1);
        INFO("now " << c.now);
        CHECK_THAT(planned[0].charge.key, Catch::EndsWith(c.period));
        CHECK(planned[0].resets_at == c.resets_at);
        CHECK(planned[0].charge.expire_at_ms == (c.resets_at + 3600) * 1000);
    }
    // The day after the spring change is 23 hours long, after the autumn one 25.
    CHECK(
        plan_charges({l}, berlin(), "", {.address = "a@x.org"}, "", 1, utc(2026, 3, 29, 12))[0]
                .resets_at -
            plan_charges({l}, berlin(), "", {.address = "a@x.org"}, "", 1, utc(2026, 3, 28, 12))[0]
                .resets_at ==
        23 * 3600);
    CHECK(
        plan_charges({l}, berlin(), "", {.address = "a@x.org"}, "", 1, utc(2026, 10, 25, 12))[0]
                .resets_at -
            plan_charges({l}, berlin(), "", {.address = "a@x.org"}, "", 1, utc(2026, 10, 24, 12))[0]
                .resets_at ==
        25 * 3600);
}

TEST_CASE("week and month windows start on Monday and on the first", "[quota]") {
    auto week = daily("w", 10);
    week.window = QuotaWindow::Week;
    auto month = daily("m", 10);
    month.window = QuotaWindow::Month;
    // Wednesday 2026-12-30 12:00 UTC.
    auto planned = plan_charges({week, month}, berlin(), "", {.address = "a@x.org"}, "", 1,
                                utc(2026, 12, 30, 12));
    REQUIRE(planned.size() == 2);
    CHECK_THAT(planned[0].charge.key, Catch::EndsWith(":w:w2026-12-28"));
    CHECK(planned[0].resets_at == utc(2027, 1, 3, 23));  // Monday 2027-01-04 00:00 CET
    CHECK_THAT(planned[1].charge.key, Catch::EndsWith(":m:m2026-12"));
    CHECK(planned[1].resets_at == utc(2026, 12, 31, 23));
}

TEST_CASE("keys carry the prefix, a hash tag per identity and escape what they must", "[quota]") {
    QuotaLimit by_domain = daily("per-domain", 5);
    by_domain.key = QuotaKey::SenderDomain;
    QuotaLimit by_user = daily("per-user", 5);
    by_user.key = QuotaKey::SaslUser;
    QuotaLimit by_ip = daily("per-ip", 5);
    by_ip.key = QuotaKey::ClientIp;
    const auto now = utc(2026, 11, 23, 12);
    auto planned = plan_charges(
        {daily("per-sender", 5), by_domain, by_user, by_ip}, ZoneRules::utc(), "staffel:",
        {.sasl_user = "bob", .client_ip = "2001:db8::1", .address = "Alice{x}@Example.COM"}, "", 1,
        now);
    REQUIRE(planned.size() == 4);
    CHECK(planned[0].charge.key == "staffel:q:{s:alice%7bx%7d@example.com}:per-sender:d2026-11-23");
    CHECK(planned[1].charge.key == "staffel:q:{d:example.com}:per-domain:d2026-11-23");
    CHECK(planned[2].charge.key == "staffel:q:{u:bob}:per-user:d2026-11-23");
    CHECK(planned[3].charge.key == "staffel:q:{ip:2001:db8::1}:per-ip:d2026-11-23");
    // No SASL login, null sender: limits keyed on them do not apply.
    CHECK(plan_charges({daily("per-sender", 5), by_user}, ZoneRules::utc(), "", {}, "", 1, now)
              .empty());
}

TEST_CASE("matches narrow a limit to domains, users, networks and streams", "[quota]") {
    auto l = daily("narrow", 5);
    l.domains = {"*.example.com"};
    l.networks = {parse_network("10.0.0.0/8").value()};
    const auto now = utc(2026, 11, 23, 12);
    struct Case {
        Sender s;
        std::string_view stream;
        bool applies;
    };
    const Case cases[] = {
        {{.client_ip = "10.1.2.3", .address = "a@mail.example.com"}, "", true},
        {{.client_ip = "10.1.2.3", .address = "a@example.com"}, "", false},
        {{.client_ip = "192.0.2.1", .address = "a@mail.example.com"}, "", false},
    };
    for (const auto& c : cases) {
        CHECK(plan_charges({l}, ZoneRules::utc(), "", c.s, c.stream, 1, now).empty() != c.applies);
    }
    auto bulk = daily("bulk-only", 5);
    bulk.streams = {"bulk"};
    CHECK(
        plan_charges({bulk}, ZoneRules::utc(), "", {.address = "a@x.org"}, "bulk", 1, now).size() ==
        1);
    CHECK(
        plan_charges({bulk}, ZoneRules::utc(), "", {.address = "a@x.org"}, "transactional", 1, now)
            .empty());
}

TEST_CASE("a rolling rate admits its burst at once, then one every interval", "[quota]") {
    QuotaLimit l;
    l.name = "rate";
    l.limit = {60, std::chrono::minutes(1)};  // one a second
    l.window = QuotaWindow::Rolling;
    l.burst = 10;
    test::FakeCounterStore store;
    store.now_us = 1'000'000'000'000;
    const std::vector<QuotaLimit> limits{l};  // outlives the plans that point into it
    auto charge = [&](std::int64_t rcpts) {
        auto planned =
            plan_charges(limits, ZoneRules::utc(), "", {.address = "a@x.org"}, "", rcpts, 0);
        std::vector<CounterCharge> cs{planned[0].charge};
        return std::make_pair(store.charge(cs).value(), planned);
    };
    for (int i = 0; i < 10; ++i) {
        INFO("message " << i);
        CHECK(charge(1).first.admitted);
    }
    auto [denied, planned] = charge(1);
    CHECK_FALSE(denied.admitted);
    CHECK(denied.counters[0].retry_at_us == store.now_us + 1'000'000);
    auto d = decide(planned, denied, ZoneRules::utc());
    CHECK(d.kind == QuotaDecision::Kind::Tempfail);
    CHECK(d.text ==
          "Staffel: rate \"rate\" exceeded for sender a@x.org: 60 recipients per 1m, burst 10; "
          "retry in 1s");
    store.now_us += 1'000'000;  // one interval later: exactly one more
    CHECK(charge(1).first.admitted);
    CHECK_FALSE(charge(1).first.admitted);
    store.now_us += 5'000'000;  // five intervals: a message of five
    CHECK(charge(5).first.admitted);
    CHECK_FALSE(charge(1).first.admitted);
    // More recipients than the burst can never fit: a permanent answer.
    auto [never, p2] = charge(11);
    CHECK(never.counters[0].retry_at_us == -1);
    auto d2 = decide(p2, never, ZoneRules::utc());
    CHECK(d2.kind == QuotaDecision::Kind::Reject);
    CHECK(d2.rcode == "550");
    CHECK_THAT(d2.text, Catch::Contains("message has 11 recipients, more than rate \"rate\""));
}

TEST_CASE("a warm-up ramp grows the daily limit from its start date", "[quota]") {
    auto l = daily("warm", 500);
    l.warmup = WarmUp{days_from_civil(2026, 11, 20), 50, 2.0, {}};
    struct Case {
        int day;
        std::int64_t want;
    };
    const Case cases[] = {{19, 50},  {20, 50},  {21, 100}, {22, 200},
                          {23, 400}, {24, 500}, {30, 500}};
    for (const auto& c : cases) {
        INFO("2026-11-" << c.day);
        auto p = plan_charges({l}, ZoneRules::utc(), "", {.address = "a@x.org"}, "", 1,
                              utc(2026, 11, c.day, 12));
        CHECK(p[0].effective_limit == c.want);
        CHECK(p[0].charge.limit == c.want);
    }
    auto s = daily("sched", 1000);
    s.warmup = WarmUp{days_from_civil(2026, 11, 20), 0, 1.0, {20, 70, 300}};
    const Case sched[] = {{20, 20}, {21, 70}, {22, 300}, {23, 1000}};
    for (const auto& c : sched) {
        INFO("schedule, 2026-11-" << c.day);
        auto p = plan_charges({s}, ZoneRules::utc(), "", {.address = "a@x.org"}, "", 1,
                              utc(2026, 11, c.day, 12));
        CHECK(p[0].effective_limit == c.want);
    }
    // The refusal says the limit is warming up.
    test::FakeCounterStore store;
    const std::vector<QuotaLimit> limits{l};
    auto p = plan_charges(limits, ZoneRules::utc(), "", {.address = "a@x.org"}, "", 60,
                          utc(2026, 11, 20, 12));
    std::vector<CounterCharge> cs{p[0].charge};
    auto out = store.charge(cs).value();
    CHECK_FALSE(out.admitted);
    CHECK(decide(p, out, ZoneRules::utc()).text ==
          "Staffel: quota \"warm\" exceeded for sender a@x.org: 50 recipients per day (warming "
          "up to 500); resets 2026-11-21 00:00 UTC");
}

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
struct Edits : MessageEdits {
    bool accept_headers = true;
    int inserted = 0;
    bool insert_header(std::string_view, std::string_view) override {
        inserted += accept_headers ? 1 : 0;
        return accept_headers;
    }
    bool quarantine(std::string_view) override { return true; }
    bool delete_recipient(std::string_view) override { return true; }
    bool change_sender(std::string_view) override { return true; }
    bool remove_header(std::string_view, int) override { return true; }
    bool append_header(std::string_view, std::string_view) override { return true; }
};

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

TEST_CASE("[[quota]] in the policy: the minimal form, defaults and precise errors",
          "[quota][config]") {
    auto p = policy_from(R"(
[[quota]]
name = "per-sender-daily"
key = "sender"            # sender | sender_domain | sasl_user | client_ip
limit = "500/1d"
action = "tempfail"       # tempfail | reject | hold | log
)");
    REQUIRE(p->quotas.size() == 1);
    const auto& q = p->quotas[0];
    CHECK(q.name == "per-sender-daily");
    CHECK(q.window == QuotaWindow::Day);
    CHECK(q.counts == QuotaCounts::Recipients);
    CHECK(q.limit.count == 500);
    CHECK(p->redis.on_store_error == StoreErrorMode::Tempfail);
    CHECK(p->general.time_zone->name() == "UTC");

    auto r = policy_from(R"(
[[quota]]
name = "rate"
limit = "300/1m"
burst = 50
counts = "messages"
[[quota]]
name = "weekly"
limit = "2000/week"
[[quota]]
name = "monthly"
limit = "9000/month"
[[quota]]
name = "rolling-day"
limit = "500/1d"
window = "rolling"
[[quota]]
name = "warm"
limit = "5000/1d"
warmup_start = 2026-11-20
warmup_schedule = [50, 100, 250]
)");
    REQUIRE(r->quotas.size() == 5);
    CHECK(r->quotas[0].window == QuotaWindow::Rolling);
    CHECK(r->quotas[0].capacity() == 50);
    CHECK(r->quotas[0].counts == QuotaCounts::Messages);
    CHECK(r->quotas[1].window == QuotaWindow::Week);
    CHECK(r->quotas[2].window == QuotaWindow::Month);
    CHECK(r->quotas[3].window == QuotaWindow::Rolling);
    CHECK(r->quotas[3].capacity() == 500);
    REQUIRE(r->quotas[4].warmup);
    CHECK(r->quotas[4].warmup->start_day == days_from_civil(2026, 11, 20));

    struct Case {
        const char* toml;
        const char* want;
    };
    const Case cases[] = {
        {"[[quota]]\nname = \"a\"\n", "test.toml:1:1: error: quota.limit: missing"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1d\"\nburst = 3\n",
         "error: quota: burst applies to rolling rates only"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1d\"\nkey = \"recipient\"\n",
         "test.toml:4:7: error: quota.key: unknown key \"recipient\"; expected one of"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1d\"\nlimt = 3\n",
         "error: quota.limt: unknown key; did you mean \"limit\"?"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1d\"\n[[quota]]\nname = \"a\"\nlimit = \"6/1d\"\n",
         "test.toml:4:1: error: quota: a limit named \"a\" is already declared (at test.toml:1:1)"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1h\"\nwarmup_start = 2026-01-01\n"
         "warmup_schedule = [1]\n",
         "error: quota: a warm-up ramp needs a daily quota"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1d\"\nwarmup_initial = 5\nwarmup_factor = 2\n",
         "error: quota: a warm-up ramp needs warmup_start"},
        {"[[quota]]\nname = \"a\"\nlimit = \"5/1h\"\nwindow = \"calendar\"\n",
         "needs a period of 1d, 1w or month"},
        {"[[quota]]\nname = \"a\"\nlimit = \"lots\"\n", "error: quota.limit:"},
        {"[general]\ntime_zone = \"Mars/Olympus\"\n", "error: general.time_zone:"},
        {"[redis]\non_store_error = \"ignore\"\n",
         "error: redis.on_store_error: unknown mode \"ignore\"; expected one of \"tempfail\", "
         "\"accept\""},
        {"[redis]\npassword_file = \"relative\"\n", "is not an absolute path"},
        {"[quota]\nname = \"a\"\n", "expected tables written as [[quota]]"},
        {"[[quota]]\nname = \"a\"\nlimit = \"1/1w\"\nwindow = \"rolling\"\nburst = 1000000000\n",
         "spans more than a century"},
    };
    for (const auto& c : cases) {
        INFO(c.toml);
        CHECK_THAT(load_error(c.toml), Catch::Contains(c.want));
    }
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

TEST_CASE("the stream: bulk from list headers or Precedence, else transactional", "[quota]") {
    struct Case {
        std::vector<HeaderField> fields;
        std::string_view want;
    };
    const Case cases[] = {
        {{{"From", " a@example.com"}, {"Subject", " hi"}}, "transactional"},
        {{{"List-Unsubscribe", " <mailto:u@example.com>"}}, "bulk"},
        {{{"list-id", " <news.example.com>"}}, "bulk"},
        {{{"Precedence", " Bulk\r\n"}}, "bulk"},
        {{{"Precedence", "\tlist"}}, "bulk"},
        {{{"Precedence", " first-class"}}, "transactional"},
        {{}, "transactional"},
    };
    for (const auto& c : cases) {
        INFO((c.fields.empty() ? std::string("(none)")
                               : c.fields[0].name + ":" + c.fields[0].value));
        CHECK(builtin_stream(c.fields) == c.want);
    }
}
