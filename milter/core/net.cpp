// net.cpp - see net.hpp.
#include "core/net.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace staffel::core {
namespace {

// Parses a bare IPv4 or IPv6 address (an IPv6 zone "%eth0" is dropped).
bool parse_address(std::string_view text, bool& v6, std::array<std::uint8_t, 16>& out) {
    if (text.empty() || text.size() > 63) {
        return false;
    }
    std::string s(text);
    if (s.size() > 2 && s.front() == '[' && s.back() == ']') {
        s = s.substr(1, s.size() - 2);
    }
    if (const auto zone = s.find('%'); zone != std::string::npos) {
        s.resize(zone);
    }
    out.fill(0);
    if (s.find(':') == std::string::npos) {
        v6 = false;
        return ::inet_pton(AF_INET, s.c_str(), out.data()) == 1;
    }
    v6 = true;
    if (::inet_pton(AF_INET6, s.c_str(), out.data()) != 1) {
        return false;
    }
    // IPv4-mapped: ::ffff:a.b.c.d is that IPv4 client.
    static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(out.data(), kMapped, sizeof kMapped) == 0) {
        std::memmove(out.data(), out.data() + 12, 4);
        std::memset(out.data() + 4, 0, 12);
        v6 = false;
    }
    return true;
}

bool prefix_equal(const std::array<std::uint8_t, 16>& a, const std::array<std::uint8_t, 16>& b,
                  unsigned bits) {
    const unsigned whole = bits / 8;
    if (std::memcmp(a.data(), b.data(), whole) != 0) {
        return false;
    }
    const unsigned rest = bits % 8;
    if (rest == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

}  // namespace

bool Network::contains(std::string_view address) const {
    bool addr_v6 = false;
    std::array<std::uint8_t, 16> addr{};
    if (!parse_address(address, addr_v6, addr) || addr_v6 != v6) {
        return false;
    }
    return prefix_equal(addr, bytes, prefix);
}

std::string Network::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
    return std::string(buf) + "/" + std::to_string(prefix);
}

Result<Network> parse_network(std::string_view text) {
    const auto bad = [&](const std::string& why) {
        return make_error("bad network \"" + std::string(text) + "\": " + why);
    };
    Network n;
    std::string_view addr = text;
    std::string_view bits;
    if (const auto slash = text.find('/'); slash != std::string_view::npos) {
        addr = text.substr(0, slash);
        bits = text.substr(slash + 1);
    }
    if (addr.find('%') != std::string_view::npos || addr.starts_with("[")) {
        return bad("use a plain IPv4 or IPv6 address");
    }
    if (!parse_address(addr, n.v6, n.bytes)) {
        return bad("not an IP address");
    }
    const unsigned max = n.v6 ? 128 : 32;
    n.prefix = max;
    if (!bits.empty() || text.find('/') != std::string_view::npos) {
        unsigned p = 0;
        auto [ptr, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), p);
        if (bits.empty() || ec != std::errc{} || ptr != bits.data() + bits.size() || p > max) {
            return bad("prefix length must be 0.." + std::to_string(max));
        }
        n.prefix = p;
    }
    Network masked = n;
    for (unsigned i = 0; i < 16; ++i) {
        const unsigned from = i * 8;
        if (from >= n.prefix) {
            masked.bytes[i] = 0;
        } else if (from + 8 > n.prefix) {
            masked.bytes[i] &= static_cast<std::uint8_t>(0xff << (from + 8 - n.prefix));
        }
    }
    if (masked.bytes != n.bytes) {
        return bad("host bits set after the prefix; did you mean \"" + masked.to_string() + "\"?");
    }
    return n;
}

}  // namespace staffel::core
