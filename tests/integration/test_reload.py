"""SIGHUP swaps the policy (or keeps the old one when the new one is broken); SIGTERM drains.

Which policy handled a message is read from the per-message log line:
policy= is the first 8 hex digits of the SHA-256 of the policy file.
"""
import re
import smtplib
import time

from harness import policy_digest, sample_message, smtp_send


def send_one(postfix, sink, staffeld, n, subject):
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject=subject))
    assert r.accepted, str(r)
    sink.wait_for(n)
    (line,) = staffeld.wait_message_line(r.queue_id)
    assert line["action"] == "pass", line["line"]
    return line


def test_hup_bad_then_good_policy(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    policy_a = staffeld.policy_path.read_text()
    digest_a = policy_digest(staffeld.policy_path)
    assert send_one(postfix, sink, staffeld, 1, "policy A")["policy"] == digest_a

    # A broken policy: the error is at line 3, column 11 (the value).
    broken = policy_a.replace('socket_mode = "0666"', 'timeout = "5x"\nsocket_mode = "0666"')
    assert broken.splitlines()[2] == 'timeout = "5x"'
    mark = staffeld.log_size()
    staffeld.write_policy(broken)
    staffeld.hup()
    m = staffeld.wait_log(r"reload failed: (?P<loc>\S+:\d+:\d+): error: (?P<msg>.*)", since=mark)
    assert m["loc"] == "%s:3:11" % staffeld.policy_path, m.group(0)
    assert m["msg"].startswith("milter.timeout:"), m.group(0)
    assert re.search(r"keeping policy %s\b" % digest_a, m.group(0)), m.group(0)
    time.sleep(0.5)
    assert staffeld.alive(), "staffeld died on a bad reload:\n" + staffeld.log()
    assert send_one(postfix, sink, staffeld, 2, "still A")["policy"] == digest_a

    # A valid, different policy B.
    policy_b = policy_a + '\n[log]\nlevel = "info"\n'
    digest_b = policy_digest(policy_b.encode())
    assert digest_b != digest_a
    mark = staffeld.log_size()
    staffeld.write_policy(policy_b)
    staffeld.hup()
    m = staffeld.wait_log(r"policy reloaded.*\bpolicy ([0-9a-f]{8})\b", since=mark)
    assert m.group(1) == digest_b, m.group(0)
    assert send_one(postfix, sink, staffeld, 3, "policy B")["policy"] == digest_b

    t0 = time.monotonic()
    rc = staffeld.term(10)
    took = time.monotonic() - t0
    assert rc == 0, "SIGTERM: got exit %r, want 0 within 10 s\n%s" % (rc, staffeld.log())
    assert took < 10


def test_hup_with_unchanged_file_keeps_digest(staffeld):
    digest = staffeld.digest()
    mark = staffeld.log_size()
    staffeld.hup()
    m = staffeld.wait_log(r"policy reloaded.*\bpolicy ([0-9a-f]{8})\b", since=mark)
    assert m.group(1) == digest
    assert staffeld.alive()


def test_hup_with_missing_file_keeps_serving(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    digest = staffeld.digest()
    saved = staffeld.policy_path.read_bytes()
    staffeld.policy_path.unlink()
    mark = staffeld.log_size()
    staffeld.hup()
    m = staffeld.wait_log(r"reload failed: .*", since=mark)
    assert str(staffeld.policy_path) in m.group(0), m.group(0)
    assert re.search(r"keeping policy %s\b" % digest, m.group(0)), m.group(0)
    assert staffeld.alive()
    assert send_one(postfix, sink, staffeld, 1, "after failed reload")["policy"] == digest
    staffeld.write_policy(saved)


def test_sigterm_lets_in_flight_message_finish(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    s = smtplib.SMTP("127.0.0.1", postfix.smtp_port, timeout=20)
    try:
        s.ehlo("client.staffel.test")
        assert s.mail("alice@example.com")[0] == 250
        assert s.rcpt("bob@example.net")[0] == 250
        # The session's milter connection is open: stop staffeld now.
        staffeld.term(0.5)
        time.sleep(1.0)
        # A new SMTP session cannot get a milter connection any more.
        other = smtp_send(postfix.smtp_port, "carol@example.com", ["dave@example.net"],
                          sample_message(subject="after SIGTERM"))
        assert other.code("mail") == 451, "new session after SIGTERM: %s" % other
        code, reply = s.data(sample_message(subject="in flight"))
        assert code == 250, "in-flight message: got %d %s, want 250" % (code, reply)
        qid = re.search(rb"queued as (\w+)", reply).group(1).decode()
        s.quit()
    finally:
        s.close()
    (got,) = sink.wait_for(1)
    assert got.headers("Subject") == ["in flight"]
    (line,) = staffeld.wait_message_line(qid)
    assert line["action"] == "pass"
    rc = staffeld.proc.wait(15)
    assert rc == 0, "exit %r after draining\n%s" % (rc, staffeld.log())


def test_hup_storm_never_stops_the_daemon(postfix_with_staffeld):
    """libmilter's own signal thread would stop the milter on SIGHUP: it must never get one."""
    import os
    import signal
    postfix, staffeld, sink = postfix_with_staffeld
    for _ in range(300):
        os.kill(staffeld.pid, signal.SIGHUP)
    time.sleep(1.0)
    assert staffeld.alive(), "staffeld died under SIGHUPs:\n%s" % staffeld.log()
    log = staffeld.log()
    assert "libmilter stopped" not in log
    assert "policy reloaded" in log
    send_one(postfix, sink, staffeld, 1, "after the storm")


def test_signal_bursts_are_all_handled_by_staffeld(staffeld_factory):
    """SIGHUP, SIGHUP, SIGTERM at once: a reload and a clean drain, never libmilter's own stop.

    Before staffeld kept libmilter's signal thread out of the way, about one
    burst in fifteen reached that thread and stopped the milter (exit 71).
    """
    import os
    import signal
    for i in range(20):
        staffeld = staffeld_factory(subdir="burst%d" % i)
        os.kill(staffeld.pid, signal.SIGHUP)
        os.kill(staffeld.pid, signal.SIGHUP)
        os.kill(staffeld.pid, signal.SIGTERM)
        rc = staffeld.proc.wait(15)
        log = staffeld.log()
        assert rc == 0 and "libmilter stopped" not in log, "burst %d: exit %r\n%s" % (i, rc, log)
