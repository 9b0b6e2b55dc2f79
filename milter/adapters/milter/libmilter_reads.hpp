// libmilter_reads.hpp - reads ahead on libmilter's sessions, so a run of
// MTA commands costs one read(2) instead of four system calls each.
//
// Purpose: libmilter reads every command with two read(2) calls (the
//   5-byte length and command, then the data), each after its own poll(2),
//   and its worker pool polls once more before each command. With headers
//   and body negotiated that is about 20 commands and 110 system calls per
//   message, more CPU than everything else staffeld does apart from the RSA
//   signature. Postfix writes the commands of a stage back to back (no
//   replies negotiated for most of them), so one read(2) of up to
//   kReadAheadBytes usually holds several: the rest is kept here and
//   handed out to libmilter's next reads, and poll(2) on a descriptor with
//   bytes kept here answers "readable" at once.
// How: libmilter's accept(2) registers each session's descriptor
//   (adapters/milter/socket_tuning.cpp); read(2), close(2) and poll(2) calls
//   in staffeld's own objects and Debian's static libmilter.a are routed
//   through the linker's --wrap. Descriptors that were not registered pass
//   straight through, so nothing else in the program is affected.
// Cost: kReadAheadBytes per open session; reads of that size or more (body
//   chunks) go straight to the caller's buffer when nothing is kept.
// Thread-safety: libmilter serves a session on one thread at a time and
//   hands it between threads under its own mutexes; the table of sessions
//   is atomic.
#pragma once

#include <cstddef>

namespace staffel::adapters {

inline constexpr std::size_t kReadAheadBytes = 4096;

// Starts reading ahead on a descriptor libmilter accepted. Descriptors
// above the table's size are left alone (read as before).
void read_ahead_track(int fd);

// True when bytes read from `fd` are kept here, not yet handed out.
bool read_ahead_pending(int fd);

}  // namespace staffel::adapters
