// main.cpp - Catch2 v2 entry point for the Redis integration tests.
//
// SIGPIPE is ignored first, as staffeld does (app/process.cpp): the tests
// kill redis-server under live connections, and hiredis writes with write(2).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <csignal>

int main(int argc, char* argv[]) {
    std::signal(SIGPIPE, SIG_IGN);
    return Catch::Session().run(argc, argv);
}
