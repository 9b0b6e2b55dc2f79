"""Per-recipient-domain throttles through real Postfix, staffeld and redis-server.

A `key = "recipient_domain"` limit is charged one recipient at a time at
RCPT: the recipient over it gets 451 4.7.1 naming the limit and the
message's other recipients are delivered; a message refused at end of data
or aborted after RCPT gets its RCPT charges back; mail submitted with
sendmail(1) (no SMTP) is deferred whole; and two staffeld nodes sharing one
Redis admit exactly the limit.
"""
import datetime
import re
import smtplib
import subprocess
import threading
import time

import harness
from harness import sample_message, smtp_send, wait_until

THROTTLED = "throttled.example"

# The text of a refusal by the shared limit, after "451 ".
REFUSAL = re.compile(r'^4\.7\.1 Staffel: quota "to-throttled" exceeded for recipient_domain '
                     r'throttled\.example,alias\.example: (\d+) recipients per day; resets ')


def policy(redis, limit: int, extra: str = "") -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n\n'
            '[[quota]]\nname = "to-throttled"\nkey = "recipient_domain"\n'
            'domains = ["throttled.example", "alias.example"]\nlimit = "%d/1d"\n%s'
            % (redis.address, limit, extra))


def counter_key() -> set:
    """The shared counter's key today (or, just past midnight UTC, yesterday)."""
    days = {datetime.datetime.now(datetime.timezone.utc).date() - datetime.timedelta(days=d)
            for d in (0, 1)}
    return {"staffel:q:{rd:throttled.example%%2calias.example}:to-throttled:d%s" % d.isoformat()
            for d in days}


def used(redis) -> int:
    keys = [k.decode() for k in redis.command("KEYS", "staffel:q:{rd:*")]
    assert all(k in counter_key() for k in keys), keys
    return sum(int(redis.command("GET", k) or 0) for k in keys)


def staffelctl(policy_path, *args):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), *args],
                          capture_output=True, text=True, timeout=30)


def send(postfix, rcpts, sender="alice@example.com", subject="rcpt quota"):
    return smtp_send(postfix.smtp_port, sender, list(rcpts),
                     sample_message(subject=subject, sender=sender))


def test_the_over_limit_recipient_gets_451_and_the_others_are_delivered(
        staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=policy(redis, 3))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    assert send(postfix, ["a@throttled.example"], subject="first").accepted
    sink.wait_for(1)
    # Two throttled recipients (case and alias share the counter), one elsewhere.
    r = send(postfix, ["b@THROTTLED.example", "c@alias.example", "d@throttled.example",
                       "bob@example.net"], subject="second")
    assert r.code("rcpt b@THROTTLED.example") == 250, str(r)
    assert r.code("rcpt c@alias.example") == 250, str(r)
    over = r.step("rcpt d@throttled.example")
    assert over is not None and over.code == 451, str(r)
    m = REFUSAL.search(over.message)
    assert m and m.group(1) == "3", str(r)
    assert r.code("rcpt bob@example.net") == 250, str(r)
    assert r.accepted, str(r)
    got = sink.wait_for(2)
    second = [x for x in got if x.headers("Subject")[0] == "second"]
    assert len(second) == 1
    assert sorted(x.lower() for x in second[0].rcpts) == [
        "b@throttled.example", "bob@example.net", "c@alias.example"], second[0].rcpts
    time.sleep(0.5)
    assert sink.count() == 2
    assert used(redis) == 3
    line = staffeld.wait_message_line(r.queue_id)[0]
    assert line["rcpts"] == "3" and line["action"] == "pass", line
    assert line.get("rcpt_quota") == "over:to-throttled", line
    log = staffeld.log()
    assert re.search(r"refused RCPT <d@throttled\.example>: over:to-throttled", log), log
    # Mail to other domains is not counted at all.
    assert send(postfix, ["bob@example.net"]).accepted
    assert used(redis) == 3


def test_a_refused_or_aborted_message_refunds_its_rcpt_charges(staffeld_factory, postfix_factory,
                                                                sink, redis):
    # A per-sender limit of 2 refuses a 3-recipient message at end of data
    # (550: more than it admits at once), after the RCPT charges were made.
    extra = '\n[[quota]]\nname = "per-sender"\nkey = "sender"\nlimit = "2/1d"\n'
    staffeld = staffeld_factory(policy=policy(redis, 10, extra))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    r = send(postfix, ["a@throttled.example", "b@throttled.example", "c@alias.example"])
    assert r.code("rcpt c@alias.example") == 250, str(r)
    assert r.code("dot") == 550, str(r)
    assert used(redis) == 0
    line = [d for d in staffeld.message_lines() if d["action"] == "reject"]
    assert line and line[0]["quota"] == "too-many:per-sender,refunded", line

    # The client gives up after RCPT: the charges come back. Postfix tells
    # the milter nothing at RSET; the next MAIL FROM ends the old message
    # (staffeld takes it as aborted), and so does the end of the connection.
    client = smtplib.SMTP("127.0.0.1", postfix.smtp_port, timeout=30)
    client.ehlo("client.staffel.test")
    assert client.mail("alice@example.com")[0] == 250
    assert client.rcpt("a@throttled.example")[0] == 250
    assert client.rcpt("b@alias.example")[0] == 250
    assert used(redis) == 2  # RCPT waits for the milter: charged by now
    client.rset()
    assert client.mail("alice@example.com")[0] == 250
    assert client.rcpt("a@throttled.example")[0] == 250
    assert used(redis) == 1, "the RSET message's two charges refunded, one new"
    client.quit()
    wait_until(lambda: used(redis) == 0, 10, what="the refund after QUIT")

    # An accepted message keeps its charges.
    assert send(postfix, ["a@throttled.example", "bob@example.net"]).accepted
    assert used(redis) == 1
    sink.wait_for(1)


def test_a_suppressed_message_refunds_its_rcpt_charges(staffeld_factory, postfix_factory, sink,
                                                       redis):
    # An unsubscribe for transactional mail is decided at end of message:
    # the only recipient is removed, so the message is refused, and the RCPT
    # charge that recipient made comes back.
    staffeld = staffeld_factory(policy=policy(redis, 10, "\n[suppression]\n"))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    r = staffelctl(staffeld.policy_path, "suppress", "add", "gone@throttled.example",
                   "--reason", "unsubscribe", "--streams", "transactional")
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = send(postfix, ["gone@throttled.example"])
    assert r.code("rcpt") == 250, str(r)
    assert r.code("dot") == 550, str(r)
    assert used(redis) == 0
    # With another recipient the message goes on, without the removed one's charge.
    r = send(postfix, ["gone@throttled.example", "kept@throttled.example"])
    assert r.accepted, str(r)
    got = sink.wait_for(1)
    assert got[0].rcpts == ["kept@throttled.example"], got[0].rcpts
    assert used(redis) == 1


def test_mail_without_smtp_is_deferred_whole_when_a_recipient_is_over(
        staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=policy(redis, 1))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    first = postfix.sendmail(sample_message(subject="ns1"), "alice@example.com",
                             ["a@throttled.example", "bob@example.net"])
    assert first.returncode == 0, first
    assert len(sink.wait_for(1)) == 1
    assert used(redis) == 1
    second = postfix.sendmail(sample_message(subject="ns2"), "alice@example.com",
                              ["bob@example.net", "b@throttled.example"])
    assert second.returncode == 0, second
    postfix.wait_maillog(r"milter-reject: END-OF-MESSAGE from .*4\.7\.1 Staffel: quota "
                         r"\"to-throttled\" exceeded for recipient_domain")
    harness.wait_until(lambda: postfix.queue_ids_in("maildrop"), 10, what="a kept maildrop file")
    time.sleep(1)
    assert sink.count() == 1, "no recipient of the deferred message may get it"
    assert used(redis) == 1, "the deferred message's charges are refunded"
    lines = [d for d in staffeld.message_lines() if d["action"] == "tempfail"]
    assert lines and lines[0]["quota"].startswith("over:to-throttled"), lines


# Two nodes: 20 sessions, each message to one throttled and one other recipient.
LIMIT = 100
TOTAL = 160
SESSIONS = 20


def test_two_nodes_admit_exactly_the_limit(staffeld_factory, postfix_factory, sink, redis):
    nodes = [staffeld_factory(policy=policy(redis, LIMIT), subdir="n%d" % i) for i in range(2)]
    postfixes = [postfix_factory(milter=n.socket_spec) for n in nodes]
    lock = threading.Lock()
    tickets = iter(range(TOTAL))
    results = {}
    crashes = []

    def session(port):
        try:
            while True:
                with lock:
                    t = next(tickets, None)
                if t is None:
                    return
                r = smtp_send(port, "alice@example.com",
                              ["t%d@throttled.example" % t, "o%d@example.net" % t],
                              sample_message(subject="cluster %d" % t))
                with lock:
                    results[t] = (port, r)
        except Exception as e:  # noqa: BLE001 - reported by the test
            with lock:
                crashes.append(repr(e))

    threads = [threading.Thread(target=session, args=(postfixes[i % 2].smtp_port,), daemon=True)
               for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert not any(t.is_alive() for t in threads)
    assert crashes == [], crashes
    assert len(results) == TOTAL

    admitted, refused, other = [], [], []
    for t, (port, r) in sorted(results.items()):
        code = r.code("rcpt t%d@throttled.example" % t)
        step = r.step("rcpt t%d@throttled.example" % t)
        if code == 250:
            admitted.append((t, port))
        elif code == 451 and REFUSAL.search(step.message):
            refused.append((t, port))
        else:
            other.append(str(r))
        if not r.accepted:
            other.append("not accepted: %s" % r)
    print("\nrecipient_domain cluster: admitted=%d refused=%d other=%d"
          % (len(admitted), len(refused), len(other)))
    assert other == [], "\n".join(other[:10])
    assert len(admitted) == LIMIT, "got %d throttled recipients admitted, want %d" % (
        len(admitted), LIMIT)
    assert len(refused) == TOTAL - LIMIT
    ports = {p.smtp_port for p in postfixes}
    assert {p for _, p in admitted} == ports and {p for _, p in refused} == ports, \
        "both nodes took part in admitting and refusing"
    assert used(redis) == LIMIT

    # Every message reached its other recipient; the throttled recipients
    # that were admitted got theirs, the refused ones did not.
    def delivered():
        return sum(len(m.rcpts) for m in sink.messages()) >= TOTAL + LIMIT
    wait_until(delivered, 90, what="%d delivered recipients" % (TOTAL + LIMIT))
    for p in postfixes:
        p.wait_queue_empty(60)
    time.sleep(0.5)
    rcpts = [r.lower() for m in sink.messages() for r in m.rcpts]
    assert len(rcpts) == TOTAL + LIMIT, len(rcpts)
    throttled = sorted(int(r[1:].split("@")[0]) for r in rcpts if r.endswith("@throttled.example"))
    assert throttled == sorted(t for t, _ in admitted)
    others = sorted(int(r[1:].split("@")[0]) for r in rcpts if r.endswith("@example.net"))
    assert others == list(range(TOTAL))
