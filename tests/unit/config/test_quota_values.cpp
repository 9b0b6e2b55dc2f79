// test_quota_values.cpp - config/quota_values: [[quota]] entries from the
// policy, with their defaults and located errors.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "../policy_text.hpp"
#include "config/loader.hpp"
#include "core/quota/quota.hpp"

using namespace staffel;
using namespace staffel::core;

namespace {

// The error messages below name the file "test.toml".
std::shared_ptr<const Policy> policy_from(const std::string& toml) {
    return test::policy_from(toml, "test.toml");
}

std::string load_error(const std::string& toml) {
    return test::load_error(toml, "test.toml");
}

}  // namespace

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
