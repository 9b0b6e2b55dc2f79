// sentinel.hpp - where the Redis primary is: a fixed address, or the one
// Redis Sentinel names.
//
// Purpose: RedisPool asks its RedisResolver for an address before each new
//   connection, and tells it when the node it was given let it down (a
//   connection error, a READONLY reply, a node whose ROLE is not master), so
//   that the next connection asks again. SentinelResolver asks the
//   sentinels of `master_name` in turn (SENTINEL get-master-addr-by-name),
//   starting with the one that answered last (after a failure, the one
//   after it), and keeps the answer until it is marked stale. It does not subscribe to
//   +switch-master: a failover breaks the connections to the old primary (it died) or makes it
//   answer READONLY (it was demoted), and either marks the answer stale.
// Failure policy: a sentinel that cannot be reached, does not know the
//   master or answers oddly is skipped; when none answers, resolve() is an
//   error naming the last failure, and the pool treats it as a failed
//   connect (backoff, on_store_error). check_primary() refuses a node whose
//   ROLE is not "master", so nothing is ever written to a replica.
// Thread-safety: SentinelResolver is thread-safe. resolve() holds its lock
//   while it asks the sentinels (at most connect_timeout + command_timeout
//   per sentinel), so concurrent callers wait for one answer.
// Errors: core::Result errors ("Redis master staffel: no sentinel answered:
//   ..."). Never throws on the command path.
// Secrets: the sentinel password is sent in AUTH only, never in an error
//   text or a log.
// Outside input: sentinel replies and ROLE replies, parsed by hiredis.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/endpoints.hpp"
#include "core/result.hpp"

struct redisContext;

namespace staffel::adapters {

class RedisResolver {
  public:
    virtual ~RedisResolver() = default;
    // The address of the primary to connect to.
    virtual core::Result<core::RedisAddress> resolve() = 0;
    // The address last given failed: the next resolve() asks again.
    virtual void mark_stale() noexcept = 0;
    // For error texts: "127.0.0.1:6380 (master staffel)".
    [[nodiscard]] virtual std::string describe() const = 0;
};

struct SentinelOptions {
    std::vector<core::RedisAddress> sentinels;
    std::string master_name;
    std::string username;  // sentinel ACL user, "" = none
    std::string password;  // "" = no AUTH; never logged, never in error texts
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{500};
};

class SentinelResolver final : public RedisResolver {
  public:
    explicit SentinelResolver(SentinelOptions options);

    core::Result<core::RedisAddress> resolve() override;
    void mark_stale() noexcept override;
    [[nodiscard]] std::string describe() const override;

    // Sentinel queries that named a primary (for tests and logs).
    [[nodiscard]] std::uint64_t resolutions() const;

  private:
    core::Result<core::RedisAddress> ask(const core::RedisAddress& sentinel) const;

    const SentinelOptions options_;
    mutable std::mutex mutex_;
    std::optional<core::RedisAddress> current_;  // guarded
    bool stale_ = true;                          // guarded
    std::size_t first_ = 0;                      // the sentinel to ask first; guarded
    std::uint64_t resolutions_ = 0;              // guarded
};

// ROLE on a fresh connection: "" when the node is a primary, else why not
// ("the node is a slave", "ROLE failed: ..."). A connection error leaves
// c->err set.
std::string check_primary(redisContext* c);

// A reply text that says the node is a replica now (READONLY, also when a
// script's write was refused).
bool is_readonly_error(std::string_view text);

}  // namespace staffel::adapters
