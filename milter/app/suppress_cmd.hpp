// suppress_cmd.hpp - `staffelctl suppress add|remove|show|list|import|export`.
//
// Purpose: manage the suppression entries staffeld checks recipients
//   against (core/suppress/suppress.hpp), in the Redis of the policy's
//   [redis] section, through the same store port staffeld uses
//   (core/suppress/store.hpp). Addresses are normalised as staffeld
//   normalises recipients (the policy's fold_local_part); keys are the
//   policy's (prefix, and HMAC-SHA-256 with hash_secret_file set). The CSV
//   format of import and export is core/suppress/csv.hpp's.
// Layout: the run_* functions do the work against a store and streams,
//   so tests can drive them; SuppressCli declares the command line (CLI11,
//   with manual-page help) and runs the chosen command for staffelctl.cpp.
// Output: results on stdout (list: tab-separated with a header line;
//   export: CSV); notes, refused rows ("FILE:LINE: message") and errors on
//   stderr. With hashing on, list and export first say on stderr that the
//   addresses are stored hashed.
// Exit status: 0 done; 1 no such entry (remove, show); 64 bad command line
//   or argument (address, reason, scope, streams, duration); 65 import:
//   some rows were refused, or the header is wrong; list, export, show
//   (its SCAN): some stored values do not decode; 66 the import file
//   cannot be read; 69 the store cannot be reached, or a value read by key
//   does not decode (the message says why); 73 the export file cannot be
//   created; 74 writing it failed; 78 the policy is invalid.
// Outside input: command-line arguments and import files (bounded and
//   validated by the core), Redis replies (through the store).
#pragma once

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "core/policy.hpp"
#include "core/stats/counts.hpp"
#include "core/suppress/store.hpp"

namespace CLI {
class App;
}

namespace staffel::app {

// What every suppress command works with.
struct SuppressContext {
    const core::Policy& policy;
    core::SuppressionStore& store;
    const core::Sha256Factory* sha = nullptr;  // needed when the policy hashes addresses
    // Converts non-ASCII domains of addresses and scopes to A-labels
    // (staffelctl: libidn2, adapters::domain_to_ascii). Unset = such
    // domains are refused.
    core::DomainToAscii idna;
    std::int64_t now = 0;  // epoch seconds
    std::ostream& out;
    std::ostream& err;
    // Told of each hard bounce, complaint and unsubscribe `add` records
    // (statistics: attributed to the --scope domain, else unknown); unset:
    // nobody.
    std::function<void(const core::stats::Ingested&, std::string_view address)> ingested{};
};

struct SuppressArgs {
    std::string address;
    std::string reason;
    std::string scope;    // add, remove: "" = global; list: the --scope filter
    std::string streams;  // add: "" = the reason's default, "*", or names joined by ","
    std::string expires;  // add: a duration ("30d"); "" = never
    std::string source = "staffelctl";
    std::string sender_domain;  // show
    bool global_only = false;   // list --global
    std::string file = "-";     // import, export: "-" = stdin / stdout
};

int run_suppress_add(const SuppressContext& c, const SuppressArgs& a);
int run_suppress_remove(const SuppressContext& c, const SuppressArgs& a);
int run_suppress_show(const SuppressContext& c, const SuppressArgs& a);
int run_suppress_list(const SuppressContext& c, const SuppressArgs& a);
// Reads `in` (named a.file in messages).
int run_suppress_import(const SuppressContext& c, const SuppressArgs& a, std::istream& in);
// Writes the CSV to `csv`.
int run_suppress_export(const SuppressContext& c, const SuppressArgs& a, std::ostream& csv);

// The `suppress` command group of staffelctl.
class SuppressCli {
  public:
    // Sets manual-page help on a command: synopsis, description, footer
    // (staffelctl's man_page()).
    using ManPage = void (*)(CLI::App*, std::string, std::string, std::string);

    // Adds `suppress` and its commands under `app`.
    void add(CLI::App& app, ManPage man_page);
    // Whether one of them was given, once parsed.
    [[nodiscard]] bool parsed() const;
    // Loads the policy, opens the store and runs the command given.
    int run(const std::string& policy_path);

  private:
    enum class Command { Add, Remove, Show, List, Import, Export };
    struct Sub {
        Command command;
        CLI::App* app;
    };
    SuppressArgs args_;
    std::vector<Sub> subs_;
};

}  // namespace staffel::app
