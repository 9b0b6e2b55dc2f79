// schema_stats.cpp - the rows of [stats], [events], [metrics] and [log]
// format (see schema.hpp).
#include "config/schema_values.hpp"
#include "core/endpoints.hpp"
#include "core/net.hpp"
#include "core/route/route.hpp"

namespace staffel::config {
namespace {

using namespace values;  // NOLINT(google-build-using-namespace)

core::Result<core::LogFormat> log_format(std::string_view text) {
    if (text == "text") {
        return core::LogFormat::Text;
    }
    if (text == "json") {
        return core::LogFormat::Json;
    }
    return core::make_error("unknown log format \"" + std::string(text) + "\"");
}

core::Result<std::string> feedback_id_template(std::string_view text) {
    if (text.empty() || text.size() > 256) {
        return core::make_error("a Feedback-ID template must hold 1 to 256 characters");
    }
    if (auto r = core::check_template(text); !r) {
        return r.error();
    }
    return std::string(text);
}

// HOST:PORT on a literal IP address (the metrics endpoint and the
// dashboard bind to it); an IPv6 HOST with or without brackets:
// "[::1]:8025", "::1:8025" (the last colon starts the port).
core::Result<std::string> listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
        return core::make_error("\"" + std::string(text) + "\" is not HOST:PORT");
    }
    auto host = text.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    if (host.find('/') != std::string_view::npos || !core::parse_network(host)) {
        return core::make_error("\"" + std::string(host) +
                                "\" is not an IP address (a host name is not accepted)");
    }
    const auto port = text.substr(colon + 1);
    unsigned value = 0;
    for (const char c : port) {
        if (c < '0' || c > '9' || value > 65535) {
            return core::make_error("bad port \"" + std::string(port) + "\"");
        }
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) {
        return core::make_error("bad port \"" + std::string(port) + "\"");
    }
    return std::string(text);
}

}  // namespace

void add_stats_rows(std::vector<FieldSpec>& rows) {
    using namespace std::chrono_literals;
    rows.push_back({"log", "format", "one of \"text\", \"json\"", "\"text\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.log.format; }, log_format)});
    // [stats]
    rows.push_back({"stats", "enabled", "true or false", "false",
                    boolean_in([](Policy& p) -> bool& { return p.stats.enabled; })});
    rows.push_back({"stats", "flush_interval", "a duration from \"100ms\" to \"1s\"", "\"1s\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.stats.flush_interval; }, 100ms, 1s)});
    rows.push_back(
        {"stats", "hourly_retention", "a duration from \"1d\" to \"400d\"", "\"35d\"",
         seconds_in(
             [](Policy & p) -> auto& { return p.stats.hourly_retention; }, 24h, 24h * 400)});
    rows.push_back(
        {"stats", "daily_retention", "a duration from \"1d\" to \"3650d\"", "\"400d\"",
         seconds_in(
             [](Policy & p) -> auto& { return p.stats.daily_retention; }, 24h, 24h * 3650)});
    rows.push_back({"stats", "max_values", "an integer from 10 to 1000000", "1000",
                    integer_in(
                        [](Policy & p) -> auto& { return p.stats.max_values; }, 10, 1000000)});
    rows.push_back({"stats", "max_buffered", "an integer from 1000 to 10000000", "100000",
                    integer_in(
                        [](Policy & p) -> auto& { return p.stats.max_buffered; }, 1000, 10000000)});
    rows.push_back(
        {"stats", "tag_headers", "an array of header field names", "[]",
         array_of<std::string>(
             [](Policy & p) -> auto& { return p.stats.tag_headers; }, header_name, true)});
    rows.push_back({"stats", "strip_tag_headers", "true or false", "false",
                    boolean_in([](Policy& p) -> bool& { return p.stats.strip_tag_headers; })});
    rows.push_back({"stats", "tag_max_length", "an integer from 1 to 256", "64",
                    integer_in(
                        [](Policy & p) -> auto& { return p.stats.tag_max_length; }, 1, 256)});
    rows.push_back(
        {"stats", "feedback_id",
         "a header template, e.g. \"{tag}:{stream}:{sender_domain}:staffel\"",
         "(no Feedback-ID added)",
         string_with(
             [](Policy & p) -> auto& { return p.stats.feedback_id; }, feedback_id_template)});
    // [events]
    rows.push_back({"events", "enabled", "true or false", "false",
                    boolean_in([](Policy& p) -> bool& { return p.events.enabled; })});
    rows.push_back({"events", "max_length", "an integer from 100 to 100000000", "100000",
                    integer_in(
                        [](Policy & p) -> auto& { return p.events.max_length; }, 100, 100000000)});
    rows.push_back({"events", "max_buffered", "an integer from 100 to 1000000", "10000",
                    integer_in(
                        [](Policy & p) -> auto& { return p.events.max_buffered; }, 100, 1000000)});
    // [metrics]
    rows.push_back({"metrics", "listen", "HOST:PORT, e.g. \"127.0.0.1:9325\"", "(off)",
                    string_with(
                        [](Policy & p) -> auto& { return p.metrics.listen; }, listen_address)});
    // [web]
    rows.push_back({"web", "listen", "HOST:PORT on an IP address, e.g. \"127.0.0.1:8025\"",
                    "\"127.0.0.1:8025\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.web.listen; }, listen_address)});
    rows.push_back({"web", "token_file",
                    "the absolute path of a file (mode 0600 or stricter) holding the token",
                    "(no authentication: loopback addresses only)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        p.web.token_file = s->get();
                        auto why = read_secret(p.web.token_file, p.web.token, "token file");
                        if (!why && p.web.token.size() < 16) {
                            return "the token in " + p.web.token_file +
                                   " is shorter than 16 characters";
                        }
                        return why;
                    }});
    rows.push_back(
        {"web", "census_interval", "a duration from \"10s\" to \"1d\"", "\"5m\"",
         seconds_in([](Policy & p) -> auto& { return p.web.census_interval; }, 10s, 24h)});
}

}  // namespace staffel::config
