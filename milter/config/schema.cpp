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
#include "config/zone.hpp"
#include "core/dkim/canon.hpp"
#include "core/dkim/signer.hpp"
#include "core/headers.hpp"
#include "core/net.hpp"
#include "core/units.hpp"

namespace staffel::config {
namespace {

using core::Policy;
using Setter = std::function<std::optional<std::string>(const toml::node&, Policy&)>;

std::string type_name(const toml::node& n) {
    switch (n.type()) {
        case toml::node_type::string:
            return "a string";
        case toml::node_type::integer:
            return "an integer";
        case toml::node_type::floating_point:
            return "a floating-point number";
        case toml::node_type::boolean:
            return "a boolean";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date/time";
        default:
            return "nothing";
    }
}

// A string value, parsed by `parse` (returning a Result), stored where `get` says.
template <typename Get, typename Parse>
Setter string_with(Get get, Parse parse) {
    return [get, parse](const toml::node& n, Policy& p) -> std::optional<std::string> {
        const auto* s = n.as_string();
        if (s == nullptr) {
            return "got " + type_name(n);
        }
        auto parsed = parse(std::string_view(s->get()));
        if (!parsed) {
            return parsed.error().message;
        }
        get(p) = std::move(parsed).value();
        return std::nullopt;
    };
}

template <typename Get>
Setter duration_in(Get get, std::chrono::milliseconds min, std::chrono::milliseconds max) {
    return string_with(get, [min, max](std::string_view text) -> core::Result<core::Milliseconds> {
        auto d = core::parse_duration(text);
        if (d && (*d < min || *d > max)) {
            return core::make_error("duration \"" + std::string(text) + "\" is out of range");
        }
        return d;
    });
}

// A duration stored in whole seconds.
template <typename Get>
Setter seconds_in(Get get, std::chrono::milliseconds min, std::chrono::milliseconds max) {
    return string_with(
        get, [min, max](std::string_view text) -> core::Result<std::chrono::seconds> {
            auto d = core::parse_duration(text);
            if (!d) {
                return d.error();
            }
            if (*d < min || *d > max) {
                return core::make_error("duration \"" + std::string(text) + "\" is out of range");
            }
            return std::chrono::duration_cast<std::chrono::seconds>(*d);
        });
}

template <typename Get>
Setter integer_in(Get get, long long min, long long max) {
    return [get, min, max](const toml::node& n, Policy& p) -> std::optional<std::string> {
        const auto* i = n.as_integer();
        if (i == nullptr) {
            return "got " + type_name(n);
        }
        const long long v = i->get();
        if (v < min || v > max) {
            return "value " + std::to_string(v) + " is out of range";
        }
        get(p) = static_cast<std::remove_reference_t<decltype(get(p))>>(v);
        return std::nullopt;
    };
}

core::Result<std::optional<std::string>> account_name(std::string_view text) {
    const bool ok =
        !text.empty() && text.size() <= 32 && std::all_of(text.begin(), text.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                   c == '_' || c == '-' || c == '.';
        });
    if (!ok) {
        return core::make_error("bad account name \"" + std::string(text) + "\"");
    }
    return std::optional<std::string>(std::string(text));
}

core::Result<unsigned> file_mode(std::string_view text) {
    unsigned mode = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.size() < 3 || text.size() > 4 || ec != std::errc{} ||
        ptr != text.data() + text.size() || mode > 0777) {
        return core::make_error("bad mode \"" + std::string(text) + "\"");
    }
    return mode;
}

core::Result<core::LogLevel> log_level(std::string_view text) {
    for (auto level : {core::LogLevel::Debug, core::LogLevel::Info, core::LogLevel::Notice,
                       core::LogLevel::Warning, core::LogLevel::Error}) {
        if (core::to_string(level) == text) {
            return level;
        }
    }
    return core::make_error("unknown log level \"" + std::string(text) + "\"");
}

Setter boolean_in(std::function<bool&(Policy&)> get) {
    return [get](const toml::node& n, Policy& p) -> std::optional<std::string> {
        const auto* b = n.as_boolean();
        if (b == nullptr) {
            return "got " + type_name(n);
        }
        get(p) = b->get();
        return std::nullopt;
    };
}

// An array of strings, each parsed by `parse`; replaces the default list.
template <typename T, typename Parse>
Setter array_of(std::function<std::vector<T>&(Policy&)> get, Parse parse, bool allow_empty) {
    return [get, parse, allow_empty](const toml::node& n, Policy& p) -> std::optional<std::string> {
        const auto* a = n.as_array();
        if (a == nullptr) {
            return "got " + type_name(n);
        }
        if (a->empty() && !allow_empty) {
            return std::string("the list is empty");
        }
        std::vector<T> out;
        for (const auto& item : *a) {
            const auto* s = item.as_string();
            if (s == nullptr) {
                return "got an array holding " + type_name(item);
            }
            auto parsed = parse(std::string_view(s->get()));
            if (!parsed) {
                return parsed.error().message;
            }
            out.push_back(std::move(parsed).value());
        }
        get(p) = std::move(out);
        return std::nullopt;
    };
}

bool ldh_labels(std::string_view text, bool allow_underscore) {
    if (text.empty() || text.size() > 253 || text.front() == '.' || text.back() == '.' ||
        text.find("..") != std::string_view::npos) {
        return false;
    }
    std::size_t label = 0;
    for (char c : text) {
        if (c == '.') {
            label = 0;
            continue;
        }
        if (++label > 63) {
            return false;
        }
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '-' || (allow_underscore && c == '_');
        if (!ok) {
            return false;
        }
    }
    return true;
}

core::Result<std::string> domain_name(std::string_view text) {
    if (!ldh_labels(text, false)) {
        return core::make_error("bad domain \"" + std::string(text) +
                                "\" (letters, digits, '-' and dots; IDNs in A-label form)");
    }
    return core::ascii_lower(text);
}

// "example.com", "*.example.com" or "*".
core::Result<std::string> domain_pattern(std::string_view text) {
    if (text == "*") {
        return std::string(text);
    }
    if (text.starts_with("*.")) {
        auto d = domain_name(text.substr(2));
        if (!d) {
            return d;
        }
        return "*." + *d;
    }
    return domain_name(text);
}

core::Result<std::string> selector_name(std::string_view text) {
    if (!ldh_labels(text, true)) {
        return core::make_error("bad selector \"" + std::string(text) +
                                "\" (letters, digits, '-', '_' and dots)");
    }
    return std::string(text);
}

core::Result<std::string> header_name(std::string_view text) {
    const bool ok = !text.empty() && text.size() <= 100 &&
                    std::all_of(text.begin(), text.end(),
                                [](char c) { return c > 0x20 && c < 0x7f && c != ':'; });
    if (!ok) {
        return core::make_error("bad header field name \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

core::Result<std::string> nonempty(std::string_view text) {
    if (text.empty()) {
        return core::make_error("empty string");
    }
    return std::string(text);
}

core::Result<std::string> sasl_pattern(std::string_view text) {
    if (text.empty() || text.size() > 256 ||
        std::any_of(text.begin(), text.end(), [](char c) { return c <= 0x20 || c == 0x7f; })) {
        return core::make_error("bad SASL user pattern \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

core::Result<core::DkimAuthenticated> authenticated_mode(std::string_view text) {
    if (text == "own-domain") {
        return core::DkimAuthenticated::OwnDomain;
    }
    if (text == "any") {
        return core::DkimAuthenticated::Any;
    }
    if (text == "none") {
        return core::DkimAuthenticated::None;
    }
    return core::make_error("unknown mode \"" + std::string(text) + "\"");
}

core::Result<core::StoreErrorMode> store_error_mode(std::string_view text) {
    if (text == "tempfail") {
        return core::StoreErrorMode::Tempfail;
    }
    if (text == "accept") {
        return core::StoreErrorMode::Accept;
    }
    return core::make_error("unknown mode \"" + std::string(text) + "\"");
}

core::Result<std::string> key_prefix(std::string_view text) {
    const bool ok = text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
                        return c > 0x20 && c < 0x7f && c != '{' && c != '}';
                    });
    if (!ok) {
        return core::make_error("bad key prefix \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

// A secret in a file of its own: absolute path, owner-only, one line.
std::optional<std::string> read_secret(const std::string& path, std::string& out,
                                       std::string_view what = "password file",
                                       bool several_lines = false) {
    const std::string label(what);
    if (path.empty() || path.front() != '/') {
        return "\"" + path + "\" is not an absolute path";
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        return "cannot open " + label + " " + path + ": " + std::strerror(errno);
    }
    struct stat st {};
    std::optional<std::string> why;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = label + " " + path + " is not a regular file";
    } else if ((st.st_mode & 077) != 0) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        why = label + " " + path + " has mode " + mode +
              "; group and others must not have access (chmod 0600)";
    } else if (st.st_size > 4096) {
        why = label + " " + path + " is larger than 4 KiB";
    } else {
        char buf[4097];
        const ssize_t n = ::read(fd, buf, sizeof buf - 1);
        if (n < 0) {
            why = "cannot read " + label + " " + path + ": " + std::strerror(errno);
        } else {
            std::string text(buf, static_cast<std::size_t>(n));
            while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
                text.pop_back();
            }
            if (text.empty() ||
                (!several_lines && text.find_first_of("\r\n") != std::string::npos)) {
                why = label + " " + path + " must hold exactly one non-empty line";
            } else {
                out = std::move(text);
            }
        }
    }
    ::close(fd);
    return why;
}

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

core::QuotaLimit& last_quota(Policy& p) {
    return p.quotas.back();
}

core::DkimKeySpec& last_key(Policy& p) {
    return p.dkim.keys.back();
}
core::DkimSenderRule& last_sender(Policy& p) {
    return p.dkim.senders.back();
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
                    string_with(
                        [](Policy & p) -> auto& { return p.milter.max_header_bytes; },
                        [](std::string_view text) -> core::Result<std::size_t> {
                            auto v = core::parse_size(text);
                            if (v && (*v < 1024 || *v > (64u << 20))) {
                                return core::make_error("size \"" + std::string(text) +
                                                        "\" is out of range");
                            }
                            if (!v) {
                                return v.error();
                            }
                            return static_cast<std::size_t>(*v);
                        })});
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
    rows.push_back(
        {"redis", "on_store_error", "one of \"tempfail\", \"accept\"", "\"tempfail\"",
         string_with(
             [](Policy & p) -> auto& { return p.redis.on_store_error; }, store_error_mode)});
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
    // [suppression]
    rows.push_back({"suppression", "enabled", "true or false", "true (once the table exists)",
                    boolean_in([](Policy& p) -> bool& { return p.suppression.enabled; })});
    rows.push_back({"suppression", "fold_local_part", "true or false", "true",
                    boolean_in([](Policy& p) -> bool& { return p.suppression.fold_local_part; })});
    rows.push_back({"suppression", "hash_secret_file",
                    "the absolute path of a file (mode 0600 or stricter) holding the secret",
                    "(addresses stored in clear)",
                    [](const toml::node& n, Policy& p) -> std::optional<std::string> {
                        const auto* s = n.as_string();
                        if (s == nullptr) {
                            return "got " + type_name(n);
                        }
                        p.suppression.hash_secret_file = s->get();
                        return read_secret(p.suppression.hash_secret_file,
                                           p.suppression.hash_secret, "secret file");
                    }});
    rows.push_back({"suppression", "unsubscribe_streams",
                    "an array of stream names, e.g. [\"bulk\"]", "[\"bulk\"]",
                    array_of<std::string>(
                        [](Policy & p) -> auto& { return p.suppression.unsubscribe_streams; },
                        quota_name, false)});
    rows.push_back(
        {"suppression", "soft_bounce_limit", "an integer from 1 to 1000", "5",
         integer_in(
             [](Policy & p) -> auto& { return p.suppression.soft_bounce_limit; }, 1, 1000)});
    rows.push_back(
        {"suppression", "soft_bounce_window", "a duration from \"1h\" to \"365d\", e.g. \"7d\"",
         "\"7d\"",
         seconds_in(
             [](Policy & p) -> auto& { return p.suppression.soft_bounce_window; }, 1h, 24h * 365)});
    rows.push_back({"suppression", "soft_bounce_expires",
                    "a duration up to \"3650d\"; \"0\" = never", "\"30d\"",
                    seconds_in(
                        [](Policy & p) -> auto& { return p.suppression.soft_bounce_expires; }, 0h,
                        24h * 3650)});
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
         "one of \"sender\", \"sender_domain\", \"sasl_user\", \"client_ip\", \"stream\"",
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
        {"quota", "domains", "an array of sender domains: \"example.com\", \"*.example.com\"",
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
        "general", "milter",      "redis",   "log",    "dkim",
        "quota",   "suppression", "routing", "stream", "route"};
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
