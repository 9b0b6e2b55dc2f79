// schema.cpp - see schema.hpp. Rows are grouped by section.
#include "config/schema.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <utility>

#include "config/quota_values.hpp"
#include "config/schema_values.hpp"
#include "config/zone.hpp"
#include "core/dkim/canon.hpp"
#include "core/dkim/signer.hpp"
#include "core/headers.hpp"
#include "core/net.hpp"
#include "core/rfc3339.hpp"
#include "core/tz.hpp"
#include "core/units.hpp"

namespace staffel::config {
namespace {

using namespace values;  // NOLINT(google-build-using-namespace)

core::QuotaLimit& last_quota(Policy& p) {
    return p.quotas.back();
}

core::DkimKeySpec& last_key(Policy& p) {
    return p.dkim.keys.back();
}
core::DkimSenderRule& last_sender(Policy& p) {
    return p.dkim.senders.back();
}

constexpr std::string_view kKeyTimeHint =
    "an RFC 3339 time with an offset, e.g. 2026-07-01T00:00:00Z or "
    "\"2026-07-01T02:00:00+02:00\"";

// A [[dkim.keys]] not_before / not_after: a TOML offset date-time, or a
// string holding an RFC 3339 time. A local date-time (no offset) is
// refused: it would mean different instants on different machines.
core::Result<std::int64_t> key_time(const toml::node& n) {
    if (const auto* s = n.as_string()) {
        if (auto t = core::parse_rfc3339(s->get())) {
            return *t;
        }
        return core::make_error("\"" + s->get() + "\" is not an RFC 3339 time");
    }
    if (const auto* dt = n.as_date_time()) {
        const auto& v = dt->get();
        if (!v.offset) {
            return core::make_error("a date-time without an offset (add Z or +HH:MM) is refused");
        }
        return core::days_from_civil(v.date.year, v.date.month, v.date.day) * 86400 +
               std::int64_t{v.time.hour} * 3600 + std::int64_t{v.time.minute} * 60 + v.time.second -
               std::int64_t{v.offset->minutes} * 60;
    }
    if (n.is_date() || n.is_time()) {
        return core::make_error("a bare date or time is refused");
    }
    return core::make_error("got " + type_name(n));
}

// Sets not_before (`after` false) or not_after of the current key; the
// second of the two to be set checks that they leave the key some time.
Setter key_time_in(bool after) {
    return [after](const toml::node& n, Policy& p) -> std::optional<std::string> {
        auto t = key_time(n);
        if (!t) {
            return t.error().message;
        }
        auto& k = last_key(p);
        (after ? k.not_after : k.not_before) = *t;
        if (k.not_before && k.not_after && *k.not_after <= *k.not_before) {
            return "expected not_after later than not_before, got not_before " +
                   core::format_rfc3339_utc(*k.not_before) + ", not_after " +
                   core::format_rfc3339_utc(*k.not_after) + ": the key would never sign";
        }
        return std::nullopt;
    };
}

std::vector<FieldSpec> build_schema() {
    using std::chrono::milliseconds;
    using namespace std::chrono_literals;
    std::vector<FieldSpec> rows;
    // [milter]
    rows.push_back(
        {"milter", "socket", core::kMilterSocketHint, "\"unix:/run/staffel/staffeld.sock\"",
         string_with(
             [](Policy & p) -> auto& { return p.milter.socket; }, core::parse_milter_socket)});
    rows.push_back({"milter", "user", "a user name, e.g. \"staffel\"", "(stay as started)",
                    string_with(
                        [](Policy & p) -> auto& { return p.milter.user; }, account_name)});
    rows.push_back({"milter", "group", "a group name, e.g. \"staffel\"", "(the user's group)",
                    string_with(
                        [](Policy & p) -> auto& { return p.milter.group; }, account_name)});
    rows.push_back({"milter", "socket_mode", "an octal mode string from \"0600\" to \"0777\"",
                    "\"0660\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.milter.socket_mode; }, file_mode)});
    rows.push_back({"milter", "timeout", "a duration from \"1s\" to \"1d\", e.g. \"300s\"",
                    "\"300s\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.milter.timeout; }, 1s, 24h)});
    rows.push_back({"milter", "backlog", "an integer from 1 to 65535", "128",
                    integer_in(
                        [](Policy & p) -> auto& { return p.milter.backlog; }, 1, 65535)});
    rows.push_back({"milter", "drain_timeout", "a duration from \"0s\" to \"1h\", e.g. \"30s\"",
                    "\"30s\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.milter.drain_timeout; }, 0ms, 1h)});
    rows.push_back({"milter", "max_header_bytes", "a size from \"1KiB\" to \"64MiB\"", "\"256KiB\"",
                    size_in(
                        [](Policy & p) -> auto& { return p.milter.max_header_bytes; },
                        std::uint64_t{1} << 10, std::uint64_t{64} << 20)});
    rows.push_back({"milter", "max_headers", "an integer from 10 to 100000", "1000",
                    integer_in(
                        [](Policy & p) -> auto& { return p.milter.max_headers; }, 10, 100000)});
    // [redis]
    rows.push_back(
        {"redis", "address", core::kRedisAddressHint, "\"127.0.0.1:6379\"",
         string_with(
             [](Policy & p) -> auto& { return p.redis.address; }, core::parse_redis_address)});
    rows.push_back({"redis", "connect_timeout",
                    "a duration from \"1ms\" to \"60s\", e.g. \"250ms\"", "\"250ms\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.redis.connect_timeout; }, 1ms, 60s)});
    rows.push_back({"redis", "command_timeout",
                    "a duration from \"1ms\" to \"60s\", e.g. \"500ms\"", "\"500ms\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.redis.command_timeout; }, 1ms, 60s)});
    rows.push_back({"redis", "prefix", "up to 64 printable characters without braces",
                    "\"staffel:\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.redis.prefix; }, key_prefix)});
    rows.push_back({"redis", "username", "a Redis ACL user name", "(the default user)",
                    string_with(
                        [](Policy & p) -> auto& { return p.redis.username; }, nonempty)});
    rows.push_back({"redis", "password_file",
                    "the absolute path of a file (mode 0600 or stricter) holding the password",
                    "(no AUTH)", [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        p.redis.password_file = s->get();
                        return read_secret(p.redis.password_file, p.redis.password);
                    }});
    rows.push_back({"redis", "pool_size", "an integer from 1 to 1024", "16",
                    integer_in(
                        [](Policy & p) -> auto& { return p.redis.pool_size; }, 1, 1024)});
    rows.push_back({"redis", "breaker_timeouts", "an integer from 0 to 1000 (0: never open)", "3",
                    integer_in(
                        [](Policy & p) -> auto& { return p.redis.breaker_timeouts; }, 0, 1000)});
    rows.push_back(
        {"redis", "breaker_probe_interval", "a duration from \"10ms\" to \"10s\", e.g. \"200ms\"",
         "\"200ms\"",
         duration_in(
             [](Policy & p) -> auto& { return p.redis.breaker_probe_interval; }, 10ms, 10s)});
    rows.push_back(
        {"redis", "on_store_error", "one of \"tempfail\", \"accept\"", "\"tempfail\"",
         string_with(
             [](Policy & p) -> auto& { return p.redis.on_store_error; }, store_error_mode)});
    add_sentinel_rows(rows);
    add_routing_rows(rows);
    add_suppression_rows(rows);
    add_stats_rows(rows);
    // [general]
    rows.push_back(
        {"general", "time_zone", "an IANA time zone name, e.g. \"Europe/Berlin\" or \"UTC\"",
         "\"UTC\"",
         string_with(
             [](Policy & p) -> auto& { return p.general.time_zone; },
             [](std::string_view text) -> core::Result<std::shared_ptr<const core::ZoneRules>> {
                 auto z = load_zone(text);
                 if (!z) {
                     return z.error();
                 }
                 return std::make_shared<const core::ZoneRules>(std::move(z).value());
             })});
    // [log]
    rows.push_back({"log", "level",
                    "one of \"debug\", \"info\", \"notice\", \"warning\", \"error\"", "\"info\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.log.level; }, log_level)});
    // [dkim]
    rows.push_back(
        {"dkim", "canonicalization", core::kCanonHint, "\"relaxed/relaxed\"",
         string_with(
             [](Policy & p) -> auto& { return p.dkim.canonicalization; }, core::parse_canon_pair)});
    rows.push_back(
        {"dkim", "expire", "a duration from \"1h\" to \"365d\", e.g. \"7d\"", "(no x= tag)",
         string_with(
             [](Policy & p) -> auto& { return p.dkim.expire; },
             [](std::string_view text) -> core::Result<std::optional<std::chrono::seconds>> {
                 auto d = core::parse_duration(text);
                 if (!d) {
                     return d.error();
                 }
                 if (*d < 1h || *d > 24h * 365) {
                     return core::make_error("duration \"" + std::string(text) +
                                             "\" is out of range");
                 }
                 return std::optional(std::chrono::duration_cast<std::chrono::seconds>(*d));
             })});
    rows.push_back({"dkim", "trusted_networks",
                    "an array of networks, e.g. [\"127.0.0.0/8\", \"::1\"]",
                    "[\"127.0.0.0/8\", \"::1/128\"]",
                    array_of<core::Network>(
                        [](Policy & p) -> auto& { return p.dkim.trusted_networks; },
                        core::parse_network, true)});
    rows.push_back(
        {"dkim", "authenticated", "one of \"own-domain\", \"any\", \"none\"", "\"own-domain\"",
         string_with(
             [](Policy & p) -> auto& { return p.dkim.authenticated; }, authenticated_mode)});
    rows.push_back({"dkim", "overlap", "one of \"newest\", \"all\"", "\"newest\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.dkim.overlap; },
                        [](std::string_view text) -> core::Result<core::DkimOverlap> {
                            if (text == "newest") {
                                return core::DkimOverlap::Newest;
                            }
                            if (text == "all") {
                                return core::DkimOverlap::All;
                            }
                            return core::make_error("unknown overlap \"" + std::string(text) +
                                                    "\"");
                        })});
    rows.push_back(
        {"dkim", "sign_headers", "an array of header field names, e.g. [\"From\", \"Subject\"]",
         "(RFC 6376 §5.4.1 set, see below)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return p.dkim.sign_headers; }, header_name, false)});
    rows.push_back(
        {"dkim", "oversign_headers", "an array of header field names", "(see below)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return p.dkim.oversign_headers; }, header_name, true)});
    // [[dkim.keys]]
    rows.push_back({"dkim.keys", "domain", "a domain name, e.g. \"example.com\"", "(required)",
                    string_with(
                        [](Policy & p) -> auto& { return last_key(p).domain; }, domain_name)});
    rows.push_back({"dkim.keys", "selector", "a selector, e.g. \"s2026\"", "(required)",
                    string_with(
                        [](Policy & p) -> auto& { return last_key(p).selector; }, selector_name)});
    rows.push_back({"dkim.keys", "algorithm", core::kDkimAlgorithmHint, "\"rsa-sha256\"",
                    string_with(
                        [](Policy & p) -> auto& { return last_key(p).algorithm; },
                        core::parse_dkim_algorithm)});
    rows.push_back({"dkim.keys", "key", "the path of a PEM private key file", "(required)",
                    string_with(
                        [](Policy & p) -> auto& { return last_key(p).key_path; }, nonempty)});
    rows.push_back({"dkim.keys", "subdomains", "true or false", "false",
                    boolean_in([](Policy& p) -> bool& { return last_key(p).subdomains; })});
    rows.push_back({"dkim.keys", "canonicalization", core::kCanonHint, "([dkim] canonicalization)",
                    string_with(
                        [](Policy & p) -> auto& { return last_key(p).canonicalization; },
                        [](std::string_view text) -> core::Result<std::optional<core::CanonPair>> {
                            auto c = core::parse_canon_pair(text);
                            if (!c) {
                                return c.error();
                            }
                            return std::optional(*c);
                        })});
    rows.push_back(
        {"dkim.keys", "not_before", kKeyTimeHint, "(signs from the start)", key_time_in(false)});
    rows.push_back({"dkim.keys", "not_after", kKeyTimeHint, "(signs for ever)", key_time_in(true)});
    // [[dkim.senders]]
    rows.push_back(
        {"dkim.senders", "sasl_user",
         "a SASL login, \"*@DOMAIN\" for every login of a domain, or \"*\"", "(any)",
         string_with(
             [](Policy & p) -> auto& { return last_sender(p).sasl_user; }, sasl_pattern)});
    rows.push_back({"dkim.senders", "networks", "an array of networks, e.g. [\"10.1.0.0/16\"]",
                    "(any)",
                    array_of<core::Network>(
                        [](Policy & p) -> auto& { return last_sender(p).networks; },
                        core::parse_network, false)});
    rows.push_back(
        {"dkim.senders", "domains",
         "an array of domains: \"example.com\", \"*.example.com\" or \"*\"", "(required)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_sender(p).domains; }, domain_pattern, true)});
    // [[quota]]
    rows.push_back({"quota", "name", "a name of letters, digits, '-', '_' and '.'", "(required)",
                    string_with(
                        [](Policy & p) -> auto& { return last_quota(p).name; }, quota_name)});
    rows.push_back(
        {"quota", "key",
         "one of \"sender\", \"sender_domain\", \"sasl_user\", \"client_ip\", \"stream\", "
         "\"recipient_domain\"",
         "\"sender\"",
         string_with(
             [](Policy & p) -> auto& { return last_quota(p).key; }, quota_key)});
    rows.push_back(
        {"quota", "limit",
         "COUNT/PERIOD: \"500/1d\" (or \"/day\"), \"2000/1w\" (\"/week\"), \"9000/month\", "
         "or a rate such as \"300/1m\"",
         "(required)", [](const toml::node& n, Policy& p) -> std::optional<std::string> {
             const auto* s = n.as_string();
             if (s == nullptr) {
                 return "got " + type_name(n);
             }
             auto q = quota_rate(s->get());
             if (!q) {
                 return q.error().message;
             }
             last_quota(p).limit = q->rate;
             last_quota(p).window = q->window;
             return std::nullopt;
         }});
    rows.push_back(
        {"quota", "window", "one of \"calendar\", \"rolling\"",
         "(calendar for /1d, /1w and /month; else rolling)",
         string_with(
             [](Policy & p) -> auto& { return last_quota(p).rolling_requested; }, quota_window)});
    rows.push_back({"quota", "burst", "an integer from 1 to 1000000000", "(the limit's count)",
                    integer_in(
                        [](Policy & p) -> auto& { return last_quota(p).burst; }, 1, 1000000000)});
    rows.push_back({"quota", "counts", "one of \"recipients\", \"messages\"", "\"recipients\"",
                    string_with(
                        [](Policy & p) -> auto& { return last_quota(p).counts; }, quota_counts)});
    rows.push_back({"quota", "action", "one of \"tempfail\", \"reject\", \"hold\", \"log\"",
                    "\"tempfail\"",
                    string_with(
                        [](Policy & p) -> auto& { return last_quota(p).action; }, quota_action)});
    rows.push_back(
        {"quota", "on_store_error", "one of \"tempfail\", \"accept\"", "([redis] on_store_error)",
         string_with(
             [](Policy & p) -> auto& { return last_quota(p).on_store_error; }, store_error_mode)});
    rows.push_back(
        {"quota", "domains",
         "an array of domains: \"example.com\", \"*.example.com\" (sender domains; recipient "
         "domains for key = \"recipient_domain\")",
         "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_quota(p).domains; }, domain_pattern, false)});
    rows.push_back(
        {"quota", "sasl_users", "an array of SASL logins or \"*@DOMAIN\"", "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_quota(p).sasl_users; }, sasl_pattern, false)});
    rows.push_back({"quota", "networks", "an array of networks, e.g. [\"10.1.0.0/16\"]", "(any)",
                    array_of<core::Network>(
                        [](Policy & p) -> auto& { return last_quota(p).networks; },
                        core::parse_network, false)});
    rows.push_back(
        {"quota", "streams", "an array of stream names, e.g. [\"bulk\"]", "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_quota(p).streams; }, quota_name, false)});
    rows.push_back({"quota", "warmup_start", "a date, e.g. 2026-12-01 or \"2026-12-01\"",
                    "(no warm-up)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        auto d = local_date(n);
                        if (!d) {
                            return d.error().message;
                        }
                        auto& q = last_quota(p);
                        if (!q.warmup) {
                            q.warmup.emplace();
                        }
                        q.warmup->start_day = *d;
                        return std::nullopt;
                    }});
    rows.push_back({"quota", "warmup_initial", "an integer from 1 to 1000000000",
                    "(with warmup_factor)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* i = n.as_integer();
                        if (i == nullptr) {
                            return "got " + type_name(n);
                        }
                        if (i->get() < 1 || i->get() > 1000000000) {
                            return "value " + std::to_string(i->get()) + " is out of range";
                        }
                        auto& q = last_quota(p);
                        if (!q.warmup) {
                            q.warmup.emplace();
                        }
                        q.warmup->initial = i->get();
                        return std::nullopt;
                    }});
    rows.push_back({"quota", "warmup_factor", "a number from 1.01 to 10, e.g. 1.5", "(none)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        double v = 0;
                        if (const auto* f = n.as_floating_point()) {
                            v = f->get();
                        } else if (const auto* i = n.as_integer()) {
                            v = static_cast<double>(i->get());
                        } else {
                            return "got " + type_name(n);
                        }
                        if (!(v >= 1.01 && v <= 10.0)) {
                            return "value " + std::to_string(v) + " is out of range";
                        }
                        auto& q = last_quota(p);
                        if (!q.warmup) {
                            q.warmup.emplace();
                        }
                        q.warmup->factor = v;
                        return std::nullopt;
                    }});
    rows.push_back({"quota", "warmup_schedule",
                    "an array of daily limits for day 0, 1, 2, ... e.g. [50, 100, 250]", "(none)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* a = n.as_array();
                        if (a == nullptr) {
                            return "got " + type_name(n);
                        }
                        if (a->empty() || a->size() > 366) {
                            return std::string("the schedule must have 1 to 366 days");
                        }
                        auto& q = last_quota(p);
                        if (!q.warmup) {
                            q.warmup.emplace();
                        }
                        q.warmup->schedule.clear();
                        for (const auto& item : *a) {
                            const auto* i = item.as_integer();
                            if (i == nullptr || i->get() < 1 || i->get() > 1000000000) {
                                return std::string(
                                    "every day's limit must be an integer from 1 "
                                    "to 1000000000");
                            }
                            q.warmup->schedule.push_back(i->get());
                        }
                        return std::nullopt;
                    }});
    return rows;
}

// Checks one [[quota]] element as a whole.

}  // namespace

const std::vector<std::string_view>& known_sections() {
    static const std::vector<std::string_view> sections{
        "general", "milter", "redis", "log",   "dkim",   "quota",   "suppression",
        "routing", "stream", "route", "stats", "events", "metrics", "web"};
    return sections;
}

const std::vector<SubsectionSpec>& subsections() {
    static const std::vector<SubsectionSpec> specs{
        {"dkim.keys",
         true,
         {"domain", "selector", "key"},
         [](Policy& p, const std::string& where) { p.dkim.keys.emplace_back().where = where; },
         [](Policy& p, const std::string& dir) -> std::optional<std::string> {
             auto& k = p.dkim.keys.back();
             std::filesystem::path path(k.key_path);
             if (path.is_relative()) {
                 k.key_path = (std::filesystem::path(dir) / path).lexically_normal().string();
             }
             for (std::size_t i = 0; i + 1 < p.dkim.keys.size(); ++i) {
                 const auto& other = p.dkim.keys[i];
                 if (other.domain == k.domain && other.selector == k.selector) {
                     return "selector \"" + k.selector + "\" of " + k.domain +
                            " is declared twice (also at " + other.where +
                            "); one DNS record cannot hold two keys";
                 }
             }
             return std::nullopt;
         }},
        {"dkim.senders",
         true,
         {"domains"},
         [](Policy& p, const std::string&) { p.dkim.senders.emplace_back(); },
         [](Policy& p, const std::string&) -> std::optional<std::string> {
             const auto& r = p.dkim.senders.back();
             if (r.sasl_user.empty() && r.networks.empty()) {
                 return std::string(
                     "a rule needs sasl_user or networks (or both) to say whom it is for");
             }
             return std::nullopt;
         }},
        {"stream",
         true,
         {"name"},
         [](Policy& p, const std::string& where) {
             p.routing.streams.emplace_back().where = where;
         },
         [](Policy& p, const std::string&) -> std::optional<std::string> {
             const auto& r = p.routing.streams.back();
             if (r.unsubscribe == core::StreamRule::Unsubscribe::Add &&
                 r.unsubscribe_template.empty()) {
                 return std::string("unsubscribe = \"add\" needs unsubscribe_template");
             }
             if (r.sasl_users.empty() && r.senders.empty() && r.networks.empty() &&
                 r.daemon_names.empty() && r.headers.empty() && r.min_recipients == 0) {
                 return std::string(
                     "a rule needs at least one condition (sasl_users, senders, networks, "
                     "daemon_names, headers, min_recipients); unmatched mail gets "
                     "routing.default_stream");
             }
             return std::nullopt;
         }},
        {"route",
         true,
         {"name"},
         [](Policy& p, const std::string& where) { p.routing.routes.emplace_back().where = where; },
         [](Policy& p, const std::string&) -> std::optional<std::string> {
             const auto& r = p.routing.routes.back();
             for (std::size_t i = 0; i + 1 < p.routing.routes.size(); ++i) {
                 if (p.routing.routes[i].name == r.name) {
                     return "route \"" + r.name + "\" is declared twice (also at " +
                            p.routing.routes[i].where + ")";
                 }
             }
             if (r.on_spf_fail == core::Route::SpfAction::BounceDomain && r.bounce_domain.empty()) {
                 return std::string("on_spf_fail = \"bounce_domain\" needs bounce_domain");
             }
             if (r.return_path == core::ReturnPath::Srs && r.srs_secrets.empty()) {
                 return std::string("return_path = \"srs\" needs srs_secret_file");
             }
             if (r.bounce_domain.empty() && r.return_path != core::ReturnPath::Keep) {
                 return std::string(
                     "bounce_domain is required (the MTA routes by it) unless return_path = "
                     "\"keep\"");
             }
             return std::nullopt;
         }},
        {"quota",
         true,
         {"name", "limit"},
         [](Policy& p, const std::string& where) { p.quotas.emplace_back().where = where; },
         [](Policy& p, const std::string&) { return finish_quota(p); }},
    };
    return specs;
}

const SubsectionSpec* subsection(std::string_view name) {
    for (const auto& s : subsections()) {
        if (s.name == name) {
            return &s;
        }
    }
    return nullptr;
}

const std::vector<FieldSpec>& schema() {
    static const std::vector<FieldSpec> rows = build_schema();
    return rows;
}

std::vector<const FieldSpec*> fields_of(std::string_view section) {
    std::vector<const FieldSpec*> out;
    for (const auto& f : schema()) {
        if (f.section == section) {
            out.push_back(&f);
        }
    }
    return out;
}

}  // namespace staffel::config
