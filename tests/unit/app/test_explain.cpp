// test_explain.cpp - `staffelctl explain`: the message reader, the address
// lists it takes recipients from, and the steps it prints over fake stores
// (read-only: nothing charged), plus the dry-run counter store.
#include <catch2/catch.hpp>
#include <map>
#include <sstream>
#include <string>

#include "../core/fake_counter_store.hpp"
#include "../core/fake_suppression_store.hpp"
#include "adapters/idn/idna.hpp"
#include "app/explain_cmd.hpp"
#include "config/loader.hpp"
#include "core/quota/dry_run.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

const char* kPolicy = R"([suppression]
[routing]
default_route = "inhouse"
[[stream]]
name = "bulk"
headers = ["Precedence: bulk"]
route = "esp"
[[route]]
name = "inhouse"
bounce_domain = "bounce.example.com"
return_path = "plain"
strip_headers = ["X-Internal"]
[[route]]
name = "esp"
bounce_domain = "bounce.esp.test"
return_path = "verp"
add_headers = ["X-Campaign: {header:X-Campaign-Id}"]
[[quota]]
name = "daily"
key = "sender"
limit = "3/1d"
)";

const char* kBulk =
    "From: News <news@example.com>\n"
    "To: Bob <bob@example.net>, \"Gone, Really\" <gone@example.net>\n"
    "Subject: November\n"
    "Precedence: bulk\n"
    "X-Campaign-Id: nov\n"
    "\n"
    "Hello\n";

struct Run {
    test::FakeSuppressionStore entries;
    test::FakeCounterStore counters;
    std::shared_ptr<const Policy> policy;
    std::string out, err;

    Run() {
        auto r = config::load_policy_text(kPolicy, "p.toml");
        for (const auto& e : r.errors) {
            FAIL(e.to_string());
        }
        policy = r.policy;
    }
    int explain(std::string_view message, app::ExplainArgs args = {}) {
        app::ExplainServices s;
        s.counters = &counters;
        s.suppressions = &entries;
        s.idna = adapters::domain_to_ascii;
        s.now = 1795478400;  // 2026-11-24 00:00 UTC
        if (args.file.empty()) {
            args.file = "m.eml";
        }
        std::ostringstream o, e;
        const int rc = app::explain(*policy, s, message, args, o, e);
        out = o.str();
        err = e.str();
        return rc;
    }
};

}  // namespace

TEST_CASE("explain walks a bulk message through stream, route, suppression and quota",
          "[explain]") {
    Run run;
    SuppressionKeys keys(run.policy->redis.prefix);
    SuppressionEntry gone;
    gone.reason = SuppressReason::HardBounce;
    gone.added_at = 1763640000;
    run.entries.entries[keys.entry_key({}, "gone@example.net")] = gone;

    CHECK(run.explain(kBulk) == 0);
    const auto& o = run.out;
    CAPTURE(o);
    CHECK_THAT(o, Catch::Contains("sender       <news@example.com> (From:)"));
    CHECK_THAT(o, Catch::Contains("recipient    <bob@example.net>: not on a suppression list"));
    CHECK_THAT(o, Catch::Contains("RCPT         <gone@example.net>: 550 5.1.1"));
    CHECK_THAT(o, Catch::Contains("stream       rule 1 \"bulk\" (p.toml:4:1): matches: "
                                  "header Precedence: bulk"));
    CHECK_THAT(o, Catch::Contains("route        esp (named by the stream)"));
    CHECK_THAT(o,
               Catch::Contains("MAIL FROM rewritten to <bounces+bob=example.net@bounce.esp.test> "
                               "(return_path = verp)"));
    CHECK_THAT(o, Catch::Contains("quota        \"daily\" for news@example.com: 0 of 3 used, "
                                  "this message needs 1: fits"));
    CHECK_THAT(o, Catch::Contains("edit         append at the end: X-Campaign: nov"));
    CHECK_THAT(o,
               Catch::Contains("edit         MAIL FROM:<bounces+bob=example.net@bounce.esp.test>"));
    CHECK_THAT(o, Catch::Contains("dmarc        fail(from=example.com,d=none,rp=bounce.esp.test)"));
    CHECK_THAT(o, Catch::Contains("answer       250 accepted"));
    // Read-only: nothing charged, nothing written.
    CHECK(run.counters.charges == 0);
    CHECK(run.counters.values.empty());
    CHECK(run.entries.writes == 0);
}

TEST_CASE("explain shows the quota that would refuse, and exits 1", "[explain]") {
    Run run;
    auto plan = counters_for(run.policy->quotas, *run.policy->general.time_zone,
                             run.policy->redis.prefix, "shop@example.com", 1795478400, {});
    REQUIRE(plan.size() == 1);
    run.counters.values[plan[0].charge.key] = 3;
    const char* receipt =
        "From: shop@example.com\r\nTo: a@example.org\r\nX-Internal: 1\r\nSubject: r\r\n\r\nx\r\n";
    CHECK(run.explain(receipt) == 1);
    CAPTURE(run.out);
    CHECK_THAT(run.out, Catch::Contains("rule 1 \"bulk\" (p.toml:4:1): no: no header field "
                                        "matches headers"));
    CHECK_THAT(run.out, Catch::Contains("transactional (no rule matches: default_stream)"));
    CHECK_THAT(run.out, Catch::Contains("3 of 3 used, this message needs 1: over"));
    CHECK_THAT(run.out, Catch::Contains("answer       451 4.7.1"));
    CHECK_THAT(run.out, !Catch::Contains("edit "));
    CHECK(run.counters.values[plan[0].charge.key] == 3);
    CHECK(run.counters.charges == 0);

    // --from and --rcpt override the header; the null sender is kept as such.
    app::ExplainArgs args;
    args.from_given = true;
    args.rcpts = {"z@example.org"};
    CHECK(run.explain(receipt, args) == 0);
    CHECK_THAT(run.out, Catch::Contains("sender       <> (--from)"));
    CHECK_THAT(run.out, Catch::Contains("<z@example.org>: not on a suppression list"));
    CHECK_THAT(run.out, Catch::Contains("MAIL FROM unchanged (return_path = plain, null sender)"));
    CHECK_THAT(run.out, Catch::Contains("edit         remove header X-Internal (occurrence 1)"));
}

TEST_CASE("explain refuses what is not a message, or has no one to send to", "[explain]") {
    Run run;
    CHECK(run.explain("this is not a header\n\nbody\n") == 65);
    CHECK_THAT(run.err, Catch::Contains("line 1 is not a header field"));
    CHECK(run.explain(" folded first\nFrom: a@example.com\n\n") == 65);
    CHECK(run.explain("") == 65);
    CHECK(run.explain("Subject: no addresses\n\nx\n") == 64);
    CHECK_THAT(run.err, Catch::Contains("--from"));
    CHECK(run.explain("From: a@example.com\nSubject: nobody\n\nx\n") == 64);
    CHECK_THAT(run.err, Catch::Contains("--rcpt"));
}

TEST_CASE("the dry-run store admits exactly as a charge would, and changes nothing",
          "[explain][quota]") {
    test::FakeCounterStore real;
    real.now_us = 1'000'000'000;
    DryRunCounterStore dry(real);
    CounterCharge window;
    window.key = "w";
    window.limit = 5;
    window.amount = 2;
    CounterCharge gcra;
    gcra.kind = CounterCharge::Kind::Gcra;
    gcra.key = "g";
    gcra.interval_us = 1'000'000;
    gcra.burst = 3;
    gcra.amount = 1;
    for (std::int64_t used = 0; used <= 6; ++used) {
        CAPTURE(used);
        real.values["w"] = used;
        real.values["g"] = real.now_us + used * gcra.interval_us;
        const std::vector<CounterCharge> both{window, gcra};
        auto d = dry.charge(both);
        REQUIRE(d);
        CHECK(real.values["w"] == used);  // unchanged
        auto r = real.charge(both);
        REQUIRE(r);
        CHECK(d->admitted == r->admitted);
        CHECK(d->counters[0].admits == r->counters[0].admits);
        CHECK(d->counters[1].admits == r->counters[1].admits);
        if (r->admitted) {
            CHECK(d->counters[0].used == r->counters[0].used);
            CHECK(d->counters[1].used == r->counters[1].used);
        }
    }
    CHECK(dry.refund(std::vector<CounterCharge>{window}).value());
    CHECK_FALSE(dry.reset(std::vector<std::string>{"w"}));
}

TEST_CASE("explain without a counter store shows what on_store_error does", "[explain]") {
    Run run;
    app::ExplainServices s;
    s.suppressions = &run.entries;
    s.idna = adapters::domain_to_ascii;
    s.now = 1795478400;
    app::ExplainArgs args;
    args.file = "m.eml";
    std::ostringstream o, e;
    CHECK(app::explain(*run.policy, s, kBulk, args, o, e) == 1);
    CHECK_THAT(o.str(), Catch::Contains("the counter store failed (no counter store is "
                                        "configured): on_store_error = tempfail"));
    CHECK_THAT(o.str(), Catch::Contains("answer       451 4.3.0"));
}

TEST_CASE("explain with a dead suppression store says the recipients are deferred, not refused",
          "[explain]") {
    Run run;
    run.entries.down = true;
    CHECK(run.explain(kBulk) == 1);
    INFO(run.out);
    CHECK_THAT(run.out, Catch::Contains("RCPT         <bob@example.net>: 451 4.3.0"));
    CHECK_THAT(run.out, !Catch::Contains("every recipient is refused"));
    CHECK_THAT(run.out, !Catch::Contains("since start"));
    CHECK_THAT(run.out, Catch::Contains("answer       every recipient is deferred at RCPT (the "
                                        "MTA tries again later); no message is sent"));
    // A permanent refusal is still called one.
    Run refused;
    SuppressionKeys keys(refused.policy->redis.prefix);
    for (const char* a : {"bob@example.net", "gone@example.net"}) {
        refused.entries.entries[keys.entry_key("", a)] = test::entry(SuppressReason::HardBounce);
    }
    CHECK(refused.explain(kBulk) == 1);
    CHECK_THAT(refused.out, Catch::Contains("answer       every recipient is refused at RCPT"));
}

TEST_CASE("explain's log lines carry no counts since start, which it does not keep", "[explain]") {
    Run run;
    CHECK(run.explain(kBulk) == 0);
    INFO(run.out);
    CHECK_THAT(run.out, Catch::Contains("would fail DMARC"));
    CHECK_THAT(run.out, !Catch::Contains("since start"));
}

TEST_CASE("explain says which DKIM key signs and why, at its clock", "[explain][dkim]") {
    // "old" signs until "new" takes over at 2026-11-24 12:00 UTC.
    auto loaded = config::load_policy_text(
        "[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"old\"\nkey = \"/old.pem\"\n"
        "[[dkim.keys]]\ndomain = \"example.com\"\nselector = \"new\"\nkey = \"/new.pem\"\n"
        "not_before = 2026-11-24T12:00:00Z\n",
        "p.toml");
    REQUIRE(loaded.policy);
    struct NullKey : SigningKey {
        [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::RsaSha256; }
        [[nodiscard]] Result<std::string> sign(std::string_view) const override {
            return std::string(256, 'x');
        }
    };
    auto policy = std::make_shared<Policy>(*loaded.policy);
    for (auto& k : policy->dkim.keys) {
        k.key = std::make_shared<NullKey>();
    }
    const auto explain_at = [&](std::int64_t now) {
        test::FakeSuppressionStore entries;
        test::FakeCounterStore counters;
        app::ExplainServices s;
        s.counters = &counters;
        s.suppressions = &entries;
        s.idna = adapters::domain_to_ascii;
        s.now = now;
        app::ExplainArgs args;
        args.file = "m.eml";
        std::ostringstream o, e;
        app::explain(*policy, s, kBulk, args, o, e);
        return o.str();
    };
    const auto before = explain_at(1795478400);  // 2026-11-24 00:00 UTC
    CAPTURE(before);
    CHECK_THAT(before, Catch::Contains("key d=example.com s=old (rsa-sha256): signs, in force"));
    CHECK_THAT(before, Catch::Contains("key d=example.com s=new (rsa-sha256): does not sign, not "
                                       "yet: not_before 2026-11-24T12:00:00Z"));
    const auto after = explain_at(1795478400 + 12 * 3600);
    CAPTURE(after);
    CHECK_THAT(after, Catch::Contains("key d=example.com s=old (rsa-sha256): does not sign, the "
                                      "newer key new does since 2026-11-24T12:00:00Z ([dkim] "
                                      "overlap = \"newest\")"));
    CHECK_THAT(after, Catch::Contains("key d=example.com s=new (rsa-sha256): signs, in force since "
                                      "2026-11-24T12:00:00Z"));
}
