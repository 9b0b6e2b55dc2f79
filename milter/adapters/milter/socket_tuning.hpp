// socket_tuning.hpp - keeps libmilter's TCP connections free of Nagle and
// delayed-ACK stalls.
//
// Purpose: over `inet:` the MTA writes a macro packet and then its command
//   as two small segments. With Nagle on the MTA's side, the second waits
//   until the first is acknowledged, and Linux delays that ACK (up to 40 ms)
//   once a connection looks interactive ("pingpong" mode), which it does
//   after our first reply. A milter cannot change the MTA's socket, so
//   Staffel keeps its own side out of delayed-ACK mode: after every reply
//   libmilter writes, TCP_QUICKACK is set again, so the next small segment
//   is acknowledged as soon as it is read. Accepted sockets also get
//   TCP_NODELAY so our own multi-packet replies are never held back.
//
//   The same hook closes new connections while staffeld drains on SIGTERM.
//
//   libmilter's accept(2) and writev(2) calls are routed here with the
//   linker's --wrap option (staffeld links Debian's static libmilter.a);
//   nothing else in the program is affected.
// Thread-safety: the wrappers are called from libmilter's threads; they
//   read one flag set before smfi_main() starts.
#pragma once

namespace staffel::adapters {

// Enables the TCP tuning (call with true when the milter socket is inet).
void set_milter_socket_is_tcp(bool tcp);

// From now on, connections libmilter accepts are closed at once, so the MTA
// applies its milter_default_action (tempfail) to new sessions while the
// messages already under way finish (SIGTERM draining).
void refuse_new_connections();

}  // namespace staffel::adapters
