// milter_server.hpp - start-up and shutdown of the milter library.
//
// Purpose: staffeld's only handle on libmilter's life cycle (the callbacks
//   are milter_adapter's). In start-up order:
//     configure()     the listening socket, I/O timeout and listen backlog
//     register_milter (milter_adapter.hpp) the callbacks and their context
//     open_socket()   bind and listen; call it while still privileged
//     run()           serve connections until stopped (blocks)
//     request_stop()  from another thread: make run() return
//   libmilter keeps one instance per process, so there is one MilterServer
//   per process too.
// Thread-safety: configure() and open_socket() from the main thread before
//   run(); run() from one thread; request_stop() and finished() from any
//   other thread.
// Errors: configure() and open_socket() return Result errors naming the
//   socket (and errno text); run() says whether libmilter failed, whose
//   own messages go to syslog or stderr.
// Outside input: none; the socket spec comes from the validated policy.
#pragma once

#include <atomic>
#include <chrono>

#include "core/endpoints.hpp"
#include "core/result.hpp"

namespace staffel::adapters {

class MilterServer {
  public:
    // Where to listen (smfi_setconn), how long a silent MTA connection may
    // wait before it is dropped (smfi_settimeout, whole seconds) and how
    // many connections may wait to be accepted (smfi_setbacklog).
    core::Result<bool> configure(const core::MilterSocket& socket,
                                 std::chrono::milliseconds timeout, int backlog);

    // Opens the configured socket. A stale unix socket must be gone
    // already: libmilter is never let to unlink a path on its own. An inet
    // socket also turns on the TCP tuning of socket_tuning.hpp.
    core::Result<bool> open_socket();

    // Runs libmilter's listener and workers until they stop; true when
    // they stopped without error (on request_stop(), or on their own).
    bool run();

    // Whether run() has returned.
    [[nodiscard]] bool finished() const { return finished_.load(); }

    // Refuses new connections and makes run() return; let the messages
    // under way finish first where that matters (staffeld drains).
    // libmilter's listener checks for a stop only between polls of its
    // socket (up to five seconds each), so it is poked awake by connecting
    // to the socket until run() has returned (for at most ten seconds).
    void request_stop();

  private:
    core::MilterSocket socket_;
    std::atomic<bool> finished_{false};
};

}  // namespace staffel::adapters
