"""Every Staffel feature through a real Sendmail 8.17 (Debian's sendmail-bin).

Chain: smtplib or the private tree's `sendmail -t` -> Sendmail (private
daemon, harness_sendmail.py, the .mc lines of contrib/sendmail/) -> staffeld
(milter, unix socket) -> Sendmail's relay mailer -> capture sink. The same
scenarios as the Postfix tests (test_dkim, test_suppress, test_quota,
test_routes, test_milter_down), their helpers imported from there.

What Sendmail does differently, pinned down here:
- A recipient refused at RCPT is logged as "milter=staffel, action=rcpt,
  reject=550 ..."; the client's reply is staffeld's with the address put
  in front: "550 5.1.1 <Gone@Example.NET>... Staffel: <gone@...> is ...".
- `hold` is smfi_quarantine: the queue file becomes hf*, `mailq -qQ`
  lists it with "QUARANTINE: <reason>", the log says stat=quarantined.
- smfi_chgfrom arrives after Sendmail resolved the recipients; the route
  ruleset of contrib/sendmail/staffel-route.m4 picks the ESP mailer when the
  queue file is read, so routed mail goes through the queue (DeliveryMode
  queue, a queue run every second here).
- With F=T and staffeld not answering, MAIL FROM gets "451 4.3.2 Please try
  again later" (Postfix: 451 4.7.1 at MAIL FROM too).
- Sendmail runs no milter for mail submitted on the command line; `sendmail
  -t` with submit.cf hands it over SMTP to the MTA's MSP daemon, which
  contrib/sendmail/staffel-msp.m4 marks {client_port} 0 as Postfix does for
  mail without SMTP: no refusal at RCPT, suppressed recipients removed.
"""
import re
import time

import pytest

from dkim_verify import mail_dkim_supports
from harness import sample_message, smtp_send, wait_until
from test_dkim import BODY, HEADERS, dkim_policy, make_keys, signature_fields, verify_both
from test_quota import DAILY5, quota_policy
from test_routes import message as route_message
from test_routes import routing_policy
from test_suppress import bulk_message, put, suppress_policy


SENDER = "app@shop.example"
ACCEPTED = re.compile(r"2\.0\.0 (\w+) Message accepted for delivery")


def queue_id(result):
    dot = result.step("dot")
    m = ACCEPTED.search(dot.message) if dot else None
    assert m, str(result)
    return m.group(1)


@pytest.fixture
def keys(workdir):
    return make_keys(workdir)


# --------------------------------------------------------------------------
# DKIM


@pytest.mark.parametrize("canon", ["relaxed/relaxed", "simple/simple"])
def test_signed_with_rsa_and_ed25519_both_verifiers_agree_tampered_fails(
        workdir, keys, staffeld_factory, sendmail_factory, sink, canon):
    staffeld = staffeld_factory(policy=dkim_policy(workdir, keys, canon=canon))
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    r = smtp_send(sendmail.smtp_port, "alice@example.com", ["bob@example.net"],
                  HEADERS + b"\r\n" + BODY)
    assert r.accepted, str(r)
    got = sink.wait_for(1)[0]
    line = staffeld.wait_message_line(queue_id(r))[0]
    assert line["dkim"] == "example.com/rsa,example.com/ed", line["line"]
    fields = signature_fields(got)
    assert len(fields) == 2, got.header_block
    assert ("c=%s" % canon).encode() in b"".join(fields)
    # Sendmail kept the header values byte for byte (SMFIP_HDR_LEADSPC): the
    # three leading spaces and the folded continuation are still there.
    assert b"X-Spaces:   three leading spaces kept\r\n" in got.header_block
    assert b"\r\n\t   second part after a tab and spaces  \r\n" in got.header_block
    assert got.body == BODY

    results, details = verify_both(got.data, keys)
    assert results[("python3-dkim", "rsa")] and results[("python3-dkim", "ed")], details
    assert results[("Mail::DKIM", "rsa")], details
    if mail_dkim_supports("ed25519-sha256"):
        assert results[("Mail::DKIM", "ed")], details

    tampered = got.data.replace(b"Hello Bob", b"Hello Eve")
    results, details = verify_both(tampered, keys)
    assert results and not any(results.values()), details


# --------------------------------------------------------------------------
# suppression


def test_hard_bounced_recipient_refused_at_rcpt_the_others_delivered(
        staffeld_factory, sendmail_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    put(redis, "gone@example.net", "1|hard_bounce|*|1763640000|0|test")
    r = smtp_send(sendmail.smtp_port, SENDER,
                  ["a@example.net", "Gone@Example.NET", "c@example.net"],
                  sample_message(subject="three", sender=SENDER))
    refused = r.step("rcpt Gone@Example.NET")
    assert refused.code == 550, str(r)
    # Sendmail puts the address it was given in front of the milter's text.
    assert refused.message.startswith("5.1.1 <Gone@Example.NET>... Staffel: <gone@example.net> "
                                      "is on the suppression list (hard bounce since 2025-11-20"), \
        str(r)
    assert r.code("rcpt a@example.net") == 250 and r.code("rcpt c@example.net") == 250
    assert r.accepted, str(r)
    got = sink.wait_for(1)
    assert sorted(got[0].rcpts) == ["a@example.net", "c@example.net"]
    sendmail.wait_maillog(r"milter=staffel, action=rcpt, reject=550 5\.1\.1 Staffel: "
                          r"<gone@example\.net>")
    staffeld.wait_log(r"refused RCPT <gone@example\.net>: suppressed reason=hard_bounce")


def test_unsubscribed_recipient_removed_from_bulk_only(staffeld_factory, sendmail_factory, sink,
                                                       redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    put(redis, "u@example.net", "1|unsubscribe|bulk|1763640000|0|list-unsubscribe")
    bulk = smtp_send(sendmail.smtp_port, SENDER, ["a@example.net", "u@example.net"],
                     bulk_message("newsletter"))
    assert bulk.code("rcpt u@example.net") == 250, str(bulk)
    assert bulk.accepted, str(bulk)
    assert sink.wait_for(1)[0].rcpts == ["a@example.net"]
    sendmail.wait_maillog(r"%s: Milter \(staffel\) delete: rcpt u@example\.net" % queue_id(bulk))
    tx = smtp_send(sendmail.smtp_port, SENDER, ["u@example.net"],
                   sample_message(subject="receipt", sender=SENDER))
    assert tx.accepted, str(tx)
    receipt = [m for m in sink.wait_for(2) if m.headers("Subject") == ["receipt"]]
    assert receipt and receipt[0].rcpts == ["u@example.net"]
    staffeld.wait_log(r"stream=bulk .*removed=u@example\.net:unsubscribe")


# --------------------------------------------------------------------------
# quotas


def test_over_quota_message_tempfailed_naming_the_limit(staffeld_factory, sendmail_factory,
                                                        sink, redis):
    staffeld = staffeld_factory(policy=quota_policy(redis, DAILY5.replace("5/1d", "2/1d")))
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    for i in range(2):
        r = smtp_send(sendmail.smtp_port, SENDER, ["bob@example.net"],
                      sample_message(subject="ok %d" % i, sender=SENDER))
        assert r.accepted, str(r)
    r = smtp_send(sendmail.smtp_port, SENDER, ["bob@example.net"],
                  sample_message(subject="third", sender=SENDER))
    dot = r.step("dot")
    assert dot is not None and dot.code == 451, str(r)
    assert dot.message.startswith("4.7.1 "), str(r)
    assert 'quota "per-sender-daily" exceeded for sender app@shop.example' in dot.message
    assert "2 recipients per day; resets" in dot.message, str(r)
    assert len(sink.wait_for(2)) == 2
    sendmail.wait_maillog(r"Milter: data, reject=451 4\.7\.1 .*per-sender-daily")
    time.sleep(0.5)
    assert sink.count() == 2, "the tempfailed message must not be delivered"
    assert sendmail.queue_files() == []


def test_hold_lands_in_sendmails_quarantine(staffeld_factory, sendmail_factory, sink, redis):
    policy = quota_policy(redis, DAILY5.replace('"tempfail"', '"hold"').replace("5/1d", "1/1d"))
    staffeld = staffeld_factory(policy=policy)
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    first = smtp_send(sendmail.smtp_port, SENDER, ["bob@example.net"],
                      sample_message(subject="first", sender=SENDER))
    assert first.accepted, str(first)
    sink.wait_for(1)
    r = smtp_send(sendmail.smtp_port, SENDER, ["bob@example.net"],
                  sample_message(subject="held", sender=SENDER))
    assert r.accepted, str(r)  # the client is told nothing: an admin decides
    qid = queue_id(r)
    wait_until(lambda: "hf" + qid in sendmail.queue_files("hf"), 15, what="quarantined qf")
    held = sendmail.mailq(quarantined=True)
    assert qid in held and "QUARANTINE: Staffel: quota \"per-sender-daily\"" in held, held
    assert qid not in sendmail.mailq(), "a quarantined message is not in the normal queue"
    sendmail.wait_maillog(r"%s: milter=staffel, quarantine=Staffel: quota" % qid)
    sendmail.wait_maillog(r"%s: to=<bob@example\.net>, .*stat=quarantined" % qid)
    line = staffeld.wait_message_line(qid)[0]["line"]
    assert "quota=over:per-sender-daily action=hold" in line, line
    time.sleep(0.5)
    assert sink.count() == 1


# --------------------------------------------------------------------------
# routing


def test_bulk_leaves_by_the_esp_on_its_bounce_domain_transactional_in_house(
        request, workdir, keys, staffeld_factory, sendmail_factory, sink):
    import harness
    esp_dir = workdir / "esp"
    esp_dir.mkdir()
    esp = harness.Sink(esp_dir)
    esp.start()
    request.addfinalizer(esp.stop)
    staffeld = staffeld_factory(policy=routing_policy(keys))
    sendmail = sendmail_factory(milter=staffeld.socket_spec, esp_port=esp.port,
                                queue_interval="1s",
                                extra_mc="define(`confDELIVERY_MODE', `q')dnl\n")
    bulk = smtp_send(sendmail.smtp_port, "app@example.com", ["bob@example.net"],
                     route_message("news", True))
    assert bulk.accepted, str(bulk)
    tx = smtp_send(sendmail.smtp_port, "app@example.com", ["bob@example.net"],
                   route_message("receipt", False))
    assert tx.accepted, str(tx)

    at_esp = esp.wait_for(1, timeout=30)
    at_home = sink.wait_for(1, timeout=30)
    assert [m.headers("Subject") for m in at_esp] == [["news"]]
    assert [m.headers("Subject") for m in at_home] == [["receipt"]]
    assert at_esp[0].mail_from == "bounces+bob=example.net@bounce.esp.test"
    assert at_home[0].mail_from == "app@example.com"
    assert at_esp[0].headers("X-Stream") == ["bulk"]
    assert at_esp[0].headers("X-Internal-Ticket") == []
    sendmail.wait_maillog(r"%s: Milter \(staffel\) chgfrom: "
                          r"<bounces\+bob=example\.net@bounce\.esp\.test>" % queue_id(bulk))
    sendmail.wait_maillog(r"%s: to=<bob@example\.net>, .*mailer=esp, .*stat=Sent" % queue_id(bulk))
    for m in at_esp + at_home:
        results, details = verify_both(m.data, keys)
        assert results and all(results.values()), details


# --------------------------------------------------------------------------
# staffeld down: F=T


def assert_tempfail_at_mail(r):
    assert r.code("connect") == 220, str(r)
    mail = r.step("mail")
    assert mail is not None and mail.code == 451, "got %s, want 451 at MAIL FROM" % (r,)
    assert mail.message.startswith("4.3.2 "), str(mail)
    assert r.step("dot") is None, str(r)


def test_staffeld_stopped_sendmail_tempfails_nothing_unsigned(
        workdir, keys, staffeld_factory, sendmail_factory, sink):
    staffeld = staffeld_factory(policy=dkim_policy(workdir, keys))
    sendmail = sendmail_factory(milter=staffeld.socket_spec)
    ok = smtp_send(sendmail.smtp_port, "alice@example.com", ["bob@example.net"],
                   HEADERS + b"\r\n" + BODY)
    assert ok.accepted, str(ok)
    assert len(signature_fields(sink.wait_for(1)[0])) == 2

    assert staffeld.term(15) == 0, staffeld.log()
    r = smtp_send(sendmail.smtp_port, "alice@example.com", ["bob@example.net"],
                  sample_message(subject="while down"))
    assert_tempfail_at_mail(r)
    sendmail.wait_maillog(r"Milter: initialization failed, temp failing commands")
    time.sleep(2)
    assert sink.count() == 1, "only the message sent before the stop may arrive"
    assert sendmail.queue_files() == []


# --------------------------------------------------------------------------
# sendmail -t


def test_sendmail_t_goes_through_staffeld_never_refused_per_recipient(
        staffeld_factory, sendmail_factory, sink, redis):
    staffeld = staffeld_factory(policy=suppress_policy(redis))
    sendmail = sendmail_factory(milter=staffeld.socket_spec, msp=True)
    put(redis, "gone@example.net", "1|hard_bounce|*|1763640000|0|test")
    put(redis, "u@example.net", "1|unsubscribe|bulk|1763640000|0|test")
    msg = bulk_message("via sendmail -t").replace(
        b"To: Bob Example <bob@example.net>",
        b"To: a@example.net, gone@example.net, u@example.net")
    sent = sendmail.submit(msg, "-f", SENDER)
    assert sent.returncode == 0, sent
    got = sink.wait_for(1)
    assert got[0].rcpts == ["a@example.net"]
    log = sendmail.maillog()
    assert "action=rcpt, reject" not in log, log
    assert "daemon=MSP" in log, log
    staffeld.wait_log(r"removed=gone@example\.net:hard_bounce,u@example\.net:unsubscribe")
    # No bounce goes back for the removed recipients.
    time.sleep(1)
    assert sink.count() == 1

    # staffeld down: the submission program keeps the message in its queue.
    assert staffeld.term(15) == 0, staffeld.log()
    sent = sendmail.submit(b"To: a@example.net\r\nSubject: while down\r\n\r\nhi\r\n",
                           "-f", SENDER)
    assert sent.returncode == 0, sent
    sendmail.wait_maillog(r"stat=Deferred: 451 4\.3\.2 Please try again later")
    assert len(sendmail.client_queue_files()) == 1
    time.sleep(1)
    assert sink.count() == 1, "nothing may leave without staffeld"


# --------------------------------------------------------------------------
# macros


def test_sendmail_macros_reach_identity_stream_and_log_line(staffeld_factory, sendmail_factory,
                                                            sink, redis):
    # {daemon_name} picks the stream, {client_addr} the identity and i the
    # queue id of the log line (the one Sendmail answered with).
    policy = suppress_policy(redis).replace("[suppression]\n", "") + (
        '\n[[stream]]\nname = "via-mta"\ndaemon_names = ["MTA"]\n'
        '\n[[stream]]\nname = "via-msp"\ndaemon_names = ["MSP"]\n')
    staffeld = staffeld_factory(policy=policy)
    sendmail = sendmail_factory(milter=staffeld.socket_spec, msp=True)
    r = smtp_send(sendmail.smtp_port, SENDER, ["bob@example.net"],
                  sample_message(subject="macros", sender=SENDER))
    assert r.accepted, str(r)
    line = staffeld.wait_message_line(queue_id(r))[0]
    assert line["stream"] == "via-mta", line["line"]
    assert line["identity"] == "ip:127.0.0.1", line["line"]
    assert line["client"] == "%s[127.0.0.1]" % "mta.staffel.test", line["line"]
    sent = sendmail.submit(b"To: bob@example.net\r\nSubject: msp\r\n\r\nhi\r\n", "-f", SENDER)
    assert sent.returncode == 0, sent
    sink.wait_for(2)
    m = sendmail.wait_maillog(r"(\w+): from=<app@shop\.example>, .*daemon=MSP")[0]
    line = staffeld.wait_message_line(m.group(1))[0]
    assert line["stream"] == "via-msp", line["line"]
