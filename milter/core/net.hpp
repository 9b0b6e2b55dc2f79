// net.hpp - IP networks ("192.0.2.0/24", "::1/128") and membership tests.
//
// Purpose: policies name client networks (trusted_networks, sender rules);
//   the mail path asks whether the client's address, as the MTA's
//   {client_addr} macro spells it, lies in one of them.
// Thread-safety: value types and pure functions.
// Errors: parse_network returns a Result naming what would be accepted.
//   contains() is false for text that is not an IP address (an MTA may
//   pass "" or a non-IP for local submissions), never an error.
// Outside input: {client_addr} from the MTA; policy text.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

struct Network {
    bool v6 = false;
    std::array<std::uint8_t, 16> bytes{};  // v4 uses the first 4
    unsigned prefix = 0;                   // bits that must match

    [[nodiscard]] bool contains(std::string_view address) const;
    [[nodiscard]] std::string to_string() const;
    bool operator==(const Network&) const = default;
};

// "ADDRESS" (a host: /32 or /128) or "ADDRESS/PREFIX". Host bits set
// beyond the prefix are an error ("10.0.0.1/8": did you mean 10.0.0.0/8?).
// An IPv4-mapped IPv6 client address ("::ffff:192.0.2.1") matches IPv4
// networks.
Result<Network> parse_network(std::string_view text);

inline constexpr std::string_view kNetworkHint =
    "an IP address or network, e.g. \"192.0.2.0/24\", \"10.1.2.3\", \"2001:db8::/32\"";

}  // namespace staffel::core
