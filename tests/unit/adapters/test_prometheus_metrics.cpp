// test_prometheus_metrics.cpp - adapters/metrics/prometheus_metrics: message
// outcomes and the stats atomics, read back from the text exposition.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/metrics/prometheus_metrics.hpp"
#include "adapters/redis/round_trips.hpp"
#include "adapters/redis/suppression_view.hpp"
#include "core/route/dmarc.hpp"
#include "core/session.hpp"

using namespace staffel;
using Action = core::MessageOutcome::Action;

namespace {

// "name{labels}" -> value, for every sample line of an exposition.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const auto space = line.rfind(' ');
        REQUIRE(space != std::string::npos);
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

core::MessageOutcome outcome(Action action, std::string stream, std::string route,
                             std::string reason) {
    core::MessageOutcome o;
    o.action = action;
    o.stream = std::move(stream);
    o.route = std::move(route);
    o.reason = std::move(reason);
    o.sender = "app@example.test";
    o.queue_id = "4XyZ1";
    o.tag = "campaign-42";
    return o;
}

struct Want {
    std::string sample;
    double value;
};

void check_samples(const std::string& text, const std::vector<Want>& wants) {
    const auto got = samples(text);
    for (const auto& w : wants) {
        INFO("sample " << w.sample);
        const auto it = got.find(w.sample);
        if (it == got.end()) {
            FAIL("got no such sample, want " << w.value << "\n" << text);
        }
        CHECK(it->second == Approx(w.value));
    }
}

}  // namespace

TEST_CASE("message outcomes become counters with low-cardinality labels", "[metrics]") {
    adapters::PrometheusMetrics metrics({}, "0123abcd");

    auto pass = outcome(Action::Pass, "transactional", "inhouse", "");
    pass.recipients = 2;
    pass.refused = {{"gone@example.net", "hard-bounce"}};
    pass.removed = {{"unsub@example.net", "unsubscribe"}};
    pass.signatures = {{"example.test", "s1", "rsa-sha256"},
                       {"example.test", "s2", "ed25519-sha256"}};
    pass.shadow_over = {"daily-shadow"};
    pass.bytes = 1000;
    pass.elapsed_us = 2000;
    metrics.message(pass);
    metrics.message(pass);

    auto quota = outcome(Action::Reject, "bulk", "esp", "quota:hourly");
    quota.recipients = 1;
    quota.bytes = 500;
    quota.elapsed_us = 300;
    metrics.message(quota);

    auto deferred = outcome(Action::Tempfail, "", "", "store-error");
    deferred.elapsed_us = 7'000'000;
    metrics.message(deferred);

    // A stream name that looks like an address never becomes a label.
    metrics.message(outcome(Action::Aborted, "x@example.net", "inhouse", ""));

    const auto text = metrics.exposition();
    check_samples(
        text,
        {
            {R"(staffel_messages_total{action="pass",route="inhouse",stream="transactional"})", 2},
            {R"(staffel_messages_total{action="reject",route="esp",stream="bulk"})", 1},
            {R"(staffel_messages_total{action="tempfail",route="none",stream="none"})", 1},
            {R"(staffel_messages_total{action="aborted",route="inhouse",stream="other"})", 1},
            {R"(staffel_recipients_total{action="pass",route="inhouse",stream="transactional"})",
             4},
            {R"(staffel_recipients_total{action="reject",route="esp",stream="bulk"})", 1},
            {R"(staffel_recipients_refused_total{reason="hard-bounce",stage="rcpt"})", 2},
            {R"(staffel_recipients_refused_total{reason="unsubscribe",stage="end"})", 2},
            {R"(staffel_message_refusals_total{action="reject",reason="quota:hourly"})", 1},
            {R"(staffel_message_refusals_total{action="tempfail",reason="store-error"})", 1},
            {R"(staffel_signatures_total{algorithm="rsa-sha256"})", 2},
            {R"(staffel_signatures_total{algorithm="ed25519-sha256"})", 2},
            {R"(staffel_quota_shadow_over_total{limit="daily-shadow"})", 2},
            {"staffel_message_bytes_total", 2500},
            {"staffel_milter_seconds_count", 5},
            {R"(staffel_milter_seconds_bucket{le="0.0005"})", 2},  // 0 us and 300 us
            {R"(staffel_milter_seconds_bucket{le="0.0025"})", 4},
            {R"(staffel_milter_seconds_bucket{le="5"})", 4},
            {R"(staffel_milter_seconds_bucket{le="+Inf"})", 5},
            {R"(staffel_policy_info{digest="0123abcd"})", 1},
            {R"(staffel_policy_reloads_total{result="ok"})", 0},
            {R"(staffel_policy_reloads_total{result="failed"})", 0},
        });
    INFO(text);
    CHECK(text.find('@') == std::string::npos);
    CHECK(text.find("4XyZ1") == std::string::npos);
    CHECK(text.find("campaign-42") == std::string::npos);
    // Only refusals are counted as refusals.
    CHECK(text.find(R"(staffel_message_refusals_total{action="pass")") == std::string::npos);
}

TEST_CASE("a reload is counted and moves staffel_policy_info", "[metrics]") {
    adapters::PrometheusMetrics metrics({}, "11111111");
    metrics.policy_reloaded(false, "11111111");
    metrics.policy_reloaded(true, "22222222");
    metrics.policy_reloaded(true, "33333333");
    metrics.policy_reloaded(true, "33333333");  // the same policy again
    const auto text = metrics.exposition();
    check_samples(text, {
                            {R"(staffel_policy_reloads_total{result="ok"})", 3},
                            {R"(staffel_policy_reloads_total{result="failed"})", 1},
                            {R"(staffel_policy_info{digest="33333333"})", 1},
                        });
    INFO(text);
    CHECK(text.find("11111111") == std::string::npos);
    CHECK(text.find("22222222") == std::string::npos);
}

TEST_CASE("outcomes from many threads at once are all counted", "[metrics]") {
    adapters::PrometheusMetrics metrics({}, "0123abcd");
    constexpr int kThreads = 8;
    constexpr int kMessages = 500;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&metrics, t] {
            auto o = outcome(t % 2 == 0 ? Action::Pass : Action::Reject,
                             "stream" + std::to_string(t % 3), "inhouse", "quota:q");
            o.recipients = 2;
            o.bytes = 10;
            for (int i = 0; i < kMessages; ++i) {
                metrics.message(o);
            }
        });
    }
    // Scrapes and reloads meanwhile.
    for (int i = 0; i < 50; ++i) {
        CHECK_FALSE(metrics.exposition().empty());
        metrics.policy_reloaded(true, i % 2 == 0 ? "aaaaaaaa" : "bbbbbbbb");
    }
    for (auto& t : threads) {
        t.join();
    }
    const auto got = samples(metrics.exposition());
    double messages = 0;
    double recipients = 0;
    for (const auto& [name, value] : got) {
        if (name.starts_with("staffel_messages_total{")) {
            messages += value;
        } else if (name.starts_with("staffel_recipients_total{")) {
            recipients += value;
        }
    }
    CHECK(messages == kThreads * kMessages);
    CHECK(recipients == 2 * kThreads * kMessages);
    CHECK(got.at("staffel_message_bytes_total") == 10 * kThreads * kMessages);
    CHECK(got.at(R"(staffel_message_refusals_total{action="reject",reason="quota:q"})") ==
          kThreads / 2 * kMessages);
    CHECK(got.at(R"(staffel_policy_reloads_total{result="ok"})") == 50);
    CHECK(got.at(R"(staffel_policy_info{digest="bbbbbbbb"})") == 1);
    CHECK(got.count(R"(staffel_policy_info{digest="aaaaaaaa"})") == 0);
}

TEST_CASE("store errors, DMARC predictions and Redis round trips are read at scrape time",
          "[metrics]") {
    core::QuotaStats quota;
    core::SuppressStats suppress;
    core::DmarcStats dmarc;
    adapters::RedisRoundTrips redis;
    adapters::SuppressionViewStats view;
    adapters::PrometheusMetrics metrics({&quota, &suppress, &dmarc, &redis, &view}, "0123abcd");
    view.local = 970;
    view.confirmed = 12;
    view.fallback = 18;
    view.rebuilds = 2;
    view.failures = 1;
    view.keys = 10000;

    quota.store_errors_tempfailed = 3;
    quota.store_errors_accepted = 1;
    suppress.store_errors_accepted = 4;
    dmarc.pass = 5;
    dmarc.fail = 2;
    using std::chrono::microseconds;
    redis.record(microseconds(80), false);
    redis.record(microseconds(200), false);
    redis.record(microseconds(2'000), false);
    redis.record(std::chrono::seconds(2), true);
    redis.record_error();
    redis.record_breaker(true, "opened");
    redis.record_breaker(false, "closed");
    redis.record_breaker(true, "opened again");

    check_samples(
        metrics.exposition(),
        {
            {R"(staffel_store_error_decisions_total{decision="tempfail",store="quota"})", 3},
            {R"(staffel_store_error_decisions_total{decision="accept",store="quota"})", 1},
            {R"(staffel_store_error_decisions_total{decision="tempfail",store="suppression"})", 0},
            {R"(staffel_store_error_decisions_total{decision="accept",store="suppression"})", 4},
            {R"(staffel_dmarc_predictions_total{result="pass"})", 5},
            {R"(staffel_dmarc_predictions_total{result="fail"})", 2},
            {R"(staffel_dmarc_predictions_total{result="unknown"})", 0},
            {"staffel_redis_round_trips_total", 4},
            {"staffel_redis_errors_total", 2},
            {R"(staffel_redis_breaker_transitions_total{to="open"})", 2},
            {R"(staffel_redis_breaker_transitions_total{to="closed"})", 1},
            {R"(staffel_suppression_view_lookups_total{answer="local"})", 970},
            {R"(staffel_suppression_view_lookups_total{answer="confirmed"})", 12},
            {R"(staffel_suppression_view_lookups_total{answer="fallback"})", 18},
            {"staffel_suppression_view_rebuilds_total", 2},
            {"staffel_suppression_view_failures_total", 1},
            {"staffel_suppression_view_keys", 10000},
            {"staffel_redis_seconds_count", 4},
            {"staffel_redis_seconds_sum", 2.00228},
            {R"(staffel_redis_seconds_bucket{le="0.0001"})", 1},
            {R"(staffel_redis_seconds_bucket{le="0.00025"})", 2},
            {R"(staffel_redis_seconds_bucket{le="0.0025"})", 3},
            {R"(staffel_redis_seconds_bucket{le="1"})", 3},
            {R"(staffel_redis_seconds_bucket{le="+Inf"})", 4},
        });
}

TEST_CASE("the listen address is checked and a busy one is a clear error", "[metrics]") {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    const std::string busy = "127.0.0.1:" + std::to_string(ntohs(sin.sin_port));

    const auto checked = adapters::check_listen_address(busy);
    REQUIRE_FALSE(checked);
    CHECK_THAT(checked.error().message, Catch::Contains("cannot listen on " + busy));
    const auto listened = adapters::PrometheusMetrics::listen(busy, {}, "0123abcd");
    REQUIRE_FALSE(listened);
    CHECK_THAT(listened.error().message, Catch::Contains("cannot listen on " + busy));
    ::close(fd);

    const auto named = adapters::check_listen_address("localhost:9325");
    REQUIRE_FALSE(named);
    CHECK_THAT(named.error().message, Catch::Contains("not a numeric address"));
}

TEST_CASE("civetweb_listen_address brackets IPv6 hosts", "[metrics]") {
    struct Case {
        std::string in;
        std::string want;
    };
    const std::vector<Case> cases = {
        {"127.0.0.1:9325", "127.0.0.1:9325"},
        {"::1:9325", "[::1]:9325"},
        {"[::1]:9325", "[::1]:9325"},
    };
    for (const auto& c : cases) {
        INFO("in " << c.in);
        CHECK(adapters::civetweb_listen_address(c.in) == c.want);
    }
}
