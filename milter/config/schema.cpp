// schema.cpp - see schema.hpp. Rows are grouped by section.
#include "config/schema.hpp"

#include <algorithm>
#include <charconv>
#include <utility>

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
    // [redis]
    rows.push_back(
        {"redis", "address", core::kRedisAddressHint, "\"127.0.0.1:6379\"",
         string_with(
             [](Policy & p) -> auto& { return p.redis.address; }, core::parse_redis_address)});
    rows.push_back({"redis", "connect_timeout",
                    "a duration from \"1ms\" to \"60s\", e.g. \"250ms\"", "\"250ms\"",
                    duration_in(
                        [](Policy & p) -> auto& { return p.redis.connect_timeout; }, 1ms, 60s)});
    // [log]
    rows.push_back({"log", "level",
                    "one of \"debug\", \"info\", \"notice\", \"warning\", \"error\"", "\"info\"",
                    string_with(
                        [](Policy & p) -> auto& { return p.log.level; }, log_level)});
    return rows;
}

}  // namespace

const std::vector<std::string_view>& known_sections() {
    static const std::vector<std::string_view> sections{"milter", "redis", "log"};
    return sections;
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
