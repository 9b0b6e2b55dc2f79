// explain_cmd.hpp - `staffelctl explain -c POLICY FILE.eml [--from A]
// [--rcpt B ...] [--sasl USER] [--client IP] [--daemon-name NAME]`.
//
// Purpose: show an admin, step by step, what Staffel would decide for one
//   message under a policy: identity, recipients and their suppression
//   entries, the stream (every [[stream]] rule checked, and why it matches
//   or not), the route and its fallbacks, the SPF pre-flight, the
//   bulk-sender gate, the envelope, the quota limits, the header edits,
//   the DKIM signatures and the DMARC alignment, then the answer and the
//   log line staffeld would write. The message runs through the same
//   core::Session staffeld uses, with a core::Trace collecting each step.
// Read-only: quota counters are read, never charged (core::DryRunCounterStore);
//   suppression entries and the routes that are down are read from the
//   policy's Redis; the edits are printed, not applied. Signatures are
//   made with the policy's keys, so the key files must be readable.
// Defaults: the envelope sender is --from, else the Return-Path: field,
//   else the From: address; the recipients are --rcpt, else the To: and
//   Cc: addresses; the client is 127.0.0.1, without SASL login.
// Output: the steps on stdout, one per line ("TOPIC  TEXT"); problems on
//   stderr. Outside input (the message) is escaped before it is printed.
// Exit status: 0 the message would be accepted (or held); 1 it would be
//   refused or deferred; 64 usage; 65 not a message; 66 FILE unreadable;
//   78 the policy is invalid.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "core/policy.hpp"
#include "core/quota/store.hpp"
#include "core/route/dmarc.hpp"
#include "core/route/spf.hpp"
#include "core/route/status.hpp"
#include "core/suppress/store.hpp"
#include "core/suppress/suppress.hpp"

namespace CLI {
class App;
}

namespace staffel::app {

struct ExplainArgs {
    std::string file;                // FILE.eml, "-" for stdin
    std::string from;                // --from; empty: from the message
    bool from_given = false;         // --from "" means the null sender
    std::vector<std::string> rcpts;  // --rcpt
    std::string sasl;                // --sasl
    std::string client = "127.0.0.1";
    std::string daemon_name;  // --daemon-name, for [[stream]] daemon_names
};

// What the session reads from (all read-only for explain).
struct ExplainServices {
    core::CounterStore* counters = nullptr;           // wrapped in a dry run
    core::SuppressionStore* suppressions = nullptr;   // looked up only
    const core::RouteStatus* route_status = nullptr;  // null: every route is up
    core::SpfChecker* spf = nullptr;                  // null: no pre-flight
    core::OrgDomainFn org_domain;
    core::DomainToAscii idna;
    std::int64_t now = 0;
};

// Explains `message` (the bytes of FILE.eml). Returns the exit status.
int explain(const core::Policy& policy, const ExplainServices& services, std::string_view message,
            const ExplainArgs& args, std::ostream& out, std::ostream& err);

// `staffelctl explain` on the command line.
class ExplainCli {
  public:
    using ManPage = void (*)(CLI::App*, std::string, std::string, std::string);
    void add(CLI::App& app, ManPage man_page);
    [[nodiscard]] bool parsed() const;
    int run(const std::string& policy_path);

  private:
    ExplainArgs args_;
    CLI::App* app_ = nullptr;
};

}  // namespace staffel::app
