// redis_pool.hpp - a bounded pool of blocking hiredis connections to one Redis.
//
// Purpose: the counter store (adapters/redis/counter_store) and the
//   suppression store (adapters/redis/suppression_store) borrow a
//   connection per round trip (or per pipelined batch). At most `pool_size` connections exist; a
//   caller takes an idle one, else opens a new one if the pool is not full,
//   else waits for one, at most `command_timeout`. Each connection is
//   authenticated (AUTH [username] password) right after it connects.
// Failure policy: a connection that saw an I/O error, a timeout or a
//   protocol error is closed, and so is every idle one (they are likely to
//   be as stale: Redis restarted or hung). An idle connection the server
//   has closed is noticed before use (poll) and replaced. After a failed
//   connect, further connects are refused at once, with the last error,
//   until a backoff delay has passed (50 ms, doubling per failure, capped
//   at max_backoff); while it lasts one caller at a time probes Redis. So a
//   dead Redis costs a message microseconds, and a restarted one is used
//   again within max_backoff. A hung Redis (SIGSTOP, a black hole) costs a
//   message up to command_timeout (or connect_timeout while connecting)
//   until `breaker_timeouts` round trips in a row have timed out; then the
//   circuit breaker opens: every acquire() fails at once, no message waits,
//   and a probe thread of the pool's own sends one PING at a time (every
//   breaker_probe_interval, each bounded by the timeouts). The first answer
//   (the probe's, or any round trip still under way) closes it again. Each
//   opening and closing is counted and logged (redis_round_trips()).
// Failover: with a resolver (adapters/redis/sentinel: Redis Sentinel), each
//   new connection goes to the address the resolver names and is refused
//   unless its ROLE is master; a connection error or a READONLY reply marks
//   that address stale, so the next connection asks the sentinels again.
// Thread-safety: RedisPool is thread-safe. A Lease belongs to one thread at
//   a time and must not outlive its pool.
// Errors: core::Result errors naming the address ("Redis at
//   127.0.0.1:6379: connection refused", "... timed out after 500ms").
//   Error replies from Redis (-ERR ...) are replies, not errors, so that
//   callers can react to NOSCRIPT. Never throws on the command path.
// Secrets: the password is sent in AUTH only; it never appears in an error
//   text (texts are scrubbed of it as a safeguard) nor in a log.
// Signals: hiredis writes with write(2); a write to a connection Redis
//   closed raises SIGPIPE, which the process must ignore (staffeld does,
//   app/process.cpp).
// Metrics: each round trip (command(), a pipelined batch's first reply())
//   is timed and counted in redis_round_trips() (adapters/redis/round_trips),
//   and so are the circuit breaker's openings and closings.
// Outside input: replies from Redis, parsed by hiredis.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/redis/embedded_script.hpp"
#include "adapters/redis/sentinel.hpp"
#include "core/endpoints.hpp"
#include "core/result.hpp"

struct redisContext;
struct redisReply;

namespace staffel::adapters {

struct RedisOptions {
    core::RedisAddress address;  // core/endpoints.hpp (Tcp host:port or Unix path)
    std::chrono::milliseconds connect_timeout{250};
    std::chrono::milliseconds command_timeout{500};
    std::string username;       // ACL user, "" = none
    std::string password;       // "" = no AUTH; never logged, never in error texts
    std::size_t pool_size = 8;  // connections kept at most
    std::chrono::milliseconds max_backoff{1000};
    std::string name = "Redis";  // whose pool, in log lines: "quota store"
    // Round trips (or connects) in a row that time out before the circuit
    // breaker opens; 0 = never open.
    std::size_t breaker_timeouts = 3;
    std::chrono::milliseconds breaker_probe_interval{200};  // between probes while open
    // Set: connect where it says (the primary Sentinel names), not to `address`.
    std::shared_ptr<RedisResolver> resolver;
};

struct RedisReplyDeleter {
    void operator()(redisReply* reply) const;
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// The text of a status, error or string reply; "" for other types.
std::string_view reply_text(const redisReply& r);

class RedisPool {
  public:
    // A borrowed connection; returned to the pool (or closed, if it broke)
    // when the lease is destroyed.
    class Lease {
      public:
        Lease(Lease&& other) noexcept;
        Lease& operator=(Lease&& other) noexcept;
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        ~Lease();

        // Sends one command (binary-safe arguments) and reads its reply,
        // which may be an error reply. An I/O error, timeout or protocol
        // error is a Result error, and the connection is closed on release.
        core::Result<RedisReplyPtr> command(std::span<const std::string> argv);

        // Pipelining (bulk writes): append() queues a command in the
        // connection's output buffer, sending nothing; the first reply()
        // after it sends everything queued, and each reply() reads the next
        // reply in order. Read one reply() per append() before calling
        // command() again. Failures are reply() errors, as for command().
        void append(std::span<const std::string> argv);
        core::Result<RedisReplyPtr> reply();

        // EVALSHA of `script` with `args` (numkeys, keys, arguments). If
        // Redis has lost its script cache (NOSCRIPT: a restart, SCRIPT
        // FLUSH), EVAL sends the source once on the same connection and
        // `loads` counts it. The reply may be an error reply, as command().
        core::Result<RedisReplyPtr> eval_script(const EmbeddedScript& script,
                                                std::vector<std::string> args,
                                                std::atomic<std::uint64_t>& loads);

        // SCAN for the keys matching `pattern`, `count` a page: `page` is
        // given each page's key names (a page may be empty, and SCAN may
        // name a key twice) until the cursor comes back to 0. Stops at the
        // first error: a failed round trip, a reply that is not SCAN's, or
        // one `page` returns. The names live only during the call to `page`,
        // which may send commands on this lease.
        using ScanPage =
            std::function<std::optional<core::Error>(std::span<const std::string_view> keys)>;
        std::optional<core::Error> scan(std::string_view pattern, std::size_t count,
                                        const ScanPage& page);

      private:
        friend class RedisPool;
        Lease(RedisPool* pool, redisContext* context, std::uint64_t generation);
        void release() noexcept;

        RedisPool* pool_ = nullptr;
        redisContext* context_ = nullptr;
        std::uint64_t generation_ = 0;
        bool broken_ = false;
        bool timed_out_ = false;     // broken_ by a timeout: counts toward the breaker
        bool answered_ = false;      // Redis replied to something on this lease
        bool batch_unsent_ = false;  // append() since the last reply(): the next one sends
    };

    explicit RedisPool(RedisOptions options);
    ~RedisPool();
    RedisPool(const RedisPool&) = delete;
    RedisPool& operator=(const RedisPool&) = delete;

    // Borrows a connection: idle, new, or the next one released within
    // command_timeout.
    core::Result<Lease> acquire();
    // acquire() and Lease::command() in one.
    core::Result<RedisReplyPtr> command(std::span<const std::string> argv);

    // "Redis at ADDRESS: what", with the password scrubbed out.
    [[nodiscard]] core::Error error(std::string_view what) const;
    [[nodiscard]] const RedisOptions& options() const { return options_; }
    // Connections open or being opened (idle and leased).
    [[nodiscard]] std::size_t connections() const;
    // Whether the circuit breaker is open (acquire() fails at once).
    [[nodiscard]] bool breaker_open() const;

  private:
    using Clock = std::chrono::steady_clock;
    struct Idle {
        redisContext* context;
        std::uint64_t generation;
    };

    // A new authenticated connection; `timed_out` tells a connect or AUTH
    // that timed out from other failures.
    core::Result<redisContext*> connect(bool* timed_out = nullptr);
    core::Result<Lease> open_new(std::unique_lock<std::mutex>& lock);
    // A READONLY reply: the node was demoted; the resolver is asked again.
    bool demoted(const redisReply& reply) const;
    core::Error io_error(const redisContext* context, int saved_errno,
                         std::chrono::milliseconds timeout) const;
    // How a lease ended, for the pool and its circuit breaker.
    enum class Ending { Unused, Answered, Broken, TimedOut };
    void give_back(redisContext* context, std::uint64_t generation, Ending ending) noexcept;
    // The circuit breaker; called with mutex_ held.
    void note_timeout();
    void note_answer();
    core::Error breaker_error() const;
    // The probe thread's loop, and its one probe (a new connection, PING).
    void probe_loop();
    bool probe_answers();

    const RedisOptions options_;
    const std::string address_;  // options_.address.to_string()

    mutable std::mutex mutex_;
    std::condition_variable released_;
    std::vector<Idle> idle_;                // guarded by mutex_
    std::size_t total_ = 0;                 // open or opening, idle or leased; guarded
    std::uint64_t generation_ = 0;          // bumped when a connection breaks; guarded
    bool failing_ = false;                  // the last connect failed; guarded
    std::chrono::milliseconds backoff_{0};  // the current delay while failing_; guarded
    Clock::time_point next_connect_{};      // connects refused before this; guarded
    bool probing_ = false;                  // a connect while failing_ is under way; guarded
    std::string last_connect_error_;        // guarded
    std::size_t timeouts_in_row_ = 0;       // guarded
    bool breaker_open_ = false;             // guarded
    Clock::time_point opened_at_{};         // guarded
    bool stopping_ = false;                 // the destructor runs; guarded
    std::condition_variable probe_wake_;
    std::thread prober_;  // started at the first opening; joined by the destructor
};

}  // namespace staffel::adapters
