// policy.hpp - the validated, immutable policy snapshot.
//
// Purpose: everything the daemon and the mail path read from the TOML
//   policy, as typed values with units already applied. Built only by
//   config::load_policy(); shared as shared_ptr<const Policy> so a reload
//   (SIGHUP) never changes what an in-flight message sees.
// Thread-safety: immutable after construction; share freely.
// Defaults: the member initialisers below are the documented defaults
//   (policies/README.md lists them; a unit test keeps the two in step).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/dkim/settings.hpp"
#include "core/endpoints.hpp"
#include "core/log.hpp"
#include "core/net.hpp"
#include "core/quota/quota.hpp"
#include "core/route/dmarc.hpp"
#include "core/route/route.hpp"
#include "core/route/streams.hpp"
#include "core/suppress/dsn_status.hpp"
#include "core/tz.hpp"

namespace staffel::core {

struct MilterSettings {
    MilterSocket socket{MilterSocket::Kind::Unix, "/run/staffel/staffeld.sock", {}, 0};
    std::optional<std::string> user;   // run as this user after opening the socket
    std::optional<std::string> group;  // default: the user's primary group
    unsigned socket_mode = 0660;       // unix socket permissions
    std::chrono::milliseconds timeout{std::chrono::seconds(300)};       // I/O timeout with the MTA
    int backlog = 128;                                                  // listen(2) backlog
    std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};  // SIGTERM grace
    std::size_t max_header_bytes = 256 * 1024;  // all header fields of one message
    std::size_t max_headers = 1000;             // header fields of one message
};

struct RedisSettings {
    RedisAddress address{RedisAddress::Kind::Tcp, "127.0.0.1", 6379, {}};
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{500};
    std::string prefix = "staffel:";  // of every key Staffel writes
    std::string username;             // ACL user for AUTH; "" = default user
    std::string password_file;        // "" = no AUTH
    std::string password;             // read from password_file at load; never logged
    std::size_t pool_size = 16;       // connections per staffeld
    // Timeouts in a row that open the circuit breaker (fail fast); 0 = never.
    std::size_t breaker_timeouts = 3;
    std::chrono::milliseconds breaker_probe_interval{200};  // one PING per interval while open
    StoreErrorMode on_store_error = StoreErrorMode::Tempfail;
    // Redis Sentinel: when set, the primary is the one these sentinels name
    // for master_name, and `address` is not used.
    std::vector<RedisAddress> sentinels;
    std::string master_name = "staffel";
    std::string sentinel_username;       // ACL user for AUTH to the sentinels
    std::string sentinel_password_file;  // "" = no AUTH to the sentinels
    std::string sentinel_password;       // read from sentinel_password_file; never logged
    // WAIT after each quota charge: replicas that must hold it, 0 = no WAIT.
    std::size_t wait_replicas = 0;
    std::chrono::milliseconds wait_timeout{100};

    bool operator==(const RedisSettings&) const = default;
};

struct GeneralSettings {
    // Calendar quotas reset at midnight here.
    std::shared_ptr<const ZoneRules> time_zone =
        std::make_shared<const ZoneRules>(ZoneRules::utc());
};

enum class LogFormat { Text, Json };

struct LogSettings {
    LogLevel level = LogLevel::Info;
    LogFormat format = LogFormat::Text;  // the per-message line as key=value text or JSON
};

// [stats]: counts per hour and day in Redis (core/stats/counts.hpp).
struct StatsSettings {
    bool enabled = false;
    std::chrono::milliseconds flush_interval{1000};
    std::chrono::seconds hourly_retention{std::chrono::hours(24 * 35)};
    std::chrono::seconds daily_retention{std::chrono::hours(24 * 400)};
    std::size_t max_values = 1000;      // distinct values per dimension and day, then "other"
    std::size_t max_buffered = 100000;  // counts kept in memory while Redis is away
    // The message's tag: the first of these header fields present.
    std::vector<std::string> tag_headers;
    bool strip_tag_headers = false;  // removed before the message leaves (and is signed)
    std::size_t tag_max_length = 64;
    std::string feedback_id;  // Feedback-ID template; "" = none added
};

// [events]: a Redis Stream of decisions, written with the stats flush.
struct EventSettings {
    bool enabled = false;
    std::size_t max_length = 100000;   // XADD MAXLEN ~ (entries, each a batch of events)
    std::size_t max_buffered = 10000;  // events kept in memory while Redis is away
};

// [metrics]: Prometheus exposition per node.
struct MetricsSettings {
    std::string listen;  // "127.0.0.1:9325"; "" = off
};

// [web]: staffelctl web, the read-only dashboard over Redis.
struct WebSettings {
    std::string listen = "127.0.0.1:8025";
    std::string token_file;  // "" = no authentication (then loopback only)
    std::string token;       // read from token_file at load; never logged
    std::chrono::seconds census_interval{300};  // suppression counts by reason
};

// [suppression]: refuse recipients on the suppression lists.
// [suppression] local_view*: how staffeld keeps its view current.
struct SuppressionViewSettings {
    bool enabled = true;
    std::chrono::milliseconds poll{200};      // reads of the changes stream
    std::chrono::milliseconds max_lag{1000};  // older than this: lookups go to Redis
    std::chrono::seconds rescan{std::chrono::minutes(15)};  // full rebuilds; 0 = when needed
    bool operator==(const SuppressionViewSettings&) const = default;
};

struct SuppressionSettings {
    bool enabled = false;          // true once the policy has a [suppression] table
    bool fold_local_part = true;   // "Bob@x" and "bob@x" are one entry
    std::string hash_secret_file;  // "" = addresses stored in clear
    std::string hash_secret;       // read from hash_secret_file at load; never logged
    // Streams an unsubscribe blocks when its entry names none.
    std::vector<std::string> unsubscribe_streams{"bulk"};
    std::int64_t soft_bounce_limit = 5;  // soft bounces within the window that suppress
    std::chrono::seconds soft_bounce_window{std::chrono::hours(24 * 7)};
    std::chrono::seconds soft_bounce_expires{std::chrono::hours(24 * 30)};  // 0 = never
    // What `staffelctl ingest` makes of a DSN status: the defaults of
    // core/suppress/dsn_status.hpp, plus the policy's dsn_status entries.
    std::vector<DsnStatusRule> dsn_status = default_dsn_status_rules();
    // `staffelctl ingest`: larger messages are refused unread (exit 65); the
    // process's address space is capped at ingest_memory_limit.
    std::size_t ingest_max_size = std::size_t{10} << 20;
    std::uint64_t ingest_memory_limit = std::uint64_t{512} << 20;
    // When the store cannot answer a lookup; unset: [redis] on_store_error.
    std::optional<StoreErrorMode> on_store_error;
    // staffeld's local view of the entry keys (adapters/redis/
    // suppression_view): recipients on no list answered without Redis.
    SuppressionViewSettings view;
};

// [routing], [[stream]] and [[route]]: which stream a message is, and
// which exit it leaves by.
struct RoutingSettings {
    std::vector<StreamRule> streams;               // [[stream]], first match wins
    std::vector<Route> routes;                     // [[route]]
    std::string default_stream = "transactional";  // no rule matched (with rules)
    std::string default_route;                     // "" = no route: the envelope stays as it is
    // SPF pre-flight: only envelope senders of these domains are evaluated.
    std::vector<std::string> spf_domains;  // "example.com", "*.example.com"
    std::chrono::milliseconds spf_timeout{2000};
    // DMARC alignment prediction per message (core/route/dmarc.hpp).
    DmarcAlignment dmarc_alignment = DmarcAlignment::Relaxed;
};

struct Policy {
    std::string path;    // the main policy file, as given
    std::string digest;  // first 8 hex digits of SHA-256 of the main file's bytes
    GeneralSettings general;
    MilterSettings milter;
    RedisSettings redis;
    LogSettings log;
    StatsSettings stats;
    EventSettings events;
    MetricsSettings metrics;
    WebSettings web;
    DkimSettings dkim;
    std::vector<QuotaLimit> quotas;  // [[quota]], in policy order
    SuppressionSettings suppression;
    RoutingSettings routing;
};

}  // namespace staffel::core
