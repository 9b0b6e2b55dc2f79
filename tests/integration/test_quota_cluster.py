"""Two staffeld nodes sharing one Redis enforce one quota exactly, under concurrent load.

Chain: 20 SMTP client threads, 10 per Postfix instance -> two Postfix
instances, each with its own staffeld as milter -> one redis-server; both
Postfix instances relay to the same capture sink.

The policy has one `limit = "500/1d"` quota keyed on the envelope sender, and
every message has the same sender and one recipient. 700 messages are sent
in all, so 200 must be refused. What must hold, exactly:
  - 500 messages get 250 at end of DATA, the other 200 get
    `451 4.7.1 Staffel: quota "shared-daily" exceeded for sender ...`, and
    no message gets any other outcome (nothing lost, no other 4xx/5xx);
  - the sink receives exactly the 500 accepted messages, each once;
  - the one Redis counter holds 500;
  - each message that reached end of DATA cost one script call
    (INFO commandstats: EVALSHA, plus one EVAL per NOSCRIPT reply).
"""
import datetime
import re
import threading
import time

from harness import sample_message, smtp_send, wait_until

SENDER = "alice@example.com"
LIMIT = 500
TOTAL = 700
SESSIONS = 20

QUOTA = '''
[[quota]]
name = "shared-daily"
key = "sender"
limit = "%d/1d"
action = "tempfail"
''' % LIMIT

# The text of a refusal by this quota, after the "451 " of the reply.
REFUSAL = re.compile(r'^4\.7\.1 Staffel: quota "shared-daily" exceeded for sender '
                     r'alice@example\.com: 500 recipients per day; resets ')


def quota_policy(redis) -> str:
    # socket and address are overridden by --socket/--redis (harness.Staffeld).
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n%s' % (redis.address, QUOTA))


def commandstats(redis) -> dict:
    """INFO commandstats as {'evalsha': {'calls': 700, 'failed_calls': 1, ...}, ...}."""
    text = redis.command("INFO", "commandstats")
    text = text.decode() if isinstance(text, bytes) else text
    stats = {}
    for m in re.finditer(r"cmdstat_([a-z|]+):(\S+)", text):
        fields = dict(kv.split("=", 1) for kv in m.group(2).split(","))
        stats[m.group(1)] = {k: float(v) if "." in v else int(v) for k, v in fields.items()}
    return stats


def stat(stats: dict, command: str, field: str = "calls") -> int:
    return stats.get(command, {}).get(field, 0)


def classify(r) -> str:
    """'accepted', 'quota' (451 4.7.1 naming the limit) or 'other'."""
    dot = r.step("dot")
    if dot is None:
        return "other"
    if dot.code == 250 and r.queue_id:
        return "accepted"
    if dot.code == 451 and REFUSAL.search(dot.message):
        return "quota"
    return "other"


class Load:
    """SESSIONS threads taking numbered tickets until TOTAL messages were attempted."""

    def __init__(self, ports):
        self.ports = ports
        self.lock = threading.Lock()
        self.next_ticket = 0
        self.results = {}  # ticket -> (port, outcome, SmtpResult)
        self.crashes = []

    def take(self):
        with self.lock:
            if self.next_ticket >= TOTAL:
                return None
            self.next_ticket += 1
            return self.next_ticket

    def session(self, port):
        try:
            while (ticket := self.take()) is not None:
                r = smtp_send(port, SENDER, ["bob@example.net"],
                              sample_message(subject="cluster %d" % ticket, sender=SENDER))
                with self.lock:
                    self.results[ticket] = (port, classify(r), r)
        except Exception as e:  # noqa: BLE001 - reported by the test
            with self.lock:
                self.crashes.append(repr(e))

    def run(self) -> float:
        threads = [threading.Thread(target=self.session, args=(self.ports[i % len(self.ports)],),
                                    name="smtp-%d" % i, daemon=True)
                   for i in range(SESSIONS)]
        start = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(150)
        wall = time.monotonic() - start
        assert not any(t.is_alive() for t in threads), "SMTP sessions still running after 150 s"
        return wall


def test_two_nodes_one_redis_admit_exactly_the_limit(staffeld_factory, postfix_factory, sink,
                                                      redis):
    day = datetime.datetime.now(datetime.timezone.utc).date()
    nodes = [staffeld_factory(policy=quota_policy(redis)) for _ in range(2)]
    postfixes = [postfix_factory(milter=n.socket_spec) for n in nodes]
    assert redis.command("KEYS", "staffel:q:*") == []
    before = commandstats(redis)

    load = Load([p.smtp_port for p in postfixes])
    wall = load.run()
    assert load.crashes == [], load.crashes

    results = load.results
    accepted = sorted(t for t, (_, o, _) in results.items() if o == "accepted")
    refused = [t for t, (_, o, _) in results.items() if o == "quota"]
    other = ["#%d via %d: %s" % (t, port, r) for t, (port, o, r) in sorted(results.items())
             if o == "other"]
    print("\nquota cluster: sent=%d accepted=%d tempfailed=%d other=%d wall=%.2fs "
          "rate=%.0f msgs/s (2 Postfix + 2 staffeld, %d sessions)"
          % (len(results), len(accepted), len(refused), len(other), wall,
             len(results) / wall, SESSIONS))
    per_port = {p.smtp_port: [0, 0] for p in postfixes}
    for port, o, _ in results.values():
        if o in ("accepted", "quota"):
            per_port[port][o == "quota"] += 1
    print("per Postfix (accepted, tempfailed): %s" % sorted(per_port.values()))

    assert len(results) == TOTAL, "got %d results, want %d" % (len(results), TOTAL)
    assert other == [], "want only 250 or 451 4.7.1 naming the limit, got:\n%s" % "\n".join(
        other[:20])
    assert len(accepted) == LIMIT, "got %d accepted, want %d" % (len(accepted), LIMIT)
    assert len(refused) == TOTAL - LIMIT, "got %d tempfailed, want %d" % (len(refused),
                                                                         TOTAL - LIMIT)
    assert len(accepted) + len(refused) == len(results)
    # Both nodes took part in admitting and in refusing.
    assert all(a > 0 for a, _ in per_port.values()), per_port

    # The sink gets each accepted message once, and nothing else.
    sink.wait_for(LIMIT, timeout=90)
    for p in postfixes:
        p.wait_queue_empty(60)
    time.sleep(0.5)
    got = sorted(int(m.headers("Subject")[0].split()[1]) for m in sink.messages())
    assert len(got) == LIMIT, "the sink got %d messages, want %d" % (len(got), LIMIT)
    assert got == accepted, "the sink's messages are not the accepted ones"

    # The one counter holds the limit.
    keys = sorted(k.decode() for k in redis.command("KEYS", "staffel:q:*"))
    want_keys = {"staffel:q:{s:%s}:shared-daily:d%s" % (SENDER, d.isoformat())
                 for d in (day, datetime.datetime.now(datetime.timezone.utc).date())}
    assert len(keys) == 1 and keys[0] in want_keys, "got keys %r, want one of %r" % (keys,
                                                                                      want_keys)
    used = int(redis.command("GET", keys[0]))
    assert used == LIMIT, "got counter %d, want %d" % (used, LIMIT)

    # One script run per message that reached end of DATA: every message
    # starts with one EVALSHA; a NOSCRIPT answer (Redis had not seen the
    # script yet) is followed by one EVAL with the source on the same
    # connection; nothing else evaluates scripts.
    after = commandstats(redis)
    evalsha = stat(after, "evalsha") - stat(before, "evalsha")
    noscript = stat(after, "evalsha", "failed_calls") - stat(before, "evalsha", "failed_calls")
    evals = stat(after, "eval") - stat(before, "eval")
    eval_failed = stat(after, "eval", "failed_calls") - stat(before, "eval", "failed_calls")
    reached_dot = sum(1 for _, _, r in results.values() if r.step("dot") is not None)
    print("script calls: evalsha=%d (NOSCRIPT %d) eval=%d for %d messages at end of DATA"
          % (evalsha, noscript, evals, reached_dot))
    assert reached_dot == TOTAL
    assert evalsha == reached_dot, "got %d EVALSHA, want %d" % (evalsha, reached_dot)
    assert evals == noscript, "got %d EVAL, want one per NOSCRIPT (%d)" % (evals, noscript)
    assert eval_failed == 0, after.get("eval")
    assert evalsha - noscript + evals == reached_dot, "got %d script runs, want %d" % (
        evalsha - noscript + evals, reached_dot)
    # A cold script cache costs at most one NOSCRIPT per connection.
    assert noscript <= 2 * 16, noscript

    # Each node logged one line per message, with the same decision.
    lines = [d for n in nodes for d in n.message_lines()]
    assert sum(d.get("quota") == "ok" and d["action"] == "pass" for d in lines) == LIMIT
    assert sum(d.get("quota") == "over:shared-daily" and d["action"] == "tempfail"
               for d in lines) == TOTAL - LIMIT
    assert len(lines) == TOTAL, "got %d message lines, want %d" % (len(lines), TOTAL)
    assert all(n.alive() for n in nodes)
