// endpoints.hpp - the milter socket and Redis addresses a policy names.
//
// Purpose: parse and print `[milter] socket` ("unix:/path", "local:/path",
//   "inet:PORT@HOST", "inet6:PORT@HOST") and `[redis] address`
//   ("HOST:PORT", "[V6ADDR]:PORT", "unix:/path"). Parsing only: no socket
//   is opened here.
// Thread-safety: pure functions and value types.
// Errors: Result with a message naming what would be accepted.
// Outside input: policy text and command-line overrides.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace staffel::core {

struct MilterSocket {
    enum class Kind { Unix, Inet, Inet6 };
    Kind kind = Kind::Unix;
    std::string path;  // Unix
    std::string host;  // Inet, Inet6
    std::uint16_t port = 0;

    // The spelling libmilter's smfi_setconn() takes.
    [[nodiscard]] std::string to_libmilter() const;
    [[nodiscard]] std::string to_string() const { return to_libmilter(); }
};

struct RedisAddress {
    enum class Kind { Tcp, Unix };
    Kind kind = Kind::Tcp;
    std::string host;  // Tcp
    std::uint16_t port = 6379;
    std::string path;  // Unix

    [[nodiscard]] std::string to_string() const;
    bool operator==(const RedisAddress&) const = default;
};

Result<MilterSocket> parse_milter_socket(std::string_view text);
Result<RedisAddress> parse_redis_address(std::string_view text);

inline constexpr std::string_view kMilterSocketHint =
    "\"unix:/absolute/path\" or \"inet:PORT@HOST\" (e.g. \"inet:8891@127.0.0.1\")";
inline constexpr std::string_view kRedisAddressHint =
    "\"HOST:PORT\" (e.g. \"127.0.0.1:6379\", \"[::1]:6379\") or \"unix:/absolute/path\"";

}  // namespace staffel::core
