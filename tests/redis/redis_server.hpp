// redis_server.hpp - a private redis-server for one test.
//
// Purpose: each test starts its own /usr/bin/redis-server in a fresh
//   temporary directory, on a unix socket there (and on a free loopback TCP
//   port if asked), with no persistence, and kills it when the test ends,
//   whether it passed, failed or threw. The child also gets SIGKILL if the
//   test process dies (PR_SET_PDEATHSIG), so no redis-server outlives it.
// Thread-safety: none; drive it from the test's main thread (the death
//   signal is tied to the thread that forked).
// Errors: std::runtime_error if the server does not start within 5 s
//   (the message carries its log).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/redis/redis_pool.hpp"

namespace staffel::test {

class RedisServer {
  public:
    struct Config {
        bool tcp = false;      // also listen on 127.0.0.1:<free port>; address() is TCP
        std::string password;  // requirepass, "" = none
    };

    RedisServer() : RedisServer(Config{}) {}
    explicit RedisServer(Config config);
    // With more redis-server arguments, e.g. {"--replicaof", "127.0.0.1", "6379"}.
    RedisServer(Config config, std::vector<std::string> extra_args);
    ~RedisServer();
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    void start();            // (re)starts on the same socket and port; waits for it
    void kill();             // SIGKILL, reaped
    void signal(int signo);  // e.g. SIGSTOP, SIGCONT
    [[nodiscard]] core::RedisAddress address() const;
    [[nodiscard]] std::uint16_t port() const { return port_; }
    // Options for the store with short timeouts suited to tests.
    [[nodiscard]] adapters::RedisOptions options() const;

    // One command on a fresh direct connection, for assertions.
    struct Reply {
        int type = 0;  // REDIS_REPLY_*
        long long integer = 0;
        std::string str;
    };
    Reply command(const std::vector<std::string>& argv) const;

  private:
    Config config_;
    std::vector<std::string> extra_args_;
    std::string dir_;
    std::string socket_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

std::int64_t now_ms();  // system clock, epoch milliseconds
std::int64_t now_us();  // system clock, epoch microseconds

}  // namespace staffel::test
