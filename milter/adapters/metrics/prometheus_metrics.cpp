// prometheus_metrics.cpp - see prometheus_metrics.hpp.
#include "adapters/metrics/prometheus_metrics.hpp"

#include <netdb.h>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <limits>
#include <mutex>
#include <utility>
#include <vector>

#include "adapters/redis/round_trips.hpp"
#include "adapters/redis/suppression_view.hpp"
#include "core/route/dmarc.hpp"
#include "core/session.hpp"

namespace staffel::adapters {
namespace {

using prometheus::ClientMetric;
using prometheus::Counter;
using prometheus::Family;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr std::size_t kMaxLabelBytes = 64;
constexpr double kMicrosPerSecond = 1e6;

// A label value that can never carry an address or grow without bound.
std::string label(std::string_view value) {
    if (value.empty()) {
        return "none";
    }
    if (value.size() > kMaxLabelBytes || value.find('@') != std::string_view::npos) {
        return "other";
    }
    return std::string(value);
}

prometheus::Histogram::BucketBoundaries milter_buckets() {
    return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0};
}

Family<Counter>& counter_family(prometheus::Registry& r, const char* name, const char* help) {
    return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}

ClientMetric counter_sample(std::vector<ClientMetric::Label> labels, std::uint64_t value) {
    ClientMetric m;
    m.label = std::move(labels);
    m.counter.value = static_cast<double>(value);
    return m;
}

MetricFamily counter_snapshot(const char* name, const char* help) {
    MetricFamily f;
    f.name = name;
    f.help = help;
    f.type = MetricType::Counter;
    return f;
}

// Counters kept as atomics elsewhere (the core's decisions, the Redis
// pool's round trips), turned into metric families at each scrape.
class AtomicsCollector final : public prometheus::Collectable {
  public:
    explicit AtomicsCollector(MetricsSources sources) : sources_(sources) {}

    std::vector<MetricFamily> Collect() const override {
        std::vector<MetricFamily> out;
        store_errors(out);
        if (sources_.dmarc != nullptr) {
            auto f = counter_snapshot("staffel_dmarc_predictions_total",
                                      "DMARC alignment predicted for passed messages, by result");
            const auto& d = *sources_.dmarc;
            f.metric.push_back(counter_sample({{"result", "pass"}}, d.pass.load()));
            f.metric.push_back(counter_sample({{"result", "fail"}}, d.fail.load()));
            f.metric.push_back(counter_sample({{"result", "unknown"}}, d.unknown.load()));
            out.push_back(std::move(f));
        }
        if (sources_.redis != nullptr) {
            redis(out);
        }
        if (sources_.view != nullptr) {
            view(out);
        }
        return out;
    }

  private:
    void store_errors(std::vector<MetricFamily>& out) const {
        if (sources_.quota == nullptr && sources_.suppress == nullptr) {
            return;
        }
        auto f = counter_snapshot(
            "staffel_store_error_decisions_total",
            "Redis store errors, by store and by what on_store_error decided (tempfail or accept)");
        auto add = [&f](const char* store, const char* decision, std::uint64_t value) {
            f.metric.push_back(counter_sample({{"decision", decision}, {"store", store}}, value));
        };
        if (const auto* q = sources_.quota; q != nullptr) {
            add("quota", "tempfail", q->store_errors_tempfailed.load());
            add("quota", "accept", q->store_errors_accepted.load());
        }
        if (const auto* s = sources_.suppress; s != nullptr) {
            add("suppression", "tempfail", s->store_errors_tempfailed.load());
            add("suppression", "accept", s->store_errors_accepted.load());
        }
        out.push_back(std::move(f));
    }

    void view(std::vector<MetricFamily>& out) const {
        const auto& v = *sources_.view;
        auto lookups = counter_snapshot(
            "staffel_suppression_view_lookups_total",
            "Suppression lookups by how the local view answered: local (no round trip), "
            "confirmed (a key in the filter, looked up in Redis), fallback (view stale, "
            "looked up in Redis)");
        lookups.metric.push_back(counter_sample({{"answer", "local"}}, v.local.load()));
        lookups.metric.push_back(counter_sample({{"answer", "confirmed"}}, v.confirmed.load()));
        lookups.metric.push_back(counter_sample({{"answer", "fallback"}}, v.fallback.load()));
        out.push_back(std::move(lookups));
        auto rebuilds = counter_snapshot("staffel_suppression_view_rebuilds_total",
                                         "Local suppression views built from a SCAN of Redis");
        rebuilds.metric.push_back(counter_sample({}, v.rebuilds.load()));
        out.push_back(std::move(rebuilds));
        auto failures =
            counter_snapshot("staffel_suppression_view_failures_total",
                             "Reads of the changes stream or rebuilds of the view that failed");
        failures.metric.push_back(counter_sample({}, v.failures.load()));
        out.push_back(std::move(failures));
        MetricFamily keys;
        keys.name = "staffel_suppression_view_keys";
        keys.help = "Entry keys in the local suppression view when it was last built";
        keys.type = MetricType::Gauge;
        ClientMetric k;
        k.gauge.value = static_cast<double>(v.keys.load());
        keys.metric.push_back(std::move(k));
        out.push_back(std::move(keys));
    }

    void redis(std::vector<MetricFamily>& out) const {
        const auto s = sources_.redis->snapshot();
        auto trips = counter_snapshot("staffel_redis_round_trips_total",
                                      "Redis round trips (commands and pipelined batches)");
        trips.metric.push_back(counter_sample({}, s.count));
        out.push_back(std::move(trips));
        auto errors =
            counter_snapshot("staffel_redis_errors_total",
                             "Redis round trips that failed: I/O error, timeout or protocol error");
        errors.metric.push_back(counter_sample({}, s.errors));
        out.push_back(std::move(errors));
        auto breaker = counter_snapshot(
            "staffel_redis_breaker_transitions_total",
            "Redis circuit breaker openings (fail fast after timeouts) and closings");
        breaker.metric.push_back(counter_sample({{"to", "open"}}, s.breaker_opened));
        breaker.metric.push_back(counter_sample({{"to", "closed"}}, s.breaker_closed));
        out.push_back(std::move(breaker));

        MetricFamily h;
        h.name = "staffel_redis_seconds";
        h.help = "Redis round-trip latency";
        h.type = MetricType::Histogram;
        ClientMetric m;
        m.histogram.sample_count = s.count;
        m.histogram.sample_sum = static_cast<double>(s.sum_us) / kMicrosPerSecond;
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < RedisRoundTrips::kBoundsUs.size(); ++i) {
            cumulative += s.buckets[i];
            m.histogram.bucket.push_back(
                {cumulative,
                 static_cast<double>(RedisRoundTrips::kBoundsUs[i]) / kMicrosPerSecond});
        }
        m.histogram.bucket.push_back({s.count, std::numeric_limits<double>::infinity()});
        h.metric.push_back(std::move(m));
        out.push_back(std::move(h));
    }

    MetricsSources sources_;
};

// Blocks the signals staffeld's main thread waits for while civetweb starts
// its threads, which inherit the mask: they never take a SIGHUP or SIGTERM.
class SignalsBlocked {
  public:
    SignalsBlocked() {
        sigset_t set;
        sigemptyset(&set);
        for (const int sig : {SIGHUP, SIGTERM, SIGINT}) {
            sigaddset(&set, sig);
        }
        pthread_sigmask(SIG_BLOCK, &set, &old_);
    }
    ~SignalsBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
    SignalsBlocked(const SignalsBlocked&) = delete;
    SignalsBlocked& operator=(const SignalsBlocked&) = delete;

  private:
    sigset_t old_{};
};

}  // namespace

struct PrometheusMetrics::Impl {
    explicit Impl(MetricsSources sources)
        : registry(std::make_shared<prometheus::Registry>()),
          atomics(std::make_shared<AtomicsCollector>(sources)),
          messages(counter_family(*registry, "staffel_messages_total",
                                  "Messages by what happened to them, stream and route")),
          recipients(counter_family(
              *registry, "staffel_recipients_total",
              "Accepted recipients of messages, by what happened to the message, stream and "
              "route")),
          recipients_refused(counter_family(
              *registry, "staffel_recipients_refused_total",
              "Recipients refused at RCPT or removed at the end of the message, by reason")),
          refusals(counter_family(*registry, "staffel_message_refusals_total",
                                  "Messages rejected or deferred, by reason")),
          signatures(counter_family(*registry, "staffel_signatures_total",
                                    "DKIM signatures added, by algorithm")),
          shadow_over(counter_family(*registry, "staffel_quota_shadow_over_total",
                                     "Messages over a quota limit whose action is \"log\"")),
          reloads(counter_family(*registry, "staffel_policy_reloads_total",
                                 "Policy reloads (SIGHUP), by result")),
          bytes(counter_family(*registry, "staffel_message_bytes_total",
                               "Header and body bytes of the messages the milter saw")
                    .Add({})),
          milter_seconds(prometheus::BuildHistogram()
                             .Name("staffel_milter_seconds")
                             .Help("Time from MAIL FROM reaching the milter to the end of the "
                                   "message")
                             .Register(*registry)
                             .Add({}, milter_buckets())),
          policy_info(prometheus::BuildGauge()
                          .Name("staffel_policy_info")
                          .Help("The policy in force: 1 for its digest")
                          .Register(*registry)) {}

    std::shared_ptr<prometheus::Registry> registry;
    std::shared_ptr<AtomicsCollector> atomics;
    Family<Counter>& messages;
    Family<Counter>& recipients;
    Family<Counter>& recipients_refused;
    Family<Counter>& refusals;
    Family<Counter>& signatures;
    Family<Counter>& shadow_over;
    Family<Counter>& reloads;
    Counter& bytes;
    prometheus::Histogram& milter_seconds;
    Family<prometheus::Gauge>& policy_info;
    std::mutex info_mutex;
    prometheus::Gauge* info = nullptr;  // guarded by info_mutex
    std::string info_digest;            // guarded by info_mutex
    std::unique_ptr<prometheus::Exposer> exposer;

    // The new digest's series is added before the old one goes, so a scrape
    // never finds none; a reload of the same policy changes nothing.
    void set_digest(std::string_view digest) {
        const std::lock_guard lock(info_mutex);
        if (info != nullptr && info_digest == digest) {
            return;
        }
        auto& next = policy_info.Add({{"digest", label(digest)}});
        next.Set(1);
        if (info != nullptr) {
            policy_info.Remove(info);
        }
        info = &next;
        info_digest = std::string(digest);
    }
};

PrometheusMetrics::PrometheusMetrics(MetricsSources sources, std::string_view policy_digest)
    : impl_(std::make_unique<Impl>(sources)) {
    impl_->reloads.Add({{"result", "ok"}});
    impl_->reloads.Add({{"result", "failed"}});
    impl_->set_digest(policy_digest);
}

PrometheusMetrics::~PrometheusMetrics() = default;

core::Result<std::unique_ptr<PrometheusMetrics>> PrometheusMetrics::listen(
    const std::string& address, MetricsSources sources, std::string_view policy_digest) {
    auto metrics = std::make_unique<PrometheusMetrics>(sources, policy_digest);
    try {
        const SignalsBlocked blocked;
        auto exposer = std::make_unique<prometheus::Exposer>(civetweb_listen_address(address), 2);
        exposer->RegisterCollectable(metrics->impl_->registry);
        exposer->RegisterCollectable(metrics->impl_->atomics);
        metrics->impl_->exposer = std::move(exposer);
    } catch (const std::exception& e) {
        return core::make_error("[metrics] listen: cannot listen on " + address + ": " + e.what());
    }
    return metrics;
}

void PrometheusMetrics::message(const core::MessageOutcome& outcome) {
    auto& m = *impl_;
    const std::string action(core::to_string(outcome.action));
    const std::string stream = label(outcome.stream);
    const std::string route = label(outcome.route);
    const prometheus::Labels where{{"action", action}, {"stream", stream}, {"route", route}};
    m.messages.Add(where).Increment();
    m.recipients.Add(where).Increment(static_cast<double>(outcome.recipients));
    for (const auto& r : outcome.refused) {
        m.recipients_refused.Add({{"stage", "rcpt"}, {"reason", label(r.reason)}}).Increment();
    }
    for (const auto& r : outcome.removed) {
        m.recipients_refused.Add({{"stage", "end"}, {"reason", label(r.reason)}}).Increment();
    }
    if (outcome.action == core::MessageOutcome::Action::Reject ||
        outcome.action == core::MessageOutcome::Action::Tempfail) {
        m.refusals.Add({{"action", action}, {"reason", label(outcome.reason)}}).Increment();
    }
    for (const auto& s : outcome.signatures) {
        m.signatures.Add({{"algorithm", label(s.algorithm)}}).Increment();
    }
    for (const auto& limit : outcome.shadow_over) {
        m.shadow_over.Add({{"limit", label(limit)}}).Increment();
    }
    m.bytes.Increment(static_cast<double>(outcome.bytes));
    m.milter_seconds.Observe(static_cast<double>(outcome.elapsed_us) / kMicrosPerSecond);
}

void PrometheusMetrics::policy_reloaded(bool ok, std::string_view digest) {
    impl_->reloads.Add({{"result", ok ? "ok" : "failed"}}).Increment();
    if (ok) {
        impl_->set_digest(digest);
    }
}

std::string PrometheusMetrics::exposition() const {
    auto families = impl_->registry->Collect();
    for (auto& f : impl_->atomics->Collect()) {
        families.push_back(std::move(f));
    }
    return prometheus::TextSerializer().Serialize(families);
}

core::Result<bool> check_listen_address(const std::string& address) {
    auto fail = [&address](const std::string& why) {
        return core::make_error("[metrics] listen: cannot listen on " + address + ": " + why);
    };
    const auto colon = address.rfind(':');
    if (colon == std::string::npos) {
        return fail("not HOST:PORT");
    }
    std::string host = address.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    const std::string port = address.substr(colon + 1);
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    addrinfo* found = nullptr;
    if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
        return fail(std::string("not a numeric address (") + ::gai_strerror(rc) + ")");
    }
    const std::unique_ptr<addrinfo, void (*)(addrinfo*)> guard(found, ::freeaddrinfo);
    const int fd = ::socket(found->ai_family, found->ai_socktype | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return fail(std::strerror(errno));
    }
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    const int rc = ::bind(fd, found->ai_addr, found->ai_addrlen);
    const int saved_errno = errno;
    ::close(fd);
    if (rc != 0) {
        return fail(std::strerror(saved_errno));
    }
    return true;
}

std::string civetweb_listen_address(std::string_view address) {
    const auto colon = address.rfind(':');
    if (colon == std::string_view::npos || address.starts_with('[')) {
        return std::string(address);
    }
    const auto host = address.substr(0, colon);
    if (host.find(':') == std::string_view::npos) {
        return std::string(address);
    }
    return "[" + std::string(host) + "]" + std::string(address.substr(colon));
}

}  // namespace staffel::adapters
