// outcome_sinks.cpp - what statistics, events and metrics add to each
// message on staffeld's mail path, in CPU time.
//
// Purpose: end-to-end throughput on a shared host swings by more than the
//   few microseconds these sinks cost, so this times them alone: the same
//   MessageOutcome (one recipient, one RSA signature) handed N times to
//   StatsFlusher with [stats] on, with [stats] and [events] on, and to
//   PrometheusMetrics, as staffeld's milter threads do. Nothing is flushed
//   (no Redis): the flush runs once a second on its own thread and costs per
//   flush, not per message. Prints nanoseconds per message (median of 5
//   rounds of thread CPU time) for each sink.
// It is a benchmark, not a test: it prints numbers.
// Usage: build/tests/staffel_outcome_bench [N]   (default 200000)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "adapters/metrics/prometheus_metrics.hpp"
#include "app/stats_flusher.hpp"
#include "core/policy.hpp"

using namespace staffel;

namespace {

struct NoLog : core::Logger {
    void log(core::LogLevel, std::string_view) override {}
    [[nodiscard]] bool enabled(core::LogLevel) const override { return false; }
};

double thread_cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

core::MessageOutcome typical() {
    core::MessageOutcome o;
    o.action = core::MessageOutcome::Action::Pass;
    o.queue_id = "4VtQ2n0Kf8z9sJd";
    o.client_host = "localhost";
    o.client_addr = "127.0.0.1";
    o.sender = "from@bench.example";
    o.sender_domain = "bench.example";
    o.policy_digest = "1f0c9a2e";
    o.stream = "transactional";
    o.dmarc = "pass(dkim=bench.example)";
    o.recipients = 1;
    o.recipient_domains = {"example.net"};
    o.signatures = {{"bench.example", "rsa", "rsa-sha256"}};
    o.bytes = 2300;
    o.time = 1764849600;
    o.elapsed_us = 800;
    return o;
}

template <typename Sink>
double ns_per_message(Sink& sink, int n) {
    const auto o = typical();
    std::vector<double> rounds;
    for (int r = 0; r < 5; ++r) {
        const double t0 = thread_cpu_ns();
        for (int i = 0; i < n; ++i) {
            sink.message(o);
        }
        rounds.push_back((thread_cpu_ns() - t0) / n);
    }
    std::sort(rounds.begin(), rounds.end());
    return rounds[2];
}

}  // namespace

int main(int argc, char** argv) {
    const int n = argc > 1 ? std::max(1000, std::atoi(argv[1])) : 200000;
    NoLog log;
    auto stats_only = std::make_shared<core::Policy>();
    stats_only->stats.enabled = true;
    auto with_events = std::make_shared<core::Policy>(*stats_only);
    with_events->events.enabled = true;
    with_events->events.max_buffered = 1000000;

    app::StatsFlusher stats([&] { return std::shared_ptr<const core::Policy>(stats_only); }, log,
                            "bench");
    app::StatsFlusher events([&] { return std::shared_ptr<const core::Policy>(with_events); }, log,
                             "bench");
    adapters::PrometheusMetrics metrics({}, "1f0c9a2e");

    std::printf("%d messages per round, median of 5 rounds, thread CPU time\n", n);
    std::printf("%-34s %10.0f ns/message\n", "[stats]", ns_per_message(stats, n));
    std::printf("%-34s %10.0f ns/message\n", "[stats] + [events]", ns_per_message(events, n / 5));
    std::printf("%-34s %10.0f ns/message\n", "[metrics] (prometheus-cpp)",
                ns_per_message(metrics, n));
    return 0;
}
