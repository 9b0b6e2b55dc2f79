// policy.hpp - the validated, immutable policy snapshot.
//
// Purpose: everything the daemon and the mail path read from the TOML
//   policy, as typed values with units already applied. Built only by
//   config::load_policy(); shared as shared_ptr<const Policy> so a reload
//   (SIGHUP) never changes what an in-flight message sees.
// Thread-safety: immutable after construction; share freely.
// Defaults: the member initialisers below are the documented defaults
//   (policies/README.md lists them; a unit test keeps the two in step).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "core/endpoints.hpp"
#include "core/log.hpp"

namespace staffel::core {

struct MilterSettings {
    MilterSocket socket{MilterSocket::Kind::Unix, "/run/staffel/staffeld.sock", {}, 0};
    std::optional<std::string> user;   // run as this user after opening the socket
    std::optional<std::string> group;  // default: the user's primary group
    unsigned socket_mode = 0660;       // unix socket permissions
    std::chrono::milliseconds timeout{std::chrono::seconds(300)};       // I/O timeout with the MTA
    int backlog = 128;                                                  // listen(2) backlog
    std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};  // SIGTERM grace
};

struct RedisSettings {
    RedisAddress address{RedisAddress::Kind::Tcp, "127.0.0.1", 6379, {}};
    std::chrono::milliseconds connect_timeout{250};
};

struct LogSettings {
    LogLevel level = LogLevel::Info;
};

struct Policy {
    std::string path;    // the main policy file, as given
    std::string digest;  // first 8 hex digits of SHA-256 of the main file's bytes
    MilterSettings milter;
    RedisSettings redis;
    LogSettings log;
};

}  // namespace staffel::core
