// prometheus_metrics.hpp - Prometheus metrics of one staffeld node.
//
// Purpose: an OutcomeSink that counts each message's outcome
//   (core/outcome.hpp) in prometheus-cpp counters and histograms, plus
//   counters read at scrape time from the atomics the core and the Redis
//   pool keep anyway (store-error decisions, DMARC predictions, Redis round
//   trips). listen() serves them over HTTP at /metrics on the policy's
//   [metrics] listen address (civetweb, through prometheus-cpp's Exposer).
//   policies/README.md lists every metric and label.
// Labels: low cardinality only. Label values are policy-defined names
//   (stream, route, quota limit, refusal reason, algorithm) and fixed words;
//   addresses, tags, queue ids and hosts are never labels. A value that is
//   empty reads "none"; one that looks like an address (contains '@') or is
//   longer than 64 bytes reads "other", as a safeguard.
// Thread-safety: message() and policy_reloaded() may be called from any
//   thread at once; they take prometheus-cpp's short per-family locks and
//   never block on I/O. Scrapes run on civetweb's own threads.
// Errors: listen() returns a Result error naming the address when it cannot
//   bind (start-up only); nothing on the mail path throws.
// Outside input: HTTP requests to the endpoint, parsed by civetweb; only
//   GET /metrics is answered. Bind it to loopback or a management network.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/outcome.hpp"
#include "core/result.hpp"

namespace staffel::core {
struct QuotaStats;     // core/session.hpp
struct SuppressStats;  // core/session.hpp
struct DmarcStats;     // core/route/dmarc.hpp
}  // namespace staffel::core

namespace staffel::adapters {

class RedisRoundTrips;
class SuppressionViewStats;

// Counters read at each scrape; any of them may be null (not reported).
// They must outlive the PrometheusMetrics.
struct MetricsSources {
    const core::QuotaStats* quota = nullptr;
    const core::SuppressStats* suppress = nullptr;
    const core::DmarcStats* dmarc = nullptr;
    const RedisRoundTrips* redis = nullptr;
    const SuppressionViewStats* view = nullptr;
};

class PrometheusMetrics final : public core::OutcomeSink {
  public:
    // Metrics without an HTTP endpoint (exposition() only).
    PrometheusMetrics(MetricsSources sources, std::string_view policy_digest);
    ~PrometheusMetrics() override;
    PrometheusMetrics(const PrometheusMetrics&) = delete;
    PrometheusMetrics& operator=(const PrometheusMetrics&) = delete;

    // Metrics served at http://ADDRESS/metrics. `address` is [metrics]
    // listen, "HOST:PORT" ("::1:9325" and "[::1]:9325" both mean IPv6).
    // The port is bound before this returns; civetweb's threads start here,
    // so call it after daemonising.
    static core::Result<std::unique_ptr<PrometheusMetrics>> listen(const std::string& address,
                                                                   MetricsSources sources,
                                                                   std::string_view policy_digest);

    void message(const core::MessageOutcome& outcome) override;

    // A SIGHUP reload: counts it, and on success makes `digest` the one
    // staffel_policy_info reports.
    void policy_reloaded(bool ok, std::string_view digest);

    // Everything /metrics would serve (except the exposer's own metrics),
    // in the Prometheus text format.
    [[nodiscard]] std::string exposition() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Whether `address` ([metrics] listen) can be bound now: a socket is bound
// and closed again. staffeld checks this before daemonising, so that a bad
// or busy address fails the start with an exit status; listen() binds for
// real after the fork. Only numeric hosts are accepted.
core::Result<bool> check_listen_address(const std::string& address);

// The address civetweb takes for [metrics] listen: "::1:9325" -> "[::1]:9325";
// IPv4 and bracketed forms unchanged.
std::string civetweb_listen_address(std::string_view address);

}  // namespace staffel::adapters
