// parse_guard.cpp - see parse_guard.hpp.
#include "app/parse_guard.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>

#include "adapters/gmime/glib_fatal.hpp"
#include "app/exit_codes.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define STAFFEL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STAFFEL_ASAN 1
#endif
#endif

namespace staffel::app {
namespace {

#ifdef STAFFEL_ASAN
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

const char* guard_command = "staffelctl";

// Async-signal-safe: write(2) and _exit(2) only. One line: "COMMAND: " and
// the parts, then what happens to the message.
void end_tempfail(std::initializer_list<const char*> parts) {
    const auto put = [](const char* s) {
        const ssize_t ignored = ::write(STDERR_FILENO, s, std::strlen(s));
        static_cast<void>(ignored);
    };
    put(guard_command);
    put(": ");
    for (const char* s : parts) {
        put(s);
    }
    put("; the message is kept for a retry (exit 75)\n");
    ::_exit(kExitTempFail);
}

void on_fatal_signal(int sig) {
    if (sig == SIGXCPU) {
        end_tempfail({"out of CPU time while parsing"});
    }
    end_tempfail({"crashed while parsing (signal ",
                  sig == SIGSEGV   ? "SIGSEGV"
                  : sig == SIGBUS  ? "SIGBUS"
                  : sig == SIGILL  ? "SIGILL"
                  : sig == SIGFPE  ? "SIGFPE"
                  : sig == SIGABRT ? "SIGABRT"
                                   : "SIGTRAP",
                  ")"});
}

void on_glib_fatal(const char* message) {
    end_tempfail({"out of memory while parsing (GLib: ", message, ")"});
}

core::Result<bool> set_limit(int resource, rlim_t soft, rlim_t hard, const char* name) {
    rlimit current{};
    if (::getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
        soft = std::min(soft, current.rlim_max);
        hard = std::min(hard, current.rlim_max);
    }
    const rlimit limit{soft, hard};
    if (::setrlimit(resource, &limit) != 0) {
        return core::make_error(std::string("cannot set ") + name + ": " + std::strerror(errno));
    }
    return true;
}

}  // namespace

core::Result<bool> install_parse_guard(const char* command, const ParseGuardLimits& limits) {
    guard_command = command;
    adapters::on_glib_fatal(on_glib_fatal);

    // A crash may be a stack overflow: handle it on a stack of its own.
    static char alternate_stack[64 * 1024];
    stack_t stack{};
    stack.ss_sp = alternate_stack;
    stack.ss_size = sizeof alternate_stack;
    ::sigaltstack(&stack, nullptr);
    struct sigaction action {};
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGXCPU}) {
        // A sanitizer build keeps its own crash reports: they are what its
        // tests look for.
        if (sig == SIGXCPU || !kSanitized) {
            ::sigaction(sig, &action, nullptr);
        }
    }

    if (limits.address_space_bytes != 0 && !kSanitized) {
        const auto as = static_cast<rlim_t>(limits.address_space_bytes);
        if (auto set = set_limit(RLIMIT_AS, as, as, "the address-space limit"); !set) {
            return set;
        }
    }
    if (limits.cpu_seconds != 0) {
        // SIGXCPU at the soft limit; the hard limit, a little later, kills.
        const auto cpu = static_cast<rlim_t>(limits.cpu_seconds);
        if (auto set = set_limit(RLIMIT_CPU, cpu, cpu + 5, "the CPU-time limit"); !set) {
            return set;
        }
    }
    return true;
}

int run_guarded(const char* command, std::ostream& err, const std::function<int()>& body) {
    try {
        return body();
    } catch (const std::bad_alloc&) {
        err << command << ": out of memory while parsing; the message is kept for a retry (exit 75)\n";
        return kExitTempFail;
    }
}

}  // namespace staffel::app
