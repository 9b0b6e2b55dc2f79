#!/usr/bin/python3
"""stats_cardinality.py - Redis memory of the statistics under made-up senders.

Purpose: an application that invents a new envelope sender (and sender
  domain) for every message must not grow Redis without bound. This sends
  N messages (default 100,000), each from a random address at a random
  domain, through a private loopback Postfix with staffeld ([stats] on,
  default max_values = 1000) to Postfix's smtp-sink, waits for the last
  flush, and prints what the statistics hold in Redis: keys, the distinct
  values of the sender and sender-domain dimensions, the count under
  "other", the sum of all messages counted, and Redis's used_memory before
  and after. A second, smaller run (--check N) is compared: memory after N
  and after all messages, so the growth per message is visible.
It is a benchmark, not a test: it prints numbers. Every server runs on
  127.0.0.1 or a unix socket in a temporary directory.

Usage: /usr/bin/python3 tests/bench/stats_cardinality.py [--messages 100000]
         [--threads 8] [--max-values 1000]
Environment: STAFFELD (default <repo>/build/staffeld), STAFFEL_KEEP_TMP.
"""
import argparse
import os
import random
import shutil
import smtplib
import string
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "integration"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
from throughput import SmtpSink  # noqa: E402

MESSAGE = ("From: <{sender}>\r\nTo: <to@example.net>\r\nSubject: cardinality\r\n"
           "Message-ID: <{n}@bench.example>\r\n\r\nbody\r\n")


def random_word(k):
    return "".join(random.choice(string.ascii_lowercase) for _ in range(k))


def sender_thread(port, count, errors):
    try:
        smtp = smtplib.SMTP(harness.LOOPBACK, port, timeout=60)
        for i in range(count):
            sender = "%s@%s.example" % (random_word(12), random_word(10))
            smtp.sendmail(sender, ["to@example.net"],
                          MESSAGE.format(sender=sender, n=random_word(16)).encode())
            if i % 100 == 99:  # a new session now and then, as applications do
                smtp.quit()
                smtp = smtplib.SMTP(harness.LOOPBACK, port, timeout=60)
        smtp.quit()
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(repr(e))


def send(port, n, threads):
    errors = []
    per = [n // threads + (1 if i < n % threads else 0) for i in range(threads)]
    ts = [threading.Thread(target=sender_thread, args=(port, c, errors)) for c in per]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise RuntimeError("sending failed: %s" % errors[:3])


def used_memory(redis):
    text = redis.command("INFO", "memory")
    text = text.decode() if isinstance(text, bytes) else str(text)
    for line in text.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":")[1])
    return 0


def stats_summary(redis):
    keys = redis.command("KEYS", "staffel:stats:*")
    keys = [k.decode() if isinstance(k, bytes) else k for k in keys]
    day = [k for k in keys if k.startswith("staffel:stats:sender:d:")]
    fields = redis.command("HGETALL", day[0]) if day else []
    table = {}
    for i in range(0, len(fields), 2):
        field = fields[i].decode()
        value, counter = field.rsplit("|", 1)
        if counter == "messages":
            table[value] = int(fields[i + 1])
    values_keys = [k for k in keys if k.startswith("staffel:stats:values:sender:")]
    return {
        "keys": len(keys),
        "sender values": len(table),
        "sender 'other' messages": table.get("other", 0),
        "messages counted": sum(table.values()),
        "values set members": redis.command("SCARD", values_keys[0]) if values_keys else 0,
    }


def wait_sink(sink, want, timeout):
    deadline = time.monotonic() + timeout
    while sink.count() < want and time.monotonic() < deadline:
        time.sleep(0.2)
    return sink.count()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--check", type=int, default=10000)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--max-values", type=int, default=1000)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="staffel-cardinality-"))
    os.chmod(work, 0o755)
    try:
        with SmtpSink(work) as sink, harness.Redis(work) as redis:
            run_dir = work / "run"
            run_dir.mkdir()
            os.chmod(run_dir, 0o755)
            socket_spec = "unix:%s" % (run_dir / "staffeld.sock")
            policy = harness.minimal_policy(socket_spec, redis.address) + (
                "\n[stats]\nenabled = true\nmax_values = %d\n" % args.max_values)
            staffeld = harness.Staffeld(run_dir, policy=policy, socket="unix", redis=redis)
            staffeld.start()
            postfix = harness.Postfix(run_dir, sink.port, milter=staffeld.socket_spec,
                                      extra_main_cf={"in_flow_delay": "0"})
            postfix.start()
            try:
                base_memory = used_memory(redis)
                t0 = time.monotonic()
                rows = []
                sent = 0
                for target in (args.check, args.messages):
                    send(postfix.smtp_port, target - sent, args.threads)
                    sent = target
                    got = wait_sink(sink, sent, max(120, sent / 50))
                    time.sleep(2.5)  # the last flush
                    rows.append((sent, got, used_memory(redis) - base_memory,
                                 stats_summary(redis)))
                seconds = time.monotonic() - t0
            finally:
                postfix.stop()
                staffeld.stop()
        print("messages from distinct random senders, max_values = %d" % args.max_values)
        print("%10s %10s %16s %6s %8s %8s %10s %10s" % (
            "sent", "delivered", "stats memory B", "keys", "senders", "set", "other",
            "counted"))
        for sent, got, memory, s in rows:
            print("%10d %10d %16d %6d %8d %8d %10d %10d" % (
                sent, got, memory, s["keys"], s["sender values"], s["values set members"],
                s["sender 'other' messages"], s["messages counted"]))
        print("%.0f s in all, %.0f messages/s" % (seconds, args.messages / seconds))
        return 0
    finally:
        if not harness.keep_tmp():
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
