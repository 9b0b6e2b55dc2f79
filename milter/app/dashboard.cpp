// dashboard.cpp - see dashboard.hpp.
#include "app/dashboard.hpp"

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>

#include "app/event_json.hpp"
#include "app/stats_cmd.hpp"
#include "app/stats_rows.hpp"
#include "core/net.hpp"
#include "core/quota/quota.hpp"
#include "core/route/streams.hpp"
#include "core/stats/counts.hpp"
#include "core/text.hpp"

namespace staffel::app {

using adapters::HttpRequest;
using adapters::HttpResponse;
using adapters::StatsTable;
using core::stats::Dimension;
using nlohmann::json;

const char* const kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'";

namespace {

// Buckets a request may read: 35 days of hours, 400 days.
constexpr std::size_t kMaxHours = 840;
constexpr std::size_t kMaxDays = 400;
constexpr std::size_t kMaxTop = 1000;
constexpr std::size_t kSeriesValues = 5;
constexpr std::size_t kMaxEvents = 500;
constexpr std::size_t kRecentAdditions = 50;
constexpr std::size_t kEventEntries = 50;
// Stream entries read for recent suppression additions (each is one
// flush's batch of events).
constexpr std::size_t kRecentEntries = 200;

// Thrown inside api() for a bad parameter: 400 with the text.
struct BadRequest {
    std::string message;
};
// Thrown inside api() when Redis fails: 503 with the text.
struct Unavailable {
    std::string message;
};

template <typename T>
T must(core::Result<T> r) {
    if (!r) {
        throw Unavailable{r.error().message};
    }
    return std::move(r).value();
}

HttpResponse json_response(int status, const json& body) {
    HttpResponse r;
    r.status = status;
    r.content_type = "application/json; charset=utf-8";
    r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    r.body += '\n';
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

HttpResponse error_response(int status, std::string message) {
    return json_response(status, json{{"error", std::move(message)}});
}

HttpResponse asset(const std::string& body, const char* type) {
    HttpResponse r;
    r.content_type = type;
    r.body = body;
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
}

void security_headers(HttpResponse& r) {
    r.headers.emplace_back("Content-Security-Policy", kContentSecurityPolicy);
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cross-Origin-Resource-Policy", "same-origin");
    r.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

std::optional<std::string> base64_decode(std::string_view in) {
    static constexpr std::string_view kAlphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    std::size_t i = 0;
    for (; i < in.size() && in[i] != '='; ++i) {
        const auto v = kAlphabet.find(in[i]);
        if (v == std::string_view::npos) {
            return std::nullopt;
        }
        buffer = (buffer << 6) | static_cast<unsigned>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    for (; i < in.size(); ++i) {
        if (in[i] != '=') {
            return std::nullopt;
        }
    }
    return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    for (std::size_t i = 0; i < b.size(); ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
    }
    return diff == 0;
}

bool starts_with_word(std::string_view text, std::string_view word) {
    return text.size() > word.size() && core::ascii_lower(text.substr(0, word.size())) == word &&
           text[word.size()] == ' ';
}

std::size_t number_param(std::string_view query, std::string_view name, std::size_t fallback,
                         std::size_t max) {
    const auto text = query_param(query, name);
    if (!text) {
        return fallback;
    }
    std::size_t n = 0;
    const auto [ptr, ec] = std::from_chars(text->data(), text->data() + text->size(), n);
    if (ec != std::errc{} || ptr != text->data() + text->size() || n < 1 || n > max) {
        throw BadRequest{std::string(name) + ": expected an integer from 1 to " +
                         std::to_string(max)};
    }
    return n;
}

// The buckets of `period`, oldest first.
struct Buckets {
    std::string period;
    bool hourly = true;
    std::vector<std::string> labels;
};

Buckets buckets_of(const core::Policy& policy, std::string_view query, std::int64_t now) {
    Buckets b;
    b.period = query_param(query, "period").value_or("24h");
    const bool ok = (b.period.ends_with('h') || b.period.ends_with('d')) && b.period.size() <= 4;
    auto parsed = ok ? parse_since(b.period, *policy.general.time_zone, now) : std::nullopt;
    if (!parsed || parsed->labels.size() > (parsed->hourly ? kMaxHours : kMaxDays)) {
        throw BadRequest{"period: expected Nh (N <= 840) or Nd (N <= 400), e.g. 24h, 7d, 30d"};
    }
    b.hourly = parsed->hourly;
    b.labels.assign(parsed->labels.rbegin(), parsed->labels.rend());
    return b;
}

std::string key_of(const core::Policy& policy, const Buckets& b, Dimension d,
                   const std::string& label) {
    return b.hourly ? adapters::RedisStatsStore::hourly_key(policy.redis.prefix, d, label)
                    : adapters::RedisStatsStore::daily_key(policy.redis.prefix, d, label);
}

// One dimension over the buckets: a table per bucket and their sum.
struct DimensionData {
    std::vector<StatsTable> per_bucket;
    StatsTable sum;
};

// Reads every dimension of `dims` over `b` in one round trip.
std::vector<DimensionData> read_dimensions(DashboardReads& reads, const core::Policy& policy,
                                           const Buckets& b, std::span<const Dimension> dims) {
    std::vector<std::string> keys;
    for (const auto d : dims) {
        for (const auto& label : b.labels) {
            keys.push_back(key_of(policy, b, d, label));
        }
    }
    auto tables = must(reads.tables(keys));
    if (tables.size() != keys.size()) {
        throw Unavailable{"Redis answered " + std::to_string(tables.size()) + " tables for " +
                          std::to_string(keys.size()) + " keys"};
    }
    std::vector<DimensionData> out(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) {
        auto& d = out[i];
        d.per_bucket.assign(
            std::make_move_iterator(tables.begin() +
                                    static_cast<std::ptrdiff_t>(i * b.labels.size())),
            std::make_move_iterator(tables.begin() +
                                    static_cast<std::ptrdiff_t>((i + 1) * b.labels.size())));
        for (const auto& table : d.per_bucket) {
            for (const auto& [value, counters] : table) {
                auto& into = d.sum[value];
                for (const auto& [name, n] : counters) {
                    into[name] += n;
                }
            }
        }
    }
    return out;
}

Counters totals_of(const StatsTable& t) {
    Counters total;
    for (const auto& [value, counters] : t) {
        for (const auto& [name, n] : counters) {
            total[name] += n;
        }
    }
    return total;
}

// Rows largest first (messages, then value), as staffelctl stats sorts.
std::vector<StatsRow> sorted_rows(const StatsTable& t) {
    std::vector<StatsRow> rows;
    rows.reserve(t.size());
    for (const auto& [value, counters] : t) {
        rows.push_back(stats_row(value, counters));
    }
    std::sort(rows.begin(), rows.end(), [](const StatsRow& a, const StatsRow& b) {
        return a.messages != b.messages ? a.messages > b.messages : a.value < b.value;
    });
    return rows;
}

json period_json(const Buckets& b) {
    json labels = json::array();
    for (const auto& l : b.labels) {
        labels.push_back(bucket_label(l));
    }
    return json{{"period", b.period},
                {"granularity", b.hourly ? "hour" : "day"},
                {"labels", std::move(labels)}};
}

// Per bucket, the sum of the counters `pick` chooses, over values `only`
// (every value when empty).
json series_of(const DimensionData& d, const std::function<std::int64_t(const Counters&)>& pick,
               std::string_view only = {}) {
    json out = json::array();
    for (const auto& table : d.per_bucket) {
        std::int64_t n = 0;
        for (const auto& [value, counters] : table) {
            if (only.empty() || value == only) {
                n += pick(counters);
            }
        }
        out.push_back(n);
    }
    return out;
}

json table_json(const Buckets& b, const DimensionData& d, std::size_t top, std::size_t series) {
    const auto rows = sorted_rows(d.sum);
    json out = period_json(b);
    out["rows"] = json::array();
    const std::size_t shown = std::min(top, rows.size());
    for (std::size_t i = 0; i < shown; ++i) {
        out["rows"].push_back(stats_row_json(rows[i]));
    }
    out["more"] = rows.size() - shown;
    out["total"] = stats_row_json(stats_row("(total)", totals_of(d.sum)));
    if (series > 0) {
        out["series"] = json::array();
        for (std::size_t i = 0; i < std::min(series, shown); ++i) {
            out["series"].push_back(
                {{"value", rows[i].value},
                 {"messages", series_of(
                                  d, [](const Counters& c) { return counter(c, "messages"); },
                                  rows[i].value)}});
        }
    }
    return out;
}

const char* kind_name(core::Route::Kind k) {
    return k == core::Route::Kind::Esp ? "esp" : "in-house";
}

std::string rfc3339_or_empty(std::int64_t t) {
    return t > 0 ? rfc3339_utc(t) : std::string();
}

// The events of `entries` as {"id", "event"}, the newest `limit` of them;
// `skipped` counts the older ones left out.
json event_objects(const std::vector<adapters::StreamEntry>& entries, std::size_t limit,
                   std::size_t* skipped = nullptr) {
    json events = json::array();
    for (const auto& e : entries) {
        for (std::size_t i = 0; i < e.events.size(); ++i) {
            auto parsed = json::parse(e.events[i], nullptr, false);
            if (parsed.is_discarded() || !parsed.is_object()) {
                parsed = json{{"type", "unreadable"}};
            }
            events.push_back(
                {{"id", e.id + "/" + std::to_string(i)}, {"event", std::move(parsed)}});
        }
    }
    if (skipped != nullptr) {
        *skipped = events.size() > limit ? events.size() - limit : 0;
    }
    if (events.size() > limit) {
        events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(limit));
    }
    return events;
}

bool valid_stream_id(std::string_view id) {
    const auto dash = id.find('-');
    const auto digits = [](std::string_view s) {
        return !s.empty() && s.size() <= 20 &&
               std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    return dash != std::string_view::npos && digits(id.substr(0, dash)) &&
           digits(id.substr(dash + 1));
}

}  // namespace

bool authorized(std::string_view authorization, std::string_view token) {
    if (token.empty()) {
        return false;
    }
    while (!authorization.empty() && authorization.back() == ' ') {
        authorization.remove_suffix(1);
    }
    if (starts_with_word(authorization, "bearer")) {
        return equal_constant_time(core::trim_blanks(authorization.substr(7)), token);
    }
    if (starts_with_word(authorization, "basic")) {
        const auto decoded = base64_decode(core::trim_blanks(authorization.substr(6)));
        if (!decoded) {
            return false;
        }
        const auto colon = decoded->find(':');
        if (colon == std::string::npos) {
            return false;
        }
        return equal_constant_time(std::string_view(*decoded).substr(colon + 1), token);
    }
    return false;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (pair.substr(0, eq) != name) {
            continue;
        }
        const auto raw = eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
        std::string out;
        for (std::size_t i = 0; i < raw.size(); ++i) {
            if (raw[i] == '+') {
                out += ' ';
            } else if (raw[i] == '%') {
                if (i + 2 >= raw.size() + 0 || hex_value(raw[i + 1]) < 0 ||
                    hex_value(raw[i + 2]) < 0) {
                    return std::nullopt;
                }
                out += static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
                i += 2;
            } else {
                out += raw[i];
            }
        }
        return out;
    }
    return std::nullopt;
}

std::string bracketed_listen(std::string_view listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string_view::npos || listen.front() == '[' ||
        listen.substr(0, colon).find(':') == std::string_view::npos) {
        return std::string(listen);
    }
    return "[" + std::string(listen.substr(0, colon)) + "]" + std::string(listen.substr(colon));
}

bool is_loopback_listen(std::string_view listen) {
    const auto colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
        return false;
    }
    auto host = listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    static const auto v4 = core::parse_network("127.0.0.0/8");
    static const auto v6 = core::parse_network("::1");
    if (host.find('/') != std::string_view::npos || !core::parse_network(host)) {
        return false;
    }
    return v4->contains(host) || v6->contains(host);
}

std::string bucket_label(std::string_view label) {
    if (label.size() < 8) {
        return std::string(label);
    }
    std::string out = std::string(label.substr(0, 4)) + "-" + std::string(label.substr(4, 2)) +
                      "-" + std::string(label.substr(6, 2));
    if (label.size() >= 10) {
        out += " " + std::string(label.substr(8, 2)) + ":00";
    }
    return out;
}

Dashboard::Dashboard(DashboardDeps deps, DashboardAssets assets)
    : deps_(std::move(deps)), assets_(std::move(assets)) {}

HttpResponse Dashboard::handle(const HttpRequest& request) const {
    HttpResponse r;
    if (!deps_.policy->web.token.empty() &&
        !authorized(request.authorization, deps_.policy->web.token)) {
        r = error_response(401,
                           "authentication required: a Bearer token, or Basic with the "
                           "token as password");
        r.headers.emplace_back("WWW-Authenticate", "Basic realm=\"staffel\", charset=\"UTF-8\"");
    } else if (request.method != "GET") {
        r = error_response(405, "the dashboard is read-only: GET only");
        r.headers.emplace_back("Allow", "GET");
    } else if (request.path == "/" || request.path == "/index.html") {
        r = asset(assets_.html, "text/html; charset=utf-8");
    } else if (request.path == "/static/dashboard.js") {
        r = asset(assets_.js, "text/javascript; charset=utf-8");
    } else if (request.path == "/static/dashboard.css") {
        r = asset(assets_.css, "text/css; charset=utf-8");
    } else if (request.path == "/static/chart.min.js") {
        r = asset(assets_.chart_js, "text/javascript; charset=utf-8");
    } else if (request.path.starts_with("/api/")) {
        r = api(std::string_view(request.path).substr(5), request.query);
    } else {
        r = error_response(404, "no such page");
    }
    security_headers(r);
    return r;
}

HttpResponse Dashboard::api(std::string_view path, std::string_view query) const {
    const auto& policy = *deps_.policy;
    auto& reads = *deps_.reads;
    try {
        const auto now = deps_.now();
        if (path == "overview") {
            const auto b = buckets_of(policy, query, now);
            const std::array dims{Dimension::Outcome, Dimension::Stream, Dimension::Route};
            const auto data = read_dimensions(reads, policy, b, dims);
            const auto& outcome = data[0];
            json out = period_json(b);
            out["complaint_limit"] = kComplaintLimit;
            const auto total = stats_row("(total)", totals_of(outcome.sum));
            out["total"] = stats_row_json(total);
            out["outcomes"] = {{"accepted", total.messages},
                               {"held", total.held},
                               {"refused", total.refused},
                               {"deferred", total.deferred}};
            std::map<std::string, std::pair<std::int64_t, std::int64_t>> split{
                {"in-house", {0, 0}}, {"esp", {0, 0}}, {"none", {0, 0}}};
            for (const auto& [value, counters] : data[2].sum) {
                std::string kind = "other";
                if (value == "none") {
                    kind = "none";
                }
                for (const auto& route : policy.routing.routes) {
                    if (route.name == value) {
                        kind = kind_name(route.kind);
                    }
                }
                split[kind].first += counter(counters, "messages");
                split[kind].second += counter(counters, "recipients");
            }
            out["split"] = json::array();
            for (const char* kind : {"in-house", "esp", "none", "other"}) {
                const auto it = split.find(kind);
                if (it != split.end()) {
                    out["split"].push_back({{"kind", kind},
                                            {"messages", it->second.first},
                                            {"recipients", it->second.second}});
                }
            }
            out["streams"] = json::array();
            for (const auto& row : sorted_rows(data[1].sum)) {
                out["streams"].push_back(stats_row_json(row));
            }
            const auto refused = [](const Counters& c) { return sum_prefix(c, "refused:"); };
            const auto deferred = [](const Counters& c) { return sum_prefix(c, "deferred:"); };
            out["series"] = {
                {"accepted",
                 series_of(outcome, [](const Counters& c) { return counter(c, "messages"); })},
                {"refused", series_of(outcome, refused)},
                {"held", series_of(outcome, [](const Counters& c) { return counter(c, "held"); })},
                {"deferred", series_of(outcome, deferred)},
                {"bounces", series_of(outcome,
                                      [](const Counters& c) {
                                          return counter(c, "bounce_hard") +
                                                 counter(c, "bounce_soft");
                                      })},
                {"complaints",
                 series_of(outcome, [](const Counters& c) { return counter(c, "complaint"); })}};
            return json_response(200, out);
        }
        if (path == "senders" || path == "tags") {
            const auto b = buckets_of(policy, query, now);
            Dimension d = Dimension::Tag;
            std::string by = "tag";
            if (path == "senders") {
                by = query_param(query, "by").value_or("sender_domain");
                if (by != "sender_domain" && by != "sender") {
                    throw BadRequest{"by: expected sender_domain or sender"};
                }
                d = by == "sender" ? Dimension::Sender : Dimension::SenderDomain;
            }
            const std::array dims{d};
            const auto data = read_dimensions(reads, policy, b, dims);
            auto out =
                table_json(b, data[0], number_param(query, "top", 20, kMaxTop), kSeriesValues);
            out["by"] = by;
            return json_response(200, out);
        }
        if (path == "routes") {
            const auto b = buckets_of(policy, query, now);
            const std::array dims{Dimension::Route};
            const auto data = read_dimensions(reads, policy, b, dims);
            const auto down = must(reads.routes_down());
            json out = period_json(b);
            out["routes"] = json::array();
            const auto route_json = [&](const std::string& name, const char* kind,
                                        const std::string& fallback,
                                        const std::string& bounce_domain, bool configured) {
                const auto it = data[0].sum.find(name);
                const Counters none;
                const auto& c = it == data[0].sum.end() ? none : it->second;
                return json{
                    {"name", name},
                    {"kind", kind},
                    {"configured", configured},
                    {"status", down.count(name) > 0 ? "down" : "up"},
                    {"fallback", fallback},
                    {"bounce_domain", bounce_domain},
                    {"messages", counter(c, "messages")},
                    {"recipients", counter(c, "recipients")},
                    {"fallback_taken", counter(c, "fallback")},
                    {"series",
                     series_of(
                         data[0], [](const Counters& x) { return counter(x, "messages"); }, name)}};
            };
            std::set<std::string> listed;
            for (const auto& route : policy.routing.routes) {
                out["routes"].push_back(route_json(route.name, kind_name(route.kind),
                                                   route.fallback, route.bounce_domain, true));
                listed.insert(route.name);
            }
            // Routes a former policy (or another node's) carried mail by.
            for (const auto& [value, counters] : data[0].sum) {
                if (value != "none" && listed.insert(value).second) {
                    out["routes"].push_back(route_json(value, "unknown", "", "", false));
                }
            }
            const auto it = data[0].sum.find("none");
            const Counters none;
            const auto& c = it == data[0].sum.end() ? none : it->second;
            out["unrouted"] = {{"messages", counter(c, "messages")},
                               {"recipients", counter(c, "recipients")}};
            return json_response(200, out);
        }
        if (path == "quota") {
            const auto key = query_param(query, "key");
            if (!key || key->empty() || key->size() > 320) {
                throw BadRequest{"key: expected a sender address, domain, SASL user or IP"};
            }
            const auto planned = core::counters_for(
                policy.quotas, *policy.general.time_zone, policy.redis.prefix, *key, now,
                core::stream_names(policy.routing.streams, policy.routing.default_stream));
            std::vector<core::CounterCharge> charges;
            for (const auto& p : planned) {
                charges.push_back(p.charge);
            }
            std::vector<core::CounterState> states;
            if (!charges.empty()) {
                states = must(deps_.counters->read(charges));
            }
            json out{{"key", *key}, {"limits", json::array()}};
            for (std::size_t i = 0; i < planned.size() && i < states.size(); ++i) {
                const auto& p = planned[i];
                const auto& s = states[i];
                std::int64_t resets = p.resets_at;
                if (p.limit->window == core::QuotaWindow::Rolling) {
                    resets = s.used == 0
                                 ? 0
                                 : (s.now_us + s.used * p.charge.interval_us + 999999) / 1000000;
                }
                out["limits"].push_back(
                    {{"name", p.limit->name},
                     {"keyed_on", std::string(core::to_string(p.limit->key))},
                     {"key", p.identity},
                     {"used", s.used},
                     {"limit", p.effective_limit},
                     {"action", std::string(core::to_string(p.limit->action))},
                     {"window", p.limit->window == core::QuotaWindow::Rolling
                                    ? "rolling " + core::format_duration(p.limit->limit.per)
                                    : core::format_duration(p.limit->limit.per)},
                     {"resets", rfc3339_or_empty(resets)}});
            }
            return json_response(200, out);
        }
        if (path == "suppression") {
            const auto census = deps_.census();
            json by_reason = json::object();
            for (const auto& [reason, n] : census.by_reason) {
                by_reason[reason] = n;
            }
            // Newest first. Only events that name one of these words are
            // parsed: the many message events between them cost a search.
            json recent = json::array();
            const auto entries = must(reads.latest_events(kRecentEntries));
            for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
                for (std::size_t i = e->events.size(); i-- > 0 && recent.size() < kRecentAdditions;) {
                    const auto& text = e->events[i];
                    if (text.find("bounce.") == std::string::npos &&
                        text.find("complaint") == std::string::npos &&
                        text.find("unsubscribe") == std::string::npos) {
                        continue;
                    }
                    auto parsed = json::parse(text, nullptr, false);
                    if (parsed.is_discarded() || !parsed.is_object()) {
                        continue;
                    }
                    const auto type = parsed.value("type", std::string());
                    if (type == "bounce.hard" || type == "bounce.soft" || type == "complaint" ||
                        type == "unsubscribe") {
                        recent.push_back(
                            {{"id", e->id + "/" + std::to_string(i)}, {"event", std::move(parsed)}});
                    }
                }
            }
            json out{{"census",
                      {{"at", census.at > 0 ? json(rfc3339_utc(census.at)) : json(nullptr)},
                       {"running", census.running},
                       {"total", census.total},
                       {"scoped", census.scoped},
                       {"undecoded", census.undecoded},
                       {"error", census.error},
                       {"by_reason", by_reason}}},
                     {"recent", std::move(recent)},
                     {"hashed", !policy.suppression.hash_secret.empty()},
                     {"enabled", policy.suppression.enabled}};
            return json_response(200, out);
        }
        if (path == "suppression/lookup") {
            const auto address = query_param(query, "address");
            if (!address || address->empty()) {
                throw BadRequest{"address: expected an email address"};
            }
            auto normal =
                core::normalise_address(*address, {policy.suppression.fold_local_part}, deps_.idna);
            if (!normal) {
                throw BadRequest{"address: " + normal.error().message};
            }
            // The global entry, and one per sender domain the policy signs
            // for or the request names: fixed keys, no SCAN.
            std::vector<std::string> scopes{""};
            if (auto d = query_param(query, "sender_domain"); d && !d->empty()) {
                auto scope = core::normalise_domain(*d, deps_.idna);
                if (!scope) {
                    throw BadRequest{"sender_domain: " + scope.error().message};
                }
                scopes.push_back(*scope);
            }
            for (const auto& k : policy.dkim.keys) {
                if (std::find(scopes.begin(), scopes.end(), k.domain) == scopes.end()) {
                    scopes.push_back(k.domain);
                }
            }
            const core::SuppressionKeys keys(policy.redis.prefix, policy.suppression.hash_secret,
                                             deps_.sha);
            std::vector<std::string> store_keys;
            for (const auto& s : scopes) {
                store_keys.push_back(keys.entry_key(s, *normal));
            }
            const auto found = must(deps_.suppression->lookup(store_keys));
            json out{{"address", *normal},
                     {"hashed", keys.hashed()},
                     {"checked_scopes", json::array()},
                     {"entries", json::array()}};
            for (std::size_t i = 0; i < scopes.size(); ++i) {
                out["checked_scopes"].push_back(scopes[i]);
                if (i >= found.size() || !found[i]) {
                    continue;
                }
                const auto& e = *found[i];
                out["entries"].push_back(
                    {{"scope", scopes[i]},
                     {"reason", std::string(core::reason_name(e.reason))},
                     {"streams", e.streams},
                     {"added", rfc3339_or_empty(e.added_at)},
                     {"expires",
                      e.expires_at > 0 ? json(rfc3339_utc(e.expires_at)) : json(nullptr)},
                     {"source", e.source}});
            }
            return json_response(200, out);
        }
        if (path == "events") {
            const auto count = number_param(query, "count", 100, kMaxEvents);
            const auto after = query_param(query, "after");
            if (after && !valid_stream_id(*after)) {
                throw BadRequest{"after: expected a stream id such as 1733318400000-0"};
            }
            // Each entry is one flush's batch of events: at most `count`
            // entries hold at least `count` events, and kEventEntries bound
            // what one request reads however busy the nodes are.
            const auto n = std::min(count, kEventEntries);
            const auto entries =
                after ? must(reads.events_after(*after, n)) : must(reads.latest_events(n));
            std::string last = after.value_or("0-0");
            if (!entries.empty()) {
                last = entries.back().id;
            }
            std::size_t skipped = 0;
            auto events = event_objects(entries, count, &skipped);
            return json_response(
                200, json{{"last", last}, {"skipped", skipped}, {"events", std::move(events)}});
        }
        if (path == "info") {
            return json_response(200, json{{"version", deps_.version},
                                           {"node", deps_.node},
                                           {"auth", !policy.web.token.empty()},
                                           {"prefix", policy.redis.prefix},
                                           {"stats", policy.stats.enabled},
                                           {"events", policy.events.enabled},
                                           {"time", rfc3339_utc(now)}});
        }
        return error_response(404, "no such API: /api/" + std::string(path));
    } catch (const BadRequest& e) {
        return error_response(400, e.message);
    } catch (const Unavailable& e) {
        return error_response(503, e.message);
    }
}

}  // namespace staffel::app
