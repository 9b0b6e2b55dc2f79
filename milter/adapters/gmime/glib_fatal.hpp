// glib_fatal.hpp - a fatal GLib error as a call of ours instead of a trap.
//
// Purpose: GLib ends the process with SIGTRAP when it cannot allocate
//   ("failed to allocate N bytes", g_error()); GMime allocates through it.
//   A program that must answer with an exit status instead (staffelctl
//   ingest, under pipe(8)) installs a handler here: every fatal GLib message
//   then reaches it, and it must end the process (print and _exit). Other
//   GLib messages go to GLib's default writer as before.
// Thread-safety: install once, from main(), before anything logs through
//   GLib (GLib allows one log writer per process); later calls do nothing.
// Outside input: none; the handler receives GLib's own message.
#pragma once

namespace staffel::adapters {

using GlibFatalHandler = void (*)(const char* message);

// `handler` must not return; if it does, GLib's own fatal path follows.
void on_glib_fatal(GlibFatalHandler handler);

}  // namespace staffel::adapters
