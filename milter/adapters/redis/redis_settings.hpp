// redis_settings.hpp - the policy's [redis] settings as connection-pool
// options.
//
// Purpose: the one place where core::RedisSettings (what the policy says)
//   becomes RedisOptions (what RedisPool takes), for every store of
//   adapters/redis and the stores app/ builds.
// Thread-safety: a pure function.
// Errors: none; the settings were validated when the policy was loaded.
// Secrets: the password is copied into the options only.
#pragma once

#include "adapters/redis/redis_pool.hpp"
#include "core/policy.hpp"

namespace staffel::adapters {

// Address, timeouts, credentials and pool size of `redis`; the other
// RedisOptions keep their defaults.
RedisOptions redis_options(const core::RedisSettings& redis);

// `options` with its name set ("quota store"), for the pool's log lines.
RedisOptions named(RedisOptions options, std::string name);

}  // namespace staffel::adapters
