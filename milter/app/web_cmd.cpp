// web_cmd.cpp - see web_cmd.hpp.
#include "app/web_cmd.hpp"

#include <pthread.h>

#include <CLI/CLI.hpp>
#include <condition_variable>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "adapters/idn/idna.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/redis/event_stream.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/route_store.hpp"
#include "adapters/redis/stats_store.hpp"
#include "app/dashboard.hpp"
#include "app/event_json.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "web_assets.hpp"

namespace staffel::app {

namespace {

class RedisDashboardReads final : public DashboardReads {
  public:
    explicit RedisDashboardReads(const core::Policy& policy)
        : stats_(adapters::redis_options(policy.redis)),
          events_(adapters::redis_options(policy.redis), policy.redis.prefix),
          routes_(policy.redis) {}

    core::Result<std::vector<adapters::StatsTable>> tables(
        std::span<const std::string> keys) override {
        return stats_.tables(keys);
    }
    core::Result<std::vector<adapters::StreamEntry>> latest_events(std::size_t count) override {
        return events_.latest(count);
    }
    core::Result<std::vector<adapters::StreamEntry>> events_after(std::string_view id,
                                                                  std::size_t count) override {
        return events_.range_after(id, count);
    }
    core::Result<std::set<std::string>> routes_down() override {
        std::lock_guard lock(routes_mu_);  // RouteStatusStore keeps one connection
        auto down = routes_.list_down();
        if (!down) {
            return core::make_error(down.error.empty() ? "unexpected reply to SMEMBERS"
                                                       : down.error);
        }
        return std::set<std::string>(down.value->begin(), down.value->end());
    }

  private:
    adapters::RedisStatsStore stats_;
    adapters::RedisEventStream events_;
    std::mutex routes_mu_;
    adapters::RouteStatusStore routes_;
};

// Counts the suppression list by reason with SCAN, every `interval`, on a
// thread of its own; requests read the last count.
class CensusThread {
  public:
    CensusThread(const core::Policy& policy, core::SuppressionStore& store)
        : pattern_(core::SuppressionKeys(policy.redis.prefix, policy.suppression.hash_secret,
                                         &adapters::sha256_factory())
                       .scan_pattern()),
          keys_(policy.redis.prefix, policy.suppression.hash_secret, &adapters::sha256_factory()),
          interval_(policy.web.census_interval),
          store_(store),
          thread_([this] { loop(); }) {}
    ~CensusThread() {
        {
            std::lock_guard lock(mu_);
            stop_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    CensusThread(const CensusThread&) = delete;
    CensusThread& operator=(const CensusThread&) = delete;

    SuppressionCensus snapshot() const {
        std::lock_guard lock(mu_);
        return last_;
    }

  private:
    void loop() {
        std::unique_lock lock(mu_);
        while (!stop_) {
            last_.running = true;
            lock.unlock();
            SuppressionCensus c;
            auto visited = store_.scan(
                pattern_, [&](std::string_view key, const core::Result<core::SuppressionEntry>& e) {
                    if (!e) {
                        ++c.undecoded;
                        return;
                    }
                    ++c.total;
                    ++c.by_reason[std::string(core::reason_name(e.value().reason))];
                    const auto k = keys_.parse_key(key);
                    if (k && !k->first.empty()) {
                        ++c.scoped;
                    }
                });
            lock.lock();
            if (visited) {
                c.at = static_cast<std::int64_t>(std::time(nullptr));
                last_ = std::move(c);
            } else {
                last_.error = visited.error().message;
            }
            last_.running = false;
            wake_.wait_for(lock, interval_, [this] { return stop_; });
        }
    }

    const std::string pattern_;
    const core::SuppressionKeys keys_;
    const std::chrono::seconds interval_;
    core::SuppressionStore& store_;
    mutable std::mutex mu_;
    std::condition_variable wake_;
    bool stop_ = false;       // guarded
    SuppressionCensus last_;  // guarded
    std::thread thread_;      // last: starts once the rest is ready
};

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

void WebCli::add(CLI::App& app, ManPage man_page) {
    app_ = app.add_subcommand("web", "serve the dashboard: volume, bounces, suppressions, routes");
    man_page(app_,
             "staffelctl [-c POLICY] web [--listen HOST:PORT] [--threads N]\n"
             "                 [--chart-js FILE]",
             "Serves a read-only dashboard of what every node counted, from Redis:\n"
             "an overview (messages, recipients, accepted and refused, bounce and\n"
             "complaint rates against the 0.3% bulk-sender limit, in-house vs ESP,\n"
             "per stream), senders with their quota use, tags (campaigns), the\n"
             "suppression list (counts by reason, recent additions, a search for one\n"
             "address), routes (up or down, traffic, fallbacks taken) and the recent\n"
             "events as they come. The page uses the JSON API under /api/, which\n"
             "scripts can read too.\n\n"
             "With [web] token_file set, every request must carry the token: as\n"
             "\"Authorization: Bearer TOKEN\", or by Basic authentication with the token\n"
             "as the password (any user name; the browser asks for it). Without it,\n"
             "only a loopback address (127.0.0.0/8, ::1) may be listened on. Put it\n"
             "behind a reverse proxy for TLS: every link of the page is relative.\n"
             "Chart.js comes from Debian's libjs-chart.js; nothing is loaded from\n"
             "another host.",
             "EXIT STATUS\n"
             "  0   stopped by SIGINT or SIGTERM\n"
             "  64  bad --listen, or a non-loopback address without [web] token_file\n"
             "  66  Chart.js cannot be read (--chart-js)\n"
             "  69  the address cannot be listened on\n"
             "  78  the policy is invalid\n\n"
             "EXAMPLES\n"
             "  staffelctl web\n"
             "  staffelctl -c /etc/staffel/staffel.toml web --listen 127.0.0.1:8025\n"
             "  curl -H \"Authorization: Bearer $(cat /etc/staffel/web.token)\" \\\n"
             "       'http://127.0.0.1:8025/api/overview?period=7d'\n");
    app_->add_option("--listen", args_.listen,
                     "IP:PORT or [IPV6]:PORT to listen on\n(default [web] listen, 127.0.0.1:8025)")
        ->type_name("HOST:PORT");
    app_->add_option("--threads", args_.threads, "Requests served at once (default 4)")
        ->check(CLI::Range(1, 64).description(""))
        ->type_name("N");
    app_->add_option("--chart-js", args_.chart_js,
                     "Chart.js 3 (UMD build) to serve\n"
                     "(default /usr/share/javascript/chart.js/chart.min.js)")
        ->type_name("FILE");
}

bool WebCli::parsed() const {
    return app_ != nullptr && app_->parsed();
}

int WebCli::run(const std::string& policy_path) {
    const auto policy = load_policy_or_report(policy_path, {}, std::cerr);
    if (!policy) {
        return kExitConfig;
    }
    const std::string listen = args_.listen.empty() ? policy->web.listen : args_.listen;
    if (!is_loopback_listen(listen)) {
        const auto colon = listen.rfind(':');
        auto host = colon == std::string::npos ? listen : listen.substr(0, colon);
        if (host.size() > 2 && host.front() == '[') {
            host = host.substr(1, host.size() - 2);
        }
        if (colon == std::string::npos || !core::parse_network(host) ||
            host.find('/') != std::string::npos) {
            std::cerr << "staffelctl: --listen: expected IP:PORT or [IPV6]:PORT, got \"" << listen
                      << "\"\n";
            return kExitUsage;
        }
        if (policy->web.token.empty()) {
            std::cerr << "staffelctl: web: refusing to listen on " << listen
                      << " without authentication: a non-loopback --listen needs [web] "
                         "token_file in "
                      << policy_path << " (or listen on 127.0.0.1)\n";
            return kExitUsage;
        }
    }
    DashboardAssets assets{std::string(kDashboardHtml), std::string(kDashboardJs),
                           std::string(kDashboardCss), {}};
    auto chart = read_file(args_.chart_js);
    if (!chart) {
        std::cerr << "staffelctl: web: cannot read Chart.js from " << args_.chart_js
                  << " (Debian: apt-get install libjs-chart.js; or give --chart-js FILE)\n";
        return kExitNoInput;
    }
    assets.chart_js = std::move(*chart);

    // SIGINT and SIGTERM are taken by sigwait below: blocked before any
    // thread starts, so every thread inherits the mask.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    RedisDashboardReads reads(*policy);
    auto suppression = make_suppression_store(policy->redis);
    auto counters = make_counter_store(policy->redis);
    std::unique_ptr<CensusThread> census;
    if (policy->suppression.enabled) {
        census = std::make_unique<CensusThread>(*policy, *suppression);
    }
    DashboardDeps deps;
    deps.policy = policy;
    deps.reads = &reads;
    deps.suppression = suppression.get();
    deps.counters = counters.get();
    deps.sha = &adapters::sha256_factory();
    deps.idna = adapters::domain_to_ascii;
    deps.census = [&census] { return census ? census->snapshot() : SuppressionCensus{}; };
    deps.now = [] { return static_cast<std::int64_t>(std::time(nullptr)); };
    deps.node = node_name();
    deps.version = STAFFEL_VERSION;
    const Dashboard dashboard(std::move(deps), std::move(assets));

    auto server = adapters::HttpServer::start(
        bracketed_listen(listen), args_.threads,
        [&dashboard](const adapters::HttpRequest& r) { return dashboard.handle(r); });
    if (!server) {
        std::cerr << "staffelctl: web: " << server.error().message << '\n';
        return kExitUnavailable;
    }
    std::cerr << "staffelctl: web: serving the dashboard on http://" << listen << "/ ("
              << (policy->web.token.empty() ? "no authentication" : "token required")
              << "; SIGINT or SIGTERM stops)\n";
    int signal = 0;
    sigwait(&stop_signals, &signal);
    server.value().reset();
    census.reset();
    std::cerr << "staffelctl: web: stopped (" << (signal == SIGINT ? "SIGINT" : "SIGTERM")
              << ")\n";
    return 0;
}

}  // namespace staffel::app
