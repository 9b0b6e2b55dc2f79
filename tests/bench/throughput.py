#!/usr/bin/python3
"""throughput.py - end-to-end throughput of Postfix with and without staffeld.

Purpose: smtp-source submits N messages (10 parallel sessions, 2 KB, one
  recipient by default) to a private, loopback-only Postfix, which relays
  them to Postfix's smtp-sink. A run's figure is messages per second from
  the first submission to the last delivery (the sink has counted all N and
  the Postfix queue is empty), plus CPU milliseconds per message of the
  Postfix processes and of staffeld (+ its Redis), read from /proc.
Configurations: bare (no milter), staffeld-unix, staffeld-inet; runs are
  interleaved (bare, unix, inet, bare, ...) and medians are reported, since
  throughput swings with the host's steal time; CPU ms/message is the
  steadier figure to compare.
It is a benchmark, not a test: it prints numbers and exits 0 (1 only if
  no run at all could be measured). Every server runs on 127.0.0.1 or a unix
  socket in a temporary directory and is stopped by PID at the end.

Usage: /usr/bin/python3 tests/bench/throughput.py [--messages 2000]
         [--sessions 10] [--runs 3] [--size 2048] [--warmup 100]
         [--reuse] [--configs bare,staffeld-unix,staffeld-inet]
Environment: STAFFELD (default <repo>/build/staffeld), STAFFEL_KEEP_TMP.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402

CONFIGS = ("bare", "staffeld-unix", "staffeld-inet")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- CPU from /proc

def proc_cpu(pid, children=False):
    """utime+stime (and with children=True cutime+cstime) of pid, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime is field 14 -> index 11.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / CLK_TCK


def postfix_cpu(postfix):
    """CPU seconds of a Postfix instance: live processes + what the master reaped."""
    master = postfix.master_pid()
    total = 0.0
    for pid in postfix.pids():
        total += proc_cpu(pid, children=(pid == master))
    return total


# ---------------------------------------------------------------- smtp-sink

class SmtpSink(harness.Server):
    """Postfix's smtp-sink as nobody on a free loopback port; counts messages."""

    def __init__(self, tmpdir):
        super().__init__()
        self.dir = Path(tmpdir) / "smtp-sink"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)
        self.out = self.dir / "counters.out"
        self.log_path = self.dir / "smtp-sink.log"
        self.port = None
        self.proc = None

    def start(self):
        self.port = harness.free_port()
        out = open(self.out, "wb")
        self.proc = harness.spawn(["smtp-sink", "-u", "nobody", "-c",
                                   "%s:%d" % (harness.LOOPBACK, self.port), "256"],
                                  self.log_path, stdout=out)
        out.close()
        self._register("pid", str(self.proc.pid), self.dir)
        harness.wait_until(lambda: harness.tcp_accepts(harness.LOOPBACK, self.port), 10,
                           what="smtp-sink on %d" % self.port)
        return self

    def count(self):
        try:
            data = self.out.read_bytes()[-200:]
        except OSError:
            return 0
        found = re.findall(rb"mesg=(\d+)", data)
        return int(found[-1]) if found else 0

    def stop(self):
        harness.stop_process(self.proc)
        self._unregister()


# ---------------------------------------------------------------- one run

def smtp_source(port, n, sessions, size, timeout, reuse=False):
    argv = ["smtp-source", "-c", "-s", str(sessions), "-m", str(n), "-l", str(size),
            *(["-d"] if reuse else []),
            "-M", "bench.staffel.test", "-f", "from@example.com", "-t", "to@example.net",
            "%s:%d" % (harness.LOOPBACK, port)]
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, timeout=timeout)


def wait_delivered(postfix, sink, want, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sink.count() >= want and not postfix.queue_ids_in("incoming", "active", "deferred",
                                                              "maildrop"):
            return time.monotonic()
        time.sleep(0.01)
    raise TimeoutError("only %d of %d messages at the sink after %.0fs; queue %s"
                       % (sink.count(), want, timeout, postfix.queue_ids_in()[:5]))


def one_run(args, config, run_dir, sink, redis):
    """Returns a dict with msgs_s, cpu figures; raises on failure."""
    run_dir.mkdir(parents=True)
    os.chmod(run_dir, 0o755)
    staffeld = None
    postfix = None
    try:
        milter = None
        if config != "bare":
            kind = "unix" if config.endswith("unix") else "inet"
            staffeld = harness.Staffeld(run_dir, socket=kind, redis=redis)
            staffeld.start()
            milter = staffeld.socket_spec
        postfix = harness.Postfix(run_dir, sink.port, milter=milter,
                                  extra_main_cf={"in_flow_delay": "0"})
        postfix.start()
        timeout = max(120.0, args.messages / 10.0)
        if args.warmup:
            base = sink.count()
            smtp_source(postfix.smtp_port, args.warmup, args.sessions, args.size, timeout,
                        args.reuse)
            wait_delivered(postfix, sink, base + args.warmup, timeout)

        base = sink.count()
        cpu0 = (postfix_cpu(postfix), proc_cpu(staffeld.pid) if staffeld else 0.0,
                proc_cpu(redis.pid) if staffeld else 0.0)
        t0 = time.monotonic()
        r = smtp_source(postfix.smtp_port, args.messages, args.sessions, args.size, timeout,
                        args.reuse)
        t_submitted = time.monotonic()
        if r.returncode != 0:
            raise RuntimeError("smtp-source exited %d: %s" % (r.returncode, r.stderr.decode()[-500:]))
        t1 = wait_delivered(postfix, sink, base + args.messages, timeout)
        cpu1 = (postfix_cpu(postfix), proc_cpu(staffeld.pid) if staffeld else 0.0,
                proc_cpu(redis.pid) if staffeld else 0.0)
        n = args.messages
        if staffeld:
            lines = len(staffeld.message_lines())
            if lines < n:
                raise RuntimeError("staffeld logged %d message lines for %d messages" % (lines, n))
        return {
            "msgs_s": n / (t1 - t0),
            "submit_s": n / (t_submitted - t0),
            "seconds": t1 - t0,
            "cpu_postfix": 1000 * (cpu1[0] - cpu0[0]) / n,
            "cpu_staffeld": 1000 * (cpu1[1] - cpu0[1]) / n,
            "cpu_redis": 1000 * (cpu1[2] - cpu0[2]) / n,
        }
    finally:
        if postfix:
            postfix.stop()
        if staffeld:
            staffeld.stop()


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(
        description="End-to-end throughput through a private Postfix, with and without staffeld.",
        epilog="Prints a table; exits 0. Set STAFFELD to pick the binary.")
    ap.add_argument("--messages", "-m", type=int, default=2000, help="messages per run (2000)")
    ap.add_argument("--sessions", "-s", type=int, default=10, help="parallel SMTP sessions (10)")
    ap.add_argument("--runs", "-r", type=int, default=3, help="runs per configuration (3)")
    ap.add_argument("--size", "-l", type=int, default=2048, help="message payload bytes (2048)")
    ap.add_argument("--warmup", type=int, default=100,
                    help="messages sent before each measured run (100; 0 for none)")
    ap.add_argument("--reuse", action="store_true",
                    help="send many messages per SMTP session (smtp-source -d), so one milter "
                         "connection serves many messages; default: one session per message")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated subset of %s" % ",".join(CONFIGS))
    args = ap.parse_args()
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [c for c in configs if c not in CONFIGS]
    if bad or args.messages < 1 or args.sessions < 1 or args.runs < 1 or args.size < 0:
        ap.error("bad arguments: %s" % (bad or "counts must be positive"))
    if os.geteuid() != 0:
        ap.error("run as root (a private Postfix instance needs it)")
    if any(c != "bare" for c in configs) and not os.access(harness.STAFFELD, os.X_OK):
        print("note: no staffeld at %s; measuring bare only" % harness.STAFFELD)
        configs = ["bare"]
    harness.install_signal_cleanup()

    work = harness.make_workdir("staffel-bench-")
    print("Staffel throughput: %d messages x %d B, %d sessions, 1 recipient, %d run(s) each"
          % (args.messages, args.size, args.sessions, args.runs))
    print("staffeld: %s   work dir: %s   CPUs: %d" % (harness.STAFFELD, work, os.cpu_count()))
    results = {c: [] for c in configs}
    failures = []
    try:
        with SmtpSink(work) as sink, harness.Redis(work) as redis:
            print()
            print("CPU columns: milliseconds of CPU per message, from /proc (utime+stime)")
            print("%-14s %4s %9s %9s %8s %10s %10s %10s" % (
                "config", "run", "msgs/s", "submit/s", "seconds", "postfix", "staffeld", "redis"))
            for i in range(args.runs):
                for c in configs:
                    try:
                        r = one_run(args, c, work / ("run%d-%s" % (i + 1, c)), sink, redis)
                    except Exception as e:  # noqa: BLE001 - report and go on
                        failures.append("%s run %d: %s" % (c, i + 1, e))
                        print("%-14s %4d  FAILED: %s" % (c, i + 1, str(e).splitlines()[0]))
                        continue
                    results[c].append(r)
                    print("%-14s %4d %9.0f %9.0f %8.2f %10.2f %10.2f %10.2f" % (
                        c, i + 1, r["msgs_s"], r["submit_s"], r["seconds"], r["cpu_postfix"],
                        r["cpu_staffeld"], r["cpu_redis"]), flush=True)
                    if not harness.keep_tmp():
                        shutil.rmtree(work / ("run%d-%s" % (i + 1, c)), ignore_errors=True)
    finally:
        harness.remove_workdir(work)

    med = {}
    print()
    print("%-14s %5s %9s %10s %10s %10s %10s" % ("median", "runs", "msgs/s", "postfix",
                                                 "staffeld", "redis", "cpu total"))
    for c in configs:
        rs = results[c]
        if not rs:
            print("%-14s %5d %12s" % (c, 0, "-"))
            continue
        for r in rs:
            r["cpu_total"] = r["cpu_postfix"] + r["cpu_staffeld"] + r["cpu_redis"]
        m = {k: statistics.median(r[k] for r in rs)
             for k in ("msgs_s", "cpu_postfix", "cpu_staffeld", "cpu_redis", "cpu_total")}
        med[c] = m
        print("%-14s %5d %9.0f %10.2f %10.2f %10.2f %10.2f" % (
            c, len(rs), m["msgs_s"], m["cpu_postfix"], m["cpu_staffeld"], m["cpu_redis"],
            m["cpu_total"]))

    print()
    for a, b in (("staffeld-unix", "bare"), ("staffeld-inet", "bare"),
                 ("staffeld-inet", "staffeld-unix")):
        if a in med and b in med:
            extra = med[a]["cpu_total"] - med[b]["cpu_total"]
            print("%-28s throughput %5.2f   extra CPU %+.2f ms/msg" % (
                "%s / %s" % (a.replace("staffeld-", ""), b.replace("staffeld-", "")),
                med[a]["msgs_s"] / med[b]["msgs_s"], extra))
    if failures:
        print("\nfailed runs:")
        for f in failures:
            print("  " + f.replace("\n", "\n    "))
    return 0 if med else 1


if __name__ == "__main__":
    sys.exit(main())
