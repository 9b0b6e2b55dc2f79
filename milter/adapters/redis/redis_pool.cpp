// redis_pool.cpp - see redis_pool.hpp.
#include "adapters/redis/redis_pool.hpp"

#include <hiredis/hiredis.h>
#include <poll.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <stdexcept>
#include <utility>

#include "adapters/redis/round_trips.hpp"
#include "core/text.hpp"

namespace staffel::adapters {
namespace {

constexpr std::chrono::milliseconds kInitialBackoff{50};

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

std::string ms_text(std::chrono::milliseconds ms) {
    return std::to_string(ms.count()) + "ms";
}

// "Connection refused" -> "connection refused", to read well after a colon.
std::string lower_first(std::string text) {
    if (!text.empty()) {
        text[0] = core::ascii_lower(text[0]);
    }
    return text;
}

// An idle connection should have nothing to read: if poll says otherwise,
// the server closed it (restart, idle timeout) or sent something unasked.
bool looks_closed(const redisContext* c) {
    pollfd p{};
    p.fd = c->fd;
    p.events = POLLIN;
    return ::poll(&p, 1, 0) != 0;
}

// Whether a failed call on c ran out of time (rather than being refused,
// closed or garbled).
bool is_timeout(const redisContext* c, int saved_errno) {
    return c->err == REDIS_ERR_IO &&
           (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK || saved_errno == ETIMEDOUT);
}

// Sends argv on c; nullptr (with c->err set) on failure.
RedisReplyPtr send_argv(redisContext* c, std::span<const std::string> argv, int& saved_errno) {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    errno = 0;
    void* raw = redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    saved_errno = errno;
    return RedisReplyPtr(static_cast<redisReply*>(raw));
}

}  // namespace

void RedisReplyDeleter::operator()(redisReply* reply) const {
    freeReplyObject(reply);
}

// ---- Lease ----

RedisPool::Lease::Lease(RedisPool* pool, redisContext* context, std::uint64_t generation)
    : pool_(pool), context_(context), generation_(generation) {}

RedisPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      context_(std::exchange(other.context_, nullptr)),
      generation_(other.generation_),
      broken_(other.broken_),
      timed_out_(other.timed_out_),
      answered_(other.answered_),
      batch_unsent_(other.batch_unsent_) {}

RedisPool::Lease& RedisPool::Lease::operator=(Lease&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = std::exchange(other.pool_, nullptr);
        context_ = std::exchange(other.context_, nullptr);
        generation_ = other.generation_;
        broken_ = other.broken_;
        timed_out_ = other.timed_out_;
        answered_ = other.answered_;
        batch_unsent_ = other.batch_unsent_;
    }
    return *this;
}

RedisPool::Lease::~Lease() {
    release();
}

void RedisPool::Lease::release() noexcept {
    if (pool_ != nullptr && context_ != nullptr) {
        const Ending ending = timed_out_  ? Ending::TimedOut
                              : broken_   ? Ending::Broken
                              : answered_ ? Ending::Answered
                                          : Ending::Unused;
        pool_->give_back(context_, generation_, ending);
    }
    pool_ = nullptr;
    context_ = nullptr;
}

core::Result<RedisReplyPtr> RedisPool::Lease::command(std::span<const std::string> argv) {
    assert(pool_ != nullptr && context_ != nullptr);
    if (broken_) {
        return pool_->error("connection already failed");
    }
    int saved_errno = 0;
    const auto start = Clock::now();
    RedisReplyPtr reply = send_argv(context_, argv, saved_errno);
    redis_round_trips().record(Clock::now() - start, !reply);
    if (!reply) {
        broken_ = true;
        timed_out_ = is_timeout(context_, saved_errno);
        return pool_->io_error(context_, saved_errno, pool_->options_.command_timeout);
    }
    answered_ = true;
    if (pool_->demoted(*reply)) {
        broken_ = true;
    }
    return reply;
}

void RedisPool::Lease::append(std::span<const std::string> argv) {
    assert(pool_ != nullptr && context_ != nullptr);
    if (broken_) {
        return;
    }
    batch_unsent_ = true;
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    // Fails only when the buffer cannot grow; context_->err says so.
    if (redisAppendCommandArgv(context_, static_cast<int>(argv.size()), ptrs.data(), lens.data()) !=
        REDIS_OK) {
        broken_ = true;
    }
}

core::Result<RedisReplyPtr> RedisPool::Lease::reply() {
    assert(pool_ != nullptr && context_ != nullptr);
    if (broken_) {
        return context_->err != 0 ? pool_->io_error(context_, 0, pool_->options_.command_timeout)
                                  : pool_->error("connection already failed");
    }
    void* raw = nullptr;
    const bool sends = std::exchange(batch_unsent_, false);
    const auto start = Clock::now();
    errno = 0;
    const int rc = redisGetReply(context_, &raw);
    const int saved_errno = errno;
    RedisReplyPtr reply(static_cast<redisReply*>(raw));
    const bool failed = rc != REDIS_OK || !reply;
    if (sends) {
        redis_round_trips().record(Clock::now() - start, failed);
    } else if (failed) {
        redis_round_trips().record_error();
    }
    if (failed) {
        broken_ = true;
        timed_out_ = is_timeout(context_, saved_errno);
        return pool_->io_error(context_, saved_errno, pool_->options_.command_timeout);
    }
    answered_ = true;
    if (pool_->demoted(*reply)) {
        broken_ = true;
    }
    return reply;
}

// ---- RedisPool ----

RedisPool::RedisPool(RedisOptions options)
    : options_(std::move(options)), address_(options_.address.to_string()) {
    if (options_.pool_size == 0) {
        throw std::invalid_argument("Redis pool size must be at least 1");
    }
    idle_.reserve(options_.pool_size);
}

RedisPool::~RedisPool() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    probe_wake_.notify_all();
    if (prober_.joinable()) {
        prober_.join();
    }
    const std::lock_guard lock(mutex_);
    assert(total_ == idle_.size() && "a Redis lease outlives its pool");
    for (const auto& c : idle_) {
        redisFree(c.context);
    }
}

core::Error RedisPool::error(std::string_view what) const {
    std::string text = "Redis at " +
                       (options_.resolver ? options_.resolver->describe() : address_) + ": " +
                       std::string(what);
    const std::string& secret = options_.password;
    if (!secret.empty()) {
        for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at + 1)) {
            text.replace(at, secret.size(), "[password]");
        }
    }
    return core::make_error(std::move(text));
}

std::size_t RedisPool::connections() const {
    const std::lock_guard lock(mutex_);
    return total_;
}

bool RedisPool::breaker_open() const {
    const std::lock_guard lock(mutex_);
    return breaker_open_;
}

bool RedisPool::demoted(const redisReply& reply) const {
    if (!options_.resolver || reply.type != REDIS_REPLY_ERROR ||
        !is_readonly_error(reply_text(reply))) {
        return false;
    }
    options_.resolver->mark_stale();
    return true;
}

core::Error RedisPool::io_error(const redisContext* context, int saved_errno,
                                std::chrono::milliseconds timeout) const {
    if (options_.resolver) {
        // The primary may have died or moved: ask the sentinels again.
        options_.resolver->mark_stale();
    }
    if (is_timeout(context, saved_errno)) {
        return error("timed out after " + ms_text(timeout));
    }
    if (context->err == REDIS_ERR_EOF) {
        return error("connection closed by the server");
    }
    if (context->err == REDIS_ERR_PROTOCOL) {
        return error("protocol error: " + lower_first(context->errstr));
    }
    return error(lower_first(context->errstr));
}

core::Result<redisContext*> RedisPool::connect(bool* timed_out) {
    const timeval connect_tv = to_timeval(options_.connect_timeout);
    core::RedisAddress a = options_.address;
    if (options_.resolver) {
        auto resolved = options_.resolver->resolve();
        if (!resolved) {
            return resolved.error();
        }
        a = std::move(resolved).value();
    }
    errno = 0;
    ContextPtr c(a.kind == core::RedisAddress::Kind::Unix
                     ? redisConnectUnixWithTimeout(a.path.c_str(), connect_tv)
                     : redisConnectWithTimeout(a.host.c_str(), a.port, connect_tv));
    const int connect_errno = errno;
    if (!c) {
        return error("cannot allocate a connection");
    }
    if (c->err != 0) {
        if (is_timeout(c.get(), connect_errno)) {
            if (timed_out != nullptr) {
                *timed_out = true;
            }
            return error("connect timed out after " + ms_text(options_.connect_timeout));
        }
        return io_error(c.get(), connect_errno, options_.connect_timeout);
    }
    if (a.kind == core::RedisAddress::Kind::Tcp) {
        // Idle pooled connections: let the kernel notice a peer that vanished.
        redisEnableKeepAlive(c.get());
    }
    if (redisSetTimeout(c.get(), to_timeval(options_.command_timeout)) != REDIS_OK) {
        return error("cannot set the command timeout: " + lower_first(c->errstr));
    }
    if (!options_.password.empty()) {
        std::vector<std::string> argv{"AUTH"};
        if (!options_.username.empty()) {
            argv.push_back(options_.username);
        }
        argv.push_back(options_.password);
        int saved_errno = 0;
        const RedisReplyPtr reply = send_argv(c.get(), argv, saved_errno);
        if (!reply) {
            if (timed_out != nullptr) {
                *timed_out = is_timeout(c.get(), saved_errno);
            }
            return io_error(c.get(), saved_errno, options_.command_timeout);
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            return error("authentication failed: " + std::string(reply->str, reply->len));
        }
    }
    if (options_.resolver) {
        const std::string why = check_primary(c.get());
        if (!why.empty()) {
            options_.resolver->mark_stale();
            return error(why);
        }
    }
    return c.release();
}

core::Result<RedisPool::Lease> RedisPool::acquire() {
    const auto deadline = Clock::now() + options_.command_timeout;
    std::unique_lock lock(mutex_);
    for (;;) {
        if (breaker_open_) {
            return breaker_error();
        }
        while (!idle_.empty()) {
            const Idle c = idle_.back();
            idle_.pop_back();
            if (!looks_closed(c.context)) {
                return Lease(this, c.context, c.generation);
            }
            --total_;
            redisFree(c.context);
        }
        if (total_ < options_.pool_size) {
            return open_new(lock);
        }
        if (released_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
            total_ >= options_.pool_size) {
            return error("no connection free within " + ms_text(options_.command_timeout) +
                         " (all " + std::to_string(total_) + " busy)");
        }
    }
}

// Called with the lock held and a free slot; returns with the lock held.
core::Result<RedisPool::Lease> RedisPool::open_new(std::unique_lock<std::mutex>& lock) {
    bool probe = false;
    if (failing_) {
        const auto now = Clock::now();
        if (now < next_connect_) {
            const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_connect_ - now);
            return core::make_error(last_connect_error_ + " (next attempt in " + ms_text(left) +
                                    ")");
        }
        if (probing_) {
            return core::make_error(last_connect_error_ + " (reconnecting)");
        }
        probing_ = probe = true;
    }
    ++total_;
    lock.unlock();
    bool timed_out = false;
    auto c = connect(&timed_out);
    lock.lock();
    if (probe) {
        probing_ = false;
    }
    if (!c) {
        --total_;
        if (timed_out) {
            note_timeout();
        }
        if (!failing_) {
            failing_ = true;
            backoff_ = std::min(kInitialBackoff, options_.max_backoff);
        } else if (probe) {
            backoff_ = std::min(backoff_ * 2, options_.max_backoff);
        }
        next_connect_ = Clock::now() + backoff_;
        last_connect_error_ = c.error().message;
        released_.notify_all();
        return c.error();
    }
    failing_ = false;
    backoff_ = std::chrono::milliseconds{0};
    return Lease(this, *c, generation_);
}

void RedisPool::give_back(redisContext* context, std::uint64_t generation, Ending ending) noexcept {
    const bool broken = ending == Ending::Broken || ending == Ending::TimedOut;
    {
        const std::lock_guard lock(mutex_);
        if (ending == Ending::TimedOut) {
            note_timeout();
        } else if (ending == Ending::Answered) {
            note_answer();
        }
        if (broken) {
            // Whatever broke this one (restart, hang) likely broke the idle
            // ones too. Closing a socket does not block.
            ++generation_;
            for (const auto& c : idle_) {
                redisFree(c.context);
            }
            total_ -= idle_.size();
            idle_.clear();
        }
        if (broken || generation != generation_) {
            redisFree(context);
            --total_;
        } else {
            idle_.push_back({context, generation});
        }
    }
    released_.notify_all();
}

// ---- the circuit breaker ----

void RedisPool::note_timeout() {
    ++timeouts_in_row_;
    if (breaker_open_ || options_.breaker_timeouts == 0 ||
        timeouts_in_row_ < options_.breaker_timeouts) {
        return;
    }
    breaker_open_ = true;
    opened_at_ = Clock::now();
    try {
        if (!prober_.joinable()) {
            prober_ = std::thread([this] { probe_loop(); });
        }
        redis_round_trips().record_breaker(
            true, error(std::to_string(timeouts_in_row_) + " round trips in a row timed out; " +
                        options_.name + " circuit breaker open: failing fast, probing every " +
                        ms_text(options_.breaker_probe_interval))
                      .message);
    } catch (const std::exception&) {
        // No probe thread (out of threads): stay closed, so that messages
        // keep probing Redis themselves as before.
        breaker_open_ = false;
    }
    probe_wake_.notify_all();
    released_.notify_all();  // waiters for a busy connection fail fast now
}

void RedisPool::note_answer() {
    timeouts_in_row_ = 0;
    if (!breaker_open_) {
        return;
    }
    breaker_open_ = false;
    const auto open_for =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - opened_at_);
    try {
        redis_round_trips().record_breaker(
            false, error("answers again; " + options_.name + " circuit breaker closed after " +
                         ms_text(open_for) + " open")
                       .message);
    } catch (const std::exception&) {  // NOLINT(bugprone-empty-catch): a lost log line only
    }
    probe_wake_.notify_all();
}

core::Error RedisPool::breaker_error() const {
    return error("not answering (" + std::to_string(timeouts_in_row_) +
                 " round trips in a row timed out); failing fast until a probe gets an answer");
}

void RedisPool::probe_loop() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        if (!breaker_open_) {
            probe_wake_.wait(lock, [this] { return stopping_ || breaker_open_; });
            continue;
        }
        if (probe_wake_.wait_for(lock, options_.breaker_probe_interval,
                                 [this] { return stopping_ || !breaker_open_; })) {
            continue;
        }
        lock.unlock();
        const bool answered = probe_answers();
        lock.lock();
        if (answered) {
            note_answer();
        }
    }
}

bool RedisPool::probe_answers() {
    auto c = connect();
    if (!c) {
        return false;
    }
    const ContextPtr context(*c);
    int saved_errno = 0;
    static const std::vector<std::string> ping{"PING"};
    const auto start = Clock::now();
    const RedisReplyPtr reply = send_argv(context.get(), ping, saved_errno);
    redis_round_trips().record(Clock::now() - start, !reply);
    return reply != nullptr;
}

core::Result<RedisReplyPtr> RedisPool::command(std::span<const std::string> argv) {
    auto lease = acquire();
    if (!lease) {
        return lease.error();
    }
    return lease.value().command(argv);
}

std::string_view reply_text(const redisReply& r) {
    return r.str != nullptr ? std::string_view(r.str, r.len) : std::string_view();
}

std::optional<core::Error> RedisPool::Lease::scan(std::string_view pattern, std::size_t count,
                                                  const ScanPage& page) {
    std::vector<std::string> argv{
        "SCAN", "0", "MATCH", std::string(pattern), "COUNT", std::to_string(count)};
    std::vector<std::string_view> keys;
    do {
        auto reply = command(argv);
        if (!reply) {
            return reply.error();
        }
        const redisReply& r = *reply.value();
        if (r.type == REDIS_REPLY_ERROR) {
            return pool_->error("SCAN: " + std::string(reply_text(r)));
        }
        if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 || r.element[0] == nullptr ||
            r.element[0]->type != REDIS_REPLY_STRING || r.element[1] == nullptr ||
            r.element[1]->type != REDIS_REPLY_ARRAY) {
            return pool_->error("SCAN: unexpected reply");
        }
        argv[1] = std::string(reply_text(*r.element[0]));
        const redisReply& names = *r.element[1];
        keys.clear();
        for (std::size_t i = 0; i < names.elements; ++i) {
            if (names.element[i] == nullptr || names.element[i]->type != REDIS_REPLY_STRING) {
                return pool_->error("SCAN: unexpected reply");
            }
            keys.push_back(reply_text(*names.element[i]));
        }
        if (auto failed = page(keys)) {
            return failed;
        }
    } while (argv[1] != "0");
    return std::nullopt;
}

core::Result<RedisReplyPtr> RedisPool::Lease::eval_script(const EmbeddedScript& script,
                                                          std::vector<std::string> args,
                                                          std::atomic<std::uint64_t>& loads) {
    args.insert(args.begin(), {std::string("EVALSHA"), script.sha1});
    auto reply = command(args);
    if (reply && reply.value()->type == REDIS_REPLY_ERROR &&
        reply_text(*reply.value()).starts_with("NOSCRIPT")) {
        loads.fetch_add(1, std::memory_order_relaxed);
        args[0] = "EVAL";
        args[1] = script.source;
        reply = command(args);
    }
    return reply;
}

}  // namespace staffel::adapters
