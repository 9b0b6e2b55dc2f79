// probe.hpp - a one-shot Redis reachability check (PING).
//
// Purpose: staffeld checks at start-up and on reload that the policy's
//   Redis answers, so a wrong address is reported at once rather than on
//   the first message. It opens one connection, sends PING, closes.
// Thread-safety: reentrant; no shared state.
// Errors: a Result whose message says what failed (connect, timeout,
//   authentication, unexpected reply). Never throws.
#pragma once

#include <chrono>
#include <string>

#include "core/endpoints.hpp"
#include "core/result.hpp"

namespace staffel::adapters {

// Returns the server's version string on success.
core::Result<std::string> redis_ping(const core::RedisAddress& address,
                                     std::chrono::milliseconds timeout);

}  // namespace staffel::adapters
