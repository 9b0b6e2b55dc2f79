"""Suppression lists through real Postfix, staffeld and redis-server.

A recipient that hard-bounced is refused at RCPT with the reason and the
others are delivered; an unsubscribed recipient is removed from bulk mail
and still gets transactional mail; `staffelctl ingest` of a DSN or an ARF
report makes the next message to that address refused; with hashing on, no
address is stored in clear and enforcement still works; mail submitted with
sendmail(1) is never refused per recipient; the Postfix pipe transport of
contrib/postfix/ feeds a bounce to `staffelctl ingest`.
"""
import os
import pwd
import re
import subprocess
import time
from pathlib import Path

import pytest

import harness
from harness import sample_message, smtp_send

DATA = Path(__file__).resolve().parent.parent / "data" / "bounces"
CONTRIB = Path(__file__).resolve().parent.parent.parent / "contrib" / "postfix"
SENDER = "app@shop.example"


def suppress_policy(redis, extra: str = "") -> str:
    return ('[milter]\nsocket = "unix:/unused"\nsocket_mode = "0666"\n\n'
            '[redis]\naddress = "%s"\n\n[suppression]\n%s' % (redis.address, extra))


def put(redis, address, value, scope="*"):
    """Writes an entry as staffelctl does: stored, and announced on the
    changes stream so that every node's local view learns of it."""
    key = "staffel:s:%s:%s" % (scope, address)
    redis.command("SET", key, value)
    redis.command("XADD", "staffel:suppress:changes", "MAXLEN", "~", "100000", "*", "k", key)


def staffelctl(policy_path, *args, stdin=None):
    return subprocess.run([harness.STAFFELCTL, "-c", str(policy_path), *args],
                          input=stdin, capture_output=True, timeout=30)


def bulk_message(subject):
    return sample_message(subject=subject, sender=SENDER,
                          extra_headers=("List-Unsubscribe: <mailto:unsub@shop.example>",))


def test_hard_bounced_recipient_refused_at_rcpt_the_others_delivered(
        staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    put(redis, "gone@example.net", "1|hard_bounce|*|1763640000|0|test")
    r = smtp_send(postfix.smtp_port, SENDER,
                  ["a@example.net", "Gone@Example.NET", "c@example.net"],
                  sample_message(subject="three", sender=SENDER))
    refused = r.step("rcpt Gone@Example.NET")
    assert refused.code == 550, str(r)
    assert refused.message.startswith("5.1.1 Staffel: <gone@example.net> is on the suppression "
                                      "list (hard bounce since 2025-11-20"), str(r)
    assert r.code("rcpt a@example.net") == 250 and r.code("rcpt c@example.net") == 250
    assert r.accepted, str(r)
    got = sink.wait_for(1)
    assert sorted(got[0].rcpts) == ["a@example.net", "c@example.net"]
    postfix.wait_maillog(r"milter-reject: RCPT from .*5\.1\.1 Staffel: <gone@example\.net>")
    staffeld.wait_log(r"refused RCPT <gone@example\.net>: suppressed reason=hard_bounce")


def test_unsubscribe_removes_from_bulk_only(staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    put(redis, "u@example.net", "1|unsubscribe|bulk|1763640000|0|list-unsubscribe")
    bulk = smtp_send(postfix.smtp_port, SENDER, ["a@example.net", "u@example.net"],
                     bulk_message("newsletter"))
    assert bulk.code("rcpt u@example.net") == 250, str(bulk)  # not refused at RCPT
    assert bulk.accepted, str(bulk)
    got = sink.wait_for(1)
    assert got[0].rcpts == ["a@example.net"]
    transactional = smtp_send(postfix.smtp_port, SENDER, ["u@example.net"],
                              sample_message(subject="receipt", sender=SENDER))
    assert transactional.accepted, str(transactional)
    receipt = [m for m in sink.wait_for(2) if m.headers("Subject") == ["receipt"]]
    assert receipt and receipt[0].rcpts == ["u@example.net"]
    staffeld.wait_log(r"stream=bulk .*removed=u@example\.net:unsubscribe")
    # A bulk message to nobody else is refused as a whole.
    alone = smtp_send(postfix.smtp_port, SENDER, ["u@example.net"], bulk_message("again"))
    assert alone.code("dot") == 550, str(alone)
    assert "every recipient" in alone.step("dot").message


def test_ingest_dsn_and_arf_make_the_next_message_refused(
        staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    dsn = staffelctl(staffeld.policy_path, "ingest", stdin=(DATA / "postfix_hard.eml").read_bytes())
    assert dsn.returncode == 0, dsn
    assert (b'suppressed jane.doe@example.net hard_bounce (status 5.1.1, dsn_status "5.*.*")'
            in dsn.stdout)
    arf = staffelctl(staffeld.policy_path, "ingest", stdin=(DATA / "arf_abuse.eml").read_bytes())
    assert arf.returncode == 0, arf
    assert b"suppressed frank.miller@example.net complaint" in arf.stdout
    r = smtp_send(postfix.smtp_port, SENDER,
                  ["jane.doe@example.net", "frank.miller@example.net", "ok@example.net"],
                  sample_message(subject="after ingest", sender=SENDER))
    assert r.code("rcpt jane.doe@example.net") == 550
    assert r.step("rcpt jane.doe@example.net").message.startswith("5.1.1 ")
    assert r.code("rcpt frank.miller@example.net") == 550
    assert "(complaint since" in r.step("rcpt frank.miller@example.net").message
    assert r.step("rcpt frank.miller@example.net").message.startswith("5.7.1 ")
    assert r.accepted, str(r)
    assert sink.wait_for(1)[0].rcpts == ["ok@example.net"]
    # Malformed input is refused with a reason and changes nothing.
    bad = staffelctl(staffeld.policy_path, "ingest", stdin=b"Subject: hello\r\n\r\nhi\r\n")
    assert bad.returncode == 65, bad
    assert b"not a report Staffel can read" in bad.stderr


def test_hashed_addresses_never_stored_in_clear(staffeld_factory, postfix_factory, sink, redis,
                                                 workdir):
    secret = workdir / "suppress.secret"
    secret.write_text("correct horse battery staple\n")
    os.chmod(secret, 0o600)
    staffeld = staffeld_factory(policy=suppress_policy(
        redis, 'hash_secret_file = "%s"\n' % secret))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    dsn = staffelctl(staffeld.policy_path, "ingest", stdin=(DATA / "gmail_hard.eml").read_bytes())
    assert dsn.returncode == 0, dsn
    scan = subprocess.run(["redis-cli", "-p", str(redis.port), "--scan"], capture_output=True,
                          text=True, timeout=10, check=True)
    keys = [k for k in scan.stdout.split() if k != "staffel:suppress:changes"]
    assert len(keys) == 1 and re.fullmatch(r"staffel:s:\*:h:[0-9a-f]{64}", keys[0]), keys
    dump = subprocess.run(["redis-cli", "-p", str(redis.port), "GET", keys[0]],
                          capture_output=True, text=True, timeout=10, check=True).stdout
    assert "@" not in "".join(keys) + dump and "dave" not in dump
    r = smtp_send(postfix.smtp_port, SENDER, ["dave.nobody@example.net", "ok@example.net"],
                  sample_message(subject="hashed", sender=SENDER))
    assert r.code("rcpt dave.nobody@example.net") == 550, str(r)
    assert r.accepted
    assert sink.wait_for(1)[0].rcpts == ["ok@example.net"]


def test_sendmail_submission_is_never_refused_per_recipient(
        staffeld_factory, postfix_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    postfix = postfix_factory(milter=staffeld.socket_spec)
    put(redis, "gone@example.net", "1|hard_bounce|*|1763640000|0|test")
    put(redis, "u@example.net", "1|unsubscribe|bulk|1763640000|0|test")
    sent = postfix.sendmail(bulk_message("via sendmail"), SENDER,
                            ["a@example.net", "gone@example.net", "u@example.net"])
    assert sent.returncode == 0, sent
    got = sink.wait_for(1)
    assert got[0].rcpts == ["a@example.net"]
    log = postfix.maillog()
    assert "can't reject recipient" not in log
    staffeld.wait_log(r"removed=gone@example\.net:hard_bounce,u@example\.net:unsubscribe")


def test_bounce_reaches_ingest_through_the_postfix_pipe_transport(
        staffeld_factory, postfix_factory, sink, redis, workdir):
    """The contrib/postfix/ wiring: mail to the bounce domain goes to a pipe(8)
    service running `staffelctl ingest --recipient ${recipient}`."""
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    os.chmod(staffeld.policy_path, 0o644)
    nobody = pwd.getpwnam("nobody")
    # The service exactly as contrib/postfix/master.cf has it, but for user and paths.
    contrib = (CONTRIB / "master.cf").read_text()
    service = re.search(r"^staffel-ingest unix .*\n(?:[ \t]+.*\n)+", contrib, re.M).group(0)
    master = (service.replace("user=staffel", "user=" + nobody.pw_name)
              .replace("/usr/sbin/staffelctl", harness.STAFFELCTL)
              .replace("/etc/staffel/staffel.toml", str(staffeld.policy_path)))
    assert master != service
    postfix = postfix_factory(milter=staffeld.socket_spec, extra_master_cf=master, extra_main_cf={
        "relay_domains": "bounce.shop.example",
        "transport_maps": "inline:{ bounce.shop.example=staffel-ingest: }",
        "staffel-ingest_destination_recipient_limit": "1",
    })
    # A VERP-addressed Exim-style bounce: the recipient comes from the envelope.
    dsn = (DATA / "exim_hard.eml").read_bytes()
    r = smtp_send(postfix.smtp_port, "", ["bounces+Kim=example.org@bounce.shop.example"], dsn)
    assert r.accepted, str(r)
    harness.wait_until(lambda: redis.command("GET", "staffel:s:*:kim@example.org"), 20,
                       what="the entry written by the pipe transport")
    assert postfix.wait_maillog(r"relay=staffel-ingest, .*status=sent")
    # Written by another process: staffeld's local view enforces it within
    # local_view_max_lag (1s).
    time.sleep(1.0)
    r = smtp_send(postfix.smtp_port, SENDER, ["kim@example.org"],
                  sample_message(subject="to kim", sender=SENDER))
    assert r.code("rcpt kim@example.org") == 550, str(r)


@pytest.mark.parametrize("local_view", [True, False])
def test_redis_round_trips_one_per_recipient_plus_the_quota_script(
        staffeld_factory, postfix_factory, sink, redis, local_view):
    """The budget: without the local view one MGET per recipient at RCPT
    (global and scoped entry together); with it, one only for a recipient the
    view holds (listed; or a false positive, about 1 in 100). At end of
    message only the quota script's one call."""
    quota = ('\n[[quota]]\nname = "daily"\nkey = "sender"\nlimit = "1000/1d"\n')
    view = "local_view = %s\n" % ("true" if local_view else "false")
    staffeld = staffeld_factory(policy=suppress_policy(redis, view) + quota)
    postfix = postfix_factory(milter=staffeld.socket_spec)
    put(redis, "u@example.net", "1|unsubscribe|bulk|1763640000|0|test")
    first = smtp_send(postfix.smtp_port, SENDER, ["a@example.net"], bulk_message("warm up"))
    assert first.accepted, str(first)  # also loads the quota script into Redis
    if local_view:  # the first lookup started the view; it reads the stream every 200ms
        staffeld.wait_log(r"suppression view is current")
    before = commandstats(redis)
    r = smtp_send(postfix.smtp_port, SENDER, ["a@example.net", "b@example.net", "u@example.net"],
                  bulk_message("budget"))
    assert r.accepted, str(r)
    after = commandstats(redis)
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert calls.get("mget") == (1 if local_view else 3), calls
    assert calls.get("evalsha") == 1, calls
    # Inside the script Redis counts its own commands; nothing else was sent
    # but the view's reads of the changes stream.
    assert not {k for k, v in calls.items() if v} - {"mget", "evalsha", "get", "incrby",
                                                    "pexpireat", "time", "info",
                                                    "xrange"}, calls
    budget = [m for m in sink.wait_for(2) if m.headers("Subject") == ["budget"]]
    assert budget and budget[0].rcpts == ["a@example.net", "b@example.net"]
    # The quota counted the two recipients that remained, not three.
    show = staffelctl(staffeld.policy_path, "quota", "show", SENDER)
    assert re.search(rb"daily\s+sender\s+3\s", show.stdout), show.stdout


def commandstats(redis) -> dict:
    text = redis.command("INFO", "commandstats")
    text = text.decode() if isinstance(text, bytes) else text
    return {m.group(1): int(m.group(2))
            for m in re.finditer(r"cmdstat_([a-z|]+):calls=(\d+)", text)}
