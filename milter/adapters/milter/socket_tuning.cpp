// socket_tuning.cpp - see socket_tuning.hpp.
#include "adapters/milter/socket_tuning.hpp"

#include "adapters/milter/libmilter_reads.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

namespace {
std::atomic<bool> g_tcp{false};
std::atomic<bool> g_refuse{false};
}  // namespace

namespace staffel::adapters {
void set_milter_socket_is_tcp(bool tcp) {
    g_tcp.store(tcp);
}
void refuse_new_connections() {
    g_refuse.store(true);
}
}  // namespace staffel::adapters

extern "C" {

int __real_accept(int fd, sockaddr* addr, socklen_t* len);
ssize_t __real_writev(int fd, const iovec* iov, int count);

// libmilter's accept(2): accepted TCP connections get TCP_NODELAY; every
// session is read ahead (libmilter_reads.hpp).
int __wrap_accept(int fd, sockaddr* addr, socklen_t* len) {
    const int conn = __real_accept(fd, addr, len);
    if (conn >= 0 && g_refuse.load(std::memory_order_relaxed)) {
        ::close(conn);
        errno = EINTR;  // libmilter's listener retries quietly on EINTR
        return -1;
    }
    if (conn >= 0 && g_tcp.load(std::memory_order_relaxed)) {
        const int on = 1;
        (void)::setsockopt(conn, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
        (void)::setsockopt(conn, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    }
    if (conn >= 0) {
        staffel::adapters::read_ahead_track(conn);
    }
    return conn;
}

// libmilter's replies to the MTA: leave delayed-ACK mode after each one.
ssize_t __wrap_writev(int fd, const iovec* iov, int count) {
    const ssize_t n = __real_writev(fd, iov, count);
    if (g_tcp.load(std::memory_order_relaxed)) {
        const int on = 1;
        (void)::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &on, sizeof on);
    }
    return n;
}

}  // extern "C"
