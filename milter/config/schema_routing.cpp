// schema_routing.cpp - the rows of [routing], [[stream]] and [[route]] (see schema.hpp).
#include "config/quota_values.hpp"
#include "config/schema_values.hpp"

namespace staffel::config {
namespace {

using namespace values;  // NOLINT(google-build-using-namespace)

core::StreamRule& last_stream(Policy& p) {
    return p.routing.streams.back();
}
core::Route& last_route(Policy& p) {
    return p.routing.routes.back();
}

// "a@example.com", "*@example.com", "example.com" or "*.example.com".
core::Result<std::string> sender_pattern(std::string_view text) {
    const auto at = text.rfind('@');
    if (at == std::string_view::npos) {
        return domain_pattern(text);
    }
    auto d = domain_name(text.substr(at + 1));
    if (at == 0 || !d) {
        return core::make_error("bad sender pattern \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

}  // namespace

void add_routing_rows(std::vector<FieldSpec>& rows) {
    using namespace std::chrono_literals;
    // [routing], [[stream]], [[route]]
    rows.push_back({"routing", "default_stream", "a stream name", "\"transactional\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.routing.default_stream; }, quota_name)});
    rows.push_back({"routing", "default_route", "the name of a [[route]]", "(none: no rewriting)",
                    string_with(
                        [](Policy & p) -> auto& { return p.routing.default_route; }, quota_name)});
    rows.push_back(
        {"routing", "spf_domains", "an array of sender domains: \"example.com\", \"*.example.com\"",
         "[] (no SPF pre-flight)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return p.routing.spf_domains; }, domain_pattern, true)});
    rows.push_back({"routing", "spf_timeout", "a duration from \"10ms\" to \"30s\"", "\"2s\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.routing.spf_timeout; }, 10ms, 30s)});
    rows.push_back({"routing", "dmarc_alignment", "one of \"relaxed\", \"strict\", \"off\"",
                    "\"relaxed\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.routing.dmarc_alignment; },
                        [](std::string_view t) -> core::Result<core::DmarcAlignment> {
                            if (t == "relaxed") {
                                return core::DmarcAlignment::Relaxed;
                            }
                            if (t == "strict") {
                                return core::DmarcAlignment::Strict;
                            }
                            if (t == "off") {
                                return core::DmarcAlignment::Off;
                            }
                            return core::make_error("not a DMARC alignment mode");
                        })});
    rows.push_back({"route", "on_spf_fail", "\"report\", \"bounce_domain\" or \"route:NAME\"",
                    "\"report\"", [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        auto& r = last_route(p);
                        const std::string v = s->get();
                        if (v == "report") {
                            r.on_spf_fail = core::Route::SpfAction::Report;
                        } else if (v == "bounce_domain") {
                            r.on_spf_fail = core::Route::SpfAction::BounceDomain;
                        } else if (v.starts_with("route:") && quota_name(v.substr(6))) {
                            r.on_spf_fail = core::Route::SpfAction::SwitchRoute;
                            r.spf_switch_route = v.substr(6);
                        } else {
                            return "unknown action \"" + v + "\"";
                        }
                        return std::nullopt;
                    }});
    rows.push_back({"route", "helo", "a host name", "(none)",
                    string_with(
                        [](Policy & p) -> auto& { return last_route(p).helo; }, domain_name)});
    rows.push_back({"stream", "name", "letters, digits, '-', '_', '.' (up to 64)", "required",
                    string_with(
                        [](Policy & p) -> auto& { return last_stream(p).name; }, quota_name)});
    rows.push_back(
        {"stream", "sasl_users", "an array of SASL logins or \"*@DOMAIN\"", "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_stream(p).sasl_users; }, sasl_pattern, false)});
    rows.push_back(
        {"stream", "senders",
         "an array of envelope senders: \"a@example.com\", \"*@example.com\", \"example.com\", "
         "\"*.example.com\"",
         "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_stream(p).senders; }, sender_pattern, false)});
    rows.push_back({"stream", "networks", "an array of networks, e.g. [\"10.1.0.0/16\"]", "(any)",
                    array_of<core::Network>(
                        [](Policy & p) -> auto& { return last_stream(p).networks; },
                        core::parse_network, false)});
    rows.push_back(
        {"stream", "daemon_names",
         "an array of the MTA's {daemon_name} values, e.g. [\"submission\"]", "(any)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_stream(p).daemon_names; }, nonempty, false)});
    rows.push_back({"stream", "headers",
                    "an array of \"Name\" (present) or \"Name: glob\" (a value matching), e.g. "
                    "[\"Precedence: bulk\", \"List-Unsubscribe\"]",
                    "(any)",
                    array_of<core::HeaderCondition>(
                        [](Policy & p) -> auto& { return last_stream(p).headers; },
                        [](std::string_view text) -> core::Result<core::HeaderCondition> {
                            auto c = core::parse_header_condition(text);
                            if (!c) {
                                return core::make_error("bad header condition \"" +
                                                        std::string(text) + "\"");
                            }
                            return *c;
                        },
                        false)});
    rows.push_back(
        {"stream", "min_recipients", "an integer from 1 to 1000000", "(any)",
         integer_in(
             [](Policy & p) -> auto& { return last_stream(p).min_recipients; }, 1, 1000000)});
    rows.push_back(
        {"stream", "unsubscribe", "one of \"add\", \"refuse\", \"report\", \"off\"", "\"off\"",
         string_with(
             [](Policy & p) -> auto& { return last_stream(p).unsubscribe; },
             [](std::string_view t) -> core::Result<core::StreamRule::Unsubscribe> {
                 using U = core::StreamRule::Unsubscribe;
                 if (t == "add")
                     return U::Add;
                 if (t == "refuse")
                     return U::Refuse;
                 if (t == "report")
                     return U::Report;
                 if (t == "off")
                     return U::Off;
                 return core::make_error("unknown unsubscribe action \"" + std::string(t) + "\"");
             })});
    rows.push_back(
        {"stream", "unsubscribe_template",
         "a List-Unsubscribe value with an https URI, e.g. "
         "\"<https://example.com/u?c={header:X-Campaign-Id}>, <mailto:unsubscribe@example.com>\"",
         "required with unsubscribe = \"add\"",
         string_with(
             [](Policy & p) -> auto& { return last_stream(p).unsubscribe_template; },
             [](std::string_view t) -> core::Result<std::string> {
                 if (auto ok = core::check_template(t); !ok) {
                     return ok.error();
                 }
                 if (t.find("<https://") == std::string_view::npos) {
                     return core::make_error(
                         "one-click unsubscribe (RFC 8058) needs an <https://...> URI in "
                         "List-Unsubscribe");
                 }
                 return std::string(t);
             })});
    rows.push_back({"stream", "route", "the name of a [[route]]", "routing.default_route",
                    string_with(
                        [](Policy & p) -> auto& { return last_stream(p).route; }, quota_name)});
    rows.push_back({"route", "name", "letters, digits, '-', '_', '.' (up to 64)", "required",
                    string_with(
                        [](Policy & p) -> auto& { return last_route(p).name; }, quota_name)});
    rows.push_back(
        {"route", "bounce_domain", "a domain name", "required unless return_path = \"keep\"",
         string_with(
             [](Policy & p) -> auto& { return last_route(p).bounce_domain; }, domain_name)});
    rows.push_back(
        {"route", "return_path", "one of \"plain\", \"verp\", \"srs\", \"keep\"", "\"plain\"",
         string_with(
             [](Policy & p) -> auto& { return last_route(p).return_path; },
             [](std::string_view t) -> core::Result<core::ReturnPath> {
                 if (t == "plain")
                     return core::ReturnPath::Plain;
                 if (t == "verp")
                     return core::ReturnPath::Verp;
                 if (t == "srs")
                     return core::ReturnPath::Srs;
                 if (t == "keep")
                     return core::ReturnPath::Keep;
                 return core::make_error("unknown return path \"" + std::string(t) + "\"");
             })});
    rows.push_back(
        {"route", "return_local", "a local part (letters, digits, '-', '_', '.')", "\"bounces\"",
         string_with(
             [](Policy & p) -> auto& { return last_route(p).return_local; }, quota_name)});
    rows.push_back({"route", "add_headers",
                    "an array of \"Name: template\", e.g. [\"X-Campaign: {header:X-Campaign-Id}\"]",
                    "[]",
                    array_of<core::HeaderTemplate>(
                        [](Policy & p) -> auto& { return last_route(p).add_headers; },
                        [](std::string_view text) -> core::Result<core::HeaderTemplate> {
                            const auto colon = text.find(':');
                            auto name = header_name(text.substr(0, colon));
                            if (colon == std::string_view::npos || !name) {
                                return core::make_error("expected \"Name: template\", got \"" +
                                                        std::string(text) + "\"");
                            }
                            auto value = text.substr(colon + 1);
                            while (!value.empty() && value.front() == ' ') {
                                value.remove_prefix(1);
                            }
                            if (auto ok = core::check_template(value); !ok) {
                                return ok.error();
                            }
                            return core::HeaderTemplate{*name, std::string(value)};
                        },
                        true)});
    rows.push_back(
        {"route", "strip_headers", "an array of header field names", "[]",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_route(p).strip_headers; }, header_name, true)});
    rows.push_back(
        {"route", "dkim_keys", "an array of \"domain/selector\" of [[dkim.keys]]",
         "(any key the signing table allows)",
         array_of<std::string>(
             [](Policy & p) -> auto& { return last_route(p).dkim_keys; }, nonempty, true)});
    rows.push_back({"route", "egress_ips", "an array of IP addresses", "[]",
                    array_of<std::string>(
                        [](Policy & p) -> auto& { return last_route(p).egress_ips; },
                        [](std::string_view t) -> core::Result<std::string> {
                            auto n = core::parse_network(t);
                            if (!n || t.find('/') != std::string_view::npos) {
                                return core::make_error("bad IP address \"" + std::string(t) +
                                                        "\"");
                            }
                            return std::string(t);
                        },
                        true)});
    rows.push_back({"route", "srs_secret_file",
                    "the absolute path of a file (mode 0600 or stricter), one secret per line",
                    "required with return_path = \"srs\"",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        auto& r = last_route(p);
                        r.srs_secret_file = s->get();
                        std::string text;
                        if (auto why = read_secret(r.srs_secret_file, text, "secret file", true)) {
                            return why;
                        }
                        r.srs_secrets.clear();
                        std::size_t start = 0;
                        while (start < text.size()) {
                            auto end = text.find('\n', start);
                            if (end == std::string::npos) {
                                end = text.size();
                            }
                            auto line = text.substr(start, end - start);
                            if (!line.empty() && line.back() == '\r') {
                                line.pop_back();
                            }
                            if (!line.empty()) {
                                r.srs_secrets.push_back(std::move(line));
                            }
                            start = end + 1;
                        }
                        if (r.srs_secrets.empty()) {
                            return "secret file " + r.srs_secret_file + " holds no secret";
                        }
                        return std::nullopt;
                    }});
    rows.push_back({"route", "srs_max_age", "a duration from \"1d\" to \"1000d\"", "\"21d\"",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        auto d = core::parse_duration(s->get());
                        if (!d) {
                            return d.error().message;
                        }
                        const auto days = d->count() / 86400000;
                        if (d->count() % 86400000 != 0 || days < 1 || days > 1000) {
                            return "\"" + s->get() +
                                   "\" is not a whole number of days from 1 to 1000";
                        }
                        last_route(p).srs_max_age_days = static_cast<int>(days);
                        return std::nullopt;
                    }});
    rows.push_back({"route", "fallback", "the name of another [[route]]", "(none)",
                    string_with(
                        [](Policy & p) -> auto& { return last_route(p).fallback; }, quota_name)});
    rows.push_back({"route", "kind", "one of \"in-house\", \"esp\"", "\"in-house\"",
                    string_with(
                        [](Policy & p) -> auto& { return last_route(p).kind; },
                        [](std::string_view text) -> core::Result<core::Route::Kind> {
                            if (text == "in-house") {
                                return core::Route::Kind::InHouse;
                            }
                            if (text == "esp") {
                                return core::Route::Kind::Esp;
                            }
                            return core::make_error("unknown route kind \"" +
                                                    std::string(text) + "\"");
                        })});
}

}  // namespace staffel::config
