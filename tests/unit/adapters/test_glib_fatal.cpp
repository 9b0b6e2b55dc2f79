// test_glib_fatal.cpp - a fatal GLib error reaches the installed handler
// instead of trapping: g_error() (what GLib calls when an allocation fails)
// and a real failed allocation, each in a child process whose exit status
// and stderr line are checked.
#include <glib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <string>

#include "adapters/gmime/glib_fatal.hpp"

namespace {

[[noreturn]] void handler(const char* message) {
    std::fprintf(stderr, "handled: %s\n", message);
    std::fflush(stderr);
    ::_exit(75);
}

struct Outcome {
    int status = -1;
    std::string err;
};

// Runs `body` in a child with the handler installed; its stderr and status.
template <typename Body>
Outcome in_child(Body body) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(fds[1], STDERR_FILENO);
        staffel::adapters::on_glib_fatal(handler);
        body();
        ::_exit(0);
    }
    ::close(fds[1]);
    Outcome out;
    char buf[512];
    ssize_t n = 0;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) {
        out.err.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    out.status = status;
    return out;
}

}  // namespace

TEST_CASE("g_error() reaches the fatal handler, not a trap", "[glib]") {
    const auto got = in_child([] { g_error("test error %d", 42); });
    INFO("stderr: " << got.err);
    REQUIRE(WIFEXITED(got.status));
    CHECK(WEXITSTATUS(got.status) == 75);
    CHECK(got.err.find("handled: test error 42") != std::string::npos);
}

TEST_CASE("a failed GLib allocation reaches the fatal handler", "[glib]") {
#if defined(__SANITIZE_ADDRESS__)
    WARN("AddressSanitizer refuses the allocation itself before GLib sees it fail: not run");
#else
    const auto got = in_child([] {
        void* p = g_malloc(G_MAXSIZE / 2);  // cannot succeed
        g_free(p);
    });
    INFO("stderr: " << got.err);
    REQUIRE(WIFEXITED(got.status));
    CHECK(WEXITSTATUS(got.status) == 75);
    CHECK(got.err.find("handled: ") != std::string::npos);
    CHECK(got.err.find("failed to allocate") != std::string::npos);
#endif
}

TEST_CASE("messages below fatal still go to GLib's writer", "[glib]") {
    const auto got = in_child([] { g_warning("only a warning"); });
    INFO("stderr: " << got.err);
    REQUIRE(WIFEXITED(got.status));
    CHECK(WEXITSTATUS(got.status) == 0);
    CHECK(got.err.find("only a warning") != std::string::npos);
    CHECK(got.err.find("handled:") == std::string::npos);
}
