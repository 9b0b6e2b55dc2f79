// libmilter_signals.cpp - keeps libmilter's signal thread away from the
// daemon's signals.
//
// Purpose: smfi_main() starts a thread that sigwait()s for SIGHUP, SIGTERM
//   and SIGINT and stops the milter on any of them. staffeld gives SIGHUP
//   another meaning (reload the policy) and drains on SIGTERM, and handles
//   all three in its main thread. Which thread the kernel hands a
//   process-wide signal to is not guaranteed, so libmilter's sigwait(3) is
//   routed here (linker --wrap, see CMakeLists.txt) and simply never
//   returns: that thread keeps the signals blocked and sleeps, and every
//   signal reaches the main thread's handlers.
// Thread-safety: only libmilter's signal thread calls it.
#include <signal.h>
#include <unistd.h>

extern "C" int __wrap_sigwait(const sigset_t* /*set*/, int* /*sig*/) {
    for (;;) {
        ::pause();  // the calling thread blocks the signals libmilter asked for
    }
}
