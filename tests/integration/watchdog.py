#!/usr/bin/python3
"""watchdog.py - stops one test server when its owner dies or its time is up.

Purpose: harness.py starts one watchdog per server. It polls every 0.2 s;
  when the parent (the test process) is gone, or --max-seconds have passed,
  it stops the server and exits:
    --pid PID          SIGTERM, then SIGKILL after 5 s, that one process;
    --postfix CONFDIR  `postfix -c CONFDIR stop`, then SIGKILL by PID every
                       process whose environment has MAIL_CONFIG=CONFDIR.
  harness.py kills the watchdog (by its PID) when it stops the server
  normally, so a watchdog never acts on a server that was stopped cleanly.
Trust: arguments come from harness.py only.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import harness_core  # noqa: E402


start_time = harness_core.proc_start_time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--parent-start", required=True,
                    help="the parent's start time as harness_core.proc_start_time gave it")
    ap.add_argument("--max-seconds", type=float, required=True)
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--pid", type=int)
    g.add_argument("--postfix")
    ap.add_argument("--pid-start", help="the target's start time (guards against PID reuse)")
    args = ap.parse_args()

    # Our own exit must not be mistaken for an exit of the harness.
    harness_core.atexit.unregister(harness_core._stop_all)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))

    parent_start = args.parent_start
    target_start = args.pid_start if args.pid else None
    deadline = time.monotonic() + args.max_seconds
    reason = None
    while reason is None:
        time.sleep(0.2)
        if start_time(args.parent) != parent_start:
            reason = "parent %d is gone" % args.parent
        elif time.monotonic() > deadline:
            reason = "max lifetime %.0fs reached" % args.max_seconds
        elif args.pid and start_time(args.pid) != target_start:
            return 0  # the server is gone by itself; nothing to do

    print("watchdog: %s; stopping %s" % (reason, args.pid or args.postfix), file=sys.stderr)
    if args.pid:
        try:
            os.kill(args.pid, signal.SIGTERM)
            for _ in range(50):
                time.sleep(0.1)
                if start_time(args.pid) != target_start:
                    return 0
            os.kill(args.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return 0
    conf = args.postfix
    queue = subprocess.run(["postconf", "-c", conf, "-h", "queue_directory"],
                           capture_output=True, text=True, timeout=30).stdout.strip()
    subprocess.run(["postfix", "-c", conf, "stop"], capture_output=True, timeout=60,
                   env=dict(os.environ, MAIL_CONFIG=conf))
    harness.kill_postfix_instance(conf, queue, grace=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
