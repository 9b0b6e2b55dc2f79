// endpoints.cpp - see endpoints.hpp.
#include "core/endpoints.hpp"

#include <charconv>

namespace staffel::core {
namespace {

bool parse_port(std::string_view text, std::uint16_t& port) {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || ptr != text.data() + text.size() || value == 0 || value > 65535) {
        return false;
    }
    port = static_cast<std::uint16_t>(value);
    return true;
}

bool valid_host(std::string_view host) {
    if (host.empty() || host.size() > 253) {
        return false;
    }
    for (char c : host) {
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == ':' || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool valid_path(std::string_view path) {
    // sockaddr_un.sun_path holds 108 bytes including the terminating NUL.
    return !path.empty() && path.front() == '/' && path.size() < 108 &&
           path.find('\0') == std::string_view::npos;
}

}  // namespace

std::string MilterSocket::to_libmilter() const {
    switch (kind) {
        case Kind::Unix:
            return "unix:" + path;
        case Kind::Inet:
            return "inet:" + std::to_string(port) + "@" + host;
        case Kind::Inet6:
            return "inet6:" + std::to_string(port) + "@" + host;
    }
    return {};
}

std::string RedisAddress::to_string() const {
    if (kind == Kind::Unix) {
        return "unix:" + path;
    }
    if (host.find(':') != std::string::npos) {
        return "[" + host + "]:" + std::to_string(port);
    }
    return host + ":" + std::to_string(port);
}

Result<MilterSocket> parse_milter_socket(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_error(std::string(why) + " \"" + std::string(text) + "\"; expected " +
                          std::string(kMilterSocketHint));
    };
    MilterSocket s;
    const auto colon = text.find(':');
    if (colon == std::string_view::npos) {
        return bad("bad milter socket");
    }
    const auto scheme = text.substr(0, colon);
    const auto rest = text.substr(colon + 1);
    if (scheme == "unix" || scheme == "local") {
        if (!valid_path(rest)) {
            return bad("unix socket path must be absolute and shorter than 108 bytes in");
        }
        s.kind = MilterSocket::Kind::Unix;
        s.path = std::string(rest);
        return s;
    }
    if (scheme == "inet" || scheme == "inet6") {
        const auto at = rest.find('@');
        const auto port_text = rest.substr(0, at);
        if (!parse_port(port_text, s.port)) {
            return bad("bad port (1-65535) in");
        }
        s.kind = scheme == "inet" ? MilterSocket::Kind::Inet : MilterSocket::Kind::Inet6;
        s.host = at == std::string_view::npos ? (scheme == "inet" ? "127.0.0.1" : "::1")
                                              : std::string(rest.substr(at + 1));
        if (!valid_host(s.host)) {
            return bad("bad host in");
        }
        return s;
    }
    return bad("unknown scheme in milter socket");
}

Result<RedisAddress> parse_redis_address(std::string_view text) {
    auto bad = [&](std::string_view why) {
        return make_error(std::string(why) + " \"" + std::string(text) + "\"; expected " +
                          std::string(kRedisAddressHint));
    };
    RedisAddress a;
    if (text.starts_with("unix:")) {
        const auto path = text.substr(5);
        if (!valid_path(path)) {
            return bad("unix socket path must be absolute and shorter than 108 bytes in");
        }
        a.kind = RedisAddress::Kind::Unix;
        a.path = std::string(path);
        return a;
    }
    std::string_view host;
    std::string_view port;
    if (text.starts_with("[")) {
        const auto close = text.find("]:");
        if (close == std::string_view::npos) {
            return bad("bad Redis address");
        }
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        if (colon == std::string_view::npos || text.find(':') != colon) {
            return bad("bad Redis address");
        }
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    if (!valid_host(host)) {
        return bad("bad host in Redis address");
    }
    if (!parse_port(port, a.port)) {
        return bad("bad port (1-65535) in Redis address");
    }
    a.kind = RedisAddress::Kind::Tcp;
    a.host = std::string(host);
    return a;
}

}  // namespace staffel::core
