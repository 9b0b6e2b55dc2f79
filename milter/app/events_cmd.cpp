// events_cmd.cpp - see events_cmd.hpp.
#include "app/events_cmd.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <csignal>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "adapters/http/webhook_client.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/redis/event_stream.hpp"
#include "adapters/redis/redis_settings.hpp"
#include "app/event_json.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "config/schema_values.hpp"
#include "core/suppress/suppress.hpp"
#include "core/units.hpp"

namespace staffel::app {

namespace {

std::atomic<bool> g_stop{false};

void on_stop_signal(int) {
    g_stop.store(true);
}

// SIGINT and SIGTERM end the loops (no SA_RESTART: blocking calls return).
void catch_stop_signals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

// Sleeps `d`, waking early when a stop signal came.
void nap(std::chrono::milliseconds d) {
    const auto until = std::chrono::steady_clock::now() + d;
    while (!g_stop.load() && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
}

bool type_matches(const std::string& json, const std::string& wanted) {
    if (wanted.empty()) {
        return true;
    }
    const auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded() || !j.contains("type") || !j["type"].is_string()) {
        return false;
    }
    const auto type = j["type"].get<std::string>();
    return wanted.back() == '.' ? type.starts_with(wanted) : type == wanted;
}

// What a blocking read may wait: well within the command timeout.
std::chrono::milliseconds block_for(const core::Policy& p) {
    return std::max(std::chrono::milliseconds(1), p.redis.command_timeout / 2);
}

}  // namespace

std::string event_line(const std::string& json) {
    const auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
        return "(not an event: " + json.substr(0, 80) + ")";
    }
    const auto text = [](const nlohmann::json& v) {
        return v.is_string() ? v.get<std::string>() : v.dump();
    };
    std::string line = (j.contains("time") ? text(j["time"]) : "-") + " " +
                       (j.contains("type") ? text(j["type"]) : "-");
    for (const auto& [key, value] : j.items()) {
        if (key == "time" || key == "type" || key == "v" || (value.is_string() && value == "") ||
            (value.is_array() && value.empty())) {
            continue;
        }
        std::string v = text(value);
        for (auto& c : v) {
            if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
                c = '_';
            }
        }
        line += " " + key + "=" + v;
    }
    return line;
}

int events_tail(const core::Policy& policy, const EventsArgs& args, std::ostream& out,
                std::ostream& err) {
    adapters::RedisEventStream stream(adapters::redis_options(policy.redis), policy.redis.prefix);
    const auto print = [&](const std::string& e) {
        if (type_matches(e, args.type)) {
            out << (args.json ? e : event_line(e)) << '\n';
        }
    };
    // Entries hold batches: the newest `lines` matching events among the
    // newest max(lines, 100) entries.
    auto latest = stream.latest(std::max<std::size_t>(args.lines, 100));
    if (!latest) {
        err << "staffelctl: " << latest.error().message << '\n';
        return kExitUnavailable;
    }
    std::vector<std::string> shown;
    for (auto it = latest->rbegin(); it != latest->rend() && shown.size() < args.lines; ++it) {
        for (auto e = it->events.rbegin(); e != it->events.rend() && shown.size() < args.lines;
             ++e) {
            if (type_matches(*e, args.type)) {
                shown.push_back(*e);
            }
        }
    }
    for (auto it = shown.rbegin(); it != shown.rend(); ++it) {
        out << (args.json ? *it : event_line(*it)) << '\n';
    }
    out.flush();
    if (!args.follow) {
        return 0;
    }
    catch_stop_signals();
    // "0-0" rather than "$" for an empty stream: "$" would miss what is
    // added between two reads.
    std::string last = latest->empty() ? "0-0" : latest->back().id;
    while (!g_stop.load()) {
        auto next = stream.after(last, 100, block_for(policy));
        if (!next) {
            err << "staffelctl: " << next.error().message << "; trying again\n";
            nap(std::chrono::seconds(1));
            continue;
        }
        for (const auto& entry : *next) {
            for (const auto& e : entry.events) {
                print(e);
            }
            last = entry.id;
        }
        out.flush();
    }
    return 0;
}

namespace {

struct Dispatcher {
    const core::Policy& policy;
    const EventsArgs& args;
    std::ostream& err;
    std::string secret;
    std::string consumer;
    adapters::RedisEventStream stream;
    adapters::WebhookClient client;
    std::uint64_t delivered = 0, retries = 0, set_aside = 0;

    static bool retryable(long status) {
        return status == 0 || status == 408 || status == 429 || status >= 500;
    }

    // Delivers one event, retrying; false when the event was set aside
    // and that could not be recorded either (the entry stays unacknowledged).
    bool deliver(const std::string& event, const std::string& id) {
        std::string why;
        for (int attempt = 1; attempt <= args.max_attempts && !g_stop.load(); ++attempt) {
            const auto t = std::to_string(static_cast<long long>(std::time(nullptr)));
            const auto signature =
                core::hmac_sha256_hex(adapters::sha256_factory(), secret, t + "." + event);
            const auto r = client.post(event, {"X-Staffel-Event-Id: " + id,
                                               "X-Staffel-Signature: t=" + t + ",v1=" + signature});
            if (r.status >= 200 && r.status < 300) {
                ++delivered;
                return true;
            }
            why = r.status == 0 ? r.error : "HTTP " + std::to_string(r.status);
            if (!retryable(r.status)) {
                break;
            }
            if (attempt < args.max_attempts) {
                ++retries;
                const auto backoff = std::min<long long>(30000, 500LL << std::min(attempt - 1, 16));
                nap(std::chrono::milliseconds(backoff));
            }
        }
        if (g_stop.load()) {
            return false;  // not delivered, not set aside: the entry is handed out again
        }
        auto kept = stream.set_aside(event, why);
        if (!kept) {
            err << "staffelctl: events webhook: cannot set aside event " << id << ": "
                << kept.error().message << '\n';
            return false;
        }
        ++set_aside;
        err << "staffelctl: events webhook: set aside event " << id << " (" << why << ") in "
            << stream.key() << ":failed\n";
        return true;
    }

    void handle(const std::vector<adapters::StreamEntry>& entries) {
        for (const auto& entry : entries) {
            bool done = true;
            for (std::size_t i = 0; i < entry.events.size() && done; ++i) {
                done = deliver(entry.events[i], entry.id + "." + std::to_string(i));
            }
            if (!done) {
                return;
            }
            if (auto acked = stream.ack(args.group, entry.id); !acked) {
                err << "staffelctl: events webhook: " << acked.error().message << '\n';
                return;
            }
        }
    }
};

}  // namespace

int events_webhook(const core::Policy& policy, const EventsArgs& args, std::ostream& err) {
    if (!adapters::valid_webhook_url(args.url)) {
        err << "staffelctl: events webhook: --url: expected an http:// or https:// URL, got \""
            << args.url << "\"\n";
        return kExitUsage;
    }
    std::string secret;
    if (auto problem = config::values::read_secret(args.secret_file, secret, "secret file")) {
        err << "staffelctl: events webhook: --secret-file: " << *problem << '\n';
        return kExitNoInput;
    }
    const std::string consumer =
        args.consumer.empty() ? node_name() + "-" + std::to_string(::getpid()) : args.consumer;
    Dispatcher d{
        policy,
        args,
        err,
        std::move(secret),
        consumer,
        adapters::RedisEventStream(adapters::redis_options(policy.redis), policy.redis.prefix),
        adapters::WebhookClient(args.url, args.timeout)};
    catch_stop_signals();
    bool grouped = false;
    auto next_claim = std::chrono::steady_clock::now();
    while (!g_stop.load()) {
        if (!grouped) {
            auto g = d.stream.ensure_group(args.group);
            if (!g) {
                err << "staffelctl: events webhook: " << g.error().message << "; trying again\n";
                nap(std::chrono::seconds(1));
                continue;
            }
            grouped = true;
        }
        if (std::chrono::steady_clock::now() >= next_claim) {
            // Entries a dead dispatcher took and never acknowledged.
            if (auto stale = d.stream.claim_stale(args.group, consumer, args.claim_after, 100)) {
                d.handle(*stale);
            }
            next_claim = std::chrono::steady_clock::now() + args.claim_after / 2;
        }
        auto got = d.stream.read_group(args.group, consumer, 10, block_for(policy));
        if (!got) {
            err << "staffelctl: events webhook: " << got.error().message << "; trying again\n";
            grouped = false;  // the stream (and its group) may be gone
            nap(std::chrono::seconds(1));
            continue;
        }
        d.handle(*got);
    }
    err << "staffelctl: events webhook: " << d.delivered << " delivered, " << d.retries
        << " retries, " << d.set_aside << " set aside\n";
    return 0;
}

void EventsCli::add(CLI::App& app, ManPage man_page) {
    auto* events = app.add_subcommand("events", "the event feed: print it, or deliver it");
    events->require_subcommand(1);
    const std::string footer =
        "EXIT STATUS\n"
        "  0   done (SIGINT or SIGTERM end --follow and webhook)\n"
        "  64  bad options\n"
        "  66  the secret file cannot be read, or others may read it\n"
        "  69  Redis cannot be reached\n"
        "  78  the policy is invalid\n\n"
        "EXAMPLES\n"
        "  staffelctl events tail --follow --type message.refused\n"
        "  staffelctl events webhook --url https://app.example/staffel \\\n"
        "      --secret-file /etc/staffel/webhook.secret\n";
    const std::string description =
        "Every decision staffeld takes ([events] enabled) is an event of schema\n"
        "version 1 in the Redis Stream PREFIXevents: message.accepted, .held,\n"
        ".refused, .deferred, recipient.refused, .removed, bounce.hard, .soft,\n"
        "complaint, unsubscribe, policy.reloaded. `tail` prints them; `webhook`\n"
        "POSTs each one, signed, to an application, at least once (see README).";
    man_page(events,
             "staffelctl [-c POLICY] events tail [--follow] [--type T] [--json] [-n N]\n"
             "staffelctl [-c POLICY] events webhook --url URL --secret-file FILE",
             description, footer);
    tail_ = events->add_subcommand("tail", "print the newest events; --follow for new ones");
    man_page(tail_, "staffelctl [-c POLICY] events tail [--follow] [--type T] [--json] [-n N]",
             description, footer);
    tail_->add_flag("-f,--follow", args_.follow, "Keep printing new events until interrupted");
    tail_
        ->add_option("--type", args_.type,
                     "Only events of this type; a type ending in \".\" is\n"
                     "a prefix (\"message.\")")
        ->type_name("T");
    tail_->add_flag("--json", args_.json, "Print each event's JSON as stored");
    tail_->add_option("-n,--lines", args_.lines, "Events printed first (default 20)")
        ->check(CLI::Range(0, 100000).description(""))
        ->type_name("N");
    webhook_ = events->add_subcommand("webhook", "deliver every event as a signed HTTP POST");
    man_page(webhook_, "staffelctl [-c POLICY] events webhook --url URL --secret-file FILE",
             description, footer);
    webhook_->add_option("--url", args_.url, "The receiver: http:// or https:// URL")
        ->required()
        ->type_name("URL");
    webhook_
        ->add_option("--secret-file", args_.secret_file,
                     "Absolute path of the signing secret (one line,\nmode 0600 or stricter)")
        ->required()
        ->type_name("FILE");
    webhook_->add_option("--group", args_.group, "Consumer group (default \"webhook\")")
        ->type_name("NAME");
    webhook_->add_option("--consumer", args_.consumer, "This dispatcher's name (default HOST-PID)")
        ->type_name("NAME");
    webhook_->add_option("--timeout", timeout_text_, "Per request (default 10s)")
        ->type_name("DURATION");
    webhook_
        ->add_option("--max-attempts", args_.max_attempts,
                     "Tries per event before it is set aside (default 8)")
        ->check(CLI::Range(1, 100).description(""))
        ->type_name("N");
}

bool EventsCli::parsed() const {
    return (tail_ != nullptr && tail_->parsed()) || (webhook_ != nullptr && webhook_->parsed());
}

int EventsCli::run(const std::string& policy_path) {
    const auto policy = load_policy_or_report(policy_path, {}, std::cerr);
    if (!policy) {
        return kExitConfig;
    }
    if (tail_->parsed()) {
        return events_tail(*policy, args_, std::cout, std::cerr);
    }
    const auto timeout = core::parse_duration(timeout_text_);
    if (!timeout || timeout->count() < 100 || timeout->count() > 600000) {
        std::cerr << "staffelctl: events webhook: --timeout: expected a duration from 100ms to "
                     "10m, got \""
                  << timeout_text_ << "\"\n";
        return kExitUsage;
    }
    args_.timeout = *timeout;
    return events_webhook(*policy, args_, std::cerr);
}

}  // namespace staffel::app
