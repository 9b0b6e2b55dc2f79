// explain_cmd.cpp - see explain_cmd.hpp.
#include "app/explain_cmd.hpp"

#include <CLI/CLI.hpp>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>

#include "adapters/idn/idna.hpp"
#include "adapters/log/loggers.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "adapters/openssl/hmac.hpp"
#include "adapters/psl/org_domain.hpp"
#include "adapters/redis/route_status.hpp"
#include "adapters/spf2/spf_checker.hpp"
#include "app/exit_codes.hpp"
#include "app/runtime.hpp"
#include "config/loader.hpp"
#include "core/quota/dry_run.hpp"
#include "core/session.hpp"

namespace staffel::app {
namespace {

constexpr std::size_t kMaxMessage = std::size_t{64} * 1024 * 1024;
constexpr int kTopicWidth = 12;

void line(std::ostream& out, std::string_view topic, std::string_view text) {
    out << std::left << std::setw(kTopicWidth) << topic << ' ' << text << '\n';
}

// Prints each step of the session as it happens.
class PrintTrace final : public core::Trace {
  public:
    explicit PrintTrace(std::ostream& out) : out_(out) {}
    void step(std::string_view topic, std::string_view text) override { line(out_, topic, text); }

  private:
    std::ostream& out_;
};

// The session's log lines (info and above), in order with the steps.
class PrintLogger final : public core::Logger {
  public:
    explicit PrintLogger(std::ostream& out) : out_(out) {}
    void log(core::LogLevel level, std::string_view message) override {
        line(out_, level >= core::LogLevel::Warning ? "log:warning" : "log", message);
    }
    [[nodiscard]] bool enabled(core::LogLevel level) const override {
        return level >= core::LogLevel::Info;
    }

  private:
    std::ostream& out_;
};

// A header value for one output line: folds shown as "\n" plus indent.
std::string shown_value(std::string_view value) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        const char c = value[i];
        if (c == '\r') {
            continue;
        }
        if (c == '\n') {
            out += "\n" + std::string(kTopicWidth + 1, ' ');
            continue;
        }
        if (c == '\t') {
            out += ' ';
            continue;
        }
        out += core::log_escape(std::string_view(&c, 1), 4, true);
    }
    return out;
}

// Prints the edits staffeld would apply through libmilter, and applies none.
class PrintEdits final : public core::MessageEdits {
  public:
    explicit PrintEdits(std::ostream& out) : out_(out) {}
    bool insert_header(std::string_view name, std::string_view value) override {
        line(out_, "edit", "insert on top: " + std::string(name) + ":" + shown_value(value));
        return true;
    }
    bool quarantine(std::string_view reason) override {
        line(out_, "edit", "hold in the MTA's queue: " + core::log_escape(reason, 256, true));
        return true;
    }
    bool delete_recipient(std::string_view recipient) override {
        line(out_, "edit", "remove recipient " + core::log_escape(recipient));
        return true;
    }
    bool change_sender(std::string_view sender) override {
        line(out_, "edit", "MAIL FROM:<" + core::log_escape(sender) + ">");
        return true;
    }
    bool remove_header(std::string_view name, int index) override {
        line(out_, "edit",
             "remove header " + std::string(name) + " (occurrence " + std::to_string(index) + ")");
        return true;
    }
    bool append_header(std::string_view name, std::string_view value) override {
        line(out_, "edit", "append at the end: " + std::string(name) + ":" + shown_value(value));
        return true;
    }

  private:
    std::ostream& out_;
};

struct Parsed {
    std::vector<core::HeaderField> fields;
    std::string body;  // with CRLF line ends
    std::string error;
};

// Splits a message file into unfolded header fields (values as the MTA
// passes them: from after the colon, folds kept as CRLF) and the body.
Parsed parse_message(std::string_view text) {
    Parsed p;
    std::size_t pos = 0;
    std::size_t number = 0;
    if (text.starts_with("From ")) {  // an mbox separator line
        pos = text.find('\n');
        pos = pos == std::string_view::npos ? text.size() : pos + 1;
        ++number;
    }
    while (pos < text.size()) {
        auto end = text.find('\n', pos);
        const bool last = end == std::string_view::npos;
        std::string_view l = text.substr(pos, last ? std::string_view::npos : end - pos);
        pos = last ? text.size() : end + 1;
        ++number;
        if (!l.empty() && l.back() == '\r') {
            l.remove_suffix(1);
        }
        if (l.empty()) {
            break;  // the end of the header
        }
        if (l.front() == ' ' || l.front() == '\t') {
            if (p.fields.empty()) {
                p.error = "line " + std::to_string(number) + " continues no header field";
                return p;
            }
            p.fields.back().value += "\r\n" + std::string(l);
            continue;
        }
        const auto colon = l.find(':');
        if (colon == std::string_view::npos || colon == 0 ||
            l.substr(0, colon).find_first_of(" \t") != std::string_view::npos) {
            p.error = "line " + std::to_string(number) + " is not a header field (\"" +
                      core::log_escape(l.substr(0, 60), 80, true) + "\")";
            return p;
        }
        p.fields.push_back({std::string(l.substr(0, colon)), std::string(l.substr(colon + 1))});
    }
    if (p.fields.empty()) {
        p.error = "no header fields";
        return p;
    }
    p.body.reserve(text.size() - pos + 64);
    for (std::size_t i = pos; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == pos || text[i - 1] != '\r')) {
            p.body += '\r';
        }
        p.body += text[i];
    }
    return p;
}

std::vector<std::string> field_addresses(const std::vector<core::HeaderField>& fields,
                                         std::initializer_list<std::string_view> names) {
    std::vector<std::string> out;
    for (const auto& f : fields) {
        for (auto n : names) {
            if (core::iequals(f.name, n)) {
                // A malformed value gives no address: the caller says so.
                for (auto& a :
                     core::parse_address_list(f.value).value_or(std::vector<std::string>{})) {
                    out.push_back(std::move(a));
                }
            }
        }
    }
    return out;
}

bool has_field(const std::vector<core::HeaderField>& fields, std::string_view name) {
    for (const auto& f : fields) {
        if (core::iequals(f.name, name)) {
            return true;
        }
    }
    return false;
}

std::string answer_text(const core::Verdict& v) {
    if (v.action == core::Verdict::Action::Continue) {
        return v.quarantine.empty() ? "250 accepted" : "250 accepted and held: " + v.quarantine;
    }
    return v.rcode + " " + v.xcode + " " + v.text +
           (v.action == core::Verdict::Action::Tempfail ? " (deferred: the client retries)"
                                                        : " (refused)");
}

}  // namespace

int explain(const core::Policy& policy, const ExplainServices& services, std::string_view message,
            const ExplainArgs& args, std::ostream& out, std::ostream& err) {
    auto parsed = parse_message(message);
    if (!parsed.error.empty()) {
        err << "staffelctl: explain: " << args.file << " is not a mail message: " << parsed.error
            << '\n';
        return kExitDataErr;
    }
    std::string from = args.from;
    std::string from_source = "--from";
    if (!args.from_given) {
        auto rp = field_addresses(parsed.fields, {"Return-Path"});
        auto author = field_addresses(parsed.fields, {"From"});
        if (!rp.empty()) {
            from = rp.front();
            from_source = "Return-Path:";
        } else if (has_field(parsed.fields, "Return-Path")) {
            from.clear();
            from_source = "Return-Path: <>";
        } else if (!author.empty()) {
            from = author.front();
            from_source = "From:";
        } else {
            err << "staffelctl: explain: the message has no From: or Return-Path: address; "
                   "give the envelope sender with --from\n";
            return kExitUsage;
        }
    }
    auto rcpts = args.rcpts;
    const bool rcpts_given = !rcpts.empty();
    if (!rcpts_given) {
        rcpts = field_addresses(parsed.fields, {"To", "Cc"});
        if (rcpts.empty()) {
            err << "staffelctl: explain: the message has no To: or Cc: address; give the "
                   "recipients with --rcpt\n";
            return kExitUsage;
        }
    }

    const auto shared = std::shared_ptr<const core::Policy>(&policy, [](const core::Policy*) {});
    PrintLogger log(out);
    PrintTrace trace(out);
    std::optional<core::DryRunCounterStore> dry;
    if (services.counters != nullptr) {
        dry.emplace(*services.counters);
    }
    core::QuotaServices quota{dry ? &*dry : nullptr, nullptr};
    core::SuppressServices suppress{services.suppressions, &adapters::sha256_factory(),
                                    services.idna, nullptr};
    core::Session session([shared] { return shared; }, log, nullptr, &adapters::sha256_factory(),
                          [now = services.now] { return now; }, quota, suppress);
    session.trace(&trace);
    session.route_status(services.route_status);
    session.spf_checker(services.spf);
    session.srs_hmac(adapters::hmac_sha1);
    session.dmarc(services.org_domain, nullptr);
    session.content_negotiated(true);
    session.rcpt_replies_negotiated(true);

    line(out, "policy", policy.path + " (digest " + policy.digest + ")");
    line(out, "message",
         core::log_escape(args.file, 256, true) + ": " + std::to_string(parsed.fields.size()) +
             " header fields, " + std::to_string(parsed.body.size()) + " body bytes");
    line(out, "read-only", "nothing is charged, added or changed; edits are printed, not applied");
    line(out, "sender", "<" + core::log_escape(from) + "> (" + from_source + ")");
    session.connect(args.client == "127.0.0.1" ? "localhost" : args.client, args.client);
    core::SenderInfo sender;
    sender.address = from;
    sender.sasl_user = args.sasl;
    sender.queue_id = "explain";
    sender.daemon_name = args.daemon_name;
    session.mail_from(sender);
    std::size_t accepted = 0;
    std::size_t deferred = 0;  // 4xx: the MTA tries these again later
    core::Verdict refused;
    for (const auto& r : rcpts) {
        auto v = session.rcpt_to("<" + r + ">");
        if (v.action != core::Verdict::Action::Continue) {
            line(out, "RCPT", "<" + core::log_escape(r) + ">: " + answer_text(v));
            refused = v;
            deferred += v.action == core::Verdict::Action::Tempfail ? 1 : 0;
        } else {
            ++accepted;
        }
    }
    if (accepted == 0) {
        session.abort();
        const char* what = deferred == rcpts.size()
                               ? "every recipient is deferred at RCPT (the MTA tries again later)"
                           : deferred == 0 ? "every recipient is refused at RCPT"
                                           : "every recipient is refused or deferred at RCPT";
        line(out, "answer",
             std::string(what) + "; no message is sent (last: " + answer_text(refused) + ")");
        return 1;
    }
    for (const auto& f : parsed.fields) {
        session.header(f.name, f.value);
    }
    session.end_of_headers();
    constexpr std::size_t kChunk = 65536;
    for (std::size_t i = 0; i < parsed.body.size(); i += kChunk) {
        session.body(std::string_view(parsed.body).substr(i, kChunk));
    }
    PrintEdits edits(out);
    const auto v = session.end_of_message("explain", &edits);
    line(out, "answer", answer_text(v));
    return v.action == core::Verdict::Action::Continue ? 0 : 1;
}

// ---------------------------------------------------------------- command line

namespace {

constexpr const char* kDescription =
    R"(Shows, step by step, what staffeld would decide for the message in FILE
(or standard input for "-") under the policy: the identity of the client;
each recipient and its suppression entries; every [[stream]] rule checked
and why it matches or not; the route, its fallback if it is down, and the
SPF pre-flight; the bulk-sender gate; the return path; each [[quota]]
limit with what is used; the header edits; the DKIM signatures (made with
the policy's keys, so they must be readable); the predicted DMARC
alignment; the SMTP answer, and the log line staffeld would write.

Nothing changes: quota counters are read, never charged; suppression
entries and the routes that are down are read from the policy's Redis;
the edits are printed, not applied. Without Redis, the steps that need it
show what on_store_error would do.

The envelope sender is --from, else the message's Return-Path:, else its
From: address; the recipients are the --rcpt options, else the To: and Cc:
addresses. The client is 127.0.0.1 without a SASL login unless --client or
--sasl say otherwise.)";

constexpr const char* kFooter = R"(OUTPUT
  One step per line: a topic (identity, envelope, recipient, stream, route,
  spf, unsubscribe, suppression, quota, dkim, dmarc, edit, log, answer) and
  what was decided.

EXIT STATUS
  0   the message would be accepted (or held)
  1   it would be refused or deferred
  64  bad command line, or no sender or recipients could be found
  65  FILE is not a mail message
  66  FILE cannot be read
  78  the policy is invalid

EXAMPLES
  staffelctl -c /etc/staffel/staffel.toml explain newsletter.eml
  staffelctl explain receipt.eml --from shop@example.com --rcpt bob@example.net \
      --sasl shop --client 192.0.2.10)";

}  // namespace

void ExplainCli::add(CLI::App& app, ManPage man_page) {
    app_ = app.add_subcommand("explain", "show what the policy would do with a message");
    man_page(app_,
             "staffelctl [-c POLICY] explain FILE [--from ADDRESS] [--rcpt ADDRESS ...]\n"
             "                       [--sasl USER] [--client IP] [--daemon-name NAME]",
             kDescription, kFooter);
    app_->add_option("FILE", args_.file, "The message (RFC 5322), or - for standard input")
        ->required()
        ->type_name("FILE");
    app_->add_option("--from", args_.from, "Envelope sender (\"\" for the null sender)")
        ->type_name("ADDRESS")
        ->each([this](const std::string&) { args_.from_given = true; });
    app_->add_option("--rcpt", args_.rcpts, "Envelope recipient; repeat for several")
        ->type_name("ADDRESS")
        ->take_all()
        ->allow_extra_args(false);
    app_->add_option("--sasl", args_.sasl, "SASL login of the client (default: none)")
        ->type_name("USER");
    app_->add_option("--client", args_.client, "Client IP address (default 127.0.0.1)")
        ->type_name("IP");
    app_->add_option("--daemon-name", args_.daemon_name,
                     "The MTA's {daemon_name} (a submission service)")
        ->type_name("NAME");
}

bool ExplainCli::parsed() const {
    return app_ != nullptr && app_->parsed();
}

int ExplainCli::run(const std::string& policy_path) {
    const auto loaded = load_policy_or_report(policy_path, adapters::load_signing_key, std::cerr);
    if (!loaded) {
        return kExitConfig;
    }
    const auto& policy = *loaded;
    int exit_code = 0;
    const auto message = read_input(args_.file, kMaxMessage, "explain", std::cerr, exit_code);
    if (!message) {
        return exit_code;
    }

    adapters::StderrLogger log("staffelctl");
    log.set_threshold(core::LogLevel::Warning);
    auto counters = make_counter_store(policy.redis);
    auto suppressions = make_suppression_store(policy.redis);
    std::unique_ptr<adapters::RedisRouteStatus> status;
    if (!policy.routing.routes.empty()) {
        const auto shared =
            std::shared_ptr<const core::Policy>(&policy, [](const core::Policy*) {});
        status = std::make_unique<adapters::RedisRouteStatus>([shared] { return shared; }, log);
        status->start();  // reads the routes that are down once
        status->stop();
    }
    std::unique_ptr<adapters::Spf2Checker> spf;
    if (!policy.routing.spf_domains.empty()) {
        adapters::Spf2Options options;
        options.timeout = policy.routing.spf_timeout;
        options.workers = 1;
        try {
            spf = std::make_unique<adapters::Spf2Checker>(options);
        } catch (const std::exception& e) {
            std::cerr << "staffelctl: explain: the SPF checker cannot start (" << e.what()
                      << "); the pre-flight is left out\n";
        }
    }
    ExplainServices services;
    services.counters = counters.get();
    services.suppressions = suppressions.get();
    services.route_status = status.get();
    services.spf = spf.get();
    if (auto psl = adapters::PublicSuffixList::load(); psl) {
        services.org_domain = adapters::PublicSuffixList::function(std::move(psl).value());
    } else {
        std::cerr << "staffelctl: explain: " << psl.error().message
                  << "; relaxed DMARC alignment is predicted as strict\n";
    }
    services.idna = adapters::domain_to_ascii;
    services.now = static_cast<std::int64_t>(::time(nullptr));
    return explain(policy, services, *message, args_, std::cout, std::cerr);
}

}  // namespace staffel::app
