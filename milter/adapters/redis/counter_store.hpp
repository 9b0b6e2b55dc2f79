// counter_store.hpp - the quota counter store (core/quota/store.hpp) in Redis.
//
// Purpose: every staffeld node of a site charges the same counters in one
//   Redis. Each call is one round trip: EVALSHA of a Lua script from
//   adapters/redis/scripts/ (compiled into the binary; each file states its
//   KEYS, ARGV, stored values, TTLs and reply), or UNLINK for reset(). If
//   Redis answers NOSCRIPT (restart, SCRIPT FLUSH), the same connection
//   sends EVAL with the full source, which runs it and caches it again;
//   script_loads() counts these.
// Replication: with ReplicaWait::replicas > 0, charge() pipelines
//   `WAIT replicas timeout` behind the script (still one round trip) and
//   answers a store error unless that many replicas acknowledged the
//   charge within the timeout; the charge then stays counted (it may have
//   reached some replica). A failover can then not lose an admitted charge.
// Semantics: those of core/quota/store.hpp; the scripts are the reference.
//   refund() answers true when every counter still held something to undo
//   (false if some had expired meanwhile: nothing was left to give back).
//   read() fills `used` and `now_us`; `admits` is false and `retry_at_us` 0.
//   Counter keys may sit in different hash slots: a single Redis node is
//   the target, not Redis Cluster.
// Thread-safety: thread-safe; calls share a RedisPool.
// Errors: an unreachable, slow or refusing Redis, or a malformed counter
//   (rejected by the script), is a Result error naming the address; never
//   an exception after construction. errors() counts them. The
//   constructor throws std::runtime_error if the scripts cannot be hashed.
// Outside input: Redis replies, checked for shape before use.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "adapters/redis/embedded_script.hpp"
#include "adapters/redis/redis_pool.hpp"
#include "core/quota/store.hpp"

namespace staffel::adapters {

// WAIT after each charge ([redis] wait_replicas, wait_timeout).
struct ReplicaWait {
    std::size_t replicas = 0;  // 0 = no WAIT
    std::chrono::milliseconds timeout{100};
};

class RedisCounterStore final : public core::CounterStore {
  public:
    explicit RedisCounterStore(RedisOptions options, ReplicaWait wait = {});
    ~RedisCounterStore() override;
    RedisCounterStore(const RedisCounterStore&) = delete;
    RedisCounterStore& operator=(const RedisCounterStore&) = delete;

    core::Result<core::ChargeOutcome> charge(std::span<const core::CounterCharge> charges) override;
    core::Result<bool> refund(std::span<const core::CounterCharge> charges) override;
    core::Result<std::vector<core::CounterState>> read(
        std::span<const core::CounterCharge> counters) override;
    core::Result<std::size_t> reset(std::span<const std::string> keys) override;

    // Store errors returned so far (unreachable, timeouts, error replies).
    [[nodiscard]] std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
    // Scripts sent in full after a NOSCRIPT reply.
    [[nodiscard]] std::uint64_t script_loads() const {
        return script_loads_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] RedisPool& pool() { return pool_; }

    using Script = EmbeddedScript;

  private:
    enum class Which { Charge, Refund, Read };

    core::Result<RedisReplyPtr> eval(Which which, std::span<const core::CounterCharge> counters);
    core::Error fail(core::Error error);
    core::Result<RedisReplyPtr> eval_and_wait(RedisPool::Lease& lease, const Script& script,
                                              std::vector<std::string> args);

    RedisPool pool_;
    const ReplicaWait wait_;
    std::vector<Script> scripts_;  // indexed by Which
    std::atomic<std::uint64_t> errors_{0};
    std::atomic<std::uint64_t> script_loads_{0};
};

}  // namespace staffel::adapters
