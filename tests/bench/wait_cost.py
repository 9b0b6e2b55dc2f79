#!/usr/bin/python3
"""wait_cost.py - what `[redis] wait_replicas = 1` costs per quota charge.

Purpose: one primary and one replica redis-server on loopback (harness.Redis).
  C clients (threads, one connection each) run quota-charge round trips
  back to back: a Lua script that charges a window counter as
  quota_charge.lua does (INCRBY and PEXPIREAT on one key per client), alone
  (`wait_replicas = 0`) or pipelined with `WAIT 1 100` in the same write, as
  staffeld sends them (`wait_replicas = 1`). It prints, per mode, the median
  and 99th percentile latency of one round trip and the charges per second,
  and the primary's and replica's CPU milliseconds per charge (from /proc).
  Modes are interleaved and each is run --runs times; medians are quoted.
It is a benchmark, not a test: it prints numbers and exits 0.
Usage: /usr/bin/python3 tests/bench/wait_cost.py [--charges 5000] [--clients 1,8] [--runs 3]
"""
import argparse
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
from harness import LOOPBACK, Redis, make_workdir, remove_workdir, wait_until  # noqa: E402
from harness_core import resp_encode, _resp_read  # noqa: E402

SCRIPT = ("local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
          "redis.call('PEXPIREAT', KEYS[1], ARGV[2]) return {1, n}")


def cpu_ms(pid: int) -> float:
    fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def client(port: int, n: int, wait: bool, key: str, out: list):
    with socket.create_connection((LOOPBACK, port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        expire = str(int(time.time() * 1000) + 3600_000)
        charge = resp_encode("EVAL", SCRIPT, "1", key, "1", expire)
        request = charge + resp_encode("WAIT", "1", "100") if wait else charge
        lat = []
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(request)
            _resp_read(f)
            if wait:
                acked = _resp_read(f)
                assert acked == 1, "WAIT answered %r" % acked
            lat.append(time.perf_counter() - t0)
        out.extend(lat)


def run(primary, replica, clients: int, charges: int, wait: bool) -> dict:
    lat = []
    per = charges // clients
    threads = [threading.Thread(target=client,
                                args=(primary.port, per, wait, "q:{c%d}" % i, lat))
               for i in range(clients)]
    cpu0 = (cpu_ms(primary.pid), cpu_ms(replica.pid))
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    cpu1 = (cpu_ms(primary.pid), cpu_ms(replica.pid))
    lat.sort()
    done = per * clients
    return {"p50": lat[len(lat) // 2] * 1e6, "p99": lat[int(len(lat) * 0.99)] * 1e6,
            "rate": done / wall, "primary_cpu": (cpu1[0] - cpu0[0]) / done * 1000,
            "replica_cpu": (cpu1[1] - cpu0[1]) / done * 1000}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--charges", type=int, default=5000)
    ap.add_argument("--clients", default="1,8")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    work = make_workdir("staffel-wait-cost-")
    primary = Redis(work / "primary", extra_args=["--repl-diskless-sync-delay", "0"])
    primary.start()
    replica = Redis(work / "replica", extra_args=["--replicaof", LOOPBACK, primary.port])
    replica.start()
    try:
        wait_until(lambda: b"master_link_status:up" in replica.command("INFO", "replication"),
                   15, what="replica in sync")
        print("clients  wait_replicas  p50_us  p99_us  charges/s  primary_cpu_us  replica_cpu_us")
        for clients in (int(c) for c in args.clients.split(",")):
            results = {False: [], True: []}
            for _ in range(args.runs):
                for wait in (False, True):
                    results[wait].append(run(primary, replica, clients, args.charges, wait))
            for wait in (False, True):
                med = {k: statistics.median(r[k] for r in results[wait]) for k in results[wait][0]}
                print("%7d  %13d  %6.0f  %6.0f  %9.0f  %14.1f  %14.1f"
                      % (clients, int(wait), med["p50"], med["p99"], med["rate"],
                         med["primary_cpu"], med["replica_cpu"]))
    finally:
        replica.stop()
        primary.stop()
        remove_workdir(work)


if __name__ == "__main__":
    main()
