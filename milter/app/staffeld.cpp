// staffeld.cpp - the Staffel milter daemon: command line, start-up,
// signal handling and shutdown.
//
// Start-up order: parse the command line; load and validate the policy
// (exit 78 on errors, each located file:line:column); probe Redis; open the
// milter socket (removing a stale unix socket, refusing a live one) and set
// its mode; daemonise unless -f; drop to [milter] user; run libmilter in its
// own thread while this thread waits for signals. With [metrics] listen,
// the metrics endpoint is bound after daemonising (civetweb's threads would
// not survive the fork) and before dropping privileges, so a privileged
// port works; a failure to bind exits 71 naming the address.
// Signals:
//   SIGHUP   reload the policy; a broken one is logged and the old one stays
//   SIGTERM  stop accepting connections, let in-flight messages finish
//            (at most [milter] drain_timeout), exit 0
//   SIGINT   as SIGTERM
// libmilter blocks these signals in its threads, and its own signal thread
// is kept from taking them (adapters/milter/libmilter_signals.cpp); this
// thread leaves them unblocked, so the kernel delivers them here.
#include <poll.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <thread>

#include "adapters/idn/idna.hpp"
#include "adapters/log/loggers.hpp"
#include "adapters/metrics/prometheus_metrics.hpp"
#include "adapters/milter/milter_adapter.hpp"
#include "adapters/milter/milter_server.hpp"
#include "adapters/milter/socket_tuning.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/openssl/hmac.hpp"
#include "adapters/psl/org_domain.hpp"
#include "adapters/redis/probe.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "adapters/redis/round_trips.hpp"
#include "adapters/redis/route_status.hpp"
#include "adapters/redis/suppression_view.hpp"
#include "app/event_json.hpp"
#include "app/process.hpp"
#include "app/runtime.hpp"
#include "app/stats_flusher.hpp"
#include "core/units.hpp"

namespace staffel::app {
namespace {

constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitOsErr = 71;   // EX_OSERR
constexpr int kExitConfig = 78;  // EX_CONFIG
constexpr std::size_t kThreadStackBytes = 512 * 1024;

struct Options {
    std::string config = "/etc/staffel/staffel.toml";
    bool foreground = false;
    bool check_only = false;
    bool verbose = false;
    std::string pid_file;
    Overrides overrides;
};

constexpr const char* kFooter = R"(
SIGNALS
  SIGHUP   Reload the policy. In-flight messages finish with the policy they
           started with. A policy that fails validation is logged with
           file:line:column and the running policy stays in force.
  SIGTERM  Stop accepting connections, let in-flight messages finish (at most
           [milter] drain_timeout), then exit 0. SIGINT does the same.

EXIT STATUS
  0   success (with -n: the policy is valid)
  64  bad command line
  71  the socket or the [metrics] listen address could not be opened, or
      privileges could not be dropped
  78  the policy is invalid (each error is printed as FILE:LINE:COLUMN: ...)

FILES
  /etc/staffel/staffel.toml  default policy; see policies/README.md for every key

EXAMPLES
  staffeld -n -c /etc/staffel/staffel.toml          check a policy and exit
  staffeld -f -c staffel.toml --socket inet:8891@127.0.0.1
)";

void print_errors(const config::LoadResult& r, std::ostream& out) {
    for (const auto& e : r.errors) {
        out << e.to_string() << '\n';
    }
}

std::unique_ptr<adapters::ThresholdLogger> make_logger(bool foreground) {
    if (foreground) {
        return std::make_unique<adapters::StderrLogger>("staffeld");
    }
    return std::make_unique<adapters::SyslogLogger>("staffeld");
}

void probe_redis(const core::Policy& policy, core::Logger& log) {
    core::RedisAddress address = policy.redis.address;
    if (!policy.redis.sentinels.empty()) {
        auto primary = adapters::redis_options(policy.redis).resolver->resolve();
        if (!primary) {
            log.warning(primary.error().message);
            return;
        }
        address = *primary;
        log.info("redis sentinels name " + address.to_string() + " as master " +
                 policy.redis.master_name);
    }
    auto r = adapters::redis_ping(address, policy.redis.connect_timeout);
    if (r) {
        log.info("redis " + address.to_string() + " reachable (redis " + *r + ")");
    } else {
        log.warning(r.error().message);
    }
}

class Daemon {
  public:
    Daemon(Options opt, std::shared_ptr<const core::Policy> policy)
        : opt_(std::move(opt)), logger_(make_logger(opt_.foreground)) {
        store_.replace(std::move(policy));
        apply_log_level(*store_.current());
        adapters::redis_round_trips().set_log(logger_.get());
        adapters::suppression_view_stats().set_log(logger_.get());
    }
    // The stores' pools (members below logger_) go first; their breakers
    // log nothing once this has run.
    ~Daemon() {
        adapters::redis_round_trips().set_log(nullptr);
        adapters::suppression_view_stats().set_log(nullptr);
    }
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    int run() {
        const auto policy = store_.current();
        if (auto r = SignalPipe::install(); !r) {
            return fail(kExitOsErr, r.error().message);
        }
        if (!policy->metrics.listen.empty()) {
            if (auto r = adapters::check_listen_address(policy->metrics.listen); !r) {
                return fail(kExitOsErr, r.error().message);
            }
        }
        if (auto r = open_socket(*policy); !r) {
            return fail(kExitOsErr, r.error().message);
        }
        if (!opt_.foreground) {
            if (auto r = daemonise(); !r) {
                return fail(kExitOsErr, r.error().message);
            }
        }
        if (!opt_.pid_file.empty()) {
            if (auto r = write_pid_file(opt_.pid_file); !r) {
                return fail(kExitOsErr, r.error().message);
            }
        }
        if (auto r = start_metrics(*policy); !r) {
            return fail(kExitOsErr, r.error().message);
        }
        if (auto r = drop(*policy); !r) {
            return fail(kExitOsErr, r.error().message);
        }
        probe_redis(*policy, *logger_);
        route_status_->start();
        stats_->start();
        set_thread_stack_size();
        std::thread milter([this] { SignalPipe::post(milter_.run() ? 'S' : 'F'); });
        logger_->notice("ready: listening on " + policy->milter.socket.to_string() + ", policy " +
                        policy->digest + " from " + policy->path);
        const int status = wait_for_signals();
        if (status == 0) {
            drain();
        }
        milter_.request_stop();
        milter.join();
        route_status_->stop();
        stats_->stop();  // writes what the last messages counted
        cleanup(*policy);
        logger_->notice(
            std::string(status == 0 ? "stopped" : "stopped after an error") +
            "; quota store errors: " + std::to_string(quota_stats_.store_errors_tempfailed.load()) +
            " tempfailed, " + std::to_string(quota_stats_.store_errors_accepted.load()) +
            " accepted; suppression: " + std::to_string(suppress_stats_.refused.load()) +
            " recipients refused, " + std::to_string(suppress_stats_.removed.load()) +
            " removed, store errors " +
            std::to_string(suppress_stats_.store_errors_tempfailed.load()) + " tempfailed, " +
            std::to_string(suppress_stats_.store_errors_accepted.load()) +
            " accepted; DMARC predicted: " + std::to_string(dmarc_stats_.pass.load()) + " pass, " +
            std::to_string(dmarc_stats_.fail.load()) + " fail (misaligned), " +
            std::to_string(dmarc_stats_.unknown.load()) + " unknown");
        return status;
    }

  private:
    int fail(int code, const std::string& message) {
        logger_->error(message);
        if (opt_.foreground) {
            return code;
        }
        std::cerr << "staffeld: " << message << '\n';
        return code;
    }

    void apply_log_level(const core::Policy& p) {
        logger_->set_threshold(opt_.verbose ? core::LogLevel::Debug : p.log.level);
    }

    // libmilter starts and retires worker threads as load changes, with
    // default attributes. glibc caches freed thread stacks only up to 40 MiB
    // in all, i.e. five 8 MiB stacks; smaller stacks keep the cache warm, so
    // a new worker costs no mmap/munmap. Our deepest path (RSA signing in
    // OpenSSL) stays far below this size.
    void set_thread_stack_size() {
        pthread_attr_t attr;
        if (pthread_attr_init(&attr) != 0) {
            return;
        }
        if (pthread_attr_setstacksize(&attr, kThreadStackBytes) != 0 ||
            pthread_setattr_default_np(&attr) != 0) {
            logger_->warning("cannot set the default thread stack size; using the system's");
        }
        pthread_attr_destroy(&attr);
    }

    core::Result<bool> open_socket(const core::Policy& p) {
        const auto& s = p.milter.socket;
        if (s.kind == core::MilterSocket::Kind::Unix) {
            if (auto r = clear_stale_unix_socket(s.path); !r) {
                return r;
            }
        }
        if (auto r = milter_.configure(s, p.milter.timeout, p.milter.backlog); !r) {
            return r;
        }
        adapters::MilterContext ctx;
        ctx.policies = [this] { return store_.current(); };
        ctx.log = logger_.get();
        ctx.in_flight = &in_flight_;
        ctx.sha256 = &adapters::sha256_factory();
        counters_.configure(p.redis);
        ctx.quota = {&counters_, &quota_stats_};
        suppressions_.configure(p.redis, p.suppression.view);
        ctx.suppress = {&suppressions_, &adapters::sha256_factory(), adapters::domain_to_ascii,
                        &suppress_stats_};
        route_status_ = std::make_unique<adapters::RedisRouteStatus>(
            [this] { return store_.current(); }, *logger_);
        ctx.route_status = route_status_.get();  // started in run(), after daemonising
        // spf_timeout takes effect at start; the checker starts on first use.
        spf_ = std::make_unique<LazySpfChecker>(p.routing.spf_timeout);
        ctx.spf = spf_.get();
        if (auto psl = adapters::PublicSuffixList::load(); psl) {
            ctx.org_domain = adapters::PublicSuffixList::function(std::move(psl).value());
        } else {
            logger_->warning(psl.error().message +
                             "; DMARC relaxed alignment is predicted as strict");
        }
        ctx.dmarc_stats = &dmarc_stats_;
        // Sinks are added before the milter starts (statistics, events, metrics).
        stats_ = std::make_unique<StatsFlusher>([this] { return store_.current(); }, *logger_,
                                                node_name());
        outcomes_.add(stats_.get());
        ctx.outcomes = &outcomes_;
        ctx.srs_hmac = adapters::hmac_sha1;
        if (auto r = adapters::register_milter("staffeld", std::move(ctx)); !r) {
            return r;
        }
        // The stale socket, if any, is gone already.
        if (auto r = milter_.open_socket(); !r) {
            return r;
        }
        if (s.kind == core::MilterSocket::Kind::Unix &&
            ::chmod(s.path.c_str(), p.milter.socket_mode) != 0) {
            return core::make_error("cannot set mode of " + s.path + ": " + std::strerror(errno));
        }
        return true;
    }

    // [metrics] listen: binds the endpoint and adds the metrics to the
    // outcome sinks, before the milter starts.
    core::Result<bool> start_metrics(const core::Policy& p) {
        if (p.metrics.listen.empty()) {
            return true;
        }
        const adapters::MetricsSources sources{&quota_stats_, &suppress_stats_, &dmarc_stats_,
                                               &adapters::redis_round_trips(),
                                               &adapters::suppression_view_stats()};
        auto m = adapters::PrometheusMetrics::listen(p.metrics.listen, sources, p.digest);
        if (!m) {
            return m.error();
        }
        metrics_ = std::move(m).value();
        outcomes_.add(metrics_.get());
        logger_->info("metrics at http://" + adapters::civetweb_listen_address(p.metrics.listen) +
                      "/metrics");
        return true;
    }

    core::Result<bool> drop(const core::Policy& p) {
        if (!p.milter.user) {
            if (::geteuid() == 0) {
                logger_->warning("running as root: set [milter] user to drop privileges");
            }
            return true;
        }
        auto account = lookup_account(*p.milter.user, p.milter.group);
        if (!account) {
            const auto& why = account.error().message;
            return core::make_error(
                (why.starts_with("unknown group") ? "milter.group: " : "milter.user: ") + why);
        }
        const auto& s = p.milter.socket;
        if (s.kind == core::MilterSocket::Kind::Unix &&
            ::chown(s.path.c_str(), account->uid, account->gid) != 0) {
            return core::make_error("cannot hand " + s.path + " to " + account->user + ": " +
                                    std::strerror(errno));
        }
        auto r = drop_privileges(*account);
        if (r) {
            logger_->info("running as user " + account->user);
        }
        return r;
    }

    int wait_for_signals() {
        for (;;) {
            pollfd pfd{SignalPipe::read_fd(), POLLIN, 0};
            if (::poll(&pfd, 1, -1) < 0) {
                if (errno == EINTR) {
                    continue;
                }
                logger_->error(std::string("poll: ") + std::strerror(errno));
                return kExitOsErr;
            }
            char event = 0;
            while (::read(SignalPipe::read_fd(), &event, 1) == 1) {
                switch (event) {
                    case 'H':
                        reload();
                        break;
                    case 'T':
                    case 'I':
                        logger_->notice(std::string(event == 'T' ? "SIGTERM" : "SIGINT") +
                                        ": no new connections; letting in-flight messages finish");
                        return 0;
                    case 'S':
                        logger_->error("libmilter stopped on its own");
                        return kExitOsErr;
                    case 'F':
                        logger_->error("libmilter failed (see messages above)");
                        return kExitOsErr;
                    default:
                        break;
                }
            }
        }
    }

    void reload() {
        const auto old = store_.current();
        auto r = load_with_overrides(opt_.config, opt_.overrides);
        if (!r.policy) {
            if (metrics_) {
                metrics_->policy_reloaded(false, old->digest);
            }
            for (const auto& e : r.errors) {
                logger_->error("reload failed: " + e.to_string() + "; keeping policy " +
                               old->digest);
            }
            return;
        }
        const auto& next = *r.policy;
        if (next.milter.socket.to_string() != old->milter.socket.to_string() ||
            next.milter.user != old->milter.user || next.milter.group != old->milter.group) {
            logger_->warning(
                "milter.socket, milter.user and milter.group take effect only at restart");
        }
        if (next.metrics.listen != old->metrics.listen) {
            logger_->warning("metrics.listen takes effect only at restart");
        }
        counters_.configure(next.redis);
        suppressions_.configure(next.redis, next.suppression.view);
        stats_->flush();  // what was counted under the old policy, with its settings
        store_.replace(r.policy);
        stats_->event(simple_event("policy.reloaded", std::time(nullptr), node_name(),
                                   {{"policy", next.digest}, {"previous", old->digest}}));
        apply_log_level(next);
        if (metrics_) {
            metrics_->policy_reloaded(true, next.digest);
        }
        logger_->notice("policy reloaded from " + opt_.config + ": policy " + next.digest +
                        " (was " + old->digest + ")");
        if (next.redis.address != old->redis.address ||
            next.redis.sentinels != old->redis.sentinels ||
            next.redis.master_name != old->redis.master_name) {
            probe_redis(next, *logger_);
        }
    }

    // SIGTERM: no new connections; libmilter keeps serving the open ones
    // (and the messages on them) until they close, for at most
    // drain_timeout. The MTA tempfails whatever is cut off after that.
    void drain() {
        adapters::refuse_new_connections();
        const auto left = in_flight_.wait_idle(store_.current()->milter.drain_timeout);
        if (left > 0) {
            logger_->warning(std::to_string(left) +
                             " connection(s) still open after drain_timeout; closing them "
                             "(the MTA applies milter_default_action to their messages)");
        }
    }

    void cleanup(const core::Policy& p) {
        if (p.milter.socket.kind == core::MilterSocket::Kind::Unix) {
            ::unlink(p.milter.socket.path.c_str());  // may fail after dropping privileges
        }
        if (!opt_.pid_file.empty()) {
            ::unlink(opt_.pid_file.c_str());
        }
    }

    Options opt_;
    std::unique_ptr<adapters::ThresholdLogger> logger_;
    adapters::MilterServer milter_;
    PolicyStore store_;
    InFlightCounter in_flight_;
    SwitchableStore counters_;
    core::QuotaStats quota_stats_;
    SwitchableSuppressionStore suppressions_;
    std::unique_ptr<adapters::RedisRouteStatus> route_status_;
    std::unique_ptr<LazySpfChecker> spf_;
    core::SuppressStats suppress_stats_;
    core::DmarcStats dmarc_stats_;
    core::OutcomeFanOut outcomes_;
    std::unique_ptr<StatsFlusher> stats_;
    // After the stats it reads; its endpoint stops before they go.
    std::unique_ptr<adapters::PrometheusMetrics> metrics_;
};

int parse_command_line(int argc, char** argv, Options& opt) {
    CLI::App app{
        "staffeld - Staffel outbound mail policy milter.\n\n"
        "Attaches to Postfix (smtpd_milters, non_smtpd_milters) or Sendmail as a\n"
        "milter and applies the TOML policy to every outbound message.",
        "staffeld"};
    app.set_version_flag("--version", std::string("staffeld ") + STAFFEL_VERSION);
    app.add_option("-c,--config", opt.config, "Policy file (TOML)")
        ->capture_default_str()
        ->type_name("FILE");
    app.add_flag("-f,--foreground", opt.foreground,
                 "Stay in the foreground and log to stderr instead of syslog (facility mail)");
    app.add_flag("-n,--check-config", opt.check_only,
                 "Only validate the policy: exit 0 if valid, 78 with located errors if not");
    app.add_option("--socket", opt.overrides.socket,
                   "Override [milter] socket: unix:/path or inet:PORT@HOST")
        ->type_name("SPEC");
    app.add_option("--redis", opt.overrides.redis,
                   "Override [redis] address: HOST:PORT or unix:/path")
        ->type_name("ADDRESS");
    app.add_option("--pidfile", opt.pid_file, "Write the daemon's pid to FILE")->type_name("FILE");
    app.add_flag("-v,--verbose", opt.verbose, "Log at debug level, whatever [log] level says");
    app.footer(kFooter);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kExitUsage;
    }
    return -1;
}

}  // namespace
}  // namespace staffel::app

int main(int argc, char** argv) {
    using namespace staffel::app;
    Options opt;
    if (const int rc = parse_command_line(argc, argv, opt); rc >= 0) {
        return rc;
    }
    // A daemon changes to "/": keep the files it rereads (SIGHUP) or
    // removes (at exit) reachable by making their paths absolute.
    std::error_code ec;
    opt.config = std::filesystem::absolute(opt.config, ec).lexically_normal().string();
    if (!opt.pid_file.empty()) {
        opt.pid_file = std::filesystem::absolute(opt.pid_file, ec).lexically_normal().string();
    }
    auto loaded = load_with_overrides(opt.config, opt.overrides);
    if (!loaded.policy) {
        print_errors(loaded, std::cerr);
        return kExitConfig;
    }
    if (opt.check_only) {
        // Accounts are checked here too: a policy naming a user that does
        // not exist would pass validation and then fail at start.
        const auto& m = loaded.policy->milter;
        if (m.user) {
            if (auto a = lookup_account(*m.user, m.group); !a) {
                // Located at the line naming the account that is missing.
                const auto& why = a.error().message;
                const bool group = why.starts_with("unknown group");
                std::cerr
                    << loaded.error_at(group ? "milter.group" : "milter.user", why).to_string()
                    << '\n';
                return kExitConfig;
            }
        }
        std::cout << "staffeld: policy " << opt.config << " is valid (policy "
                  << loaded.policy->digest << ")\n";
        return 0;
    }
    try {
        Daemon daemon(std::move(opt), loaded.policy);
        return daemon.run();
    } catch (const std::exception& e) {
        std::cerr << "staffeld: fatal: " << e.what() << '\n';
        return kExitOsErr;
    }
}
