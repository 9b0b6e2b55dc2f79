// libmilter_pool.cpp - keeps a milter session on its worker thread between
// the MTA's commands, instead of handing it back to libmilter's pool
// controller after every pause of a millisecond.
//
// Purpose: Debian's libmilter is built with its worker pool
//   (_FFR_WORKERS_POOL). Before each command a worker asks poll(2) whether
//   the MTA's next command arrives within 1 ms (mi_rd_socket_ready); when
//   it does not - and between MAIL, RCPT and end of message the MTA waits
//   for its SMTP client - the worker gives the session back: a pipe write
//   wakes the controller thread, which rebuilds its poll set, polls, and
//   signals a worker through a condition variable. That is several context
//   switches per pause, several pauses per message, and on a small machine
//   it costs more CPU than everything Staffel does with a message.
//   Waiting a little longer on the worker keeps a session on one thread
//   while the MTA talks to its client; a session idle for longer than
//   kHoldMs still goes back to the pool as before.
// Cost: one worker thread per session that is active within kHoldMs, the
//   same as libmilter without the pool; each has the small stack staffeld
//   sets. Nothing else changes: libmilter's reads keep their own timeout.
// How: libmilter's poll(2) calls are routed here with the linker's --wrap
//   (staffeld links Debian's static libmilter.a). Only the exact question
//   mi_rd_socket_ready asks - one descriptor, POLLIN, 1 ms - is changed;
//   every other poll in the program passes through untouched.
//   The same wrapper answers for bytes the read-ahead keeps
//   (libmilter_reads.hpp): such a descriptor is readable at once.
// Thread-safety: stateless.
#include <poll.h>

#include "adapters/milter/libmilter_reads.hpp"

namespace {
constexpr int kLibmilterReadyProbeMs = 1;  // MI_RD_CMD_TO in libmilter/engine.c
constexpr int kHoldMs = 250;
}  // namespace

extern "C" {

int __real_poll(pollfd* fds, nfds_t count, int timeout_ms);

// Descriptors with bytes kept by the read-ahead (libmilter_reads.hpp) are
// readable whatever the kernel says; the others are polled without waiting.
// libmilter's own question about one session needs no system call.
static int poll_with_kept_bytes(pollfd* fds, nfds_t count) {
    if (count == 1) {
        fds[0].revents = POLLIN;
        return 1;
    }
    const int polled = __real_poll(fds, count, 0);
    if (polled < 0) {
        return polled;
    }
    int ready = 0;
    for (nfds_t i = 0; i < count; ++i) {
        if ((fds[i].events & POLLIN) != 0 && staffel::adapters::read_ahead_pending(fds[i].fd)) {
            fds[i].revents |= POLLIN;
        }
        ready += fds[i].revents != 0 ? 1 : 0;
    }
    return ready;
}

int __wrap_poll(pollfd* fds, nfds_t count, int timeout_ms) {
    for (nfds_t i = 0; i < count; ++i) {
        if ((fds[i].events & POLLIN) != 0 && staffel::adapters::read_ahead_pending(fds[i].fd)) {
            return poll_with_kept_bytes(fds, count);
        }
    }
    if (count == 1 && timeout_ms == kLibmilterReadyProbeMs && fds[0].events == POLLIN) {
        timeout_ms = kHoldMs;
    }
    return __real_poll(fds, count, timeout_ms);
}

}  // extern "C"
