// staffelctl.cpp - the Staffel admin tool: command line and subcommands.
//
// Commands (CLI11 subcommands; the global -c/--config POLICY may come
// before or after them):
//   dkim keygen   a new private key file (0600, never over an existing
//                 file) and, on stdout, its DNS TXT record in zone-file
//                 syntax, split into character-strings of <= 255 bytes
//   dkim rotate   the next key of a domain under a new selector, its record,
//                 and the [[dkim.keys]] entry with the not_before it takes
//                 over from (app/dkim_cmd.hpp)
//   dkim check    does DNS (or a zone-style file) publish the public half
//                 of every [[dkim.keys]] key of the policy, as each key's
//                 time in force needs? (app/dkim_cmd.hpp)
//   quota show    the counters of one key for every [[quota]] limit
//   quota reset   clear them (app/quota_cmd.hpp)
//   suppress add|remove|show|list|import|export
//                 manage the suppression list (app/suppress_cmd.hpp)
//   ingest        a bounce (DSN) or complaint (ARF) report on standard
//                 input -> suppression entries (app/ingest_cmd.hpp)
//   route down|up NAME, route list
//                 switch a [[route]] off and on for every node (app/route_cmd.hpp)
//   srs encode|decode  the SRS return path of a route (app/route_cmd.hpp)
//   explain       what the policy would do with one message, step by step,
//                 read-only (app/explain_cmd.hpp)
//   stats         what every node counted, from Redis (app/stats_cmd.hpp)
//   events tail|webhook
//                 the event feed, printed or delivered (app/events_cmd.hpp)
// The record formats and comparisons are the core's (core/dkim/
// dns_record.hpp); DNS goes through app/dns_txt.hpp, keys through the
// OpenSSL adapter, the policy through config/loader.hpp.
// Output: results on stdout, one line per key; notes and errors on stderr.
//   Key material never reaches either, only the public p= value.
// Exit status (sysexits(3)): 0 success; 1 a key is not published as it
//   should be; 2 dkim check found only warnings; 64 usage; 65 unreadable record file contents; 66
//   record file missing; 69 no DNS answer for any key; 70 key generation failed; 73 the key file
//   cannot be created; 78 the policy is invalid.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "adapters/idn/idna.hpp"
#include "adapters/openssl/dkim_keys.hpp"
#include "app/dkim_cmd.hpp"
#include "app/dns_txt.hpp"
#include "app/events_cmd.hpp"
#include "app/exit_codes.hpp"
#include "app/explain_cmd.hpp"
#include "app/ingest_cmd.hpp"
#include "app/parse_guard.hpp"
#include "app/quota_cmd.hpp"
#include "app/route_cmd.hpp"
#include "app/runtime.hpp"
#include "app/staffelctl_help.hpp"
#include "app/stats_cmd.hpp"
#include "app/stats_writer.hpp"
#include "app/suppress_cmd.hpp"
#include "app/web_cmd.hpp"
#include "config/loader.hpp"
#include "core/dkim/dns_record.hpp"

namespace staffel::app {
namespace {

struct Options {
    std::string config = "/etc/staffel/staffel.toml";
    // dkim keygen, rotate, check
    DkimOptions dkim;
    // quota show / reset
    std::string quota_key;
    // ingest
    std::string ingest_recipient;
    std::string ingest_file = "-";
    bool ingest_dry_run = false;
    // route down / up, srs encode
    std::string route_name;
    std::string srs_address;
};

// ---------------------------------------------------------------- help

using namespace staffelctl_help;  // NOLINT(google-build-using-namespace)

// Help as a manual page: NAME, SYNOPSIS, DESCRIPTION, OPTIONS, COMMANDS,
// then the app's footer (EXIT STATUS, FILES, EXAMPLES).
class ManFormatter : public CLI::Formatter {
  public:
    ManFormatter(std::string synopsis, std::string description)
        : synopsis_(std::move(synopsis)), description_(std::move(description)) {
        column_width(36);
    }

    std::string make_help(const CLI::App* app, std::string name,
                          CLI::AppFormatMode mode) const override {
        if (mode == CLI::AppFormatMode::Sub) {
            return make_expanded(app);
        }
        (void)name;
        std::ostringstream out;
        out << "NAME\n  " << full_name(app) << " - " << app->get_description() << "\n\n";
        out << "SYNOPSIS\n" << indent(synopsis_) << '\n';
        if (!description_.empty()) {
            out << "DESCRIPTION\n" << indent(description_) << '\n';
        }
        out << "OPTIONS\n";
        for (const CLI::Option* opt :
             app->get_options([](const CLI::Option* o) { return o->nonpositional(); })) {
            out << make_option(opt, false);
        }
        const auto subs =
            app->get_subcommands([](const CLI::App* s) { return !s->get_name().empty(); });
        if (!subs.empty()) {
            out << "\nCOMMANDS\n";
            for (const CLI::App* sub : subs) {
                out << make_subcommand(sub);
            }
        }
        out << '\n' << make_footer(app);
        return out.str();
    }

  private:
    static std::string full_name(const CLI::App* app) {
        std::string out;
        for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
            out.insert(0, out.empty() ? a->get_name() : a->get_name() + ' ');
        }
        return out;
    }

    static std::string indent(const std::string& text) {
        std::string out;
        std::istringstream in(text);
        for (std::string line; std::getline(in, line);) {
            out += line.empty() ? "\n" : "  " + line + "\n";
        }
        return out;
    }

    std::string synopsis_;
    std::string description_;
};

void man_page(CLI::App* app, std::string synopsis, std::string description, std::string footer) {
    app->formatter(std::make_shared<ManFormatter>(std::move(synopsis), std::move(description)));
    app->footer(std::move(footer));
}

constexpr const char* kMainDescription =
    R"(staffelctl administers what staffeld works with. Every command reads the
policy given with -c (before or after the command's name) where it needs one.
Results go to standard output, notes and errors to standard error.
"staffelctl COMMAND --help" describes each command.)";

constexpr const char* kMainFooter = R"(EXIT STATUS
  0   success
  1   a check found something wrong (see the command)
  2   dkim check found warnings only
  64  bad command line
  78  the policy is invalid (each error as FILE:LINE:COLUMN: ...)
  Each command lists its other codes.

FILES
  /etc/staffel/staffel.toml  default policy; see policies/README.md

EXAMPLES
  staffelctl dkim keygen -d example.com -s s2026 -o /etc/staffel/keys
  staffelctl -c /etc/staffel/staffel.toml dkim rotate -d example.com
  staffelctl -c /etc/staffel/staffel.toml dkim check
  staffelctl -c /etc/staffel/staffel.toml quota show alice@example.com
  staffelctl -c /etc/staffel/staffel.toml suppress add bob@example.org --reason manual
  staffelctl -c /etc/staffel/staffel.toml ingest < bounce.eml
  staffelctl -c /etc/staffel/staffel.toml stats --since 7d --by tag
  staffelctl -c /etc/staffel/staffel.toml events tail --follow
  staffelctl -c /etc/staffel/staffel.toml web --listen 127.0.0.1:8025
)";

int fail(int code, const std::string& message) {
    std::cerr << "staffelctl: " << message << '\n';
    return code;
}

// ---------------------------------------------------------------- quota

int run_quota(const Options& opt, bool reset) {
    // Keys are not loaded: the quota commands need none, and an admin
    // account that may not read them can still look at counters.
    const auto loaded = load_policy_or_report(opt.config, {}, std::cerr);
    if (!loaded) {
        return kExitConfig;
    }
    const auto& policy = *loaded;
    auto store = make_counter_store(policy.redis);
    const auto now = static_cast<std::int64_t>(::time(nullptr));
    return reset ? quota_reset(policy, *store, opt.quota_key, now, std::cout, std::cerr)
                 : quota_show(policy, *store, opt.quota_key, now, std::cout, std::cerr);
}

// ---------------------------------------------------------------- ingest

// Bounces come from anyone: the process is capped before it reads one (see
// app/parse_guard.hpp), and running out of memory, CPU time or luck inside
// the parser ends in exit 75, which pipe(8) retries, never in a signal.
constexpr std::uint64_t kIngestCpuSeconds = 60;

int run_ingest(const Options& opt) {
    const auto loaded = load_policy_or_report(opt.config, {}, std::cerr);
    if (!loaded) {
        return kExitConfig;
    }
    const auto& policy = *loaded;
    const ParseGuardLimits limits{policy.suppression.ingest_memory_limit, kIngestCpuSeconds};
    if (auto guarded = install_parse_guard("staffelctl: ingest", limits); !guarded) {
        std::cerr << "staffelctl: ingest: " << guarded.error().message << '\n';
        return kExitTempFail;
    }
    return run_guarded("staffelctl: ingest", std::cerr, [&] {
        int exit_code = 0;
        const auto message =
            read_input(opt.ingest_file, policy.suppression.ingest_max_size, "ingest", std::cerr,
                       exit_code, "[suppression] ingest_max_size");
        if (!message) {
            return exit_code;
        }
        auto store = make_suppression_store(policy.redis);
        const auto now = static_cast<std::int64_t>(::time(nullptr));
        OneShotStats stats(policy);
        IngestContext ctx{&policy,
                          store.get(),
                          &adapters::sha256_factory(),
                          adapters::domain_to_ascii,
                          now,
                          opt.ingest_dry_run,
                          [&](const core::stats::Ingested& what, std::string_view address) {
                              stats.ingested(what, address, now);
                          }};
        const int status = ingest(ctx, *message, opt.ingest_recipient, std::cout, std::cerr);
        stats.write(std::cerr);
        return status;
    });
}

// ---------------------------------------------------------------- command line

struct Commands {
    CLI::App* keygen = nullptr;
    CLI::App* rotate = nullptr;
    CLI::App* check = nullptr;
    CLI::App* quota_show = nullptr;
    CLI::App* quota_reset = nullptr;
    CLI::App* ingest = nullptr;
    CLI::App* route_down = nullptr;
    CLI::App* route_up = nullptr;
    CLI::App* route_list = nullptr;
    CLI::App* srs_encode = nullptr;
    CLI::App* srs_decode = nullptr;
};

void add_route(CLI::App& app, Options& opt, Commands& c) {
    auto* route = app.add_subcommand("route", "switch a route off and on, or list the routes");
    route->require_subcommand(1);
    man_page(route, "staffelctl [-c POLICY] route down|up NAME\nstaffelctl [-c POLICY] route list",
             kRouteDescription, kRouteFooter);
    c.route_down = route->add_subcommand("down", "switch a route off: its mail takes the fallback");
    man_page(c.route_down, "staffelctl [-c POLICY] route down NAME", kRouteDescription,
             kRouteFooter);
    c.route_up = route->add_subcommand("up", "switch a route on again");
    man_page(c.route_up, "staffelctl [-c POLICY] route up NAME", kRouteDescription, kRouteFooter);
    for (auto* sub : {c.route_down, c.route_up}) {
        sub->add_option("NAME", opt.route_name, "The name of a [[route]] of the policy")
            ->required()
            ->type_name("NAME");
    }
    c.route_list =
        route->add_subcommand("list", "print each route, whether it is up, its fallback");
    man_page(c.route_list, "staffelctl [-c POLICY] route list", kRouteDescription, kRouteFooter);
}

void add_srs(CLI::App& app, Options& opt, Commands& c) {
    auto* srs = app.add_subcommand("srs", "make or read the SRS return-path of a route");
    srs->require_subcommand(1);
    man_page(srs,
             "staffelctl [-c POLICY] srs encode --route NAME ADDRESS\n"
             "staffelctl [-c POLICY] srs decode ADDRESS",
             kSrsDescription, kSrsFooter);
    c.srs_encode = srs->add_subcommand("encode", "the SRS return-path a route gives an address");
    man_page(c.srs_encode, "staffelctl [-c POLICY] srs encode --route NAME ADDRESS",
             kSrsDescription, kSrsFooter);
    c.srs_encode->add_option("--route", opt.route_name, "A [[route]] with return_path = \"srs\"")
        ->required()
        ->type_name("NAME");
    c.srs_decode = srs->add_subcommand("decode", "the original sender of an SRS address");
    man_page(c.srs_decode, "staffelctl [-c POLICY] srs decode ADDRESS", kSrsDescription,
             kSrsFooter);
    for (auto* sub : {c.srs_encode, c.srs_decode}) {
        sub->add_option("ADDRESS", opt.srs_address, "An envelope address")
            ->required()
            ->type_name("ADDRESS");
    }
}

int run_srs(const Options& opt, const Commands& c) {
    const auto loaded = load_policy_or_report(opt.config, {}, std::cerr);
    if (!loaded) {
        return kExitConfig;
    }
    const auto now = static_cast<std::int64_t>(::time(nullptr));
    if (c.srs_encode->parsed()) {
        return srs_encode(*loaded, opt.route_name, opt.srs_address, now, std::cout, std::cerr);
    }
    return srs_decode(*loaded, opt.srs_address, now, std::cout, std::cerr);
}

int run_route(const Options& opt, const Commands& c) {
    const auto loaded = load_policy_or_report(opt.config, {}, std::cerr);
    if (!loaded) {
        return kExitConfig;
    }
    if (c.route_list->parsed()) {
        return route_list(*loaded, std::cout, std::cerr);
    }
    return route_set_down(*loaded, opt.route_name, c.route_down->parsed(), std::cout, std::cerr);
}

void add_ingest(CLI::App& app, Options& opt, Commands& c) {
    c.ingest = app.add_subcommand("ingest", "turn a bounce or complaint report into suppression");
    man_page(c.ingest, "staffelctl [-c POLICY] ingest [--recipient ADDRESS] [--dry-run] [FILE]",
             kIngestDescription, kIngestFooter);
    c.ingest
        ->add_option("--recipient", opt.ingest_recipient,
                     "The envelope recipient the report was delivered to\n"
                     "(pipe(8): ${recipient}); a VERP address names the\n"
                     "recipient of the bounced mail")
        ->type_name("ADDRESS");
    c.ingest->add_flag("-n,--dry-run", opt.ingest_dry_run,
                       "Print what would be recorded; write nothing");
    c.ingest->add_option("FILE", opt.ingest_file, "The message; \"-\" (default): standard input")
        ->type_name("FILE");
}

void add_quota(CLI::App& app, Options& opt, Commands& c) {
    auto* quota = app.add_subcommand("quota", "show or reset the quota counters of one key");
    quota->require_subcommand(1);
    man_page(quota, "staffelctl [-c POLICY] quota show|reset KEY", kQuotaDescription, kQuotaFooter);
    c.quota_show = quota->add_subcommand("show", "print used, limit and reset time per limit");
    man_page(c.quota_show, "staffelctl [-c POLICY] quota show KEY", kQuotaDescription,
             kQuotaFooter);
    c.quota_reset = quota->add_subcommand("reset", "clear the counters of the current windows");
    man_page(c.quota_reset, "staffelctl [-c POLICY] quota reset KEY", kQuotaDescription,
             kQuotaFooter);
    for (auto* sub : {c.quota_show, c.quota_reset}) {
        sub->add_option("KEY", opt.quota_key,
                        "A sender address, domain, SASL login, client IP or stream")
            ->required()
            ->type_name("KEY");
    }
}

CLI::Option* add_algorithm(CLI::App* cmd, DkimOptions& opt, const char* what) {
    return cmd->add_option("-a,--algorithm", opt.algorithm, what)
        ->check(CLI::IsMember({"rsa-sha256", "ed25519-sha256"}).description(""))
        ->type_name("ALGORITHM");
}

void add_rotate(CLI::App* dkim, DkimOptions& opt, Commands& c) {
    c.rotate = dkim->add_subcommand(
        "rotate", "write a domain's next key under a new selector; print its record and entry");
    man_page(c.rotate,
             "staffelctl [-c POLICY] dkim rotate --domain DOMAIN [--algorithm ALGORITHM]\n"
             "                       [--selector SELECTOR] [--not-before TIME] [--bits N]\n"
             "                       [--out DIR]",
             kRotateDescription, kRotateFooter);
    c.rotate->add_option("-d,--domain", opt.domain, "A d= domain of the policy's [[dkim.keys]]")
        ->required()
        ->type_name("DOMAIN");
    add_algorithm(c.rotate, opt,
                  "Which of the domain's keys to rotate: rsa-sha256 or\n"
                  "ed25519-sha256 (needed when it has both)");
    c.rotate->add_option("-s,--selector", opt.selector, "The new selector (default: see below)")
        ->type_name("SELECTOR");
    c.rotate
        ->add_option("-t,--not-before", opt.not_before,
                     "When the new key takes over: an RFC 3339 time or a\n"
                     "duration from now (default 48h, rounded up to the hour)")
        ->type_name("TIME");
    c.rotate->add_option("-b,--bits", opt.bits, "RSA modulus size, 1024..4096 (rsa-sha256 only)")
        ->capture_default_str()
        ->check(CLI::Range(1024, 4096).description(""))
        ->type_name("N");
    c.rotate
        ->add_option("-o,--out", opt.out_dir,
                     "Directory for the key file DOMAIN.SELECTOR.pem\n"
                     "(default: the current key's directory)")
        ->type_name("DIR");
}

Commands add_dkim(CLI::App& app, DkimOptions& opt) {
    auto* dkim =
        app.add_subcommand("dkim", "DKIM keys: generate and rotate them, check their DNS records");
    dkim->require_subcommand(1);
    man_page(dkim, "staffelctl [-c POLICY] dkim COMMAND [OPTIONS]", kDkimDescription, kDkimFooter);

    Commands c;
    c.keygen = dkim->add_subcommand("keygen", "generate a DKIM key and print its DNS TXT record");
    man_page(c.keygen,
             "staffelctl dkim keygen --domain DOMAIN --selector SELECTOR\n"
             "                       [--algorithm ALGORITHM] [--bits N] --out DIR",
             kKeygenDescription, kKeygenFooter);
    c.keygen->add_option("-d,--domain", opt.domain, "The d= domain, e.g. example.com")
        ->required()
        ->type_name("DOMAIN");
    c.keygen->add_option("-s,--selector", opt.selector, "The s= selector, e.g. s2026")
        ->required()
        ->type_name("SELECTOR");
    add_algorithm(c.keygen, opt,
                  "rsa-sha256 or ed25519-sha256 (RFC 8463; not every\n"
                  "verifier knows it yet: sign with both)")
        ->capture_default_str();
    c.keygen->add_option("-b,--bits", opt.bits, "RSA modulus size, 1024..4096 (rsa-sha256 only)")
        ->capture_default_str()
        ->check(CLI::Range(1024, 4096).description(""))
        ->type_name("N");
    c.keygen
        ->add_option("-o,--out", opt.out_dir,
                     "Directory for the key file DOMAIN.SELECTOR.pem\n(must exist)")
        ->required()
        ->type_name("DIR");
    add_rotate(dkim, opt, c);

    c.check = dkim->add_subcommand("check", "check the published DNS record of every policy key");
    man_page(c.check, "staffelctl [-c POLICY] dkim check [--record FILE | --nameserver ADDRESS]",
             kCheckDescription, kCheckFooter);
    auto* record = c.check
                       ->add_option("--record", opt.record_file,
                                    "Read the records from this zone-file text instead of\n"
                                    "DNS (\"-\": standard input)")
                       ->type_name("FILE");
    c.check
        ->add_option("--nameserver", opt.nameserver,
                     "Ask this server (IPV4 or IPV4:PORT) instead of the\n"
                     "resolvers of /etc/resolv.conf")
        ->type_name("ADDRESS")
        ->check(CLI::Validator(
            [](std::string& spec) {
                return valid_nameserver(spec) ? std::string()
                                              : "expected IPV4 or IPV4:PORT, got \"" + spec + "\"";
            },
            "", "nameserver"))
        ->excludes(record);
    return c;
}

int parse_and_run(int argc, char** argv) {
    Options opt;
    CLI::App app{"the Staffel admin tool", "staffelctl"};
    app.fallthrough();
    app.require_subcommand(1);
    man_page(&app, "staffelctl [-c POLICY] COMMAND [OPTIONS]\nstaffelctl --help | --version",
             kMainDescription, kMainFooter);
    app.set_version_flag("--version", std::string("staffelctl ") + STAFFEL_VERSION);
    app.add_option("-c,--config", opt.config,
                   "Policy file (TOML), default /etc/staffel/staffel.toml;\n"
                   "may also follow the command")
        ->type_name("POLICY");
    auto commands = add_dkim(app, opt.dkim);
    add_quota(app, opt, commands);
    add_ingest(app, opt, commands);
    add_route(app, opt, commands);
    add_srs(app, opt, commands);
    SuppressCli suppress;
    suppress.add(app, man_page);
    ExplainCli explain;
    explain.add(app, man_page);
    StatsCli stats;
    stats.add(app, man_page);
    EventsCli events;
    events.add(app, man_page);
    WebCli web;
    web.add(app, man_page);
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kExitUsage;
    }
    const auto now = static_cast<std::int64_t>(::time(nullptr));
    if (commands.keygen->parsed()) {
        opt.dkim.bits_given = commands.keygen->count("--bits") > 0;
        return dkim_keygen(opt.dkim, std::cout, std::cerr);
    }
    if (commands.rotate->parsed()) {
        opt.dkim.bits_given = commands.rotate->count("--bits") > 0;
        opt.dkim.algorithm_given = commands.rotate->count("--algorithm") > 0;
        return dkim_rotate(opt.config, opt.dkim, now, std::cout, std::cerr);
    }
    if (commands.check->parsed()) {
        return dkim_check(opt.config, opt.dkim, now, std::cout, std::cerr);
    }
    if (commands.quota_show->parsed() || commands.quota_reset->parsed()) {
        return run_quota(opt, commands.quota_reset->parsed());
    }
    if (suppress.parsed()) {
        return suppress.run(opt.config);
    }
    if (explain.parsed()) {
        return explain.run(opt.config);
    }
    if (stats.parsed()) {
        return stats.run(opt.config);
    }
    if (events.parsed()) {
        return events.run(opt.config);
    }
    if (web.parsed()) {
        return web.run(opt.config);
    }
    if (commands.ingest->parsed()) {
        return run_ingest(opt);
    }
    if (commands.srs_encode->parsed() || commands.srs_decode->parsed()) {
        return run_srs(opt, commands);
    }
    if (commands.route_down->parsed() || commands.route_up->parsed() ||
        commands.route_list->parsed()) {
        return run_route(opt, commands);
    }
    return fail(kExitUsage, "no command given; see staffelctl --help");
}

}  // namespace
}  // namespace staffel::app

int main(int argc, char** argv) {
    // hiredis writes with write(2): a Redis that closes the connection must
    // be an error message, not a silent death by SIGPIPE.
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return staffel::app::parse_and_run(argc, argv);
    } catch (const std::exception& e) {
        std::cerr << "staffelctl: fatal: " << e.what() << '\n';
        return staffel::app::kExitSoftware;
    }
}
