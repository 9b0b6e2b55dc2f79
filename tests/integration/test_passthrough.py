"""Mail passes through Postfix + staffeld unchanged, and staffeld logs one line per message.

Chain: smtplib / sendmail -> Postfix (private instance) -> staffeld (milter,
unix socket) -> Postfix smtp client -> capture sink.
"""
import re

from harness import policy_digest, smtp_send

SENDER = "alice@example.com"

# Headers and a body that tend to break byte-exact handling: a line that is
# a lone dot, lines starting with dots, 8-bit UTF-8 and a raw 0xE9 byte,
# trailing white space, and trailing empty lines.
HEADERS = (
    b"From: Alice Example <alice@example.com>\r\n"
    b"To: Bob Example <bob@example.net>\r\n"
    b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= pass-through\r\n"
    b"Date: Mon, 06 Jan 2025 10:00:00 +0000\r\n"
    b"Message-ID: <passthrough-1@example.com>\r\n"
    b"X-Folded: first part\r\n"
    b"\tsecond part after a tab\r\n"
    b"X-Spaces:   three leading spaces kept\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
)
BODY = (
    b"Hello Bob,\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"..two dots\r\n"
    b".\r\n"
    b"Gr\xc3\xbc\xc3\x9fe aus M\xc3\xbcnchen \xe2\x80\x93 8-bit UTF-8\r\n"
    b"caf\xe9 in Latin-1\r\n"
    b"trailing white space   \r\n"
    b"\tleading tab\r\n"
    b"last line\r\n"
    b"\r\n"
    b"\r\n"
)
MESSAGE = HEADERS + b"\r\n" + BODY


def assert_only_received_prepended(arrived, original_headers):
    """The arrived header block is Received: fields followed by the original block, byte for byte."""
    block = arrived.header_block
    assert block.endswith(original_headers), (
        "original headers not intact:\n--- got\n%r\n--- want suffix\n%r" % (block, original_headers))
    prepended = block[:-len(original_headers)]
    names = [f.split(b":", 1)[0] for f in re.split(rb"\r\n(?![ \t])", prepended) if f]
    assert names and all(n == b"Received" for n in names), "unexpected added headers: %r" % prepended


def test_smtp_message_arrives_byte_intact(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    r = smtp_send(postfix.smtp_port, SENDER, ["bob@example.net"], MESSAGE)
    assert r.accepted, str(r)
    qid = r.queue_id
    assert qid

    (got,) = sink.wait_for(1)
    assert got.body == BODY, "body changed:\n--- got\n%r\n--- want\n%r" % (got.body, BODY)
    assert_only_received_prepended(got, HEADERS)
    assert got.mail_from == SENDER
    assert got.rcpts == ["bob@example.net"]

    lines = staffeld.wait_message_line(qid)
    assert len(lines) == 1, "want exactly one line for %s, got %r" % (qid, lines)
    line = lines[0]
    assert line["action"] == "pass", line["line"]
    assert line["from"] == "<%s>" % SENDER, line["line"]
    assert line["rcpts"] == "1", line["line"]
    assert line["policy"] == policy_digest(staffeld.policy_path), line["line"]
    assert "127.0.0.1" in line.get("client", ""), line["line"]
    # One message, one per-message line in total.
    assert len(staffeld.message_lines()) == 1, staffeld.log()


def test_sendmail_submission_goes_through(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    msg = MESSAGE.replace(b"passthrough-1@", b"passthrough-sendmail@")
    r = postfix.sendmail(msg, SENDER, ["carol@example.net"])
    assert r.returncode == 0, r

    (got,) = sink.wait_for(1, timeout=20)
    assert got.rcpts == ["carol@example.net"]
    assert got.mail_from == SENDER
    assert got.body == BODY
    assert got.headers("Message-ID") == ["<passthrough-sendmail@example.com>"]

    # The queue id is the one pickup gave it (not the maildrop file name).
    (m,) = postfix.wait_maillog(r"pickup\[\d+\]: ([0-9A-F]+): uid=0 from=<%s>" % re.escape(SENDER))
    qid = m.group(1)
    lines = staffeld.wait_message_line(qid)
    assert len(lines) == 1, lines
    assert lines[0]["action"] == "pass", lines[0]["line"]
    assert lines[0]["from"] == "<%s>" % SENDER, lines[0]["line"]
    assert lines[0]["rcpts"] == "1", lines[0]["line"]


def test_ten_recipients_one_delivery(postfix_with_staffeld):
    postfix, staffeld, sink = postfix_with_staffeld
    rcpts = ["user%02d@example.net" % i for i in range(10)]
    r = smtp_send(postfix.smtp_port, SENDER, rcpts, MESSAGE)
    assert r.accepted, str(r)
    assert all(r.code("rcpt %s" % a) == 250 for a in rcpts), str(r)

    (got,) = sink.wait_for(1)
    assert sorted(got.rcpts) == rcpts
    assert got.body == BODY
    postfix.wait_queue_empty(10)
    assert sink.count() == 1, "a 10-recipient message should be one delivery"

    (line,) = staffeld.wait_message_line(r.queue_id)
    assert line["rcpts"] == "10", line["line"]
    assert line["action"] == "pass", line["line"]
