#!/usr/bin/python3
"""redis_capacity.py - what one Redis primary can do with Staffel's own scripts.

Purpose: starts a private redis-server (loopback, free port, no persistence),
  loads Staffel's scripts from milter/adapters/redis/scripts/ exactly as the
  build embeds them (quota_lib.lua put in place of its include line), and
  drives each operation staffeld sends per message (or per flush) with
  redis-benchmark: the script called by SHA with the same KEYS and ARGV
  layout RedisCounterStore, RedisSuppressionStore and RedisStatsStore build.
  Keys are spread over --keyspace identities (redis-benchmark -r), so every
  operation touches a counter that already exists, as a busy primary would.
Operations:
  charge-window   quota_charge.lua, 1 counter: a daily quota per sender
  charge-gcra     quota_charge.lua, 1 counter: a rolling rate per client IP
  charge-2        quota_charge.lua, both counters in one call
  read-2          quota_read.lua, the same 2 counters (staffelctl quota show)
  mget-2          MGET of one recipient's 2 suppression keys (global scope and
                  the sender domain's scope; none listed)
  stats-flush     stats_flush.lua with one node's flush: 7 dimensions in one
                  hour, --stats-values values each, 4 counters per value
  xadd-events     XADD of one flush's events (--events entries of ~400 B)
Connections (--configs): c1 (one connection, one command at a time: the
  round-trip bound one staffeld pool connection sees), c16 (16 connections,
  as several staffeld nodes), c16p16 (16 connections pipelining 16 each: the
  ceiling of the server thread).
Figures: ops/s as redis-benchmark reports it, and redis-server CPU
  microseconds per operation (utime+stime from /proc, the server's main
  thread and its kernel work on the sockets). On a shared host ops/s swings
  with the load, and redis-benchmark shares the cores with the server; CPU per
  operation is the steadier figure, and 1e6 / (CPU us per op) is the ops/s at
  which the single server thread is saturated. Rounds are interleaved and
  medians reported. Every operation is first sent once and its reply checked;
  a script error reply during a run (INFO commandstats failed_calls) fails it.
It is a benchmark, not a test: it prints numbers and exits 0 (1 if an
  operation failed its check).

Usage: /usr/bin/python3 tests/bench/redis_capacity.py [--requests 40000]
         [--rounds 3] [--keyspace 100000] [--stats-values 10] [--events 100]
         [--ops charge-window,...] [--configs c1,c16,c16p16]
Environment: STAFFEL_KEEP_TMP (keep the work directory).
"""
import argparse
import csv
import io
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402

SCRIPTS = Path(__file__).resolve().parent.parent.parent / "milter/adapters/redis/scripts"
INCLUDE = "-- #include quota_lib.lua\n"
PREFIX = "staffel:"
CONFIGS = {"c1": (1, 1), "c16": (16, 1), "c16p16": (16, 16)}
OPS = ("charge-window", "charge-gcra", "charge-2", "read-2", "mget-2", "stats-flush",
       "xadd-events")
CLK_TCK = os.sysconf("SC_CLK_TCK")
DIMENSIONS = ("sender_domain", "sender", "stream", "route", "tag", "rcpt_domain", "outcome")
COUNTERS = ("messages", "recipients", "bytes", "signed:rsa-sha256")


def script_source(name):
    """A script as milter/CMakeLists.txt embeds it."""
    text = (SCRIPTS / name).read_text()
    if INCLUDE in text:
        text = text.replace(INCLUDE, (SCRIPTS / "quota_lib.lua").read_text())
    return text


def proc_cpu(pid):
    """utime+stime of pid in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def failed_calls(redis):
    """failed_calls summed over every command (Redis 7 INFO commandstats)."""
    text = redis.command("INFO", "commandstats")
    text = text.decode() if isinstance(text, bytes) else str(text)
    return sum(int(n) for n in re.findall(r"failed_calls=(\d+)", text))


# ---------------------------------------------------------------- operations

def window_fields():
    """ARGV of a daily window counter, as RedisCounterStore sends it."""
    expire_ms = (int(time.time()) + 2 * 86400) * 1000
    return ["window", "1", "1", "1000000000", str(expire_ms)]


def gcra_fields():
    """ARGV of a rolling rate of 1000000/1s (interval 1 us, burst 1000000)."""
    return ["gcra", "1", "1", "1", "1000000"]


def sender_key():
    return PREFIX + "q:{sender:user__rand_int__@bench.example}:daily:d20261205"


def ip_key():
    return PREFIX + "q:{client_ip:10.0.__rand_int__}:rate:r"


def stats_flush_args(sha, values):
    """EVALSHA of one flush: 7 groups (dimension x hour), values x 4 counters each."""
    keys, groups = [], []
    for dim in DIMENSIONS:
        keys += [PREFIX + "stats:%s:h:2026120506" % dim, PREFIX + "stats:%s:d:20261205" % dim,
                 PREFIX + "stats:values:%s:20261205" % dim]
        groups.append(str(values * len(COUNTERS)))
        for v in range(values):
            for counter in COUNTERS:
                groups += ["%s-value-%d" % (dim, v), counter, "3"]
    return (["EVALSHA", sha, str(len(keys))] + keys
            + [str(35 * 86400), str(400 * 86400), "1000", str(len(DIMENSIONS))] + groups)


def xadd_args(events):
    event = ('{"ts":"2026-12-05T06:00:00.000Z","node":"mx1","event":"accepted",'
             '"queue_id":"4Xyz0abcdEFg","sender":"user42@bench.example",'
             '"sender_domain":"bench.example","stream":"transactional","route":"inhouse",'
             '"recipients":1,"bytes":2048,"tag":"campaign-7","signed":["bench.example/rsa"],'
             '"dmarc":"aligned","action":"accept","reason":""}')
    argv = ["XADD", PREFIX + "events", "MAXLEN", "~", "100000", "*"]
    for i in range(events):
        argv += [str(i), event]
    return argv


def operations(args, shas):
    """{name: argv} for redis-benchmark (with __rand_int__ placeholders)."""
    charge, read, flush = shas["quota_charge.lua"], shas["quota_read.lua"], shas["stats_flush.lua"]
    rcpt = "rcpt__rand_int__@example.net"
    return {
        "charge-window": ["EVALSHA", charge, "1", sender_key()] + window_fields(),
        "charge-gcra": ["EVALSHA", charge, "1", ip_key()] + gcra_fields(),
        "charge-2": ["EVALSHA", charge, "2", sender_key(), ip_key()] + window_fields()
                    + gcra_fields(),
        "read-2": ["EVALSHA", read, "2", sender_key(), ip_key()] + window_fields()
                  + gcra_fields(),
        "mget-2": ["MGET", PREFIX + "s:*:" + rcpt, PREFIX + "s:bench.example:" + rcpt],
        "stats-flush": stats_flush_args(flush, args.stats_values),
        "xadd-events": xadd_args(args.events),
    }


def check(redis, name, argv):
    """Sends one operation (placeholders filled in) and checks its reply type."""
    reply = redis.command(*[a.replace("__rand_int__", "000000000001") for a in argv])
    if isinstance(reply, harness.RedisError) or isinstance(reply, Exception):
        raise RuntimeError("%s: error reply %s" % (name, reply))
    want = {"stats-flush": int, "xadd-events": bytes}.get(name, list)
    if not isinstance(reply, want):
        raise RuntimeError("%s: reply %r, want a %s" % (name, reply, want.__name__))


# ---------------------------------------------------------------- one run

def run_one(args, redis, argv, config):
    """redis-benchmark once; returns (ops/s, redis CPU us per op)."""
    clients, pipeline = CONFIGS[config]
    # Fewer requests for the heavy ones (a flush carries hundreds of entries).
    n = args.requests // (10 if argv[0] == "XADD" or len(argv) > 100 else 1)
    bench = ["redis-benchmark", "-h", harness.LOOPBACK, "-p", str(redis.port), "-c",
             str(clients), "-P", str(pipeline), "-n", str(n), "-r", str(args.keyspace),
             "--csv"] + argv
    failed0 = failed_calls(redis)
    cpu0 = proc_cpu(redis.pid)
    r = subprocess.run(bench, capture_output=True, text=True, timeout=600)
    cpu1 = proc_cpu(redis.pid)
    if r.returncode != 0:
        raise RuntimeError("redis-benchmark exited %d: %s" % (r.returncode, r.stderr[-300:]))
    if failed_calls(redis) != failed0:
        raise RuntimeError("error replies during the run")
    # The test name (the command line) may hold quotes redis-benchmark does not
    # escape: rps is read counting from the row's end (8 columns, rps second).
    rows = [row for row in csv.reader(io.StringIO(r.stdout)) if len(row) >= 8]
    ops = float(rows[-1][-7])
    return ops, 1e6 * (cpu1 - cpu0) / n


# ---------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(
        description="One Redis primary's capacity for Staffel's scripts (redis-benchmark).",
        epilog="Prints a table; exits 0.")
    ap.add_argument("--requests", "-n", type=int, default=40000,
                    help="operations per run (40000; a tenth for stats-flush, xadd-events)")
    ap.add_argument("--rounds", "-r", type=int, default=3, help="interleaved rounds (3)")
    ap.add_argument("--keyspace", type=int, default=100000,
                    help="distinct senders, IPs and recipients (100000)")
    ap.add_argument("--stats-values", type=int, default=10,
                    help="values per dimension in one stats flush (10)")
    ap.add_argument("--events", type=int, default=100, help="events in one XADD (100)")
    ap.add_argument("--ops", default=",".join(OPS), help="subset of %s" % ",".join(OPS))
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="subset of %s" % ",".join(CONFIGS))
    args = ap.parse_args()
    args.ops = [o.strip() for o in args.ops.split(",") if o.strip()]
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    bad = [o for o in args.ops if o not in OPS] + [c for c in args.configs if c not in CONFIGS]
    if bad or args.requests < 100 or args.rounds < 1 or args.keyspace < 1 or args.events < 1:
        ap.error("bad arguments%s" % (": unknown " + ",".join(bad) if bad else ""))
    return args


def main():
    args = parse_args()
    harness.install_signal_cleanup()
    work = harness.make_workdir("staffel-redis-capacity-")
    results = {}
    try:
        with harness.Redis(work) as redis:
            version = redis.command("INFO", "server")
            version = re.search(rb"redis_version:(\S+)", version).group(1).decode()
            shas = {name: redis.command("SCRIPT", "LOAD", script_source(name)).decode()
                    for name in ("quota_charge.lua", "quota_read.lua", "stats_flush.lua")}
            ops = operations(args, shas)
            for name in args.ops:
                check(redis, name, ops[name])
            print("Redis %s on %s:%d, no persistence; %d CPUs; keyspace %d; "
                  "stats flush %d values x 7 dimensions; %d events per XADD"
                  % (version, harness.LOOPBACK, redis.port, os.cpu_count(), args.keyspace,
                     args.stats_values, args.events))
            print("%-14s %-7s %5s %11s %12s" % ("operation", "conns", "round", "ops/s",
                                                "cpu us/op"))
            for i in range(args.rounds):
                for name in args.ops:
                    for config in args.configs:
                        ops_s, cpu_us = run_one(args, redis, ops[name], config)
                        results.setdefault((name, config), []).append((ops_s, cpu_us))
                        print("%-14s %-7s %5d %11.0f %12.2f" % (name, config, i + 1, ops_s,
                                                                cpu_us), flush=True)
    finally:
        harness.remove_workdir(work)

    print()
    print("%-14s %-7s %11s %12s %14s" % ("median", "conns", "ops/s", "cpu us/op",
                                         "ceiling ops/s"))
    for name in args.ops:
        for config in args.configs:
            rs = results[(name, config)]
            ops_s = statistics.median(r[0] for r in rs)
            cpu_us = statistics.median(r[1] for r in rs)
            print("%-14s %-7s %11.0f %12.2f %14.0f" % (name, config, ops_s, cpu_us,
                                                       1e6 / cpu_us if cpu_us else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
