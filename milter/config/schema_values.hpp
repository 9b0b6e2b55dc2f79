// schema_values.hpp - the building blocks of the policy schema: setters
// for each kind of value (strings parsed by a function, durations,
// integers, booleans, arrays) and the parsers of common values (domain
// names and patterns, header names, secrets in files).
//
// Purpose: config/schema.cpp and the section files next to it
//   (schema_routing.cpp, schema_suppress.cpp) declare their rows with
//   these, so every key of a kind is read and refused the same way.
// Thread-safety: pure functions (read_secret reads a file).
// Errors: a setter returns the message for a value it refuses; the loader
//   adds file:line:column and the field name.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"
#include "core/dkim/signer.hpp"
#include "core/headers.hpp"
#include "core/net.hpp"
#include "core/units.hpp"

namespace staffel::config::values {

using core::Policy;
using Setter = std::function<std::optional<std::string>(const toml::node&, Policy&)>;

inline std::string type_name(const toml::node& n) {
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

// A size ("10MiB") from `min` to `max` bytes.
template <typename Get>
Setter size_in(Get get, std::uint64_t min, std::uint64_t max) {
    return string_with(get, [min, max](std::string_view text) -> core::Result<std::uint64_t> {
        auto v = core::parse_size(text);
        if (v && (*v < min || *v > max)) {
            return core::make_error("size \"" + std::string(text) + "\" is out of range");
        }
        return v;
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

inline core::Result<std::optional<std::string>> account_name(std::string_view text) {
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

inline core::Result<unsigned> file_mode(std::string_view text) {
    unsigned mode = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
    if (text.size() < 3 || text.size() > 4 || ec != std::errc{} ||
        ptr != text.data() + text.size() || mode > 0777) {
        return core::make_error("bad mode \"" + std::string(text) + "\"");
    }
    return mode;
}

inline core::Result<core::LogLevel> log_level(std::string_view text) {
    for (auto level : {core::LogLevel::Debug, core::LogLevel::Info, core::LogLevel::Notice,
                       core::LogLevel::Warning, core::LogLevel::Error}) {
        if (core::to_string(level) == text) {
            return level;
        }
    }
    return core::make_error("unknown log level \"" + std::string(text) + "\"");
}

inline Setter boolean_in(std::function<bool&(Policy&)> get) {
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

inline bool ldh_labels(std::string_view text, bool allow_underscore) {
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

inline core::Result<std::string> domain_name(std::string_view text) {
    if (!ldh_labels(text, false)) {
        return core::make_error("bad domain \"" + std::string(text) +
                                "\" (letters, digits, '-' and dots; IDNs in A-label form)");
    }
    return core::ascii_lower(text);
}

// "example.com", "*.example.com" or "*".
inline core::Result<std::string> domain_pattern(std::string_view text) {
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

inline core::Result<std::string> selector_name(std::string_view text) {
    if (!ldh_labels(text, true)) {
        return core::make_error("bad selector \"" + std::string(text) +
                                "\" (letters, digits, '-', '_' and dots)");
    }
    return std::string(text);
}

inline core::Result<std::string> header_name(std::string_view text) {
    const bool ok = !text.empty() && text.size() <= 100 &&
                    std::all_of(text.begin(), text.end(),
                                [](char c) { return c > 0x20 && c < 0x7f && c != ':'; });
    if (!ok) {
        return core::make_error("bad header field name \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

inline core::Result<std::string> nonempty(std::string_view text) {
    if (text.empty()) {
        return core::make_error("empty string");
    }
    return std::string(text);
}

inline core::Result<std::string> sasl_pattern(std::string_view text) {
    if (text.empty() || text.size() > 256 ||
        std::any_of(text.begin(), text.end(), [](char c) { return c <= 0x20 || c == 0x7f; })) {
        return core::make_error("bad SASL user pattern \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

inline core::Result<core::DkimAuthenticated> authenticated_mode(std::string_view text) {
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

inline core::Result<core::StoreErrorMode> store_error_mode(std::string_view text) {
    if (text == "tempfail") {
        return core::StoreErrorMode::Tempfail;
    }
    if (text == "accept") {
        return core::StoreErrorMode::Accept;
    }
    return core::make_error("unknown mode \"" + std::string(text) + "\"");
}

inline core::Result<std::string> key_prefix(std::string_view text) {
    const bool ok = text.size() <= 64 && std::all_of(text.begin(), text.end(), [](char c) {
                        return c > 0x20 && c < 0x7f && c != '{' && c != '}';
                    });
    if (!ok) {
        return core::make_error("bad key prefix \"" + std::string(text) + "\"");
    }
    return std::string(text);
}

// A secret in a file of its own: absolute path, owner-only, one line.
inline std::optional<std::string> read_secret(const std::string& path, std::string& out,
                                              std::string_view what = "password file",
                                              bool several_lines = false) {
    const std::string label(what);
    if (path.empty() || path.front() != '/') {
        return "\"" + path + "\" is not an absolute path";
    }
    // O_NONBLOCK: a FIFO at the path must not hang `staffeld -n` or a reload.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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

}  // namespace staffel::config::values
