// redis_server.cpp - see redis_server.hpp.
#include "redis_server.hpp"

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace staffel::test {
namespace {

constexpr const char* kRedisServer = "/usr/bin/redis-server";

std::uint16_t free_tcp_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        throw std::runtime_error("socket() failed");
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error("cannot find a free TCP port");
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

struct ContextDeleter {
    void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
    void operator()(redisReply* r) const { freeReplyObject(r); }
};

std::unique_ptr<redisReply, ReplyDeleter> send(redisContext* c,
                                               const std::vector<std::string>& argv) {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    ptrs.reserve(argv.size());
    lens.reserve(argv.size());
    for (const auto& a : argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
    }
    return std::unique_ptr<redisReply, ReplyDeleter>(static_cast<redisReply*>(
        redisCommandArgv(c, static_cast<int>(argv.size()), ptrs.data(), lens.data())));
}

}  // namespace

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

RedisServer::RedisServer(Config config) : RedisServer(std::move(config), {}) {}

RedisServer::RedisServer(Config config, std::vector<std::string> extra_args)
    : config_(std::move(config)), extra_args_(std::move(extra_args)) {
    std::string pattern = (std::filesystem::temp_directory_path() / "staffel-redis-XXXXXX");
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = pattern;
    socket_ = dir_ + "/redis.sock";
    if (config_.tcp) {
        port_ = free_tcp_port();
    }
    try {
        start();
    } catch (...) {
        kill();
        std::filesystem::remove_all(dir_);
        throw;
    }
}

RedisServer::~RedisServer() {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void RedisServer::start() {
    kill();
    std::vector<std::string> args{kRedisServer,
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--unixsocket",
                                  socket_,
                                  "--unixsocketperm",
                                  "700",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--dir",
                                  dir_,
                                  "--daemonize",
                                  "no",
                                  "--logfile",
                                  ""};
    if (!config_.password.empty()) {
        args.insert(args.end(), {"--requirepass", config_.password});
    }
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    const std::string log = dir_ + "/redis.log";
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        throw std::runtime_error("fork failed");
    }
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            ::dup2(fd, 1);
            ::dup2(fd, 2);
        }
        ::execv(kRedisServer, argv.data());
        ::_exit(127);
    }
    pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
            pid_ = -1;
            break;
        }
        const timeval tv{0, 200000};
        std::unique_ptr<redisContext, ContextDeleter> c(
            redisConnectUnixWithTimeout(socket_.c_str(), tv));
        if (c && c->err == 0 && send(c.get(), {"PING"})) {
            return;  // any reply (PONG, NOAUTH) means it is serving
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::ifstream in(log);
    std::stringstream text;
    text << in.rdbuf();
    kill();
    throw std::runtime_error("redis-server did not start; its log:\n" + text.str());
}

void RedisServer::kill() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
    }
}

void RedisServer::signal(int signo) {
    if (pid_ > 0) {
        ::kill(pid_, signo);
    }
}

core::RedisAddress RedisServer::address() const {
    core::RedisAddress a;
    if (config_.tcp) {
        a.kind = core::RedisAddress::Kind::Tcp;
        a.host = "127.0.0.1";
        a.port = port_;
    } else {
        a.kind = core::RedisAddress::Kind::Unix;
        a.path = socket_;
    }
    return a;
}

adapters::RedisOptions RedisServer::options() const {
    adapters::RedisOptions o;
    o.address = address();
    o.password = config_.password;
    return o;
}

RedisServer::Reply RedisServer::command(const std::vector<std::string>& argv) const {
    const timeval tv{2, 0};
    std::unique_ptr<redisContext, ContextDeleter> c(
        redisConnectUnixWithTimeout(socket_.c_str(), tv));
    if (!c || c->err != 0) {
        throw std::runtime_error("cannot connect to the test redis-server");
    }
    redisSetTimeout(c.get(), tv);
    if (!config_.password.empty()) {
        send(c.get(), {"AUTH", config_.password});
    }
    auto r = send(c.get(), argv);
    if (!r) {
        throw std::runtime_error("the test redis-server did not answer");
    }
    Reply out;
    out.type = r->type;
    out.integer = r->integer;
    if (r->str != nullptr) {
        out.str.assign(r->str, r->len);
    }
    return out;
}

}  // namespace staffel::test
