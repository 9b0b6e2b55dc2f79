"""harness.py - throw-away servers for Staffel's integration tests, bench and demo.

Purpose: start and stop, on loopback only, the pieces a message meets on its
  way out: a Redis (`Redis`), a capture SMTP sink (`Sink`), a private
  Postfix 3.7 instance (`Postfix`) and the daemon under test (`Staffeld`);
  and Debian's OpenDKIM as a signing milter to compare with (`OpenDkim`).
  Also an SMTP client that reports every step's reply (`smtp_send`) and a
  `staffeld -n` wrapper (`check_config`).
Who calls it: tests/integration/conftest.py (pytest fixtures),
  tests/bench/throughput.py and contrib/quickstart/demo.py.
Lifetime rules: every server is a context manager with start()/stop().
  Servers are torn down by PID, never by name. Each started server is
  registered, and an atexit hook stops whatever is left; each also gets a
  watchdog process (watchdog.py) that stops it when this Python process
  dies or after `max_seconds`, so nothing outlives a crashed test run.
  Directly spawned servers also get PR_SET_PDEATHSIG.
Ports: bound to 127.0.0.1 only; free ports are found by binding port 0.
  Unix sockets live in per-test directories made by `make_workdir()`
  (mode 0755 so the postfix user can traverse them).
Errors: a server that fails to come up raises `StartError` carrying the
  tail of its log; every wait is bounded by a timeout.
Standard library only; meant for Debian's /usr/bin/python3.
"""
# The implementation lives in four files of one purpose each; this module
# is the one name to import.
from harness_core import *  # noqa: F401,F403
from harness_core import _live, _stop_all  # noqa: F401 (for watchdog.py and tests)
from harness_opendkim import *  # noqa: F401,F403
from harness_postfix import *  # noqa: F401,F403
from harness_sendmail import *  # noqa: F401,F403
from harness_staffeld import *  # noqa: F401,F403
