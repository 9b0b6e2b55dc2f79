"""Statistics and tags through real Postfix, staffeld and redis-server.

A run of mixed mail (transactional and bulk, two sender domains plus a
third that is held, two tags, one suppressed recipient, one message over
quota, one held) gives exactly those counts in `staffelctl stats --json`
for every dimension; the tag reaches the Feedback-ID and is stripped;
events of the same decisions land in the Redis Stream; two staffeld nodes
on one Redis are summed; SIGTERM writes what is pending.
"""
import json
import os
import pathlib
import re
import subprocess
import time

import harness
from harness import sample_message, smtp_send

QUOTAS = '''
[[quota]]
name = "cap"
key = "sender"
limit = "2/1d"
domains = ["b.example"]

[[quota]]
name = "hold-c"
key = "sender"
limit = "1/1d"
domains = ["c.example"]
action = "hold"

[[stream]]
name = "bulk"
headers = ["List-Unsubscribe"]
'''


def stats_policy(redis, interval="200ms", extra=QUOTAS) -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n\n[suppression]\n\n'
            '[stats]\nenabled = true\nflush_interval = "%s"\n'
            'tag_headers = ["X-Campaign-Id"]\nstrip_tag_headers = true\n'
            'feedback_id = "{tag}:{stream}:{sender_domain}:staffel"\n\n'
            '[events]\nenabled = true\n%s' % (redis.address, interval, extra))


DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "bounces"


def staffelctl(policy_path, *args, stdin=None):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), *args],
                          capture_output=True, text=True, timeout=30, input=stdin)


def reports():
    """A DSN about mail from a.example tagged nov-1 and an ARF complaint
    about mail from b.example tagged dec-2; the tag fields themselves were
    stripped, so the tag comes from Feedback-ID."""
    dsn = (DATA / "postfix_hard.eml").read_text()
    marker = "Return-Path: <bounces@example.com>\n"
    assert marker in dsn
    dsn = dsn.replace(marker, marker + "From: App <app@a.example>\n"
                      "Feedback-ID: nov-1:transactional:a.example:staffel\n", 1)
    arf = (DATA / "arf_abuse.eml").read_text()
    marker = "From: Example News <news@example.com>\n"
    assert marker in arf
    arf = arf.replace(marker, "From: News <news@b.example>\n"
                      "Feedback-ID: dec-2:bulk:b.example:staffel\n", 1)
    return dsn, arf


def stats(staffeld, by):
    r = staffelctl(staffeld.policy_path, "stats", "--by", by, "--json", "--top", "100")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    return {row["value"]: {k: v for k, v in row["counters"].items()} for row in doc["rows"]}


def send(postfix, sender, rcpts, tag=None, bulk=False, subject="stats"):
    extra = []
    if tag:
        extra.append("X-Campaign-Id: %s" % tag)
    if bulk:
        extra.append("List-Unsubscribe: <mailto:unsub@b.example>")
    return smtp_send(postfix.smtp_port, sender, list(rcpts),
                     sample_message(subject=subject, sender=sender, extra_headers=tuple(extra)))


def test_mixed_mail_gives_exact_counts_per_dimension(staffeld_factory, postfix_factory, sink,
                                                     redis):
    staffeld = staffeld_factory(policy=stats_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    redis.command("SET", "staffel:s:*:gone@x.example", "1|hard_bounce|*|1763640000|0|test")

    assert send(postfix, "app@a.example", ["bob@x.example"], tag="nov-1").accepted
    r = send(postfix, "app@a.example", ["carol@y.example", "gone@x.example"], tag="nov 1")
    assert r.accepted and r.code("rcpt gone@x.example") == 550, str(r)
    assert send(postfix, "news@b.example", ["e1@y.example", "e2@y.example"], tag="dec-2",
                bulk=True).accepted
    r = send(postfix, "news@b.example", ["e3@y.example"], tag="dec-2", bulk=True)
    assert r.step("dot").code == 451 and 'quota "cap"' in r.step("dot").message, str(r)
    assert send(postfix, "h@c.example", ["f@x.example"]).accepted
    r = send(postfix, "h@c.example", ["g@x.example"])
    assert r.accepted, str(r)  # held in Postfix's hold queue, not delivered
    got = sink.wait_for(4)
    dsn, arf = reports()
    for report in (dsn, arf):
        r = staffelctl(staffeld.policy_path, "ingest", stdin=report)
        assert r.returncode == 0, r.stderr
        assert "warning" not in r.stderr, r.stderr
    r = staffelctl(staffeld.policy_path, "suppress", "add", "u@z.example", "--reason",
                   "unsubscribe", "--scope", "b.example")
    assert r.returncode == 0, r.stderr
    time.sleep(1.0)  # two flush intervals and then some
    assert sink.count() == 4

    # The tag went into Feedback-ID (signed headers are the final ones)
    # and its own field was stripped.
    first = [m for m in got if m.rcpts == ["bob@x.example"]][0]
    assert first.headers("Feedback-ID") == ["nov-1:transactional:a.example:staffel"], \
        first.header_block()
    assert first.headers("X-Campaign-Id") == []
    # "nov 1" is sanitised to the same tag as "nov-1"? No: to "nov_1".
    second = [m for m in got if m.rcpts == ["carol@y.example"]][0]
    assert second.headers("Feedback-ID") == ["nov_1:transactional:a.example:staffel"]

    by_domain = stats(staffeld, "sender_domain")
    assert by_domain["a.example"] == {"messages": 2, "recipients": 2,
                                      "bytes": by_domain["a.example"]["bytes"],
                                      "rcpt_refused:hard_bounce": 1, "bounce_hard": 1}, by_domain
    assert by_domain["a.example"]["bytes"] > 0
    b = dict(by_domain["b.example"])
    b.pop("bytes")
    assert b == {"messages": 1, "recipients": 2, "deferred:quota:cap": 1, "complaint": 1,
                 "unsubscribe": 1}, by_domain
    c = dict(by_domain["c.example"])
    c.pop("bytes")
    assert c == {"messages": 1, "recipients": 1, "held": 1}, by_domain
    assert set(by_domain) == {"a.example", "b.example", "c.example"}

    def pick(table, *names):
        return {v: {n: row.get(n, 0) for n in names} for v, row in table.items()}

    assert pick(stats(staffeld, "tag"), "messages", "recipients", "held", "deferred:quota:cap",
                "bounce_hard", "complaint", "unsubscribe") == {
        "nov-1": {"messages": 1, "recipients": 1, "held": 0, "deferred:quota:cap": 0,
                  "bounce_hard": 1, "complaint": 0, "unsubscribe": 0},
        "nov_1": {"messages": 1, "recipients": 1, "held": 0, "deferred:quota:cap": 0,
                  "bounce_hard": 0, "complaint": 0, "unsubscribe": 0},
        "dec-2": {"messages": 1, "recipients": 2, "held": 0, "deferred:quota:cap": 1,
                  "bounce_hard": 0, "complaint": 1, "unsubscribe": 0},
        "none": {"messages": 1, "recipients": 1, "held": 1, "deferred:quota:cap": 0,
                 "bounce_hard": 0, "complaint": 0, "unsubscribe": 0},
        "unknown": {"messages": 0, "recipients": 0, "held": 0, "deferred:quota:cap": 0,
                    "bounce_hard": 0, "complaint": 0, "unsubscribe": 1}}
    assert pick(stats(staffeld, "stream"), "messages", "recipients", "held",
                "deferred:quota:cap") == {
        "transactional": {"messages": 3, "recipients": 3, "held": 1, "deferred:quota:cap": 0},
        "bulk": {"messages": 1, "recipients": 2, "held": 0, "deferred:quota:cap": 1}}
    assert pick(stats(staffeld, "rcpt_domain"), "messages", "recipients",
                "rcpt_refused:hard_bounce") == {
        "x.example": {"messages": 2, "recipients": 2, "rcpt_refused:hard_bounce": 1},
        "y.example": {"messages": 2, "recipients": 3, "rcpt_refused:hard_bounce": 0}}
    outcome = pick(stats(staffeld, "outcome"), "messages", "recipients", "held",
                   "deferred:quota:cap", "rcpt_refused:hard_bounce")
    assert outcome.pop("ingested") == {"messages": 0, "recipients": 0, "held": 0,
                                       "deferred:quota:cap": 0, "rcpt_refused:hard_bounce": 0}
    assert outcome == {
        "accepted": {"messages": 4, "recipients": 5, "held": 0, "deferred:quota:cap": 0,
                     "rcpt_refused:hard_bounce": 1},
        "held": {"messages": 0, "recipients": 0, "held": 1, "deferred:quota:cap": 0,
                 "rcpt_refused:hard_bounce": 0},
        "deferred": {"messages": 0, "recipients": 0, "held": 0, "deferred:quota:cap": 1,
                     "rcpt_refused:hard_bounce": 0}}
    ingested = stats(staffeld, "outcome")["ingested"]
    assert ingested == {"bounce_hard": 1, "complaint": 1, "unsubscribe": 1}, ingested
    assert pick(stats(staffeld, "sender"), "messages") == {
        "app@a.example": {"messages": 2}, "news@b.example": {"messages": 1},
        "h@c.example": {"messages": 1}}
    assert pick(stats(staffeld, "route"), "messages") == {"none": {"messages": 4}}

    # The table for people says the same.
    text = staffelctl(staffeld.policy_path, "stats", "--by", "sender_domain").stdout
    assert "a.example" in text and "(total)" in text, text

    # The events of the same decisions, in the stream.
    entries = redis.command("XRANGE", "staffel:events", "-", "+")
    events = []
    for _id, fields in entries:
        for i in range(0, len(fields), 2):
            events.append(json.loads(fields[i + 1]))
    types = sorted(e["type"] for e in events)
    assert types == sorted(["message.accepted"] * 4 + ["message.held", "message.deferred",
                                                      "recipient.refused", "bounce.hard",
                                                      "complaint", "unsubscribe"]), types
    bounce = [e for e in events if e["type"] == "bounce.hard"][0]
    assert (bounce["recipient"], bounce["sender_domain"], bounce["tag"]) == \
        ("jane.doe@example.net", "a.example", "nov-1"), bounce
    refused = [e for e in events if e["type"] == "recipient.refused"][0]
    assert refused["recipient"] == "gone@x.example" and refused["reason"] == "hard_bounce"
    assert all(e["v"] == 1 for e in events)


def test_two_nodes_are_summed_and_sigterm_writes_what_is_pending(
        staffeld_factory, postfix_factory, sink, redis):
    nodes = []
    for _ in range(2):
        s = staffeld_factory(policy=stats_policy(redis, interval="1s", extra=""))
        p = postfix_factory(milter=s.socket_spec)
        nodes.append((s, p))
    for s, p in nodes:
        assert send(p, "app@a.example", ["bob@x.example"], tag="t").accepted
    sink.wait_for(2)
    # Stopped at once: the counts of the last second go with the stop.
    for s, _ in nodes:
        s.term()
    by_domain = stats(nodes[0][0], "sender_domain")
    assert by_domain["a.example"]["messages"] == 2, by_domain
    assert by_domain["a.example"]["recipients"] == 2, by_domain


def test_hashing_at_rest_keeps_addresses_out_of_stats_and_events(
        staffeld_factory, postfix_factory, sink, redis, workdir):
    secret = workdir / "stats.secret"
    secret.write_text("correct horse battery staple\n")
    os.chmod(secret, 0o600)
    policy = stats_policy(redis, extra="").replace(
        "[suppression]\n", '[suppression]\nhash_secret_file = "%s"\n' % secret)
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    redis.command("SET", "staffel:s:*:h:" + "0" * 64, "1|hard_bounce|*|1763640000|0|test")
    assert send(postfix, "Alice@A.example", ["bob@x.example"], tag="t1").accepted
    sink.wait_for(1)
    time.sleep(0.8)
    senders = stats(staffeld, "sender")
    assert len(senders) == 1, senders
    (value,) = senders
    assert re.fullmatch(r"h:[0-9a-f]{64}", value), senders
    # Domains, tags and streams stay readable.
    assert set(stats(staffeld, "sender_domain")) == {"a.example"}
    assert set(stats(staffeld, "tag")) == {"t1"}
    dump = json.dumps([f for _id, f in redis.command("XRANGE", "staffel:events", "-", "+")],
                      default=lambda b: b.decode())
    assert "alice" not in dump.lower() and "bob@" not in dump, dump
    assert value in dump


def test_values_past_max_values_count_as_other(staffeld_factory, postfix_factory, sink, redis):
    policy = stats_policy(redis, extra="").replace("[stats]\n", "[stats]\nmax_values = 10\n")
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    for i in range(25):
        assert send(postfix, "u%d@random.example" % i, ["bob@x.example"]).accepted
        if i == 4:
            time.sleep(0.5)  # the first five are written before the rest
    sink.wait_for(25)
    time.sleep(1.0)
    senders = stats(staffeld, "sender")
    assert len(senders) == 11 and "other" in senders, senders
    assert sum(row["messages"] for row in senders.values()) == 25
    assert senders["other"]["messages"] == 15
    for i in range(5):
        assert senders["u%d@random.example" % i]["messages"] == 1
    members = redis.command("SCARD", "staffel:stats:values:sender:" + time.strftime("%Y%m%d", time.gmtime()))
    assert members == 10


def test_counts_wait_in_memory_while_redis_is_away(staffeld_factory, postfix_factory, sink,
                                                   redis):
    # No suppression lists: mail does not need Redis, only the statistics do.
    policy = stats_policy(redis, extra="").replace("[suppression]\n\n", "")
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, "app@a.example", ["bob@x.example"]).accepted
    sink.wait_for(1)
    time.sleep(0.6)
    assert stats(staffeld, "sender_domain")["a.example"]["messages"] == 1
    redis.kill()  # the data goes with it: a fresh Redis comes back
    since = staffeld.log_size()
    for i in range(3):
        assert send(postfix, "app@a.example", ["bob%d@x.example" % i]).accepted
    sink.wait_for(4)
    staffeld.wait_log(r"statistics: cannot write to Redis", since=since)
    time.sleep(0.6)
    redis.restart()
    staffeld.wait_log(r"statistics: writing to Redis works again", since=since)
    time.sleep(0.3)
    # The three counted while Redis was away, not lost (the first went
    # with the old Redis's data).
    assert stats(staffeld, "sender_domain")["a.example"]["messages"] == 3
    # Said once when it failed, once when it worked again.
    log = staffeld.log(since)
    assert log.count("statistics: cannot write to Redis") == 1, log


def test_sighup_writes_what_is_pending(staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=stats_policy(redis, interval="1s", extra=""))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, "app@a.example", ["bob@x.example"]).accepted
    sink.wait_for(1)
    since = staffeld.log_size()
    staffeld.hup()
    staffeld.wait_log(r"policy reloaded", since=since)
    # Written by the reload itself, not by the next flush a second later.
    assert stats(staffeld, "sender_domain")["a.example"]["messages"] == 1

    def reload_events():
        found = []
        for _id, fields in redis.command("XRANGE", "staffel:events", "-", "+"):
            found += [json.loads(v) for v in fields[1::2]]
        return [e for e in found if e["type"] == "policy.reloaded"]
    harness.wait_until(lambda: reload_events(), 5, what="the policy.reloaded event")
    assert reload_events()[0]["policy"] == staffeld.digest()
