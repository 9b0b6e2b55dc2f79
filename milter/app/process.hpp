// process.hpp - the operating-system chores of a daemon.
//
// Purpose: safe removal of a stale unix socket, daemonising, pid files,
//   dropping privileges, and the self-pipe that turns signals into events
//   for the main thread. Used by staffeld's main() only, at start-up and
//   shutdown, never on the mail path.
// Thread-safety: call from the main thread; the signal handler only
//   write(2)s one byte.
// Errors: Result with a message naming the file or account and errno text.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "core/result.hpp"

namespace staffel::app {

// Makes `path` free for a new listening socket: absent is fine; a socket
// nobody listens on (a dead process's) is removed; a live socket, or a
// file that is not a socket, is refused.
core::Result<bool> clear_stale_unix_socket(const std::string& path);

struct Account {
    uid_t uid = 0;
    gid_t gid = 0;
    std::string user;
};

// Looks up the user (and optional group) to run as.
core::Result<Account> lookup_account(const std::string& user,
                                     const std::optional<std::string>& group);

// initgroups + setgid + setuid, then checks root cannot be regained.
core::Result<bool> drop_privileges(const Account& account);

// Classic double fork; stdio to /dev/null; cwd "/".
core::Result<bool> daemonise();

core::Result<bool> write_pid_file(const std::string& path);

// Signals the main thread waits for. The handlers write one byte each to a
// pipe: 'H' SIGHUP, 'T' SIGTERM, 'I' SIGINT.
class SignalPipe {
  public:
    static core::Result<bool> install();
    static int read_fd();
    // Lets another thread wake the main thread with its own byte.
    static void post(char event);
};

}  // namespace staffel::app
