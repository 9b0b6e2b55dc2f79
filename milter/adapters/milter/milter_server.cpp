// milter_server.cpp - see milter_server.hpp.
#include "adapters/milter/milter_server.hpp"

#include <libmilter/mfapi.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>

#include "adapters/milter/socket_tuning.hpp"

namespace staffel::adapters {
namespace {

constexpr int kWakeAttempts = 500;
constexpr std::chrono::milliseconds kWakeInterval{20};

void connect_once_unix(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return;
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    ::close(fd);
}

void connect_once_inet(const std::string& host, std::uint16_t port) {
    // A wildcard address is reached through loopback.
    const std::string target = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "::1" : host;
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (::getaddrinfo(target.c_str(), std::to_string(port).c_str(), &hints, &found) != 0) {
        return;
    }
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            continue;
        }
        const bool ok = ::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0;
        ::close(fd);
        if (ok) {
            break;
        }
    }
    ::freeaddrinfo(found);
}

// Connects once to our own socket and closes, so that libmilter's listener
// notices a stop at once. Best effort: failure only makes exit slower.
void wake_listener(const core::MilterSocket& s) {
    if (s.kind == core::MilterSocket::Kind::Unix) {
        connect_once_unix(s.path);
    } else {
        connect_once_inet(s.host, s.port);
    }
}

}  // namespace

core::Result<bool> MilterServer::configure(const core::MilterSocket& socket,
                                           std::chrono::milliseconds timeout, int backlog) {
    socket_ = socket;
    const auto spec = socket.to_libmilter();
    if (smfi_setconn(const_cast<char*>(spec.c_str())) != MI_SUCCESS) {
        return core::make_error("libmilter refused socket " + spec);
    }
    const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(timeout);
    smfi_settimeout(static_cast<int>(seconds.count()));
    smfi_setbacklog(backlog);
    return true;
}

core::Result<bool> MilterServer::open_socket() {
    if (smfi_opensocket(false) != MI_SUCCESS) {
        const int err = errno;
        return core::make_error("cannot open milter socket " + socket_.to_libmilter() + ": " +
                                std::strerror(err));
    }
    if (socket_.kind != core::MilterSocket::Kind::Unix) {
        set_milter_socket_is_tcp(true);
    }
    return true;
}

bool MilterServer::run() {
    const int rc = smfi_main();
    finished_.store(true);
    return rc == MI_SUCCESS;
}

// smfi_stop() waits for a lock that libmilter's listener holds while it
// polls its socket, so it runs in a helper thread while this one pokes the
// listener awake.
void MilterServer::request_stop() {
    refuse_new_connections();
    std::thread stopper([] { smfi_stop(); });
    for (int i = 0; i < kWakeAttempts && !finished(); ++i) {
        wake_listener(socket_);
        std::this_thread::sleep_for(kWakeInterval);
    }
    stopper.join();
}

}  // namespace staffel::adapters
