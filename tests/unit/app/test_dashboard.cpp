// test_dashboard.cpp - staffelctl web's request handling (app/dashboard)
// over fake Redis reads: authentication, methods, security headers, the
// numbers of each API answer, bounds and errors.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "adapters/openssl/dkim_keys.hpp"
#include "app/dashboard.hpp"
#include "core/stats/counts.hpp"
#include "../core/fake_counter_store.hpp"
#include "../core/fake_suppression_store.hpp"
#include "../policy_text.hpp"

using namespace staffel;
using nlohmann::json;

namespace {

// 2026-12-04 12:30:00 UTC
constexpr std::int64_t kNow = 1796387400;

struct FakeReads : app::DashboardReads {
    std::map<std::string, adapters::StatsTable> hashes;
    std::vector<adapters::StreamEntry> stream;
    std::set<std::string> down;
    bool fail = false;
    std::size_t keys_read = 0;
    std::vector<std::string> after_ids;

    core::Result<std::vector<adapters::StatsTable>> tables(
        std::span<const std::string> keys) override {
        if (fail) {
            return core::make_error("Redis at 127.0.0.1:6379: connection refused");
        }
        keys_read += keys.size();
        std::vector<adapters::StatsTable> out;
        for (const auto& k : keys) {
            const auto it = hashes.find(k);
            out.push_back(it == hashes.end() ? adapters::StatsTable{} : it->second);
        }
        return out;
    }
    core::Result<std::vector<adapters::StreamEntry>> latest_events(std::size_t count) override {
        if (fail) {
            return core::make_error("down");
        }
        const auto n = std::min(count, stream.size());
        return std::vector<adapters::StreamEntry>(stream.end() - static_cast<std::ptrdiff_t>(n),
                                                  stream.end());
    }
    core::Result<std::vector<adapters::StreamEntry>> events_after(std::string_view id,
                                                                  std::size_t count) override {
        after_ids.emplace_back(id);
        std::vector<adapters::StreamEntry> out;
        for (const auto& e : stream) {
            if (e.id > id && out.size() < count) {
                out.push_back(e);
            }
        }
        return out;
    }
    core::Result<std::set<std::string>> routes_down() override { return down; }
};

const char* kPolicy = R"(
[milter]
socket = "unix:/unused"
[redis]
address = "127.0.0.1:6379"
prefix = "t:"
[suppression]
[stats]
enabled = true
[[quota]]
name = "daily"
key = "sender"
limit = "100/1d"
[[route]]
name = "esp"
bounce_domain = "b.esp.example"
kind = "esp"
fallback = "inhouse"
[[route]]
name = "inhouse"
bounce_domain = "b.example"
)";

struct Fixture {
    explicit Fixture(const std::string& extra = "") : policy(test::policy_from(kPolicy + extra)) {
        app::DashboardDeps d;
        d.policy = policy;
        d.reads = &reads;
        d.suppression = &suppression;
        d.counters = &counters;
        d.sha = &adapters::sha256_factory();
        d.census = [this] { return census; };
        d.now = [] { return kNow; };
        d.node = "mx1";
        d.version = "9.9";
        dashboard = std::make_unique<app::Dashboard>(
            std::move(d), app::DashboardAssets{"<html>page</html>", "js", "css", "chart"});
    }
    adapters::HttpResponse get(const std::string& path, const std::string& query = "",
                               const std::string& auth = "") const {
        return dashboard->handle({"GET", path, query, auth, "127.0.0.1"});
    }
    json api(const std::string& path, const std::string& query = "") const {
        const auto r = get(path, query);
        INFO(r.body);
        REQUIRE(r.status == 200);
        return json::parse(r.body);
    }
    // Adds `n` to VALUE|COUNTER in the hourly hash of `dim` at `hour`.
    void add(core::stats::Dimension dim, const std::string& hour, const std::string& value,
             const std::string& counter, std::int64_t n) {
        reads.hashes[adapters::RedisStatsStore::hourly_key("t:", dim, hour)][value][counter] += n;
    }

    std::shared_ptr<const core::Policy> policy;
    FakeReads reads;
    test::FakeSuppressionStore suppression;
    test::FakeCounterStore counters;
    app::SuppressionCensus census;
    std::unique_ptr<app::Dashboard> dashboard;
};

std::string header(const adapters::HttpResponse& r, const std::string& name) {
    for (const auto& [n, v] : r.headers) {
        if (n == name) {
            return v;
        }
    }
    return {};
}

}  // namespace

TEST_CASE("a token is taken as Bearer or as the Basic password, nothing else", "[web]") {
    const std::string token = "s3cret-token-0123456789";
    CHECK(app::authorized("Bearer s3cret-token-0123456789", token));
    CHECK(app::authorized("bearer s3cret-token-0123456789 ", token));
    // "admin:s3cret-token-0123456789"
    CHECK(app::authorized("Basic YWRtaW46czNjcmV0LXRva2VuLTAxMjM0NTY3ODk=", token));
    CHECK_FALSE(app::authorized("Bearer s3cret-token-012345678", token));
    CHECK_FALSE(app::authorized("Bearer s3cret-token-01234567890", token));
    CHECK_FALSE(app::authorized("Bearer ", token));
    CHECK_FALSE(app::authorized("", token));
    CHECK_FALSE(app::authorized("s3cret-token-0123456789", token));
    // "s3cret-token-0123456789" with no user part: no colon
    CHECK_FALSE(app::authorized("Basic czNjcmV0LXRva2VuLTAxMjM0NTY3ODk=", token));
    CHECK_FALSE(app::authorized("Basic !!!", token));
    CHECK_FALSE(app::authorized("Bearer x", ""));
}

TEST_CASE("query parameters are decoded; bad escapes are refused", "[web]") {
    CHECK(app::query_param("a=1&address=bob%40x.example&b", "address") == "bob@x.example");
    CHECK(app::query_param("q=a+b%20c", "q") == "a b c");
    CHECK(app::query_param("b", "b") == "");
    CHECK_FALSE(app::query_param("a=1", "b"));
    CHECK_FALSE(app::query_param("a=%4", "a"));
    CHECK_FALSE(app::query_param("a=%zz", "a"));
}

TEST_CASE("only loopback addresses count as loopback", "[web]") {
    CHECK(app::is_loopback_listen("127.0.0.1:8025"));
    CHECK(app::is_loopback_listen("127.1.2.3:8025"));
    CHECK(app::is_loopback_listen("[::1]:8025"));
    CHECK(app::is_loopback_listen("::1:8025"));
    CHECK(app::bracketed_listen("::1:8025") == "[::1]:8025");
    CHECK(app::bracketed_listen("[::1]:8025") == "[::1]:8025");
    CHECK(app::bracketed_listen("127.0.0.1:8025") == "127.0.0.1:8025");
    CHECK_FALSE(app::is_loopback_listen("0.0.0.0:8025"));
    CHECK_FALSE(app::is_loopback_listen("[::]:8025"));
    CHECK_FALSE(app::is_loopback_listen("192.0.2.1:8025"));
    CHECK_FALSE(app::is_loopback_listen("localhost:8025"));
    CHECK_FALSE(app::is_loopback_listen("127.0.0.0/8:8025"));
}

TEST_CASE("[web] and [[route]] kind load; bad values are refused with their line", "[web]") {
    const auto p = test::policy_from(std::string(kPolicy) + "[web]\nlisten = \"[::1]:9000\"\n");
    CHECK(p->web.listen == "[::1]:9000");
    CHECK(p->web.token.empty());
    CHECK(p->routing.routes.at(0).kind == core::Route::Kind::Esp);
    CHECK(p->routing.routes.at(1).kind == core::Route::Kind::InHouse);
    CHECK_THAT(test::load_error(std::string(kPolicy) + "[web]\nlisten = \"localhost:8025\"\n"),
               Catch::Contains("is not an IP address"));
    CHECK(test::policy_from(std::string(kPolicy) + "[metrics]\nlisten = \"::1:9325\"\n")
              ->metrics.listen == "::1:9325");
    CHECK_THAT(test::load_error(std::string(kPolicy) + "[metrics]\nlisten = \"mx.example:9325\"\n"),
               Catch::Contains("a host name is not accepted"));
    CHECK_THAT(test::load_error(std::string(kPolicy) + "[web]\ntoken_file = \"relative\"\n"),
               Catch::Contains("not an absolute path"));
    CHECK_THAT(
        test::load_error("[milter]\nsocket = \"unix:/x\"\n[[route]]\nname = \"a\"\n"
                         "bounce_domain = \"b.example\"\nkind = \"cloud\"\n"),
        Catch::Contains("unknown route kind \"cloud\""));
}

TEST_CASE("every response carries the CSP and refuses framing and sniffing", "[web]") {
    Fixture f;
    for (const auto* path : {"/", "/static/dashboard.js", "/api/info", "/nowhere"}) {
        const auto r = f.get(path);
        CHECK(header(r, "Content-Security-Policy") == app::kContentSecurityPolicy);
        CHECK(header(r, "X-Content-Type-Options") == "nosniff");
        CHECK(header(r, "X-Frame-Options") == "DENY");
    }
    CHECK(std::string(app::kContentSecurityPolicy).find("script-src 'self';") !=
          std::string::npos);
    CHECK(std::string(app::kContentSecurityPolicy).find("unsafe") == std::string::npos);
    CHECK(f.get("/").body == "<html>page</html>");
    CHECK(f.get("/static/chart.min.js").body == "chart");
    CHECK(f.get("/nowhere").status == 404);
    CHECK(f.get("/api/nothing").status == 404);
    CHECK(f.get("/api/info").headers.front().second == "no-store");
}

TEST_CASE("with a token configured, nothing is served without it", "[web]") {
    // The token file must exist with mode 0600: write one.
    char path[] = "/tmp/staffel-web-token-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string token = "0123456789abcdef0123";
    REQUIRE(write(fd, token.data(), token.size()) == static_cast<ssize_t>(token.size()));
    close(fd);
    Fixture f(std::string("[web]\ntoken_file = \"") + path + "\"\n");
    unlink(path);
    for (const auto* p : {"/", "/api/overview", "/static/dashboard.js", "/nowhere"}) {
        const auto r = f.get(p);
        CHECK(r.status == 401);
        CHECK(header(r, "WWW-Authenticate").starts_with("Basic realm=\"staffel\""));
        CHECK(header(r, "Content-Security-Policy") == app::kContentSecurityPolicy);
        CHECK(r.body.find("page") == std::string::npos);
    }
    CHECK(f.get("/api/info", "", "Bearer wrong-token-0123456789").status == 401);
    CHECK(f.get("/api/info", "", "Bearer " + token).status == 200);
    CHECK(f.reads.keys_read == 0);
}

TEST_CASE("the dashboard is read-only", "[web]") {
    Fixture f;
    for (const auto* m : {"POST", "PUT", "DELETE", "HEAD"}) {
        const auto r = f.dashboard->handle({m, "/api/overview", "", "", "127.0.0.1"});
        CHECK(r.status == 405);
        CHECK(header(r, "Allow") == "GET");
    }
}

TEST_CASE("the overview sums the outcome, stream and route hashes of the period", "[web]") {
    using D = core::stats::Dimension;
    Fixture f;
    // Two hours inside the last 24, one outside.
    f.add(D::Outcome, "2026120412", "accepted", "messages", 3);
    f.add(D::Outcome, "2026120412", "accepted", "recipients", 5);
    f.add(D::Outcome, "2026120410", "accepted", "messages", 1);
    f.add(D::Outcome, "2026120410", "accepted", "recipients", 1);
    f.add(D::Outcome, "2026120410", "refused", "refused:quota:daily", 2);
    f.add(D::Outcome, "2026120410", "held", "held", 1);
    f.add(D::Outcome, "2026120410", "ingested", "complaint", 1);
    f.add(D::Outcome, "2026120410", "ingested", "bounce_hard", 2);
    f.add(D::Outcome, "2026120312", "accepted", "messages", 100);  // 24 h and more ago
    f.add(D::Route, "2026120412", "esp", "messages", 3);
    f.add(D::Route, "2026120412", "esp", "recipients", 5);
    f.add(D::Route, "2026120410", "none", "messages", 1);
    f.add(D::Stream, "2026120412", "bulk", "messages", 3);
    const auto j = f.api("/api/overview", "period=24h");
    CHECK(j["granularity"] == "hour");
    REQUIRE(j["labels"].size() == 24);
    CHECK(j["labels"].back() == "2026-12-04 12:00");
    CHECK(j["labels"].front() == "2026-12-03 13:00");
    CHECK(j["total"]["messages"] == 4);
    CHECK(j["total"]["recipients"] == 6);
    CHECK(j["total"]["refused"] == 2);
    CHECK(j["total"]["bounces"] == 2);
    CHECK(j["total"]["complaints"] == 1);
    CHECK(j["total"]["complaint_rate_over_limit"] == true);  // 1 of 6
    CHECK(j["outcomes"] == json{{"accepted", 4}, {"held", 1}, {"refused", 2}, {"deferred", 0}});
    CHECK(j["split"][0] == json{{"kind", "in-house"}, {"messages", 0}, {"recipients", 0}});
    CHECK(j["split"][1] == json{{"kind", "esp"}, {"messages", 3}, {"recipients", 5}});
    CHECK(j["split"][2]["messages"] == 1);
    CHECK(j["streams"][0]["value"] == "bulk");
    CHECK(j["series"]["accepted"].back() == 3);
    CHECK(j["series"]["accepted"][21] == 1);
    CHECK(j["series"]["refused"][21] == 2);
    CHECK(f.reads.keys_read == 3 * 24);
}

TEST_CASE("senders and tags: largest first, top N, a series for the first five", "[web]") {
    using D = core::stats::Dimension;
    Fixture f;
    for (int i = 0; i < 8; ++i) {
        f.add(D::Sender, "2026120412", "s" + std::to_string(i) + "@a.example", "messages", i + 1);
    }
    f.add(D::Sender, "2026120411", "s7@a.example", "messages", 10);
    const auto j = f.api("/api/senders", "by=sender&top=3&period=2h");
    REQUIRE(j["rows"].size() == 3);
    CHECK(j["rows"][0]["value"] == "s7@a.example");
    CHECK(j["rows"][0]["messages"] == 18);
    CHECK(j["more"] == 5);
    CHECK(j["total"]["messages"] == 46);
    REQUIRE(j["series"].size() == 3);
    CHECK(j["series"][0]["messages"] == json::array({10, 8}));
    CHECK(j["by"] == "sender");
    CHECK(f.get("/api/senders", "by=recipient").status == 400);
    CHECK(f.get("/api/senders", "top=0").status == 400);
    CHECK(f.get("/api/tags", "top=1001").status == 400);
    f.add(D::Tag, "2026120412", "<script>x</script>", "unsubscribe", 1);
    const auto t = f.api("/api/tags");
    CHECK(t["rows"][0]["value"] == "<script>x</script>");  // JSON: data, not markup
    CHECK(t["rows"][0]["unsubscribes"] == 1);
}

TEST_CASE("periods are bounded: no request reads more than 840 hours or 400 days", "[web]") {
    Fixture f;
    for (const auto* bad : {"period=841h", "period=401d", "period=2026-01-01", "period=x",
                            "period=0h", "period=-1d"}) {
        INFO(bad);
        const auto r = f.get("/api/overview", bad);
        CHECK(r.status == 400);
        CHECK(r.body.find("period") != std::string::npos);
    }
    CHECK(f.reads.keys_read == 0);
    CHECK(f.api("/api/overview", "period=30d")["labels"].size() == 30);
    CHECK(f.api("/api/overview", "period=30d")["labels"].back() == "2026-12-04");
}

TEST_CASE("routes: policy order, status, traffic and fallbacks taken", "[web]") {
    using D = core::stats::Dimension;
    Fixture f;
    f.reads.down = {"esp"};
    f.add(D::Route, "2026120412", "inhouse", "messages", 4);
    f.add(D::Route, "2026120412", "inhouse", "fallback", 3);
    f.add(D::Route, "2026120412", "old", "messages", 1);
    const auto j = f.api("/api/routes");
    REQUIRE(j["routes"].size() == 3);
    CHECK(j["routes"][0]["name"] == "esp");
    CHECK(j["routes"][0]["status"] == "down");
    CHECK(j["routes"][0]["kind"] == "esp");
    CHECK(j["routes"][0]["fallback"] == "inhouse");
    CHECK(j["routes"][1]["status"] == "up");
    CHECK(j["routes"][1]["messages"] == 4);
    CHECK(j["routes"][1]["fallback_taken"] == 3);
    CHECK(j["routes"][2]["name"] == "old");
    CHECK(j["routes"][2]["configured"] == false);
}

TEST_CASE("quota use of one key comes from the counter store, now", "[web]") {
    Fixture f;
    const auto j = f.api("/api/quota", "key=alice%40a.example");
    REQUIRE(j["limits"].size() == 1);
    CHECK(j["limits"][0]["name"] == "daily");
    CHECK(j["limits"][0]["used"] == 0);
    CHECK(j["limits"][0]["limit"] == 100);
    CHECK(j["limits"][0]["resets"] == "2026-12-05T00:00:00Z");
    CHECK(f.get("/api/quota").status == 400);
    f.counters.fail = true;
    const auto r = f.get("/api/quota", "key=alice%40a.example");
    CHECK(r.status == 503);
    CHECK(r.body.find("connection refused") != std::string::npos);
}

TEST_CASE("a Redis that cannot be reached is 503 with why", "[web]") {
    Fixture f;
    f.reads.fail = true;
    for (const auto* p : {"/api/overview", "/api/senders", "/api/routes", "/api/events"}) {
        const auto r = f.get(p);
        CHECK(r.status == 503);
        const auto error = json::parse(r.body)["error"].get<std::string>();
        CHECK((error.find("connection refused") != std::string::npos || error == "down"));
    }
}

TEST_CASE("suppression lookup reads fixed keys, hashed at rest too", "[web]") {
    char path[] = "/tmp/staffel-web-secret-XXXXXX";
    const int fd = mkstemp(path);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "pepper", 6) == 6);
    close(fd);
    const std::string hashed_policy = std::string(kPolicy).replace(
        std::string(kPolicy).find("[suppression]"), 13,
        std::string("[suppression]\nhash_secret_file = \"") + path + "\"");
    auto policy = test::policy_from(hashed_policy);
    unlink(path);
    const core::SuppressionKeys keys("t:", "pepper", &adapters::sha256_factory());
    core::SuppressionEntry e;
    e.reason = core::SuppressReason::HardBounce;
    e.added_at = kNow - 60;
    e.source = "dsn";
    Fixture g;
    app::DashboardDeps d;
    d.policy = policy;
    d.reads = &g.reads;
    d.suppression = &g.suppression;
    d.counters = &g.counters;
    d.sha = &adapters::sha256_factory();
    d.census = [] { return app::SuppressionCensus{}; };
    d.now = [] { return kNow; };
    app::Dashboard dash(std::move(d), {});
    g.suppression.entries[keys.entry_key("", "bob@x.example")] = e;
    const auto r = dash.handle({"GET", "/api/suppression/lookup", "address=Bob%40X.example", "", ""});
    REQUIRE(r.status == 200);
    const auto j = json::parse(r.body);
    CHECK(j["address"] == "bob@x.example");
    CHECK(j["hashed"] == true);
    REQUIRE(j["entries"].size() == 1);
    CHECK(j["entries"][0]["reason"] == "hard_bounce");
    CHECK(j["entries"][0]["scope"] == "");
    CHECK(j["entries"][0]["source"] == "dsn");
    CHECK(j["entries"][0]["expires"].is_null());
    CHECK(g.suppression.lookups == 1);
    CHECK(dash.handle({"GET", "/api/suppression/lookup", "address=nobody", "", ""}).status == 400);
}

TEST_CASE("events: the newest, or those after an id; ids are checked", "[web]") {
    Fixture f;
    f.reads.stream = {{"1-0", {R"({"type":"message.accepted","sender":"a@x"})"}},
                      {"2-0", {R"({"type":"complaint"})", "not json"}},
                      {"3-0", {R"({"type":"route.down"})"}}};
    auto j = f.api("/api/events", "count=3");
    CHECK(j["last"] == "3-0");
    REQUIRE(j["events"].size() == 3);
    CHECK(j["events"][0]["id"] == "2-0/0");
    CHECK(j["events"][1]["event"]["type"] == "unreadable");
    CHECK(j["skipped"] == 1);
    j = f.api("/api/events", "after=2-0");
    REQUIRE(j["events"].size() == 1);
    CHECK(j["events"][0]["event"]["type"] == "route.down");
    CHECK(f.reads.after_ids == std::vector<std::string>{"2-0"});
    CHECK(f.get("/api/events", "after=%24").status == 400);
    CHECK(f.get("/api/events", "after=1-0+COUNT").status == 400);
    CHECK(f.get("/api/events", "count=501").status == 400);
}

TEST_CASE("the suppression page shows the census and recent additions only", "[web]") {
    Fixture f;
    f.census.at = kNow - 10;
    f.census.total = 3;
    f.census.by_reason = {{"hard_bounce", 2}, {"unsubscribe", 1}};
    f.reads.stream = {{"1-0", {R"({"type":"bounce.hard","recipient":"x@y"})",
                               R"({"type":"message.accepted"})"}},
                      {"2-0", {R"({"type":"unsubscribe","recipient":"z@y"})"}}};
    const auto j = f.api("/api/suppression");
    CHECK(j["census"]["total"] == 3);
    CHECK(j["census"]["by_reason"]["hard_bounce"] == 2);
    CHECK(j["census"]["at"] == "2026-12-04T12:29:50Z");
    REQUIRE(j["recent"].size() == 2);
    CHECK(j["recent"][0]["event"]["type"] == "unsubscribe");  // newest first
    CHECK(j["recent"][1]["event"]["recipient"] == "x@y");
}
