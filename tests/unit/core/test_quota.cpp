// test_quota.cpp - core/quota: which counters a message charges (calendar
// windows, rolling rates, warm-up ramps, narrowing) and the stream
// classification quotas key on. The session's steps are in
// test_session_quota.cpp, the [[quota]] schema in config/test_quota_values.cpp.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "config/zone.hpp"
#include "core/quota/quota.hpp"
#include "core/route/streams.hpp"
#include "fake_counter_store.hpp"
#include "recording_logger.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

using test::utc;

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
