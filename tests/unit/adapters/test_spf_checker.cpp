// test_spf_checker.cpp - the SPF pre-flight on libspf2, against libspf2's
// in-memory zone (no layer below it: nothing here reaches the network).
//
// One zone serves the tables: pass by ip4/ip6, include:, a, mx, ptr and
// redirect=; fail, softfail, neutral; none (no name, no TXT, TXT that is
// not SPF, malformed domain); permerror (syntax, unknown mechanism, too
// many lookups, include loop, two records, include of nothing); temperror
// (TRY_AGAIN and NO_RECOVERY from the zone, on the sender's record and
// below an include or mx). Then refused questions, hostile records,
// concurrency, the timeout and the "busy" bound.
#include <catch2/catch.hpp>
#include <chrono>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "adapters/spf2/spf_checker.hpp"
#include "core/route/spf.hpp"

using namespace staffel;
using adapters::Spf2Checker;
using adapters::Spf2Options;
using core::SpfResult;
using Zone = std::vector<Spf2Checker::ZoneRecord>;
using Status = Spf2Checker::DnsStatus;
using namespace std::chrono_literals;

namespace {

Zone test_zone() {
    Zone zone = {
        {"pass.example", "TXT", "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8:1::/48 -all"},
        {"incl.example", "TXT", "v=spf1 include:pass.example -all"},
        {"a.example", "TXT", "v=spf1 a -all"},
        {"a.example", "A", "192.0.2.10"},
        {"a.example", "AAAA", "2001:db8:a::10"},
        {"mx.example", "TXT", "v=spf1 mx -all"},
        {"mx.example", "MX", "10 mail.mx.example"},
        {"mail.mx.example", "A", "192.0.2.20"},
        {"mail.mx.example", "AAAA", "2001:db8:20::1"},
        {"ptr.example", "TXT", "v=spf1 ptr -all"},
        {"5.2.0.192.in-addr.arpa", "PTR", "host.ptr.example"},
        {"host.ptr.example", "A", "192.0.2.5"},
        {"redirect.example", "TXT", "v=spf1 redirect=pass.example"},
        {"soft.example", "TXT", "v=spf1 ip4:192.0.2.0/24 ~all"},
        {"neutral.example", "TXT", "v=spf1 ip4:192.0.2.0/24 ?all"},
        {"notspf.example", "TXT", "site-verification=4f2a"},
        {"notxt.example", "A", "192.0.2.1"},
        {"syntax.example", "TXT", "v=spf1 ip4:300.1.1.1 -all"},
        {"unknown.example", "TXT", "v=spf1 frobnicate:192.0.2.1 -all"},
        {"loop1.example", "TXT", "v=spf1 include:loop2.example -all"},
        {"loop2.example", "TXT", "v=spf1 include:loop1.example -all"},
        {"two.example", "TXT", "v=spf1 -all"},
        {"two.example", "TXT", "v=spf1 +all"},
        {"incnone.example", "TXT", "v=spf1 include:nothing.example -all"},
        {"tmp.example", "TXT", "", Status::TryAgain},
        {"inctmp.example", "TXT", "v=spf1 include:tmp.example -all"},
        {"mxtmp.example", "TXT", "v=spf1 mx -all"},
        {"mxtmp.example", "MX", "", Status::TryAgain},
        {"refused.example", "TXT", "", Status::NoRecovery},
        {"down.example", "ANY", "", Status::TryAgain},
        {"gone.example", "ANY", "", Status::NxDomain},
    };
    // Eleven DNS-querying mechanisms in one record: RFC 7208 §4.6.4 allows ten.
    std::string many = "v=spf1";
    for (int i = 1; i <= 11; ++i) {
        many += " a:h" + std::to_string(i) + ".many.example";
    }
    zone.push_back({"many.example", "TXT", many + " ip4:192.0.2.5 -all"});
    return zone;
}

struct Case {
    const char* ip;
    const char* sender;
    SpfResult want;
};

// The answers the zone must give; shared by the table test and the
// threads test.
const std::vector<Case>& cases() {
    static const std::vector<Case> table = {
        // pass
        {"192.0.2.5", "alice@pass.example", SpfResult::Pass},
        {"192.0.2.5", "alice@incl.example", SpfResult::Pass},
        {"192.0.2.10", "alice@a.example", SpfResult::Pass},
        {"192.0.2.20", "alice@mx.example", SpfResult::Pass},
        {"192.0.2.5", "alice@ptr.example", SpfResult::Pass},
        {"192.0.2.5", "alice@redirect.example", SpfResult::Pass},
        {"192.0.2.5", "alice@PASS.Example", SpfResult::Pass},
        {"192.0.2.5", "pass.example", SpfResult::Pass},  // no local part: postmaster
        // IPv6, and IPv4-mapped IPv6 evaluated as IPv4
        {"2001:db8:1::5", "alice@pass.example", SpfResult::Pass},
        {"2001:db8:2::5", "alice@pass.example", SpfResult::Fail},
        {"2001:db8:a::10", "alice@a.example", SpfResult::Pass},
        {"2001:db8:20::1", "alice@mx.example", SpfResult::Pass},
        {"2001:db8:20::2", "alice@mx.example", SpfResult::Fail},
        {"::ffff:192.0.2.5", "alice@pass.example", SpfResult::Pass},
        {"::ffff:198.51.100.1", "alice@pass.example", SpfResult::Fail},
        // fail, softfail, neutral
        {"198.51.100.1", "alice@pass.example", SpfResult::Fail},
        {"198.51.100.1", "alice@incl.example", SpfResult::Fail},
        {"192.0.2.11", "alice@a.example", SpfResult::Fail},
        {"192.0.2.21", "alice@mx.example", SpfResult::Fail},
        {"192.0.2.6", "alice@ptr.example", SpfResult::Fail},
        {"198.51.100.1", "alice@soft.example", SpfResult::SoftFail},
        {"198.51.100.1", "alice@neutral.example", SpfResult::Neutral},
        {"192.0.2.5", "alice@neutral.example", SpfResult::Pass},
        // none
        {"192.0.2.5", "alice@nosuch.example", SpfResult::None},
        {"192.0.2.5", "alice@notxt.example", SpfResult::None},
        {"192.0.2.5", "alice@notspf.example", SpfResult::None},
        {"192.0.2.5", "alice@gone.example", SpfResult::None},
        {"192.0.2.5", "alice@localhost", SpfResult::None},
        {"192.0.2.5", "alice@bad..example", SpfResult::None},
        {"192.0.2.5", "alice@", SpfResult::None},
        // permerror
        {"192.0.2.5", "alice@syntax.example", SpfResult::PermError},
        {"192.0.2.5", "alice@unknown.example", SpfResult::PermError},
        {"192.0.2.5", "alice@many.example", SpfResult::PermError},
        {"192.0.2.5", "alice@loop1.example", SpfResult::PermError},
        {"192.0.2.5", "alice@two.example", SpfResult::PermError},
        {"192.0.2.5", "alice@incnone.example", SpfResult::PermError},
        // temperror
        {"192.0.2.5", "alice@tmp.example", SpfResult::TempError},
        {"192.0.2.5", "alice@inctmp.example", SpfResult::TempError},
        {"192.0.2.5", "alice@mxtmp.example", SpfResult::TempError},
        {"192.0.2.5", "alice@refused.example", SpfResult::TempError},
        {"192.0.2.5", "alice@down.example", SpfResult::TempError},
        // libspf2 gives loopback a free ride, whatever the record says
        {"127.0.0.1", "alice@pass.example", SpfResult::Pass},
        {"::1", "alice@syntax.example", SpfResult::Pass},
    };
    return table;
}

core::SpfQuery query(const char* ip, const char* sender) {
    return core::SpfQuery{ip, sender, "mta.pass.example"};
}

}  // namespace

TEST_CASE("SpfResult names are RFC 7208's", "[spf]") {
    const std::vector<std::pair<SpfResult, std::string_view>> table = {
        {SpfResult::Pass, "pass"},           {SpfResult::Fail, "fail"},
        {SpfResult::SoftFail, "softfail"},   {SpfResult::Neutral, "neutral"},
        {SpfResult::None, "none"},           {SpfResult::TempError, "temperror"},
        {SpfResult::PermError, "permerror"},
    };
    for (const auto& [result, want] : table) {
        CHECK(core::to_string(result) == want);
    }
}

TEST_CASE("SPF answers from a zone", "[spf]") {
    const auto checker = Spf2Checker::with_zone(test_zone());
    for (const Case& c : cases()) {
        const auto got = checker->check(query(c.ip, c.sender));
        INFO(c.sender << " from " << c.ip << ": "
                      << (got.ok() ? got->explanation : got.error().message));
        REQUIRE(got.ok());
        CHECK(core::to_string(got->result) == core::to_string(c.want));
        CHECK(got->explanation.size() <= core::kSpfExplanationMax);
    }
}

TEST_CASE("SPF explanations say why", "[spf]") {
    const auto checker = Spf2Checker::with_zone(test_zone());
    const struct {
        const char* ip;
        const char* sender;
        const char* want;  // a substring of the explanation
    } table[] = {
        {"192.0.2.5", "alice@pass.example", "domain of pass.example designates 192.0.2.5"},
        {"198.51.100.1", "alice@pass.example", "does not designate 198.51.100.1"},
        {"192.0.2.5", "alice@tmp.example", "Temporary DNS failure for 'tmp.example'"},
        {"192.0.2.5", "alice@inctmp.example", "temporary error"},
        {"192.0.2.5", "alice@syntax.example", "Invalid IPv4 address literal"},
        {"192.0.2.5", "alice@many.example", "too many DNS lookups"},
        {"192.0.2.5", "alice@two.example", "Multiple SPF records"},
        {"192.0.2.5", "alice@nosuch.example", "does not provide an SPF record"},
        {"192.0.2.5", "alice@bad..example", "malformed sender domain 'bad..example'"},
        {"127.0.0.1", "alice@pass.example", "localhost is always allowed"},
    };
    for (const auto& c : table) {
        const auto got = checker->check(query(c.ip, c.sender));
        REQUIRE(got.ok());
        INFO("got \"" << got->explanation << "\", want it to contain \"" << c.want << "\"");
        CHECK(got->explanation.find(c.want) != std::string::npos);
        CHECK(got->explanation.find("staffel:") == std::string::npos);
    }
}

TEST_CASE("SPF: a null sender is checked as postmaster@helo", "[spf]") {
    const auto checker = Spf2Checker::with_zone(test_zone());
    const auto pass = checker->check({"192.0.2.5", "", "pass.example"});
    REQUIRE(pass.ok());
    CHECK(pass->result == SpfResult::Pass);
    const auto fail = checker->check({"198.51.100.1", "", "pass.example"});
    REQUIRE(fail.ok());
    CHECK(fail->result == SpfResult::Fail);
    // Without a HELO name the sender's domain stands in (for %{h}).
    const auto no_helo = checker->check({"192.0.2.5", "alice@pass.example", ""});
    REQUIRE(no_helo.ok());
    CHECK(no_helo->result == SpfResult::Pass);
}

TEST_CASE("SPF: unusable questions are errors, not answers", "[spf]") {
    const auto checker = Spf2Checker::with_zone(test_zone());
    const struct {
        core::SpfQuery query;
        const char* want;  // a substring of the error
    } table[] = {
        {{"", "alice@pass.example", "mta.example"}, "unparseable IP address ''"},
        {{"192.0.2.300", "alice@pass.example", "mta.example"}, "unparseable IP"},
        {{"mta.example", "alice@pass.example", "mta.example"}, "unparseable IP"},
        {{"192.0.2.0/24", "alice@pass.example", "mta.example"}, "unparseable IP"},
        {{std::string("192.0.2.5\0", 10), "alice@pass.example", "mta.example"}, "unparseable IP"},
        {{"192.0.2.5", std::string("alice@pass.example\0x", 20), "mta.example"}, "control bytes"},
        {{"192.0.2.5", "alice\r\n@pass.example", "mta.example"}, "control bytes"},
        {{"192.0.2.5", std::string(513, 'a') + "@pass.example", "mta.example"}, "512 bytes"},
        {{"192.0.2.5", "alice@pass.example", "mta example"}, "HELO name"},
        {{"192.0.2.5", "alice@pass.example", std::string(256, 'h')}, "HELO name"},
        {{"192.0.2.5", "", ""}, "neither a sender nor a HELO name"},
    };
    for (const auto& c : table) {
        const auto got = checker->check(c.query);
        INFO("want an error containing \"" << c.want << "\"");
        REQUIRE_FALSE(got.ok());
        INFO("got \"" << got.error().message << "\"");
        CHECK(got.error().message.find(c.want) != std::string::npos);
    }
}

TEST_CASE("SPF: huge and binary TXT records", "[spf]") {
    std::string huge = "v=spf1";
    while (huge.size() < 100000) {
        huge += " ip4:10." + std::to_string(huge.size() % 250) + ".0.0/16";
    }
    huge += " -all";
    std::string binary = "v=spf1 ";
    for (int c = 1; c < 256; ++c) {
        binary.push_back(static_cast<char>(c));
    }
    binary += " -all";
    std::mt19937 random(7208);
    std::string noise = "v=spf1 ";
    while (noise.size() < 65535) {
        noise.push_back(static_cast<char>(1 + random() % 255));
    }
    const std::string long_name =
        "v=spf1 include:" + std::string(5000, 'x') + ".example exists:%{l}%{l}%{l}%{l} -all";
    const auto checker = Spf2Checker::with_zone({
        {"huge.example", "TXT", huge},
        {"binary.example", "TXT", binary},
        {"noise.example", "TXT", noise},
        {"longname.example", "TXT", long_name},
        {"junk.example", "TXT", std::string(60000, '\x7f')},
    });
    const struct {
        const char* sender;
        bool want_permerror;  // false: any answer will do, as long as there is one
    } table[] = {
        {"alice@huge.example", false}, {"alice@binary.example", true},
        {"alice@noise.example", true}, {"alice@longname.example", true},
        {"alice@junk.example", false},
    };
    for (const auto& c : table) {
        const auto got = checker->check({"192.0.2.5", c.sender, "mta.example"});
        INFO(c.sender);
        REQUIRE(got.ok());
        INFO("got " << core::to_string(got->result) << ": " << got->explanation);
        CHECK(got->explanation.size() <= core::kSpfExplanationMax);
        for (const char ch : got->explanation) {
            CHECK((ch >= 0x20 && ch < 0x7f));
        }
        if (c.want_permerror) {
            CHECK(got->result == SpfResult::PermError);
        }
    }
}

TEST_CASE("SPF: many threads check at once", "[spf]") {
    Spf2Options options;
    options.workers = 4;
    options.timeout = 10s;  // a loaded CI machine must not turn answers into timeouts
    const auto checker = Spf2Checker::with_zone(test_zone(), options);
    constexpr int kThreads = 8;
    constexpr int kRounds = 25;
    std::vector<std::thread> threads;
    std::vector<std::string> wrong(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int round = 0; round < kRounds; ++round) {
                for (std::size_t i = 0; i < cases().size(); ++i) {
                    const Case& c = cases()[(i + static_cast<std::size_t>(t) * 7) % cases().size()];
                    const auto got = checker->check(query(c.ip, c.sender));
                    if (!got.ok() || got->result != c.want) {
                        wrong[t] = std::string(c.sender) + " from " + c.ip + ": got " +
                                   (got.ok() ? std::string(core::to_string(got->result))
                                             : got.error().message) +
                                   ", want " + std::string(core::to_string(c.want));
                        return;
                    }
                }
            }
        });
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    for (int t = 0; t < kThreads; ++t) {
        INFO("thread " << t);
        CHECK(wrong[t] == "");
    }
}

TEST_CASE("SPF: a check that outlives its timeout is a temperror", "[spf]") {
    Spf2Options options;
    options.timeout = 100ms;
    const auto checker = Spf2Checker::with_zone(
        {
            {"slow.example", "TXT", "v=spf1 +all", Status::Answer, 3s},
            {"fast.example", "TXT", "v=spf1 +all"},
        },
        options);
    const auto start = std::chrono::steady_clock::now();
    const auto got = checker->check({"192.0.2.5", "alice@slow.example", "mta.example"});
    const auto waited = std::chrono::steady_clock::now() - start;
    REQUIRE(got.ok());
    CHECK(got->result == SpfResult::TempError);
    CHECK(got->explanation == "timeout after 100 ms");
    CHECK(waited >= 100ms);
    CHECK(waited < 2s);
    // The other workers still answer while one waits on DNS.
    const auto fast = checker->check({"192.0.2.5", "alice@fast.example", "mta.example"});
    REQUIRE(fast.ok());
    CHECK(fast->result == SpfResult::Pass);
    // The destructor does not wait the 3 s: the stuck worker is let go.
}

TEST_CASE("SPF: when every worker is stuck, checks answer busy at once", "[spf]") {
    Spf2Options options;
    options.timeout = 50ms;
    options.workers = 1;
    options.max_pending = 1;
    const auto checker = Spf2Checker::with_zone(
        {
            {"slow.example", "TXT", "v=spf1 +all", Status::Answer, 1s},
            {"fast.example", "TXT", "v=spf1 +all"},
        },
        options);
    const auto slow = checker->check({"192.0.2.5", "alice@slow.example", "mta.example"});
    REQUIRE(slow.ok());
    CHECK(slow->explanation == "timeout after 50 ms");
    const auto busy = checker->check({"192.0.2.5", "alice@fast.example", "mta.example"});
    REQUIRE(busy.ok());
    CHECK(busy->result == SpfResult::TempError);
    CHECK(busy->explanation.rfind("busy: 1 SPF checks pending", 0) == 0);
    // Once the slow lookup returns, the worker takes questions again.
    std::optional<core::SpfAnswer> later;
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < give_up) {
        const auto got = checker->check({"192.0.2.5", "alice@fast.example", "mta.example"});
        REQUIRE(got.ok());
        if (got->result != SpfResult::TempError) {
            later = *got;
            break;
        }
        std::this_thread::sleep_for(50ms);
    }
    REQUIRE(later.has_value());
    CHECK(later->result == SpfResult::Pass);
}

TEST_CASE("SPF: bad zone records and options are refused", "[spf]") {
    const struct {
        Spf2Checker::ZoneRecord record;
        const char* want;
    } table[] = {
        {{"x.example", "CNAME", "y.example"}, "type must be"},
        {{"x.example", "A", "not-an-address"}, "Invalid IPv4"},
        {{"x.example", "AAAA", "192.0.2.1"}, "Invalid IPv6"},
        {{"x.example", "ANY", "v=spf1 -all"}, "ANY only takes a status"},
        {{"x.example", "TXT", "v=spf1 -all", Status::TryAgain}, "has no data"},
        {{"", "TXT", "v=spf1 -all"}, "empty domain"},
        {{"x.example", "TXT", std::string("v=spf1\0 -all", 12)}, "NUL"},
        {{"x.example", "TXT", "v=spf1 -all", Status::Answer, -1ms}, "negative delay"},
    };
    for (const auto& c : table) {
        INFO("want \"" << c.want << "\"");
        CHECK_THROWS_WITH(Spf2Checker::with_zone({c.record}), Catch::Contains(c.want));
    }
    CHECK_THROWS_WITH(Spf2Checker::with_zone({
                          {"x.example", "TXT", "v=spf1 -all"},
                          {"X.example", "TXT", "", Status::TryAgain},
                      }),
                      Catch::Contains("cannot share a name and type"));

    Spf2Options options;
    options.workers = 0;
    CHECK_THROWS_AS(Spf2Checker::with_zone({}, options), std::invalid_argument);
    options = {};
    options.timeout = 0ms;
    CHECK_THROWS_AS(Spf2Checker::with_zone({}, options), std::invalid_argument);
    options = {};
    options.max_pending = 2;  // fewer than the 4 workers
    CHECK_THROWS_AS(Spf2Checker::with_zone({}, options), std::invalid_argument);
    options = {};
    options.cache_ttl = 0s;
    CHECK_THROWS_AS(Spf2Checker{options}, std::invalid_argument);
}

TEST_CASE("SPF: the real-DNS checker builds and stops without a query", "[spf]") {
    // No check(): the resolver layer touches the network only when asked.
    Spf2Options options;
    options.workers = 2;
    const Spf2Checker checker(options);
    SUCCEED("built");
}
