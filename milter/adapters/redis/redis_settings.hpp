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

// Address (or a SentinelResolver when `redis.sentinels` is set), timeouts,
// credentials and pool size of `redis`; the other RedisOptions keep their
// defaults, except a shorter max_backoff (200 ms) with Sentinel. Each call
// makes a resolver of its own.
RedisOptions redis_options(const core::RedisSettings& redis);

// `options` with its name set ("quota store"), for the pool's log lines.
RedisOptions named(RedisOptions options, std::string name);

}  // namespace staffel::adapters
