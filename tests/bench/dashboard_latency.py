#!/usr/bin/python3
"""dashboard_latency.py - how fast staffelctl web answers over a month of data.

Purpose: the dashboard must stay cheap however much was sent: every API
  answer reads a fixed set of hashes (one per period bucket and dimension),
  never KEYS or SCAN. This fills a private redis-server with 30 days of
  statistics for N senders (default 1,000, each at its own sender domain,
  50 tags, 3 streams, 2 routes): daily hashes with every sender every day,
  hourly hashes for the last 35 days with a random fifth of the senders
  active in each hour, and 10,000 events. It then starts `staffelctl web`
  on 127.0.0.1 and times each API request (interleaved rounds, default 20),
  printing the median and the slowest per request, the answer's size, and
  the hashes and fields Redis held. Then it counts the Redis commands one
  round of requests caused (INFO commandstats): HGETALL and XREVRANGE only.
It is a benchmark, not a test: it prints numbers.

Usage: /usr/bin/python3 tests/bench/dashboard_latency.py [--senders 1000]
         [--days 30] [--rounds 20]
Environment: STAFFELD (default <repo>/build/staffeld; staffelctl is taken
  next to it, or from STAFFELCTL), STAFFEL_KEEP_TMP.
"""
import argparse
import datetime
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402
from harness_core import resp_encode  # noqa: E402

DIMENSIONS = ("sender_domain", "sender", "stream", "route", "tag", "rcpt_domain", "outcome")


def fill(redis, senders: int, days: int, seed: int = 7):
    """Writes the statistics layout of adapters/redis/stats_store.hpp with
    HINCRBY over one pipelined connection; returns (hashes, fields)."""
    rng = random.Random(seed)
    now = datetime.datetime.utcnow().replace(minute=0, second=0, microsecond=0)
    names = ["s%04d@d%04d.example" % (i, i) for i in range(senders)]
    tags = ["campaign-%02d" % i for i in range(50)]
    streams = ["transactional", "bulk", "none"]
    routes = ["inhouse", "esp"]
    cmds = []
    hashes = set()

    def add(key, value, counter, n):
        hashes.add(key)
        cmds.append(resp_encode("HINCRBY", key, "%s|%s" % (value, counter), n))

    def message_counts(key_of, volume):
        for i, sender in enumerate(names):
            n = volume(i)
            if n == 0:
                continue
            domain = sender.split("@")[1]
            for dim, value in (("sender", sender), ("sender_domain", domain)):
                key = key_of(dim)
                add(key, value, "messages", n)
                add(key, value, "recipients", n * 2)
                add(key, value, "signed:rsa-sha256", n)
                if i % 10 == 0:
                    add(key, value, "bounce_hard", 1)
        total = sum(volume(i) for i in range(len(names)))
        for dim, values in (("tag", tags), ("stream", streams), ("route", routes)):
            for v in values:
                add(key_of(dim), v, "messages", total // len(values))
                add(key_of(dim), v, "recipients", 2 * total // len(values))
        add(key_of("outcome"), "accepted", "messages", total)
        add(key_of("outcome"), "accepted", "recipients", 2 * total)
        add(key_of("outcome"), "refused", "refused:quota:daily", total // 100 + 1)
        add(key_of("outcome"), "ingested", "bounce_hard", total // 50 + 1)
        add(key_of("outcome"), "ingested", "complaint", total // 1000 + 1)

    for d in range(days):
        day = (now - datetime.timedelta(days=d)).strftime("%Y%m%d")
        message_counts(lambda dim, day=day: "staffel:stats:%s:d:%s" % (dim, day),
                       lambda i: 1 + (i * 7 + d) % 40)
    for h in range(min(days, 35) * 24):
        hour = (now - datetime.timedelta(hours=h)).strftime("%Y%m%d%H")
        active = set(rng.sample(range(senders), max(1, senders // 5)))
        message_counts(lambda dim, hour=hour: "staffel:stats:%s:h:%s" % (dim, hour),
                       lambda i, active=active: 2 if i in active else 0)
    for n in range(10000):
        event = json.dumps({"v": 1, "type": "message.accepted", "time": "2026-12-04T12:00:00Z",
                            "node": "bench", "sender": names[n % senders], "recipients": 2})
        cmds.append(resp_encode("XADD", "staffel:events", "MAXLEN", "~", "100000", "*",
                                "0", event))
    with socket.create_connection(("127.0.0.1", redis.port), timeout=60) as s:
        f = s.makefile("rb")
        batch = 5000
        for start in range(0, len(cmds), batch):
            chunk = cmds[start:start + batch]
            s.sendall(b"".join(chunk))
            for _ in chunk:
                line = f.readline()
                if line.startswith(b"$"):
                    f.readline()
                elif line.startswith(b"-"):
                    raise RuntimeError(line.decode())
    return len(hashes), len(cmds)


def commandstats(redis):
    info = redis.command("INFO", "commandstats").decode()
    out = {}
    for line in info.splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line.split(":", 1)
            calls = int(rest.split(",")[0].split("=")[1])
            out[name[len("cmdstat_"):]] = calls
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--senders", type=int, default=1000)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=20)
    args = ap.parse_args()
    work = harness.make_workdir("staffel-dash-bench-")
    try:
        with harness.Redis(work) as redis:
            t0 = time.monotonic()
            hashes, writes = fill(redis, args.senders, args.days)
            fill_s = time.monotonic() - t0
            memory = redis.command("INFO", "memory").decode()
            used = next(l for l in memory.splitlines() if l.startswith("used_memory_human"))
            print("filled %d hashes with %d writes in %.1f s; Redis %s" %
                  (hashes, writes, fill_s, used))
            policy = work / "p.toml"
            policy.write_text('[milter]\nsocket = "unix:/unused"\n[redis]\naddress = "%s"\n'
                              '[stats]\nenabled = true\n[events]\nenabled = true\n'
                              '[[route]]\nname = "inhouse"\nbounce_domain = "b.example"\n'
                              '[[route]]\nname = "esp"\nbounce_domain = "b.esp.example"\n'
                              'kind = "esp"\n' % redis.address)
            port = harness.free_port()
            web = harness.spawn([harness.STAFFELCTL, "-c", policy, "web", "--listen",
                                 "127.0.0.1:%d" % port], work / "web.log")
            try:
                harness.wait_until(lambda: harness.tcp_accepts("127.0.0.1", port), 10,
                                   what="staffelctl web")
                requests = ["overview?period=24h", "overview?period=7d", "overview?period=30d",
                            "senders?period=24h&by=sender_domain",
                            "senders?period=30d&by=sender_domain",
                            "senders?period=30d&by=sender", "tags?period=30d",
                            "routes?period=30d", "events?count=100", "suppression"]
                times = {r: [] for r in requests}
                sizes = {}
                before = commandstats(redis)
                for n in range(args.rounds):
                    for r in requests:
                        t = time.perf_counter()
                        with urllib.request.urlopen("http://127.0.0.1:%d/api/%s" % (port, r),
                                                    timeout=30) as resp:
                            body = resp.read()
                        times[r].append((time.perf_counter() - t) * 1000)
                        sizes[r] = len(body)
                        if n == 0:
                            json.loads(body)
                after = commandstats(redis)
                print("\n%-40s %10s %10s %10s" % ("request (%d senders, %d rounds)" %
                                                  (args.senders, args.rounds),
                                                  "median ms", "max ms", "bytes"))
                for r in requests:
                    print("%-40s %10.1f %10.1f %10d" % (r, statistics.median(times[r]),
                                                         max(times[r]), sizes[r]))
                print("\nRedis commands per round of the %d requests:" % len(requests))
                for name in sorted(after):
                    calls = after[name] - before.get(name, 0)
                    if name not in ("info",) and calls:
                        print("  %-12s %8.1f" % (name, calls / args.rounds))
            finally:
                harness.stop_process(web)
    finally:
        harness.remove_workdir(work)


if __name__ == "__main__":
    main()
