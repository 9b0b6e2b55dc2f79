#!/usr/bin/python3
"""suppress_import.py - how fast `staffelctl suppress import` loads a big list, and what it costs Redis.

Purpose: writes a CSV of --rows entries (1,000,000 by default) in the
  import format (milter/core/suppress/csv.hpp): mixed reasons, every 5th
  entry scoped to a sender domain, every 4th expiring within two years,
  stream lists of every kind, sources of varying length, the local parts in
  mixed case (so normalisation has work to do). Then, for each mode:
    clear   addresses stored in clear
    hashed  [suppression] hash_secret_file set: keys carry HMAC-SHA-256
  it starts a private redis-server (loopback TCP, no persistence), runs
  `staffelctl suppress import FILE` and prints the wall time, rows per
  second, the CPU seconds of staffelctl and of redis-server, Redis's
  used_memory before and after, and the bytes each entry costs
  ((after - before) / keys). It also times `suppress export` of the result.
Target: 1M entries imported in under a minute on a 2-core machine.
It is a benchmark, not a test: it prints numbers and exits 0 (1 if an
  import fails or refuses rows). Servers are stopped by PID at the end; the
  temporary directory is removed unless STAFFEL_KEEP_TMP is set.

Usage: /usr/bin/python3 tests/bench/suppress_import.py [--rows 1000000]
         [--modes clear,hashed] [--seed 1]
Environment: STAFFELCTL (default: staffelctl next to $STAFFELD, else
  <repo>/build/staffelctl), STAFFEL_KEEP_TMP.
"""
import argparse
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
import harness  # noqa: E402

HEADER = "address,reason,scope,streams,expires,source"
REASONS = ("hard_bounce", "complaint", "unsubscribe", "manual", "invalid")
STREAMS = ("", "", "*", "bulk", "bulk;news", "transactional")
DOMAINS = ["example%d.org" % i for i in range(50)] + ["Mail.Example.COM", "example.net"]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def generate(path: Path, rows: int, seed: int) -> None:
    rnd = random.Random(seed)
    now = int(time.time())
    with open(path, "w", buffering=1 << 20) as f:
        f.write(HEADER + "\n")
        for i in range(rows):
            local = "User%d.%s" % (i, rnd.choice(("a", "Bob", "x-y", "news+tag")))
            domain = rnd.choice(DOMAINS)
            reason = REASONS[i % 5]
            scope = "sender%d.example" % (i % 13) if i % 5 == 0 else ""
            streams = rnd.choice(STREAMS)
            expires = ""
            if i % 4 == 0:
                t = now + 86400 + rnd.randrange(2 * 365 * 86400)
                expires = (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) if i % 8 == 0
                           else str(t))
            source = rnd.choice(("", "dsn", "arf", "crm export 2026-11", '"ticket 42, urgent"'))
            f.write("%s@%s,%s,%s,%s,%s,%s\n" % (local, domain, reason, scope, streams, expires,
                                                source))


def proc_cpu(pid) -> float:
    try:
        fields = Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def info_field(redis, section: str, name: str) -> int:
    text = redis.command("INFO", section).decode()
    for line in text.splitlines():
        if line.startswith(name + ":"):
            return int(line.split(":", 1)[1])
    raise KeyError(name)


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_mode(mode: str, csv_path: Path, rows: int, workdir: Path, staffelctl: str) -> bool:
    d = workdir / mode
    d.mkdir()
    os.chmod(d, 0o755)
    redis = harness.Redis(d, max_seconds=1800)
    redis.start()
    try:
        policy = harness.minimal_policy("unix:%s" % (d / "staffeld.sock"), redis.address)
        policy += "\n[suppression]\n"
        if mode == "hashed":
            secret = d / "secret"
            secret.write_text("bench secret %d\n" % os.getpid())
            os.chmod(secret, 0o600)
            policy += 'hash_secret_file = "%s"\n' % secret
        policy_path = d / "policy.toml"
        policy_path.write_text(policy)

        used_before = info_field(redis, "memory", "used_memory")
        redis_cpu0 = proc_cpu(redis.pid)
        cpu0 = children_cpu()
        t0 = time.monotonic()
        r = subprocess.run([staffelctl, "-c", str(policy_path), "suppress", "import",
                            str(csv_path)], capture_output=True, text=True, timeout=1800)
        wall = time.monotonic() - t0
        cpu = children_cpu() - cpu0
        redis_cpu = proc_cpu(redis.pid) - redis_cpu0
        used_after = info_field(redis, "memory", "used_memory")
        keys = redis.command("DBSIZE")
        summary = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "(no summary)"
        print("\n== %s: staffelctl suppress import, %d rows" % (mode, rows))
        print("  exit status          %d  (%s)" % (r.returncode, summary))
        if r.returncode != 0:
            print("  stderr: %s" % r.stderr[-2000:])
        print("  wall time            %.2f s" % wall)
        print("  rows/s               %.0f" % (rows / wall))
        print("  CPU staffelctl       %.2f s" % cpu)
        print("  CPU redis-server     %.2f s" % redis_cpu)
        print("  keys in Redis        %d" % keys)
        print("  used_memory before   %d bytes (%.1f MiB)" % (used_before, used_before / 2**20))
        print("  used_memory after    %d bytes (%.1f MiB)" % (used_after, used_after / 2**20))
        if keys:
            print("  bytes per entry      %.1f" % ((used_after - used_before) / keys))

        t0 = time.monotonic()
        e = subprocess.run([staffelctl, "-c", str(policy_path), "suppress", "export",
                            str(d / "export.csv")], capture_output=True, text=True, timeout=1800)
        wall_export = time.monotonic() - t0
        print("  export               %.2f s, %.0f rows/s (exit %d, %s)"
              % (wall_export, keys / wall_export if wall_export else 0, e.returncode,
                 e.stderr.strip().splitlines()[-1] if e.stderr.strip() else ""))
        return r.returncode == 0 and keys > 0
    finally:
        redis.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--modes", default="clear,hashed")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    staffelctl = harness.STAFFELCTL
    if not os.access(staffelctl, os.X_OK):
        print("no staffelctl at %s: build it or set STAFFELCTL" % staffelctl, file=sys.stderr)
        return 1
    workdir = harness.make_workdir("staffel-bench-suppress-")
    ok = True
    try:
        csv_path = workdir / "suppress.csv"
        t0 = time.monotonic()
        generate(csv_path, args.rows, args.seed)
        print("staffelctl: %s" % staffelctl)
        print("generated %s: %d rows, %.1f MiB, in %.1f s"
              % (csv_path.name, args.rows, csv_path.stat().st_size / 2**20, time.monotonic() - t0))
        print("host: %d CPUs, %s" % (os.cpu_count() or 0,
                                     subprocess.run(["redis-server", "--version"],
                                                    capture_output=True, text=True).stdout.strip()))
        for mode in args.modes.split(","):
            ok = run_mode(mode.strip(), csv_path, args.rows, workdir, staffelctl) and ok
    finally:
        harness.remove_workdir(workdir)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
