// milter_adapter.hpp - libmilter callbacks -> core::Session.
//
// Purpose: the only code that speaks libmilter's callbacks. Each xxfi_* callback
//   translates its arguments into one core::Session call and the Verdict
//   back into a reply (smfi_setreply + SMFIS_*). Negotiation asks for the
//   actions and macros of DESIGN.md and skips every stage Staffel does not
//   use, declaring the rest no-reply, which saves the MTA a round trip each.
//   Start-up and shutdown of the library are milter_server.hpp's.
// Thread-safety: libmilter runs one thread per connection; per-connection
//   state lives in the connection's private pointer (smfi_setpriv). The
//   MilterContext is set once before smfi_main() and then only read; what
//   it points to (and srs_hmac) must be safe to use from every connection.
// Errors: no exception crosses an extern "C" callback; anything unexpected
//   is logged and answered with a tempfail.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/log.hpp"
#include "core/result.hpp"
#include "core/session.hpp"

namespace staffel::adapters {

struct MilterContext {
    core::PolicySource policies;
    core::Logger* log = nullptr;
    core::InFlight* in_flight = nullptr;
    const core::Sha256Factory* sha256 = nullptr;      // for DKIM body and header hashes
    core::QuotaServices quota;                        // counter store for [[quota]] limits
    core::SuppressServices suppress;                  // suppression store for [suppression]
    const core::RouteStatus* route_status = nullptr;  // routes marked down
    core::SpfChecker* spf = nullptr;                  // SPF pre-flight of routes
    core::OrgDomainFn org_domain;                     // DMARC relaxed alignment
    core::DmarcStats* dmarc_stats = nullptr;          // DMARC predictions, counted
    core::OutcomeSink* outcomes = nullptr;            // each message's outcome (stats, metrics)
    // Keyed hash for SRS return-paths: raw HMAC-SHA1 of (key, message).
    std::function<std::string(std::string_view, std::string_view)> srs_hmac;
};

// Registers the filter (smfi_register) and keeps `ctx` for the callbacks.
core::Result<bool> register_milter(const std::string& name, MilterContext ctx);

}  // namespace staffel::adapters
