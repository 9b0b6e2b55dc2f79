// process.cpp - see process.hpp.
#include "app/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace staffel::app {
namespace {

std::string errno_text() {
    return std::strerror(errno);
}

int g_pipe[2] = {-1, -1};

extern "C" void on_signal(int sig) {
    const int saved = errno;
    char c = sig == SIGHUP ? 'H' : sig == SIGTERM ? 'T' : 'I';
    [[maybe_unused]] auto n = ::write(g_pipe[1], &c, 1);
    errno = saved;
}

}  // namespace

core::Result<bool> clear_stale_unix_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) {
            return true;
        }
        return core::make_error("cannot inspect " + path + ": " + errno_text());
    }
    if (!S_ISSOCK(st.st_mode)) {
        return core::make_error("refusing to replace " + path + ": it exists and is not a socket");
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return core::make_error("socket(): " + errno_text());
    }
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
    const int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    const int err = errno;
    ::close(fd);
    if (rc == 0) {
        return core::make_error("another process is already listening on " + path +
                                "; is staffeld running?");
    }
    if (err != ECONNREFUSED) {
        return core::make_error("cannot check whether " + path +
                                " is in use: " + std::strerror(err));
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return core::make_error("cannot remove stale socket " + path + ": " + errno_text());
    }
    return true;
}

core::Result<Account> lookup_account(const std::string& user,
                                     const std::optional<std::string>& group) {
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    if (::getpwnam_r(user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
        return core::make_error("unknown user \"" + user +
                                "\": no such account on this host; create it (e.g. adduser "
                                "--system " +
                                user + ") or name an existing one");
    }
    Account a{pw.pw_uid, pw.pw_gid, user};
    if (group) {
        std::vector<char> gbuf(16384);
        struct group gr {};
        struct group* gfound = nullptr;
        if (::getgrnam_r(group->c_str(), &gr, gbuf.data(), gbuf.size(), &gfound) != 0 ||
            gfound == nullptr) {
            return core::make_error("unknown group \"" + *group +
                                    "\": no such group on this host; create it or name an "
                                    "existing one");
        }
        a.gid = gr.gr_gid;
    }
    return a;
}

core::Result<bool> drop_privileges(const Account& a) {
    if (::getuid() == a.uid && ::geteuid() == a.uid) {
        return true;
    }
    if (::initgroups(a.user.c_str(), a.gid) != 0) {
        return core::make_error("initgroups(" + a.user + "): " + errno_text());
    }
    if (::setgid(a.gid) != 0) {
        return core::make_error("setgid(" + std::to_string(a.gid) + "): " + errno_text());
    }
    if (::setuid(a.uid) != 0) {
        return core::make_error("setuid(" + std::to_string(a.uid) + "): " + errno_text());
    }
    if (a.uid != 0 && (::setuid(0) == 0 || ::seteuid(0) == 0)) {
        return core::make_error("could regain root after dropping privileges; refusing to run");
    }
    return true;
}

core::Result<bool> daemonise() {
    pid_t pid = ::fork();
    if (pid < 0) {
        return core::make_error("fork: " + errno_text());
    }
    if (pid > 0) {
        ::_exit(0);
    }
    if (::setsid() < 0) {
        return core::make_error("setsid: " + errno_text());
    }
    pid = ::fork();
    if (pid < 0) {
        return core::make_error("fork: " + errno_text());
    }
    if (pid > 0) {
        ::_exit(0);
    }
    ::umask(027);
    if (::chdir("/") != 0) {
        return core::make_error("chdir /: " + errno_text());
    }
    const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null < 0) {
        return core::make_error("/dev/null: " + errno_text());
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) {
        ::close(null);
    }
    return true;
}

core::Result<bool> write_pid_file(const std::string& path) {
    const int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        return core::make_error("cannot write pid file " + path + ": " + errno_text());
    }
    const std::string text = std::to_string(::getpid()) + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!ok) {
        return core::make_error("cannot write pid file " + path + ": " + errno_text());
    }
    return true;
}

core::Result<bool> SignalPipe::install() {
    if (::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        return core::make_error("pipe: " + errno_text());
    }
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : {SIGHUP, SIGTERM, SIGINT}) {
        if (::sigaction(sig, &sa, nullptr) != 0) {
            return core::make_error("sigaction: " + errno_text());
        }
    }
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    ::sigaction(SIGPIPE, &ign, nullptr);
    return true;
}

int SignalPipe::read_fd() {
    return g_pipe[0];
}

void SignalPipe::post(char event) {
    [[maybe_unused]] auto n = ::write(g_pipe[1], &event, 1);
}

}  // namespace staffel::app
