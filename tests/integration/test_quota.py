"""Quotas through real Postfix, staffeld and redis-server.

A `limit = "5/1d"` quota lets five recipients through and gives the sixth's
message 451 4.7.1 naming the limit; `hold` leaves the message in Postfix's
hold queue; `log` lets it through and logs; `staffelctl quota show|reset`
read and clear the same counters; one script call per message reaches Redis,
and a Redis that forgot its scripts (SCRIPT FLUSH) costs nothing.
"""
import re
import subprocess
import time

import harness
from harness import sample_message, smtp_send


def quota_policy(redis, quotas: str, extra: str = "") -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n%s\n%s' % (redis.address, extra, quotas))


DAILY5 = '''
[[quota]]
name = "per-sender-daily"
key = "sender"
limit = "5/1d"
action = "tempfail"
'''


def send(postfix, sender="alice@example.com", rcpts=("bob@example.net",), subject="quota"):
    return smtp_send(postfix.smtp_port, sender, list(rcpts),
                     sample_message(subject=subject, sender=sender))


def commandstats(redis) -> dict:
    """Calls per command from INFO commandstats: {'evalsha': 12, ...}."""
    text = redis.command("INFO", "commandstats")
    text = text.decode() if isinstance(text, bytes) else text
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_([a-z|]+):calls=(\d+)", text)}


def staffelctl(policy_path, *args):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), *args],
                          capture_output=True, text=True, timeout=30)


def test_sixth_recipient_is_tempfailed_naming_the_limit(staffeld_factory, postfix_factory, sink,
                                                       redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, subject="ok 0").accepted  # also loads the script into Redis
    before = commandstats(redis)
    for i in range(1, 5):
        r = send(postfix, subject="ok %d" % i)
        assert r.accepted, str(r)
    r = send(postfix, subject="sixth")
    dot = r.step("dot")
    assert dot is not None and dot.code == 451, str(r)
    assert "4.7.1" in dot.message, str(r)
    assert 'quota "per-sender-daily" exceeded for sender alice@example.com' in dot.message, \
        str(r)
    assert "5 recipients per day; resets" in dot.message, str(r)
    # Another sender has a counter of its own.
    assert send(postfix, sender="carol@example.com").accepted
    assert len(sink.wait_for(6)) == 6
    time.sleep(0.5)
    assert sink.count() == 6, "the refused message must not be delivered"
    lines = [d["line"] for d in staffeld.message_lines()]
    assert sum("quota=ok action=pass" in line for line in lines) == 6, "\n".join(lines)
    assert sum("quota=over:per-sender-daily action=tempfail" in line for line in lines) == 1
    # One script call per message (6 since the snapshot), no other command.
    after = commandstats(redis)
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    calls.pop("info", None)  # our own INFO
    assert calls.get("evalsha") == 6 and calls.get("eval", 0) == 0, calls
    # Commands the script runs inside Redis are counted too; they are not
    # round trips.
    inside = ("get", "incrby", "pexpireat", "time", "set", "pexpire", "del")
    top_level = {k: v for k, v in calls.items() if v and k not in inside}
    assert top_level == {"evalsha": 6}, calls
    print("Redis commands for 6 messages: %s" % calls)


def test_a_message_is_admitted_whole_or_not_at_all(staffeld_factory, postfix_factory, sink,
                                                   redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, rcpts=["a@example.net", "b@example.net", "c@example.net"]).accepted
    # Three more would be six: the whole message waits, nothing is charged.
    r = send(postfix, rcpts=["d@example.net", "e@example.net", "f@example.net"])
    assert r.code("dot") == 451, str(r)
    assert send(postfix, rcpts=["d@example.net", "e@example.net"]).accepted
    assert send(postfix, rcpts=["g@example.net"]).code("dot") == 451
    # More recipients than the quota ever admits: a permanent answer.
    r = send(postfix, sender="dave@example.com", rcpts=["r%d@example.net" % i for i in range(6)])
    assert r.code("dot") == 550, str(r)
    assert "more than quota \"per-sender-daily\" admits at once" in r.step("dot").message
    assert len(sink.wait_for(2)) == 2


def test_hold_puts_the_message_in_the_hold_queue(staffeld_factory, postfix_factory, sink, redis):
    policy = quota_policy(redis, DAILY5.replace('"tempfail"', '"hold"').replace("5/1d", "1/1d"))
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, subject="first").accepted
    sink.wait_for(1)
    r = send(postfix, subject="held")
    assert r.accepted, str(r)  # the client is told nothing: an admin decides
    qid = r.queue_id
    assert qid
    harness.wait_until(lambda: qid in postfix.queue_ids_in("hold"), 15, what="held message")
    entry = [e for e in postfix.postqueue() if e.get("queue_id") == qid]
    assert entry and entry[0]["queue_name"] == "hold", entry
    postfix.wait_maillog(r"%s: milter-hold: END-OF-MESSAGE from .*milter triggers HOLD" % qid)
    time.sleep(0.5)
    assert sink.count() == 1
    line = staffeld.wait_message_line(qid)[0]["line"]
    assert "quota=over:per-sender-daily action=hold" in line, line


def test_log_lets_the_message_through_and_logs(staffeld_factory, postfix_factory, sink, redis):
    policy = quota_policy(redis, DAILY5.replace('"tempfail"', '"log"').replace("5/1d", "1/1d"))
    staffeld = staffeld_factory(policy=policy)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    for i in range(3):
        assert send(postfix, subject="shadow %d" % i).accepted
    assert len(sink.wait_for(3)) == 3
    lines = [d["line"] for d in staffeld.message_lines()]
    assert sum("quota=ok action=pass" in line for line in lines) == 1, "\n".join(lines)
    assert sum("quota=shadow-over:per-sender-daily action=pass" in line
               for line in lines) == 2, "\n".join(lines)
    # Shadow mode counts what it lets through.
    keys = redis.command("KEYS", "staffel:q:*")
    assert len(keys) == 1
    assert int(redis.command("GET", keys[0])) == 3


def test_staffelctl_quota_show_and_reset(staffeld_factory, postfix_factory, sink, redis, workdir):
    quotas = DAILY5 + '''
[[quota]]
name = "domain-rate"
key = "sender_domain"
limit = "6/1m"
burst = 20
'''
    staffeld = staffeld_factory(policy=quota_policy(redis, quotas))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    for _ in range(3):
        assert send(postfix).accepted
    r = staffelctl(staffeld.policy_path, "quota", "show", "alice@example.com")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines()]
    assert rows[0][:4] == ["LIMIT", "KEY", "USED", "LIMIT"], r.stdout
    assert rows[1][:4] == ["per-sender-daily", "sender", "3", "5"], r.stdout
    assert len(rows) == 2, r.stdout  # the domain rate is keyed on the domain
    r = staffelctl(staffeld.policy_path, "quota", "show", "example.com")
    assert r.returncode == 0, r.stderr
    row = r.stdout.splitlines()[1].split()
    assert row[:2] == ["domain-rate", "sender_domain"], r.stdout
    # One unit drains every 10 s: slow enough that a loaded machine (ASan)
    # still finds at least two of the three in use.
    assert 2 <= int(row[2]) <= 3 and row[3] == "20", r.stdout
    # A key no limit applies to.
    r = staffelctl(staffeld.policy_path, "quota", "show", "192.0.2.1")
    assert r.returncode == 1 and "no [[quota]] limit" in r.stderr, (r.stdout, r.stderr)
    # Two more reach the quota; reset clears it and mail flows again.
    assert send(postfix).accepted and send(postfix).accepted
    assert send(postfix).code("dot") == 451
    r = staffelctl(staffeld.policy_path, "quota", "reset", "alice@example.com")
    assert r.returncode == 0, r.stderr
    assert "1 of 1 counters existed and were cleared" in r.stdout, r.stdout
    r = staffelctl(staffeld.policy_path, "quota", "show", "alice@example.com")
    assert r.stdout.splitlines()[1].split()[2] == "0", r.stdout
    assert send(postfix).accepted
    # Redis unreachable: a clear error and exit 69.
    dead = workdir / "dead.toml"
    dead.write_text(quota_policy(redis, DAILY5).replace(redis.address,
                                                        "127.0.0.1:%d" % harness.free_port()))
    r = staffelctl(dead, "quota", "show", "alice@example.com")
    assert r.returncode == 69, (r.stdout, r.stderr)
    assert "Redis at 127.0.0.1:" in r.stderr, r.stderr


def test_redis_that_forgot_its_scripts_costs_nothing(staffeld_factory, postfix_factory, sink,
                                                     redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix).accepted
    redis.command("SCRIPT", "FLUSH")
    assert send(postfix).accepted
    assert send(postfix).accepted
    keys = redis.command("KEYS", "staffel:q:*")
    assert int(redis.command("GET", keys[0])) == 3
    lines = [d["line"] for d in staffeld.message_lines()]
    assert sum("quota=ok" in line for line in lines) == 3, "\n".join(lines)


def test_bad_quota_policies_are_refused_with_their_location(workdir):
    path = workdir / "bad.toml"
    path.write_text('[[quota]]\nname = "q"\nlimit = "5/1d"\nburst = 10\n')
    rc, _out, err = harness.check_config(path)
    assert rc == 78, err
    assert "bad.toml:1:1: error: quota: burst applies to rolling rates only" in err, err


def test_reload_moves_the_counters_to_the_new_redis(request, staffeld_factory, postfix_factory,
                                                    sink, redis, workdir):
    other = harness.Redis(workdir / "second")
    request.node.staffel_servers.append(other)
    other.start()
    # No --redis override: the address comes from the policy, so a reload can change it.
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5), redis=None)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix).accepted
    mark = staffeld.log_size()
    staffeld.write_policy(quota_policy(other, DAILY5))
    staffeld.hup()
    staffeld.wait_log(r"policy reloaded", since=mark)
    assert send(postfix).accepted
    assert send(postfix).accepted

    def count(r):
        keys = r.command("KEYS", "staffel:q:*")
        return int(r.command("GET", keys[0])) if keys else 0
    assert (count(redis), count(other)) == (1, 2)
    other.stop()


def test_mail_submitted_without_smtp_waits_in_the_queue_when_over_quota(
        staffeld_factory, postfix_factory, sink, redis):
    """sendmail(1) mail goes through non_smtpd_milters: a quota tempfail keeps
    it in Postfix's maildrop (nothing lost) until the quota allows it."""
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5.replace("5/1d", "1/1d")))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    first = postfix.sendmail(sample_message(subject="ns1"), "alice@example.com",
                             ["bob@example.net"])
    assert first.returncode == 0, first
    assert len(sink.wait_for(1)) == 1
    second = postfix.sendmail(sample_message(subject="ns2"), "alice@example.com",
                              ["bob@example.net"])
    assert second.returncode == 0, second  # queued; the milter speaks to pickup's cleanup
    postfix.wait_maillog(r"milter-reject: END-OF-MESSAGE from .*4\.7\.1 Staffel: quota "
                         r"\"per-sender-daily\" exceeded")
    harness.wait_until(lambda: postfix.queue_ids_in("maildrop"), 10, what="a kept maildrop file")
    time.sleep(1)
    assert sink.count() == 1
    # The admin lifts the limit; pickup's next scan delivers the message.
    assert staffelctl(staffeld.policy_path, "quota", "reset", "alice@example.com").returncode == 0
    subprocess.run(["/usr/sbin/postkick", "-c", str(postfix.etc), "public", "pickup", "W"],
                   check=True, timeout=10)
    got = sink.wait_for(2, timeout=30)
    assert sorted(m.headers("Subject")[0] for m in got) == ["ns1", "ns2"]
    assert not postfix.queue_ids_in("maildrop")
