"""With milter_default_action = tempfail and staffeld not answering, nothing gets through.

Postfix 3.7 facts these tests pin down (found with this harness):
- smtpd connects to the milter when the SMTP client connects. If that fails
  it still greets with 220 and answers EHLO with 250, and gives the
  tempfail at MAIL FROM: "451 4.7.1 Service unavailable - try again later"
  (logged as "NOQUEUE: milter-reject: CONNECT ... 451 4.7.1").
- The sendmail command still exits 0: the message waits in the maildrop
  queue, pickup/cleanup log "milter-reject: CONNECT ... 4.7.1" and retry.
"""
import time

from harness import free_port, sample_message, smtp_send

WANT_CODE = 451
WANT_TEXT = "4.7.1 Service unavailable - try again later"


def assert_tempfail_at_mail(r):
    assert r.code("connect") == 220, str(r)
    assert r.code("ehlo") == 250, str(r)
    mail = r.step("mail")
    assert mail is not None, str(r)
    assert mail.code == WANT_CODE, "got %s, want %d at MAIL FROM" % (mail, WANT_CODE)
    assert WANT_TEXT in mail.message, str(mail)
    assert r.step("rcpt") is None and r.step("dot") is None, str(r)


def assert_nothing_delivered(postfix, sink, seconds=3.0):
    time.sleep(seconds)
    assert sink.count() == 0, "the sink got mail while the milter was down"
    assert postfix.queue_ids_in("incoming", "active", "deferred", "hold") == []


def test_never_started_unix(postfix_factory, sink, workdir):
    postfix = postfix_factory(milter="unix:%s/staffeld.sock" % workdir)
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"], sample_message())
    assert_tempfail_at_mail(r)
    assert_nothing_delivered(postfix, sink)
    postfix.wait_maillog(r"milter-reject: CONNECT from .*451 4\.7\.1")


def test_never_started_inet(postfix_factory, sink):
    postfix = postfix_factory(milter="inet:%d@127.0.0.1" % free_port())
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"], sample_message())
    assert_tempfail_at_mail(r)
    assert_nothing_delivered(postfix, sink)


def test_stopped_after_working(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    ok = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"], sample_message())
    assert ok.accepted, str(ok)
    sink.wait_for(1)

    assert staffeld.term(15) == 0, staffeld.log()
    r = smtp_send(postfix.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject="while down"))
    assert_tempfail_at_mail(r)
    time.sleep(3)
    assert sink.count() == 1, "only the message sent before the stop may arrive"
    assert postfix.queue_ids_in("incoming", "active", "deferred", "hold") == []


def test_sendmail_waits_in_maildrop(postfix_factory, sink, workdir):
    postfix = postfix_factory(milter="unix:%s/staffeld.sock" % workdir)
    r = postfix.sendmail(sample_message(subject="non-smtp while down"), "alice@example.com",
                         ["bob@example.net"])
    assert r.returncode == 0, r
    postfix.wait_maillog(r"cleanup\[\d+\]: [0-9A-F]+: milter-reject: CONNECT .*4\.7\.1")
    assert_nothing_delivered(postfix, sink)
    assert len(postfix.queue_ids_in("maildrop")) == 1, "the message should wait in maildrop"
