// parse_guard.hpp - bounds for a process that parses mail from anyone.
//
// Purpose: `staffelctl ingest` runs as Postfix's pipe(8) transport for the
//   bounce address and hands what arrives there to GMime. The parser's own
//   bounds (adapters/gmime/) keep its memory a small multiple of the input;
//   this is the net under them, should a parser bug grow or spin anyway:
//   - the process's address space (RLIMIT_AS) and CPU time (RLIMIT_CPU)
//     are capped, so one message cannot take the host's memory or a core;
//   - running out of either ends the process with exit 75 (EX_TEMPFAIL)
//     and one line on stderr, never a signal: a fatal GLib error (GLib's
//     "failed to allocate N bytes"), SIGXCPU, and a crash inside a parser
//     (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP). pipe(8) then
//     keeps the message in the queue and retries it. std::bad_alloc is the
//     caller's to catch (run_guarded()).
//   Builds with AddressSanitizer skip the address-space cap (ASan reserves
//   terabytes of address space for its shadow memory) and leave crash
//   signals to ASan's own reports.
// Thread-safety: install from main() before other threads start.
// Errors: install_parse_guard() returns why a limit could not be set.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>

#include "core/result.hpp"

namespace staffel::app {

struct ParseGuardLimits {
    std::uint64_t address_space_bytes = 0;  // 0 = no cap
    std::uint64_t cpu_seconds = 0;          // 0 = no cap
};

// `command` names the process in the one line a fatal end prints, e.g.
// "staffelctl: ingest". Must outlive the process (a string literal).
core::Result<bool> install_parse_guard(const char* command, const ParseGuardLimits& limits);

// Runs `body`; std::bad_alloc becomes exit 75 with a line on `err`.
int run_guarded(const char* command, std::ostream& err, const std::function<int()>& body);

}  // namespace staffel::app
