// dashboard.hpp - staffelctl web: the read-only dashboard and its JSON API.
//
// Purpose: answers every HTTP request of staffelctl web (the server itself
//   is adapters/http/http_server): the page (milter/app/web/, embedded at
//   build time), Chart.js from Debian's libjs-chart.js, and the JSON API
//   under /api/ that the page and scripts read. Everything comes from
//   Redis, so it shows what every node counted:
//     /api/overview     totals, outcomes, in-house vs ESP, streams, series
//     /api/senders      per sender domain or sender, with a series
//     /api/tags         per tag (campaign)
//     /api/quota        quota use of one key against each limit, now
//     /api/suppression  census by reason, recent additions
//     /api/suppression/lookup  one address's entries (hashing at rest too)
//     /api/routes       status, traffic and fallbacks per route
//     /api/events       the newest events, or those after an id
//     /api/info         version, node, time zone
//   The numbers are those of `staffelctl stats --json` (app/stats_rows).
// Safety: GET only; with a token configured every request must carry it
//   (Bearer, or Basic with the token as password), compared in constant
//   time; every response carries a strict Content-Security-Policy (no
//   inline script or style, nothing from another origin), nosniff, no
//   framing and no referrer. The API answers JSON only: values from mail
//   (addresses, tags) are never markup here, and the page inserts them as
//   text.
// Bounded cost: every request reads a fixed set of hashes (one per period
//   bucket and dimension, <= 840 hourly or 400 daily buckets) pipelined in
//   one round trip, a bounded XREVRANGE, or fixed keys: no KEYS, no SCAN.
//   The suppression census (counts by reason) is the one SCAN, run by a
//   background thread every [web] census_interval, never on a request.
// Thread-safety: handle() is thread-safe (the data port must be too).
// Errors: a Redis that cannot be reached is 503 with the error's text; a
//   bad parameter 400 naming it.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/http/http_server.hpp"
#include "adapters/redis/event_stream.hpp"
#include "adapters/redis/stats_store.hpp"
#include "core/policy.hpp"
#include "core/quota/store.hpp"
#include "core/suppress/store.hpp"
#include "core/suppress/suppress.hpp"

namespace staffel::app {

// What the dashboard reads from Redis besides the suppression and counter
// stores (adapters in production, fakes in tests).
class DashboardReads {
  public:
    virtual ~DashboardReads() = default;
    // One table per key (missing keys are empty tables), one round trip.
    virtual core::Result<std::vector<adapters::StatsTable>> tables(
        std::span<const std::string> keys) = 0;
    // The newest `count` stream entries, oldest first.
    virtual core::Result<std::vector<adapters::StreamEntry>> latest_events(std::size_t count) = 0;
    // Stream entries after `id`, oldest first, no waiting.
    virtual core::Result<std::vector<adapters::StreamEntry>> events_after(std::string_view id,
                                                                          std::size_t count) = 0;
    virtual core::Result<std::set<std::string>> routes_down() = 0;
};

// The suppression list by reason, counted by a background SCAN.
struct SuppressionCensus {
    std::int64_t at = 0;  // epoch seconds of the last complete count; 0 = none yet
    bool running = false;
    std::map<std::string, std::int64_t> by_reason;
    std::int64_t total = 0;
    std::int64_t scoped = 0;     // entries limited to one sender domain
    std::int64_t undecoded = 0;  // values that did not decode
    std::string error;           // the last count's error; "" = none
};

struct DashboardAssets {
    std::string html, js, css;
    std::string chart_js;  // Chart.js, read from libjs-chart.js at start
};

struct DashboardDeps {
    std::shared_ptr<const core::Policy> policy;
    DashboardReads* reads = nullptr;
    core::SuppressionStore* suppression = nullptr;
    core::CounterStore* counters = nullptr;
    const core::Sha256Factory* sha = nullptr;
    core::DomainToAscii idna;
    std::function<SuppressionCensus()> census;
    std::function<std::int64_t()> now;
    std::string node;
    std::string version;
};

class Dashboard {
  public:
    Dashboard(DashboardDeps deps, DashboardAssets assets);
    adapters::HttpResponse handle(const adapters::HttpRequest& request) const;

  private:
    adapters::HttpResponse api(std::string_view path, std::string_view query) const;

    DashboardDeps deps_;
    DashboardAssets assets_;
};

// The Content-Security-Policy of every response.
extern const char* const kContentSecurityPolicy;

// Does `authorization` (an Authorization header) carry `token`, as
// "Bearer TOKEN" or Basic with TOKEN as the password? Constant time in the
// token's bytes.
bool authorized(std::string_view authorization, std::string_view token);

// The value of `name` in a query string ("a=1&b=x%40y"), %-decoded and
// '+' as space; nullopt when absent or badly encoded.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

// "::1:8025" -> "[::1]:8025" (civetweb's form); anything else unchanged.
std::string bracketed_listen(std::string_view listen);

// Is the host of "HOST:PORT" a loopback address (127.0.0.0/8, ::1)?
bool is_loopback_listen(std::string_view listen);

// "2026120417" -> "2026-12-04 17:00", "20261204" -> "2026-12-04".
std::string bucket_label(std::string_view label);

}  // namespace staffel::app
